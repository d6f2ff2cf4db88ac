"""The Pod lifecycle on a real node (issue 5's seed, point by point), seen through real kubectl.

One ``pocketkube server`` with its kubelet (fast settings: crash back-off 1 s doubling to 8 s,
PLEG relist 0.5 s) serves the whole module; each test has its own namespace and puts several pods
in one manifest. Containers are host processes, so the pods run ``sh``, ``sleep`` and ``python3``
from the host; what they print is read from the kubelet's CRI log files (``kubectl logs`` comes
with the streaming issue). Upstream's reasons and messages are the oracle.
"""

from __future__ import annotations

import base64
import ipaddress
import itertools
import json
import re
import time
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.conftest import Cluster
from tests.e2e.lifecycle_util import (
    Namespace,
    Obj,
    conditions,
    container_status,
    namespace,
    parse_time,
    phase,
    state_of,
)
from tests.e2e.nodecluster import is_root

POD_CIDR = ipaddress.ip_network("10.42.0.0/24")
HOST_IP = "127.0.0.1"
POD_CONDITIONS = (
    "PodScheduled",
    "PodReadyToStartContainers",
    "Initialized",
    "ContainersReady",
    "Ready",
)

needs_root = pytest.mark.skipif(
    not is_root(), reason="pod network namespaces and cgroups need root"
)


def pod_manifest(name: str, spec: str, labels: str = "") -> str:
    """A Pod document; ``spec`` is its spec in YAML flow or block style, indented by 2."""
    meta = f"{{name: {name}{', labels: ' + labels if labels else ''}}}"
    return f"---\napiVersion: v1\nkind: Pod\nmetadata: {meta}\nspec:\n{spec}"


def node_name(cluster: Cluster) -> str:
    return str(cluster.kubectl("get", "nodes", "-o", "jsonpath={.items[0].metadata.name}").stdout)


def expected_pod_ip(ip: str) -> None:
    if is_root():
        assert ipaddress.ip_address(ip) in POD_CIDR, ip
    else:
        assert ip == HOST_IP  # without root, pods share the host's network


# -- 1. the creation flow ---------------------------------------------------------------------

CREATION = pod_manifest(
    "web",
    """\
  containers:
  - {name: main, image: busybox, command: [sleep, "1000"]}
  - {name: helper, image: alpine, command: [sleep, "1000"]}
""",
    labels="{app: web}",
) + pod_manifest(
    "worker",
    """\
  containers:
  - {name: c, image: busybox, command: [sleep, "1000"]}
""",
)


def test_pod_creation_flow(node_cluster: Cluster) -> None:
    node = node_name(node_cluster)
    with namespace(node_cluster, "create") as ns:
        ns.apply(CREATION)
        pods = ns.wait(
            lambda pods: len(pods) == 2 and all(phase(p) == "Running" for p in pods.values()),
            "both pods Running",
        )

        # created → scheduled/bound → started → Running, in the watch's resourceVersions.
        replay = ns.watch_replay()
        for name in ("web", "worker"):
            seen = [e for e in replay if e["object"]["metadata"]["name"] == name]
            assert seen[0]["type"] == "ADDED"
            first = seen[0]["object"]
            assert not first["spec"].get("nodeName")
            assert phase(first) == "Pending"
            versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in seen]
            assert versions == sorted(set(versions)), versions
            phases = [phase(e["object"]) for e in seen]
            collapsed = [p for i, p in enumerate(phases) if i == 0 or phases[i - 1] != p]
            assert collapsed == ["Pending", "Running"], phases
            bound = next(
                i for i, e in enumerate(seen) if e["object"]["spec"].get("nodeName") == node
            )
            assert conditions(seen[bound]["object"])["PodScheduled"]["status"] == "True"
            assert "containerStatuses" not in seen[bound]["object"].get("status", {})
            running = phases.index("Running")
            assert bound < running
            # the first Running version has every container running
            statuses = seen[running]["object"]["status"]["containerStatuses"]
            assert all("running" in s["state"] for s in statuses), statuses
            # before that, the containers wait in ContainerCreating
            for event in seen[bound + 1 : running]:
                for s in event["object"]["status"].get("containerStatuses") or []:
                    if "waiting" in s["state"]:
                        assert s["state"]["waiting"] == {"reason": "ContainerCreating"}, s

        # the events, in order: Scheduled, then Pulled → Created → Started per container.
        expected = {
            "web": [("Scheduled", "")]
            + [(r, "spec.containers{main}") for r in ("Pulled", "Created", "Started")]
            + [(r, "spec.containers{helper}") for r in ("Pulled", "Created", "Started")],
            "worker": [("Scheduled", "")]
            + [(r, "spec.containers{c}") for r in ("Pulled", "Created", "Started")],
        }
        for name, wanted in expected.items():
            events = ns.wait_events(name, len(wanted))
            got = [(e["reason"], e["involvedObject"].get("fieldPath", "")) for e in events]
            assert got == wanted, got
            scheduled = events[0]
            assert scheduled["message"] == f"Successfully assigned {ns.name}/{name} to {node}"
            assert scheduled["reportingComponent"] == "default-scheduler"
            for event in events[1:]:
                assert event["type"] == "Normal"
                assert event["reportingComponent"] == "kubelet"
                container = event["involvedObject"]["fieldPath"][len("spec.containers{") : -1]
                if event["reason"] == "Pulled":
                    image = "alpine" if container == "helper" else "busybox"
                    assert event["message"].startswith(
                        f'Container image "{image}" already present on machine'
                    )
                elif event["reason"] == "Created":
                    assert event["message"] == f"Created container: {container}"
                else:
                    assert event["message"] == f"Started container {container}"

        # the final status
        for name, pod in pods.items():
            status = pod["status"]
            expected_pod_ip(status["podIP"])
            assert status["podIPs"] == [{"ip": status["podIP"]}]
            assert status["hostIP"] == HOST_IP
            assert status["hostIPs"] == [{"ip": HOST_IP}]
            assert status["qosClass"] == "BestEffort"
            assert parse_time(status["startTime"]) >= parse_time(
                pod["metadata"]["creationTimestamp"]
            )
            conds = conditions(pod)
            for kind in POD_CONDITIONS:
                assert conds[kind]["status"] == "True", (name, conds)
            for spec, s in zip(pod["spec"]["containers"], status["containerStatuses"], strict=True):
                assert s["name"] == spec["name"]
                assert s["image"] == spec["image"]
                assert re.fullmatch(r"pocketkube://[0-9a-f]{64}", s["containerID"]), s
                assert s["started"] is True
                assert s["ready"] is True
                assert s["restartCount"] == 0
                assert s["lastState"] == {}
                started_at = parse_time(s["state"]["running"]["startedAt"])
                assert started_at >= parse_time(status["startTime"]) - 1
        if is_root():
            assert pods["web"]["status"]["podIP"] != pods["worker"]["status"]["podIP"]


def test_true_conditions_carry_no_stale_reason(node_cluster: Cluster) -> None:
    with namespace(node_cluster, "stale") as ns:
        ns.apply(
            pod_manifest(
                "p",
                """\
  initContainers:
  - {name: init, image: busybox, command: [sh, -c, "sleep 0.5"]}
  containers:
  - {name: c, image: busybox, command: [sleep, "1000"]}
""",
            )
        )
        pods = ns.wait(
            lambda pods: (
                pods["p"]["status"].get("phase") == "Running"
                and conditions(pods["p"])["Ready"]["status"] == "True"
            ),
            "the pod Ready",
        )
        for kind, condition in conditions(pods["p"]).items():
            assert condition["status"] == "True"
            assert "reason" not in condition, (kind, condition)
            assert "message" not in condition, (kind, condition)


# -- 2. phases ----------------------------------------------------------------------------------

PHASES = "".join(
    pod_manifest(name, f"  restartPolicy: {policy}\n  containers:\n  - {{{container}}}\n")
    for name, policy, container in (
        ("succeeds", "Never", "name: c, image: busybox, command: [sh, -c, 'exit 0']"),
        ("fails", "Never", "name: c, image: busybox, command: [sh, -c, 'exit 1']"),
        ("runs", "Always", "name: c, image: busybox, command: [sleep, '1000']"),
        ("onfailure-ok", "OnFailure", "name: c, image: busybox, command: [sh, -c, 'exit 0']"),
        ("onfailure-fails", "OnFailure", "name: c, image: busybox, command: [sh, -c, 'exit 1']"),
    )
)


def test_pod_phases(node_cluster: Cluster) -> None:
    with namespace(node_cluster, "phases") as ns:
        ns.apply(PHASES)

        def settled(pods: dict[str, Obj]) -> bool:
            return (
                len(pods) == 5
                and phase(pods["succeeds"]) == "Succeeded"
                and phase(pods["fails"]) == "Failed"
                and phase(pods["runs"]) == "Running"
                and phase(pods["onfailure-ok"]) == "Succeeded"
                and container_status(pods["onfailure-fails"], "c").get("restartCount", 0) >= 2
            )

        pods = ns.wait(settled, "the phases to settle", track=True)

        kind, terminated = state_of(pods["succeeds"], "c")
        assert kind == "terminated"
        assert (terminated["exitCode"], terminated["reason"]) == (0, "Completed")
        kind, terminated = state_of(pods["fails"], "c")
        assert kind == "terminated"
        assert (terminated["exitCode"], terminated["reason"]) == (1, "Error")
        assert parse_time(terminated["finishedAt"]) >= parse_time(terminated["startedAt"])
        assert state_of(pods["runs"], "c")[0] == "running"
        kind, terminated = state_of(pods["onfailure-ok"], "c")
        assert (kind, terminated["exitCode"]) == ("terminated", 0)
        assert container_status(pods["onfailure-ok"], "c")["restartCount"] == 0
        assert phase(pods["onfailure-fails"]) == "Running"
        last = container_status(pods["onfailure-fails"], "c")["lastState"]["terminated"]
        assert (last["exitCode"], last["reason"]) == (1, "Error")

        # upstream's conditions for finished pods: Ready False, PodCompleted when it succeeded
        for name in ("succeeds", "onfailure-ok"):
            conds = conditions(pods[name])
            assert conds["Ready"]["status"] == "False"
            assert conds["Ready"].get("reason") == "PodCompleted", conds
            assert conds["ContainersReady"].get("reason") == "PodCompleted", conds
        assert conditions(pods["fails"])["Ready"]["status"] == "False"
        assert conditions(pods["runs"])["Ready"]["status"] == "True"

        table = ns.table()
        assert table["succeeds"][1:3] == ["0/1", "Completed"]
        assert table["fails"][1:3] == ["0/1", "Error"]
        assert table["runs"][1:3] == ["1/1", "Running"]
        assert table["onfailure-ok"][2] == "Completed"
        assert "CrashLoopBackOff" in ns.seen_statuses["onfailure-fails"], ns.seen_statuses


# -- 3. container states with their reasons ----------------------------------------------------

STATES = (
    pod_manifest(
        "completed",
        "  restartPolicy: Never\n  containers:\n  - {name: c, image: busybox, "
        "command: [sh, -c, 'exit 0']}\n",
    )
    + pod_manifest(
        "error",
        "  restartPolicy: Never\n  containers:\n  - {name: c, image: busybox, "
        "command: [sh, -c, 'exit 3']}\n",
    )
    + pod_manifest(
        "crashloop", "  containers:\n  - {name: c, image: busybox, command: [sh, -c, 'exit 2']}\n"
    )
    + pod_manifest("nocommand", "  containers:\n  - {name: c, image: busybox}\n")
    + pod_manifest(
        "noconfig",
        """\
  containers:
  - name: c
    image: busybox
    command: [sleep, "1000"]
    env:
    - name: X
      valueFrom: {configMapKeyRef: {name: x, key: k}}
""",
    )
    + pod_manifest(
        "nobinary",
        "  containers:\n  - {name: c, image: busybox, command: [no-such-binary-pk5, arg]}\n",
    )
    + pod_manifest(
        "message",
        """\
  restartPolicy: Never
  containers:
  - name: file
    image: busybox
    command: [sh, -c, 'printf "it went wrong" > $POCKETKUBE_ROOT/dev/termination-log; exit 1']
  - name: custom
    image: busybox
    terminationMessagePath: /tmp/why
    command: [sh, -c, 'printf "custom path" > $POCKETKUBE_ROOT/tmp/why; exit 0']
  - name: fallback
    image: busybox
    terminationMessagePolicy: FallbackToLogsOnError
    command: [sh, -c, 'echo line one; echo line two >&2; exit 4']
  - name: fallback-ok
    image: busybox
    terminationMessagePolicy: FallbackToLogsOnError
    command: [sh, -c, 'echo all good; exit 0']
  - name: silent
    image: busybox
    command: [sh, -c, 'echo not a message; exit 5']
""",
    )
)

OOM = pod_manifest(
    "oom",
    """\
  restartPolicy: Never
  containers:
  - name: c
    image: python
    command: [python3, -c, "b = bytearray(256*1024*1024)"]
    resources: {limits: {memory: 32Mi}}
""",
)


def test_container_states(node_cluster: Cluster) -> None:
    with namespace(node_cluster, "states") as ns:
        ns.apply(STATES + (OOM if is_root() else ""))

        def settled(pods: dict[str, Obj]) -> bool:
            def waiting(name: str) -> str:
                kind, details = state_of(pods[name], "c")
                return str(details.get("reason", "")) if kind == "waiting" else ""

            return (
                phase(pods["completed"]) == "Succeeded"
                and phase(pods["error"]) == "Failed"
                and waiting("crashloop") == "CrashLoopBackOff"
                and waiting("nocommand") == "CreateContainerError"
                and waiting("noconfig") == "CreateContainerConfigError"
                and container_status(pods["nobinary"], "c").get("restartCount", 0) >= 1
                and phase(pods["message"]) == "Failed"
                and (not is_root() or phase(pods["oom"]) == "Failed")
            )

        pods = ns.wait(settled, "every container state", track=True)

        assert state_of(pods["completed"], "c")[1]["reason"] == "Completed"
        kind, terminated = state_of(pods["error"], "c")
        assert (kind, terminated["reason"], terminated["exitCode"]) == ("terminated", "Error", 3)

        crash = pods["crashloop"]
        uid = crash["metadata"]["uid"]
        _, waiting = state_of(crash, "c")
        assert re.fullmatch(
            rf"back-off \d+s restarting failed container=c pod=crashloop_{ns.name}\({uid}\)",
            waiting["message"],
        ), waiting
        last = container_status(crash, "c")["lastState"]["terminated"]
        assert (last["reason"], last["exitCode"]) == ("Error", 2)
        assert last["containerID"].startswith("pocketkube://")
        assert phase(crash) == "Running"  # restartPolicy Always: the pod runs on, crashing
        backoffs = [e for e in ns.events("crashloop") if e["reason"] == "BackOff"]
        assert backoffs
        assert backoffs[0]["type"] == "Warning"
        assert backoffs[0]["message"] == (
            f"Back-off restarting failed container c in pod crashloop_{ns.name}({uid})"
        )

        _, waiting = state_of(pods["nocommand"], "c")
        assert "no command" in waiting["message"], waiting
        assert phase(pods["nocommand"]) == "Pending"

        _, waiting = state_of(pods["noconfig"], "c")
        assert waiting["message"] == 'configmap "x" not found'
        failed = [e for e in ns.events("noconfig") if e["reason"] == "Failed"]
        assert failed
        assert failed[0]["type"] == "Warning"
        assert failed[0]["message"] == 'Error: configmap "x" not found'

        # A command that does not exist: containerd's StartError (exit code 128), then the
        # kubelet waits (RunContainerError, then CrashLoopBackOff) as upstream.
        nobinary = container_status(pods["nobinary"], "c")
        kind, details = state_of(pods["nobinary"], "c")
        start_error = details if kind == "terminated" else nobinary["lastState"]["terminated"]
        assert start_error["reason"] == "StartError"
        assert start_error["exitCode"] == 128
        assert (
            'exec: "no-such-binary-pk5": executable file not found in $PATH'
            in start_error["message"]
        ), start_error
        if kind == "waiting":
            assert details["reason"] in ("RunContainerError", "CrashLoopBackOff"), details
        nobinary_events = ns.events("nobinary")
        reasons = [e["reason"] for e in nobinary_events]
        assert "Started" not in reasons, reasons  # it never started
        failed = [e for e in nobinary_events if e["reason"] == "Failed"]
        assert failed, reasons
        assert failed[0]["type"] == "Warning"
        assert failed[0]["message"].startswith("Error: ")
        assert "executable file not found in $PATH" in failed[0]["message"]

        message = pods["message"]
        terminated = {
            s["name"]: s["state"]["terminated"] for s in message["status"]["containerStatuses"]
        }
        assert terminated["file"]["message"] == "it went wrong"
        assert terminated["file"]["exitCode"] == 1
        assert terminated["custom"]["message"] == "custom path"
        assert terminated["custom"]["reason"] == "Completed"
        assert terminated["fallback"]["message"] == "line one\nline two\n"
        assert terminated["fallback"]["exitCode"] == 4
        assert "message" not in terminated["fallback-ok"]  # logs only on error
        assert "message" not in terminated["silent"]  # File policy: the log is not used

        if is_root():
            kind, oom = state_of(pods["oom"], "c")
            assert (kind, oom["reason"], oom["exitCode"]) == ("terminated", "OOMKilled", 137)

        table = ns.table()
        assert table["completed"][2] == "Completed"
        assert table["error"][2] == "Error"
        assert table["nocommand"][2] == "CreateContainerError"
        assert table["noconfig"][2] == "CreateContainerConfigError"
        assert "CrashLoopBackOff" in ns.seen_statuses["crashloop"]
        assert table["message"][2] == "Error"
        if is_root():
            assert table["oom"][2] == "OOMKilled"


def test_start_error_started_at_is_the_epoch(node_cluster: Cluster) -> None:
    with namespace(node_cluster, "starterr") as ns:
        ns.apply(
            pod_manifest(
                "p",
                "  restartPolicy: Never\n  containers:\n"
                "  - {name: c, image: busybox, command: [no-such-binary-pk5]}\n",
            )
        )
        pods = ns.wait(lambda pods: phase(pods["p"]) == "Failed", "the pod Failed")
        kind, terminated = state_of(pods["p"], "c")
        assert (kind, terminated["reason"], terminated["exitCode"]) == (
            "terminated",
            "StartError",
            128,
        )
        assert terminated.get("startedAt") == "1970-01-01T00:00:00Z", terminated


# -- 4. init containers ------------------------------------------------------------------------


def _step(name: str) -> str:
    line = 'echo "{n} {w} $(date +%s.%N)" >> $POCKETKUBE_ROOT/data/order'
    return "; ".join((line.format(n=name, w="start"), "sleep 1.5", line.format(n=name, w="end")))


INITS = (
    pod_manifest(
        "ordered",
        f"""\
  volumes: [{{name: data, emptyDir: {{}}}}]
  initContainers:
  - name: first
    image: busybox
    command: [sh, -c, '{_step("first")}']
    volumeMounts: [{{name: data, mountPath: /data}}]
  - name: second
    image: busybox
    command: [sh, -c, '{_step("second")}']
    volumeMounts: [{{name: data, mountPath: /data}}]
  containers:
  - name: app
    image: busybox
    command: [sh, -c, 'echo "app start $(date +%s.%N)" >> $POCKETKUBE_ROOT/data/order; cat $POCKETKUBE_ROOT/data/order; exec sleep 1000']
    volumeMounts: [{{name: data, mountPath: /data}}]
""",  # noqa: E501
    )
    + pod_manifest(
        "retried",
        """\
  initContainers:
  - {name: ok, image: busybox, command: [sh, -c, 'exit 0']}
  - {name: broken, image: busybox, command: [sh, -c, 'exit 3']}
  containers:
  - {name: app, image: busybox, command: [sleep, "1000"]}
""",
    )
    + pod_manifest(
        "failed",
        """\
  restartPolicy: Never
  initContainers:
  - {name: broken, image: busybox, command: [sh, -c, 'exit 3']}
  - {name: never, image: busybox, command: [sh, -c, 'exit 0']}
  containers:
  - {name: app, image: busybox, command: [sleep, "1000"]}
""",
    )
    + pod_manifest(
        "sidecar",
        """\
  initContainers:
  - {name: side, image: busybox, restartPolicy: Always, command: [sh, -c, 'echo side up; exec sleep 1000']}
  - {name: after, image: busybox, command: [sh, -c, 'exit 0']}
  containers:
  - {name: app, image: busybox, command: [sh, -c, 'echo app up; sleep 1; exit 0']}
""",  # noqa: E501
    )
)


def test_init_containers(node_cluster: Cluster) -> None:
    with namespace(node_cluster, "init") as ns:
        ns.apply(INITS)

        def settled(pods: dict[str, Obj]) -> bool:
            return (
                len(pods) == 4
                and phase(pods["ordered"]) == "Running"
                and container_status(pods["retried"], "broken").get("restartCount", 0) >= 2
                and phase(pods["failed"]) == "Failed"
                and phase(pods["sidecar"]) == "Running"
                and container_status(pods["sidecar"], "app").get("restartCount", 0) >= 1
            )

        pods = ns.wait(settled, "the init containers' outcomes", track=True, interval=0.1)

        # one at a time, in order, the app after all of them
        ordered = pods["ordered"]
        assert {"Init:0/2", "Init:1/2"} <= set(ns.seen_statuses["ordered"]), ns.seen_statuses
        lines = ns.wait_log("ordered", "app", lambda lines: any("app start" in x for x in lines))
        times = {" ".join(line.split()[:2]): float(line.split()[2]) for line in lines}
        sequence = ["first start", "first end", "second start", "second end", "app start"]
        assert sorted(times, key=times.__getitem__) == sequence, lines
        assert times["second start"] - times["first start"] >= 1.0
        inits = ordered["status"]["initContainerStatuses"]
        assert [s["name"] for s in inits] == ["first", "second"]
        for s in inits:
            terminated = s["state"]["terminated"]
            assert (terminated["reason"], terminated["exitCode"]) == ("Completed", 0)
        finished = parse_time(inits[1]["state"]["terminated"]["finishedAt"])
        app_started = parse_time(container_status(ordered, "app")["state"]["running"]["startedAt"])
        assert app_started >= finished
        assert conditions(ordered)["Initialized"]["status"] == "True"

        # a failing init container under Always: retried with back-off, the app never starts
        retried = pods["retried"]
        assert phase(retried) == "Pending"
        assert container_status(retried, "ok")["restartCount"] == 0  # never run again
        broken = container_status(retried, "broken")
        kind, details = state_of(retried, "broken")
        if kind == "waiting":
            assert details["reason"] == "CrashLoopBackOff"
            assert broken["lastState"]["terminated"]["exitCode"] == 3
        else:
            assert (kind, details["exitCode"]) == ("terminated", 3)
        app = container_status(retried, "app")
        assert app["state"] == {"waiting": {"reason": "PodInitializing"}}
        assert "containerID" not in app
        assert not ns.log_dir(retried, "app").exists()
        assert conditions(retried)["Initialized"]["status"] == "False"
        seen = ns.seen_statuses["retried"]
        assert {"Init:CrashLoopBackOff", "Init:Error"} & set(seen), seen

        # under Never the pod fails, the next init container and the app never start
        failed = pods["failed"]
        kind, details = state_of(failed, "broken")
        assert (kind, details["exitCode"], details["reason"]) == ("terminated", 3, "Error")
        assert container_status(failed, "broken")["restartCount"] == 0
        for name in ("never", "app"):
            assert "containerID" not in container_status(failed, name), name
            assert not ns.log_dir(failed, name).exists()
        assert ns.table()["failed"][2] == "Init:Error"

        # a sidecar runs beside the app, across the app's restarts
        sidecar = pods["sidecar"]
        side = container_status(sidecar, "side")
        assert "running" in side["state"]
        assert side["started"] is True
        assert side["restartCount"] == 0
        side_up = ns.first_log_time(sidecar, "side", 0)
        app_up = ns.first_log_time(sidecar, "app", 0)
        assert side_up is not None
        assert app_up is not None
        assert side_up < app_up
        assert ns.table()["sidecar"][1] in ("1/2", "2/2")


# -- 5. crash back-off ---------------------------------------------------------------------------

BACKOFF_BASE, BACKOFF_MAX = 1.0, 8.0  # the fixture's settings
RESTART_TABLE = {
    # (restartPolicy, exit code): (restarts, final phase)
    ("Always", 0): (True, "Running"),
    ("Always", 1): (True, "Running"),
    ("OnFailure", 0): (False, "Succeeded"),
    ("OnFailure", 1): (True, "Running"),
    ("Never", 0): (False, "Succeeded"),
    ("Never", 1): (False, "Failed"),
}


def _table_name(policy: str, code: int) -> str:
    return f"{policy.lower()}-{code}"


BACKOFF = pod_manifest(
    "crash", "  containers:\n  - {name: c, image: busybox, command: [sh, -c, 'echo up; exit 1']}\n"
) + "".join(
    pod_manifest(
        _table_name(policy, code),
        f"  restartPolicy: {policy}\n  containers:\n"
        f"  - {{name: c, image: busybox, command: [sh, -c, 'exit {code}']}}\n",
    )
    for policy, code in RESTART_TABLE
)


def test_crash_backoff_timings(node_cluster: Cluster) -> None:
    instances = 7  # the first start, then restarts after ~0, 1, 2, 4, 8, 8 s
    expected_gaps = [0.0] + [min(BACKOFF_BASE * 2**i, BACKOFF_MAX) for i in range(instances - 2)]
    with namespace(node_cluster, "backoff") as ns:
        ns.apply(BACKOFF)
        crash = ns.pod("crash")

        def started_all(pods: dict[str, Obj]) -> bool:
            restarts = container_status(pods["crash"], "c").get("restartCount", 0)
            return restarts >= instances - 1 and ns.first_log_time(crash, "c", instances - 1)

        pods = ns.wait(started_all, f"{instances} instances", timeout=60, interval=0.3, track=True)
        starts = [ns.first_log_time(crash, "c", i) for i in range(instances)]
        assert all(s is not None for s in starts), starts
        gaps = [b - a for a, b in itertools.pairwise(starts)]  # type: ignore[operator]
        report = ", ".join(f"{g:.2f}" for g in gaps)
        print("crash back-off gaps between starts:", report)
        assert gaps[0] < 2.5, report  # the first restart at once
        for gap, wanted in zip(gaps, expected_gaps, strict=True):
            assert gap >= 0.8 * wanted, report
            assert gap <= wanted + 4.0, report
        assert gaps[1] < gaps[2] < gaps[3] < gaps[4], report  # doubling...
        assert gaps[5] < 0.8 * 2 * BACKOFF_MAX, report  # ... up to the cap
        assert "CrashLoopBackOff" in ns.seen_statuses["crash"], ns.seen_statuses
        status = container_status(pods["crash"], "c")
        assert status["restartCount"] >= instances - 1

        # the restart-policy table
        for (policy, code), (restarts, final) in RESTART_TABLE.items():
            pod = pods[_table_name(policy, code)]
            count = container_status(pod, "c").get("restartCount", 0)
            assert (count >= 3) == restarts, (policy, code, count)
            if not restarts:
                assert count == 0, (policy, code, count)
            assert phase(pod) == final, (policy, code, phase(pod))


# -- 6. volumes and environment ------------------------------------------------------------------

VOLUMES = """\
  volumes:
  - name: cm
    configMap: {name: settings, items: [{key: greeting, path: renamed/greet.txt}]}
  - name: sec
    secret: {secretName: creds}
  - name: dapi
    downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]}
  - name: tok
    projected: {sources: [{serviceAccountToken: {path: token, expirationSeconds: 3600, audience: pk-test}}]}
  - name: shared
    emptyDir: {}
  - name: host
    hostPath: {path: HOSTDIR, type: Directory}
  containers:
  - name: reader
    image: busybox
    command: [sh, -c]
    args:
    - |
      R=$POCKETKUBE_ROOT
      echo "cm=$(cat $R/etc/cm/renamed/greet.txt)"
      echo "cm-other=$(ls $R/etc/cm | tr '\\n' ' ')"
      echo "secret=$(cat $R/etc/secret/password)"
      echo "labels=$(tr '\\n' ',' < $R/etc/podinfo/labels)"
      echo "token=$(cat $R/var/run/token/token)"
      echo "host=$(cat $R/host/in.txt)"
      echo from-pod > $R/host/out.txt
      for i in $(seq 50); do [ -f $R/shared/note ] && break; sleep 0.1; done
      echo "shared=$(cat $R/shared/note)"
      echo "pod-ip=$POD_IP"
      echo "pod-name=$POD_NAME"
      echo "mem-mi=$MEM_MI"
      echo "mem=$MEM"
      echo "greet=$GREET"
      echo "password=$PASSWORD"
      echo "envfrom=$FROM_CM_KEY"
      echo "prefixed=$CFG_greeting"
      echo "plain=$PLAIN"
      echo "arg=$0|$1|$2"
      exec sleep 1000
    - $(EXPANDED)
    - $$(ESCAPED)
    - $(UNDEFINED_PK)
    env:
    - {name: PLAIN, value: plain value}
    - {name: EXPANDED, value: "$(PLAIN) twice"}
    - name: POD_IP
      valueFrom: {fieldRef: {fieldPath: status.podIP}}
    - name: POD_NAME
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    - name: MEM_MI
      valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}
    - name: MEM
      valueFrom: {resourceFieldRef: {containerName: reader, resource: limits.memory}}
    - name: GREET
      valueFrom: {configMapKeyRef: {name: settings, key: greeting}}
    - name: PASSWORD
      valueFrom: {secretKeyRef: {name: creds, key: password}}
    envFrom:
    - configMapRef: {name: settings}
    - {prefix: CFG_, configMapRef: {name: settings}}
    resources: {limits: {memory: 64Mi}}
    volumeMounts:
    - {name: cm, mountPath: /etc/cm}
    - {name: sec, mountPath: /etc/secret}
    - {name: dapi, mountPath: /etc/podinfo}
    - {name: tok, mountPath: /var/run/token}
    - {name: shared, mountPath: /shared}
    - {name: host, mountPath: /host}
  - name: writer
    image: busybox
    command: [sh, -c, 'echo written by the writer > $POCKETKUBE_ROOT/scratch/note; exec sleep 1000']
    volumeMounts: [{name: shared, mountPath: /scratch}]
"""  # noqa: E501


def _jwt_claims(token: str) -> Obj:
    parts = token.split(".")
    assert len(parts) == 3, token
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    return json.loads(base64.urlsafe_b64decode(payload))  # type: ignore[no-any-return]


def test_volumes_and_env(node_cluster: Cluster, tmp_path: Path) -> None:
    host_dir = tmp_path / "hostpath"
    host_dir.mkdir()
    (host_dir / "in.txt").write_text("from the host\n")
    with namespace(node_cluster, "volumes") as ns:
        ns.kubectl(
            "create",
            "configmap",
            "settings",
            "--from-literal=greeting=hello",
            "--from-literal=FROM_CM_KEY=yes",
        )
        ns.kubectl("create", "secret", "generic", "creds", "--from-literal=password=s3cret")
        ns.apply(
            pod_manifest(
                "vols",
                VOLUMES.replace("HOSTDIR", str(host_dir)),
                labels="{app: vols, tier: test}",
            )
        )
        pods = ns.wait(lambda pods: phase(pods["vols"]) == "Running", "the pod Running")
        lines = ns.wait_log("vols", "reader", lambda lines: any("arg=" in x for x in lines))
        seen = dict(line.split("=", 1) for line in lines if "=" in line)
        pod = pods["vols"]

        assert seen["cm"] == "hello"
        assert seen["cm-other"].split() == ["renamed"]  # only the listed item
        assert seen["secret"] == "s3cret"
        assert seen["labels"] == 'app="vols",tier="test"'  # one per line, no final newline
        claims = _jwt_claims(seen["token"])
        assert claims["sub"] == f"system:serviceaccount:{ns.name}:default"
        assert claims["aud"] == ["pk-test"]
        assert claims["kubernetes.io"]["pod"] == {
            "name": "vols",
            "uid": pod["metadata"]["uid"],
        }
        assert 3500 <= claims["exp"] - claims["iat"] <= 3700
        assert seen["host"] == "from the host"
        assert (host_dir / "out.txt").read_text() == "from-pod\n"
        assert seen["shared"] == "written by the writer"

        assert seen["pod-ip"] == pod["status"]["podIP"]
        assert seen["pod-name"] == "vols"
        assert seen["mem-mi"] == "64"
        assert seen["mem"] == str(64 * 1024 * 1024)
        assert seen["greet"] == "hello"
        assert seen["password"] == "s3cret"
        assert seen["envfrom"] == "yes"
        assert seen["prefixed"] == "hello"
        assert seen["plain"] == "plain value"
        assert seen["arg"] == "plain value twice|$(ESCAPED)|$(UNDEFINED_PK)"


# -- 7. pod networking ---------------------------------------------------------------------------

SERVER = pod_manifest(
    "server",
    """\
  volumes: [{name: www, emptyDir: {}}]
  containers:
  - name: http
    image: python
    command: [sh, -c, 'echo served by the pod > $POCKETKUBE_ROOT/www/index.html; cd $POCKETKUBE_ROOT/www; exec python3 -m http.server 8080']
    ports: [{containerPort: 8080, hostPort: 30088}]
    volumeMounts: [{name: www, mountPath: /www}]
""",  # noqa: E501
)
HOST_PORT = 30088  # the server pod's hostPort: CNI's portmap forwards the node's port to it

CLIENT_SCRIPT = """\
import time, urllib.request
for attempt in range(50):
    try:
        body = urllib.request.urlopen("http://SERVER_IP:8080/", timeout=2).read().decode()
        print("fetched:", body.strip(), flush=True)
        break
    except OSError as err:
        print("retry:", err, flush=True)
        time.sleep(0.2)
time.sleep(1000)
"""


@needs_root
@pytest.mark.root
def test_pod_networking(node_cluster: Cluster) -> None:
    with namespace(node_cluster, "net") as ns:
        ns.apply(SERVER)
        pods = ns.wait(lambda pods: phase(pods["server"]) == "Running", "the server Running")
        server_ip = pods["server"]["status"]["podIP"]
        client = pod_manifest(
            "client",
            "  containers:\n  - name: c\n    image: python\n    command: [python3, -c, "
            + json.dumps(CLIENT_SCRIPT.replace("SERVER_IP", server_ip))
            + "]\n",
        )
        ns.apply(client)
        pods = ns.wait(lambda pods: phase(pods["client"]) == "Running", "the client Running")
        client_ip = pods["client"]["status"]["podIP"]
        assert ipaddress.ip_address(server_ip) in POD_CIDR
        assert ipaddress.ip_address(client_ip) in POD_CIDR
        assert server_ip != client_ip

        lines = ns.wait_log("client", "c", lambda lines: any("fetched:" in x for x in lines))
        assert "fetched: served by the pod" in lines, lines

        # the host reaches the pod by its IP too (through the node's bridge), and through the
        # hostPort on the node's loopback address
        for url in (f"http://{server_ip}:8080/", f"http://127.0.0.1:{HOST_PORT}/"):
            deadline = time.monotonic() + 10
            while True:
                try:
                    with urllib.request.urlopen(url, timeout=2) as reply:
                        assert reply.read() == b"served by the pod\n"
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)


# -- 8. activeDeadlineSeconds --------------------------------------------------------------------


def test_active_deadline(node_cluster: Cluster) -> None:
    with namespace(node_cluster, "deadline") as ns:
        ns.apply(
            pod_manifest(
                "late",
                "  activeDeadlineSeconds: 3\n  containers:\n"
                "  - {name: c, image: busybox, command: [sleep, '1000']}\n",
            )
            + pod_manifest(
                "quick",
                "  activeDeadlineSeconds: 30\n  restartPolicy: Never\n  containers:\n"
                "  - {name: c, image: busybox, command: [sh, -c, 'exit 0']}\n",
            )
        )
        ns.wait(lambda pods: phase(pods["late"]) == "Running", "the pod Running")
        pods = ns.wait(lambda pods: phase(pods["late"]) == "Failed", "DeadlineExceeded", timeout=10)
        status = pods["late"]["status"]
        assert status["reason"] == "DeadlineExceeded"
        assert status["message"] == "Pod was active on the node longer than the specified deadline"
        started = parse_time(status["startTime"])
        kind, terminated = state_of(pods["late"], "c")
        assert kind == "terminated"
        assert parse_time(terminated["finishedAt"]) - started >= 2  # not before the deadline
        events = [e for e in ns.events("late") if e["reason"] == "DeadlineExceeded"]
        assert events
        assert events[0]["type"] == "Normal"
        assert phase(pods["quick"]) == "Succeeded"
        assert "reason" not in pods["quick"]["status"]


# -- 9. deletion -----------------------------------------------------------------------------------

DELETION = (
    pod_manifest(
        "prompt",
        """\
  terminationGracePeriodSeconds: 30
  containers:
  - {name: c, image: busybox, command: [sh, -c, 'echo pid $$$$; sleep 1000 & echo child $!; wait']}
""",
    )
    + pod_manifest(
        "stubborn",
        """\
  terminationGracePeriodSeconds: 4
  containers:
  - {name: c, image: busybox, command: [sh, -c, 'trap "echo TERM ignored" TERM; echo pid $$$$; while true; do sleep 0.2; done']}
""",  # noqa: E501
    )
    + pod_manifest(
        "bystander", "  containers:\n  - {name: c, image: busybox, command: [sleep, '1000']}\n"
    )
)


def _proc_start(pid: int) -> str | None:
    """The process's start time (field 22 of /proc/PID/stat), or None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else fields[19]


def _pids(ns: Namespace, pod: str) -> dict[int, str | None]:
    """The pids a pod's container printed (``pid N``, ``child N``), with their start times."""
    lines = ns.wait_log(pod, "c", lambda lines: any(x.startswith("pid ") for x in lines))
    if pod == "prompt":
        lines = ns.wait_log(pod, "c", lambda lines: any(x.startswith("child ") for x in lines))
    pids = [int(x.split()[1]) for x in lines if x.startswith(("pid ", "child "))]
    starts = {pid: _proc_start(pid) for pid in pids}
    assert all(starts.values()), (pod, lines, starts)
    return starts


def test_pod_deletion(node_cluster: Cluster) -> None:
    with namespace(node_cluster, "delete") as ns:
        ns.apply(DELETION)
        ns.wait(
            lambda pods: len(pods) == 3 and all(phase(p) == "Running" for p in pods.values()),
            "the pods Running",
        )
        bystander = ns.pod("bystander")
        for name, grace, low, high in (
            # exits on SIGTERM: deleted long before its 30 s grace period is over
            ("prompt", 30, 0.0, 15.0),
            # ignores SIGTERM: killed at its 4 s grace period
            ("stubborn", 4, 0.8 * 4, 4 + 10.0),
        ):
            starts = _pids(ns, name)
            began = time.monotonic()
            out = ns.kubectl("delete", "pod", name).stdout  # waits until the pod is gone
            took = time.monotonic() - began
            assert out.strip() == f'pod "{name}" deleted'
            assert low <= took <= high, (name, grace, took)
            gone = ns.kubectl("get", "pod", name, check=False)
            assert gone.returncode != 0
            assert f'pods "{name}" not found' in gone.stderr
            for pid, start in starts.items():
                assert _proc_start(pid) != start, f"process {pid} of {name} survived its pod"
            killing = [e for e in ns.events(name) if e["reason"] == "Killing"]
            assert killing, ns.events(name)
            assert killing[0]["message"] == "Stopping container c"
            assert killing[0]["involvedObject"]["fieldPath"] == "spec.containers{c}"

        # the other pod is untouched
        after = ns.pod("bystander")
        assert phase(after) == "Running"
        assert (
            container_status(after, "c")["containerID"]
            == container_status(bystander, "c")["containerID"]
        )
        assert container_status(after, "c")["restartCount"] == 0
