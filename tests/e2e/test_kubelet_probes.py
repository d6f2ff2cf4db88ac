"""E2E: the kubelet's probes on a real node, seen through real kubectl (issue 5, RELIABILITY F10).

Every container runs ``assets/probe_server.py`` (or ``sh``/``sleep``) as a host process in its
pod's network namespace; the probes reach it by the pod's IP as upstream's do. Each scenario is a
module-scoped fixture that creates its pods in its own namespace while ``kubectl get pods -w``
records every version of them, waits for what it needs, and hands the record to the tests — so a
scenario runs once for several assertions and the slow waits overlap:

- mechanisms: exec, httpGet (port by number and by name, path, httpHeaders), tcpSocket and grpc
  (with and without ``service``), each as startup, readiness and liveness probe;
- readiness: ``initialDelaySeconds``; a failing readiness probe never restarts;
- liveness: restarts with a growing restartCount, ``Unhealthy`` then ``Killing``; the probe's own
  ``terminationGracePeriodSeconds``;
- startup: liveness and readiness wait for it; one that never succeeds restarts the container.

Timing: lower bounds are asserted tightly, upper bounds loosely (CI has two slow cores).

Network probes of a new pod can time out for several seconds when its IP was held by an earlier
pod on this machine (an earlier test module's cluster hands out the same addresses): the node's
neighbour cache still has the old MAC address. Startup thresholds and waits leave room for that,
and the assertions look for each mechanism's own failure text rather than the first failure.
"""

from __future__ import annotations

import contextlib
import datetime
import itertools
import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pocketkube.runtime.process.logs import read_log
from tests.e2e.conftest import Cluster
from tests.e2e.nodecluster import wait_for

Obj = dict[str, Any]

PYTHON = sys.executable
PROBE_SERVER = str(Path(__file__).parent / "assets" / "probe_server.py")
ROOT = "$POCKETKUBE_ROOT"  # expanded by sh, or by probe_server.py for its path options
_ports = itertools.count(18080)  # distinct ports, so pods could even share the host network


# -- helpers (test_kubelet_termination.py uses them too) ---------------------------------------


def parse_time(value: str) -> float:
    """Seconds since the epoch of an RFC 3339 time (``...Z``, with or without fraction)."""
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def kubectl_json(cluster: Cluster, *args: str) -> Any:
    return json.loads(cluster.kubectl(*args, "-o", "json").stdout)


def apply(cluster: Cluster, namespace: str, *objects: Obj) -> None:
    # A YAML stream of JSON documents, one per object (a `kind: List` works too: kubectl
    # validates its items against /openapi/v2; test_kubectl_openapi_v2.py covers that).
    stream = "\n---\n".join(json.dumps(o) for o in objects)
    cluster.kubectl("apply", "-n", namespace, "-f", "-", stdin=stream)


def pod_manifest(name: str, *containers: Obj, grace: int = 1, **spec: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"terminationGracePeriodSeconds": grace, "containers": list(containers), **spec},
    }


def host_dir_volume(name: str, path: Path) -> Obj:
    return {"name": name, "hostPath": {"path": str(path), "type": "DirectoryOrCreate"}}


def server_container(name: str, *args: str, **fields: Any) -> Obj:
    """A container running probe_server.py with ``args``."""
    return {
        "name": name,
        "image": "probe-server",
        "command": [PYTHON, PROBE_SERVER, *args],
        **fields,
    }


def sh_container(name: str, script: str, **fields: Any) -> Obj:
    return {"name": name, "image": "sh", "command": ["sh", "-c", script], **fields}


def exec_action(script: str) -> Obj:
    return {"exec": {"command": ["sh", "-c", script]}}


def probe(action: Obj, **fields: Any) -> Obj:
    return {**action, "periodSeconds": 1, **fields}


def events(cluster: Cluster, namespace: str, pod: str | None = None) -> list[Obj]:
    """The namespace's events (about ``pod`` only if given), oldest first."""
    items = kubectl_json(cluster, "get", "events", "-n", namespace)["items"]
    if pod is not None:
        items = [e for e in items if e["involvedObject"].get("name") == pod]
    return sorted(items, key=event_time)


def event_time(event: Obj) -> float:
    """When an event (series) first happened."""
    value = (
        event.get("eventTime")
        or event.get("firstTimestamp")
        or event["metadata"]["creationTimestamp"]
    )
    return parse_time(value)


def with_reason(items: list[Obj], reason: str) -> list[Obj]:
    return [e for e in items if e.get("reason") == reason]


def messages(items: list[Obj], reason: str | None = None) -> list[str]:
    return [e.get("message", "") for e in items if reason is None or e.get("reason") == reason]


def container_status(pod: Obj, name: str) -> Obj:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return next((s for s in statuses if s["name"] == name), {})


def condition(pod: Obj, kind: str) -> Obj:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == kind), {})


def is_ready(pod: Obj) -> bool:
    return condition(pod, "Ready").get("status") == "True"


def started_at(pod: Obj, name: str) -> float:
    return parse_time(container_status(pod, name)["state"]["running"]["startedAt"])


def container_log(cluster: Cluster, pod: Obj, container: str, restart: int = 0) -> list[str]:
    """The container's output lines (stdout and stderr), from the runtime's log file."""
    meta = pod["metadata"]
    pod_dir = f"{meta['namespace']}_{meta['name']}_{meta['uid']}"
    path = cluster.data_dir / "kubelet" / "logs" / pod_dir / container / f"{restart}.log"
    return [line for _, line in read_log(path)]


@dataclass
class Version:
    at: float  # time.time() when kubectl printed it
    type: str  # ADDED, MODIFIED, DELETED
    pod: Obj
    extra: Any = None  # what the watch's ``sample`` callback returned at that moment


@dataclass
class PodWatch:
    """``kubectl get pods -w -o json --output-watch-events`` on a namespace, in the background:
    every version of every pod, with the time it arrived (and, with ``sample``, what that
    callback saw at that moment)."""

    cluster: Cluster
    namespace: str
    sample: Callable[[Obj], Any] | None = None
    versions: list[Version] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._proc = subprocess.Popen(
            [
                "kubectl",
                "--kubeconfig",
                str(self.cluster.kubeconfig),
                "--cache-dir",
                str(self.cluster.cache_dir),
                "get",
                "pods",
                "-n",
                self.namespace,
                "-w",
                "-o",
                "json",
                "--output-watch-events",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        buffer = ""
        for line in self._proc.stdout:
            buffer += line  # one event a line; should kubectl ever indent, keep reading
            try:
                event = json.loads(buffer)
            except ValueError:
                continue
            buffer = ""
            pod = event["object"]
            extra = self.sample(pod) if self.sample is not None else None
            with self._lock:
                self.versions.append(Version(time.time(), event["type"], pod, extra))

    def of_all(self) -> list[Version]:
        with self._lock:
            return list(self.versions)

    def of(self, name: str) -> list[Version]:
        with self._lock:
            return [v for v in self.versions if v.pod["metadata"]["name"] == name]

    def latest(self, name: str) -> Obj | None:
        found = self.of(name)
        return found[-1].pod if found and found[-1].type != "DELETED" else None

    def deleted_at(self, name: str) -> float | None:
        return next((v.at for v in self.of(name) if v.type == "DELETED"), None)

    def gone_at(self, name: str) -> float:
        """When the pod was seen deleted (it must have been)."""
        at = self.deleted_at(name)
        assert at is not None, f"pod {name} was never deleted"
        return at

    def stop(self) -> None:
        self._proc.terminate()
        self._proc.wait(10)
        self._thread.join(10)


@dataclass
class Scenario:
    cluster: Cluster
    namespace: str
    watch: PodWatch
    data: Obj = field(default_factory=dict)  # what the scenario gathered for its tests

    def pod(self, name: str) -> Obj:
        pod: Obj = kubectl_json(self.cluster, "get", "pod", name, "-n", self.namespace)
        return pod

    def events(self, pod: str | None = None) -> list[Obj]:
        return events(self.cluster, self.namespace, pod)

    def wait(self, check: Callable[[], Any], timeout: float, what: str) -> Any:
        try:
            return wait_for(check, timeout, what, interval=0.25)
        except AssertionError as err:
            raise AssertionError(f"{err}\n{self.summary()}") from None

    def summary(self) -> str:
        """The pods' and events' state, for a scenario that did not go as planned."""
        lines = []
        for name in sorted({v.pod["metadata"]["name"] for v in self.watch.of_all()}):
            pod = self.watch.latest(name) or {}
            status = pod.get("status") or {}
            lines.append(f"pod {name} {status.get('phase')} {status.get('podIP')}")
            for c in status.get("containerStatuses") or []:
                state = ",".join(c.get("state") or {})
                lines.append(
                    f"  {c['name']}: {state} ready={c.get('ready')} started={c.get('started')} "
                    f"restarts={c.get('restartCount')}"
                )
        for e in self.events():
            count = (e.get("series") or {}).get("count") or e.get("count") or 1
            lines.append(
                f"event {e['involvedObject'].get('name')} {e.get('reason')} x{count}: "
                f"{e.get('message', '')[:200]!r}"
            )
        return "\n".join(lines)


ScenarioFactory = Callable[..., contextlib.AbstractContextManager[Scenario]]


@pytest.fixture(scope="module")
def scenario(node_cluster: Cluster) -> ScenarioFactory:
    """Returns a context manager factory: ``with scenario("name") as s:`` makes namespace
    ``<name>-<random>``, watches its pods, and deletes them (and it) afterwards."""

    @contextlib.contextmanager
    def make(name: str, sample: Callable[[Obj], Any] | None = None) -> Iterator[Scenario]:
        namespace = f"{name}-{uuid.uuid4().hex[:6]}"
        node_cluster.kubectl("create", "namespace", namespace)
        watch = PodWatch(node_cluster, namespace, sample)
        try:
            yield Scenario(node_cluster, namespace, watch)
        finally:
            watch.stop()
            node_cluster.kubectl(
                "delete", "pod", "--all", "-n", namespace, "--grace-period=1",
                "--wait=true", "--timeout=60s", check=False, timeout=90,
            )  # fmt: skip
            node_cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)

    return make


# -- 1. each mechanism as each probe type ------------------------------------------------------

HEADER = {"name": "X-Probe", "value": "e2e"}


def mechanisms_pod(probe_dir: Path) -> Obj:
    http_port, tcp_port, grpc_port = next(_ports), next(_ports), next(_ports)
    log = f'"{ROOT}/probe/exec-probes.log"'
    state = f"{ROOT}/probe/state"

    def exec_check(kind: str, answer: str) -> Obj:
        # The event's text says what was missing, should the check ever fail.
        script = f'echo {kind} >> {log}; test -f "{state}/{answer}" || {{ ls "{state}"; exit 1; }}'
        return exec_action(script)

    def http(path: str, port: int | str) -> Obj:
        return {"httpGet": {"path": path, "port": port, "httpHeaders": [HEADER]}}

    return pod_manifest(
        "mechanisms",
        server_container(
            "exec",
            "--state-dir",
            state,
            volumeMounts=[{"name": "probe", "mountPath": "/probe"}],
            startupProbe=probe(exec_check("startup", "started"), failureThreshold=60),
            readinessProbe=probe(exec_check("readiness", "ready")),
            livenessProbe=probe(exec_check("liveness", "live")),
        ),
        server_container(
            "http",
            "--http-port",
            str(http_port),
            "--require-header",
            f"{HEADER['name']}={HEADER['value']}",
            ports=[{"name": "web", "containerPort": http_port}],
            startupProbe=probe(http("/started", "web"), failureThreshold=60),
            readinessProbe=probe(http("/ready", http_port)),
            livenessProbe=probe(http("/healthz", "web")),
        ),
        server_container(
            "tcp",
            "--tcp-port",
            str(tcp_port),
            ports=[{"name": "plain", "containerPort": tcp_port}],
            startupProbe=probe({"tcpSocket": {"port": "plain"}}, failureThreshold=60),
            readinessProbe=probe({"tcpSocket": {"port": tcp_port}}),
            livenessProbe=probe({"tcpSocket": {"port": "plain"}}),
        ),
        server_container(
            "grpc",
            "--grpc-port",
            str(grpc_port),
            startupProbe=probe(
                {"grpc": {"port": grpc_port, "service": "started"}}, failureThreshold=60
            ),
            readinessProbe=probe({"grpc": {"port": grpc_port, "service": "ready"}}),
            livenessProbe=probe({"grpc": {"port": grpc_port}}),  # no service: the server's health
        ),
        volumes=[host_dir_volume("probe", probe_dir)],
    )


MECHANISMS = ("exec", "http", "tcp", "grpc")


@pytest.fixture(scope="module")
def mechanisms(scenario: ScenarioFactory, tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    probe_dir = tmp_path_factory.mktemp("mechanisms")
    with scenario("probe-mechanisms") as s:
        apply(s.cluster, s.namespace, mechanisms_pod(probe_dir))

        def all_ready() -> bool:
            pod = s.watch.latest("mechanisms")
            return pod is not None and is_ready(pod)

        s.wait(all_ready, 75, "every probed container to be started and ready")
        s.data["ready_at"] = time.time()
        time.sleep(3.5)  # a few more periods of probing while healthy
        pod = s.pod("mechanisms")
        s.data["pod"] = pod
        s.data["events"] = s.events("mechanisms")
        s.data["logs"] = {name: container_log(s.cluster, pod, name) for name in MECHANISMS}
        s.data["exec_probes"] = (probe_dir / "exec-probes.log").read_text().split()
        return s


def test_every_mechanism_as_every_probe_type_passes(mechanisms: Scenario) -> None:
    pod = mechanisms.data["pod"]
    assert pod["status"]["phase"] == "Running"
    for name in MECHANISMS:
        status = container_status(pod, name)
        assert status["started"] is True, name
        assert status["ready"] is True, name
        assert status["restartCount"] == 0, name
        assert "running" in status["state"], name
    assert condition(pod, "ContainersReady")["status"] == "True"
    # Healthy containers stay so: never unready again, never restarted, never killed.
    after = [v for v in mechanisms.watch.of("mechanisms") if v.at >= mechanisms.data["ready_at"]]
    for version in after:
        for name in MECHANISMS:
            status = container_status(version.pod, name)
            assert status["ready"] is True, (name, status)
            assert status["restartCount"] == 0, (name, status)
    seen = mechanisms.data["events"]
    assert not with_reason(seen, "Killing")
    unhealthy = messages(seen, "Unhealthy")
    assert not [m for m in unhealthy if m.startswith(("Liveness", "Readiness"))], unhealthy


def test_exec_probes_run_in_the_container(mechanisms: Scenario) -> None:
    ran = mechanisms.data["exec_probes"]  # each exec probe appends its kind ($POCKETKUBE_ROOT)
    assert "startup" in ran
    assert ran.count("readiness") >= 2
    assert ran.count("liveness") >= 2
    # Liveness and readiness wait for the startup probe to succeed: none of them came first.
    first_other = min(ran.index("readiness"), ran.index("liveness"))
    assert "startup" in ran[:first_other]


def test_http_probes_send_path_headers_and_named_or_numbered_port(mechanisms: Scenario) -> None:
    lines = [line for line in mechanisms.data["logs"]["http"] if " http GET " in line]
    for path in ("/started", "/ready", "/healthz"):
        assert any(f"GET {path} -> 200" in line for line in lines), (path, lines)
    assert not [line for line in lines if "-> 400" in line]  # the header came every time
    assert all("kube-probe/1." in line for line in lines), lines
    assert sum("GET /healthz -> 200" in line for line in lines) >= 2  # periodic


def test_tcp_probes_connect_from_the_node(mechanisms: Scenario) -> None:
    lines = [line for line in mechanisms.data["logs"]["tcp"] if "tcp connection from" in line]
    assert len(lines) >= 4  # startup once, then readiness and liveness every second
    pod_ip = mechanisms.data["pod"]["status"]["podIP"]
    assert str(pod_ip).startswith("10.42.")  # probes reach the pod by its own IP


def test_grpc_probes_ask_for_the_service_or_the_server(mechanisms: Scenario) -> None:
    lines = mechanisms.data["logs"]["grpc"]
    for service in ("'started'", "'ready'", "''"):
        assert any(f"grpc Check {service} -> SERVING" in line for line in lines), service
    assert not [line for line in lines if "NOT_FOUND" in line or "NOT_SERVING" in line]


# -- 2. readiness ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def readiness(scenario: ScenarioFactory) -> Scenario:
    http_port = next(_ports)
    with scenario("probe-readiness") as s:
        apply(
            s.cluster,
            s.namespace,
            pod_manifest(
                "delayed",
                sh_container(
                    "app",
                    "exec sleep 3600",
                    readinessProbe=probe({"exec": {"command": ["true"]}}, initialDelaySeconds=3),
                ),
            ),
            pod_manifest(
                "unready",
                sh_container(
                    "exec",
                    "exec sleep 3600",
                    readinessProbe=probe(
                        exec_action("echo not ready yet; exit 1"), failureThreshold=1
                    ),
                ),
                server_container(
                    "http",
                    "--http-port",
                    str(http_port),
                    "--ready-after",
                    "3600",
                    readinessProbe=probe({"httpGet": {"path": "/ready", "port": http_port}}),
                ),
            ),
        )

        def delayed_ready() -> bool:
            pod = s.watch.latest("delayed")
            return pod is not None and is_ready(pod)

        s.wait(delayed_ready, 45, "pod delayed to become Ready")

        def unready_observed() -> bool:
            pod = s.watch.latest("unready")
            if pod is None or not all(
                "running" in container_status(pod, n).get("state", {}) for n in ("exec", "http")
            ):
                return False
            if time.time() < max(started_at(pod, n) for n in ("exec", "http")) + 6:
                return False
            # Answered 500 a few times (not merely unreachable: see the module's note).
            log = container_log(s.cluster, pod, "http")
            return sum("GET /ready -> 500" in line for line in log) >= 3

        s.wait(unready_observed, 60, "pod unready to be probed, and unready, for a while")
        s.data["delayed"] = s.pod("delayed")
        s.data["unready"] = s.pod("unready")
        s.data["events"] = s.events()
        s.data["http_log"] = container_log(s.cluster, s.data["unready"], "http")
        return s


def test_not_ready_before_initial_delay(readiness: Scenario) -> None:
    pod = readiness.data["delayed"]
    start = started_at(pod, "app")
    ready = condition(pod, "Ready")
    assert ready["status"] == "True"
    # Both times are whole seconds (floored), so the 3 s delay survives the rounding.
    assert parse_time(ready["lastTransitionTime"]) - start >= 3
    for version in readiness.watch.of("delayed"):
        if container_status(version.pod, "app").get("ready"):
            assert version.at >= start + 3, "ready before initialDelaySeconds"
    assert container_status(pod, "app")["restartCount"] == 0


def test_ready_condition_drops_its_reason_once_true(readiness: Scenario) -> None:
    ready = condition(readiness.data["delayed"], "Ready")
    assert ready["status"] == "True"
    assert "reason" not in ready, ready
    assert "message" not in ready, ready


def test_failing_readiness_never_restarts(readiness: Scenario) -> None:
    pod = readiness.data["unready"]
    assert pod["status"]["phase"] == "Running"
    for version in readiness.watch.of("unready"):
        for name in ("exec", "http"):
            status = container_status(version.pod, name)
            assert not status.get("ready"), (name, status)
            assert status.get("restartCount", 0) == 0, (name, status)
    ready = condition(pod, "Ready")
    assert ready["status"] == "False"
    assert ready["reason"] == "ContainersNotReady"
    assert ready["message"] == "containers with unready status: [exec http]"
    seen = [e for e in readiness.data["events"] if e["involvedObject"]["name"] == "unready"]
    assert not with_reason(seen, "Killing")
    unhealthy = with_reason(seen, "Unhealthy")
    assert all(e["type"] == "Warning" for e in unhealthy)
    notes = messages(unhealthy)
    assert any(m.startswith("Readiness probe failed: not ready yet") for m in notes), notes
    expected = "Readiness probe failed: HTTP probe failed with statuscode: 500"
    assert expected in notes, notes
    # Probed again and again (one event series, many requests).
    assert sum("GET /ready -> 500" in line for line in readiness.data["http_log"]) >= 3


# -- 3 and 5. liveness -------------------------------------------------------------------------

LIVENESS_MECHANISMS = ("http", "tcp", "grpc")
LIVENESS_FAILURES = {  # what each server's failure looks like once it fails its liveness
    "http": ("Liveness probe failed: HTTP probe failed with statuscode: 500", ""),
    "tcp": ("Liveness probe failed: dial tcp ", ": connect: connection refused"),
    "grpc": ('Liveness probe failed: service unhealthy (responded with "NOT_SERVING")', ""),
}


def reported(notes: list[str], failure: tuple[str, str]) -> bool:
    prefix, suffix = failure
    return any(m.startswith(prefix) and m.endswith(suffix) for m in notes)


@pytest.fixture(scope="module")
def liveness(scenario: ScenarioFactory) -> Scenario:
    http_port, tcp_port, grpc_port = next(_ports), next(_ports), next(_ports)
    fail = ("--fail-live-after", "4")
    once = {"failureThreshold": 1, "initialDelaySeconds": 2}  # the server is up by then
    with scenario("probe-liveness") as s:
        apply(
            s.cluster,
            s.namespace,
            pod_manifest(
                "liveness",
                server_container(
                    "http",
                    "--http-port",
                    str(http_port),
                    *fail,
                    livenessProbe=probe(
                        {"httpGet": {"path": "/healthz", "port": http_port}}, **once
                    ),
                ),
                server_container(
                    "tcp",
                    "--tcp-port",
                    str(tcp_port),
                    *fail,
                    livenessProbe=probe({"tcpSocket": {"port": tcp_port}}, **once),
                ),
                server_container(
                    "grpc",
                    "--grpc-port",
                    str(grpc_port),
                    *fail,
                    livenessProbe=probe({"grpc": {"port": grpc_port}}, **once),
                ),
            ),
            # The pod would wait 60 s; the liveness probe's own grace period is 3 s.
            pod_manifest(
                "probe-grace",
                sh_container(
                    "stubborn",
                    "trap 'echo TERM at $(date +%s.%N)' TERM; echo started; "
                    "while true; do sleep 0.1; done",
                    livenessProbe=probe(
                        exec_action("echo unhealthy; exit 1"),
                        initialDelaySeconds=1,
                        failureThreshold=1,
                        terminationGracePeriodSeconds=3,
                    ),
                ),
                grace=60,
            ),
        )

        def restarted() -> bool:
            pod, grace = s.watch.latest("liveness"), s.watch.latest("probe-grace")
            if pod is None or grace is None:
                return False
            counts = [container_status(pod, n).get("restartCount", 0) for n in LIVENESS_MECHANISMS]
            if min(counts) < 2 or container_status(grace, "stubborn")["restartCount"] < 1:
                return False
            # Each mechanism has also reported its own failure (not merely an unreachable pod).
            seen = messages(s.events("liveness"), "Unhealthy")
            return all(reported(seen, f) for f in LIVENESS_FAILURES.values())

        s.wait(restarted, 60, "liveness failures to restart every container")
        s.data["events"] = s.events()
        grace_pod = s.pod("probe-grace")
        s.data["stubborn_log"] = container_log(s.cluster, grace_pod, "stubborn", 0)
        s.data["liveness_log"] = {
            name: container_log(s.cluster, s.pod("liveness"), name, 0)
            for name in LIVENESS_MECHANISMS
        }
        return s


def test_failing_liveness_restarts_with_increasing_restart_count(liveness: Scenario) -> None:
    for name in LIVENESS_MECHANISMS:
        counts = [
            container_status(v.pod, name).get("restartCount", 0)
            for v in liveness.watch.of("liveness")
        ]
        assert counts == sorted(counts), (name, counts)
        assert {0, 1, 2} <= set(counts), (name, counts)
        # Each instance was stopped gracefully (SIGTERM: the server says so, exits 0).
        assert any("TERM at" in line for line in liveness.data["liveness_log"][name]), name
    latest = liveness.watch.latest("liveness")
    assert latest is not None
    for name in LIVENESS_MECHANISMS:
        terminated = container_status(latest, name)["lastState"]["terminated"]
        assert terminated["exitCode"] == 0, (name, terminated)  # it exits 0 on SIGTERM
        assert terminated["reason"] == "Completed", (name, terminated)


def test_liveness_failure_events_unhealthy_then_killing(liveness: Scenario) -> None:
    seen = [e for e in liveness.data["events"] if e["involvedObject"]["name"] == "liveness"]
    failures = LIVENESS_FAILURES
    liveness_failures = [
        e for e in with_reason(seen, "Unhealthy") if e["message"].startswith("Liveness probe")
    ]
    assert all(e["type"] == "Warning" for e in liveness_failures)
    for name, failure in failures.items():
        notes = messages(liveness_failures)
        assert reported(notes, failure), (name, notes)
        killing = [
            e
            for e in with_reason(seen, "Killing")
            if e["involvedObject"].get("fieldPath") == f"spec.containers{{{name}}}"
        ]
        assert killing, (name, messages(seen, "Killing"))
        assert killing[0]["type"] == "Normal"
        assert killing[0]["message"] == f"Container {name} failed liveness probe, will be restarted"
        assert event_time(liveness_failures[0]) <= event_time(killing[0]), name


def test_unhealthy_events_name_the_container(liveness: Scenario) -> None:
    seen = [e for e in liveness.data["events"] if e["involvedObject"]["name"] == "liveness"]
    paths = {e["involvedObject"].get("fieldPath") for e in with_reason(seen, "Unhealthy")}
    assert paths == {f"spec.containers{{{n}}}" for n in LIVENESS_MECHANISMS}, paths


def test_probe_termination_grace_period_is_used_for_the_kill(liveness: Scenario) -> None:
    versions = liveness.watch.of("probe-grace")
    first_restart = next(
        v.pod for v in versions if container_status(v.pod, "stubborn").get("restartCount") == 1
    )
    terminated = container_status(first_restart, "stubborn")["lastState"]["terminated"]
    assert terminated["exitCode"] == 137  # it ignored SIGTERM: SIGKILL at the probe's grace
    seen = [e for e in liveness.data["events"] if e["involvedObject"]["name"] == "probe-grace"]
    killing = with_reason(seen, "Killing")
    assert killing[0]["message"] == "Container stubborn failed liveness probe, will be restarted"
    waited = parse_time(terminated["finishedAt"]) - event_time(killing[0])
    # Grace 3 s (finishedAt is floored to the second); far from the pod's 60 s.
    assert 2 <= waited <= 15, waited
    log = liveness.data["stubborn_log"]
    assert any(line.startswith("TERM at") for line in log), log  # SIGTERM came first
    unhealthy = messages(seen, "Unhealthy")
    assert any(m.startswith("Liveness probe failed: unhealthy") for m in unhealthy), unhealthy


# -- 4. startup --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def startup(scenario: ScenarioFactory) -> Scenario:
    http_port, tcp_port, grpc_port = next(_ports), next(_ports), next(_ports)
    with scenario("probe-startup") as s:
        apply(
            s.cluster,
            s.namespace,
            # Starts after 4 s. Liveness asks /started with failureThreshold 1 and readiness asks
            # the "started" service: had they run before the startup probe passed, the
            # container would have been killed and shown unready.
            pod_manifest(
                "gated",
                server_container(
                    "app",
                    *("--start-after", "4", "--http-port", str(http_port)),
                    *("--tcp-port", str(tcp_port), "--grpc-port", str(grpc_port)),
                    ports=[{"name": "tcp", "containerPort": tcp_port}],
                    startupProbe=probe({"tcpSocket": {"port": "tcp"}}, failureThreshold=60),
                    livenessProbe=probe(
                        {"httpGet": {"path": "/started", "port": http_port}}, failureThreshold=1
                    ),
                    readinessProbe=probe({"grpc": {"port": grpc_port, "service": "started"}}),
                ),
            ),
            pod_manifest(
                "never-starts",
                sh_container(
                    "app",
                    "exec sleep 3600",
                    startupProbe=probe(
                        exec_action("echo still starting; exit 1"), failureThreshold=2
                    ),
                    livenessProbe=probe(
                        exec_action("echo liveness ran; exit 1"), failureThreshold=1
                    ),
                    readinessProbe=probe({"exec": {"command": ["true"]}}),
                ),
            ),
        )

        def done() -> bool:
            gated, never = s.watch.latest("gated"), s.watch.latest("never-starts")
            if gated is None or never is None:
                return False
            if not is_ready(gated) or container_status(never, "app").get("restartCount", 0) < 2:
                return False
            log = container_log(s.cluster, gated, "app")
            return any("GET /started -> 200" in line for line in log)  # liveness ran too

        s.wait(done, 75, "gated to become Ready and never-starts to restart twice")
        s.data["gated"] = s.pod("gated")
        s.data["events"] = s.events()
        s.data["gated_log"] = container_log(s.cluster, s.data["gated"], "app")
        return s


def test_startup_probe_gates_liveness_and_readiness(startup: Scenario) -> None:
    pod = startup.data["gated"]
    status = container_status(pod, "app")
    assert status["restartCount"] == 0
    assert status["started"] is True
    assert status["ready"] is True
    start = started_at(pod, "app")
    assert parse_time(condition(pod, "Ready")["lastTransitionTime"]) - start >= 4
    for version in startup.watch.of("gated"):
        s = container_status(version.pod, "app")
        if version.at < start + 4:
            assert not s.get("started"), s
            assert not s.get("ready"), s
        assert s.get("restartCount", 0) == 0, s
        if s.get("ready"):
            assert s.get("started"), s  # never ready before started
    seen = [e for e in startup.data["events"] if e["involvedObject"]["name"] == "gated"]
    unhealthy = messages(seen, "Unhealthy")
    assert any(m.startswith("Startup probe failed: ") for m in unhealthy), seen
    assert not [m for m in unhealthy if m.startswith(("Liveness", "Readiness"))], unhealthy
    assert not with_reason(seen, "Killing")
    # The server's own log: no HTTP or gRPC probe before it had started (listening on TCP).
    log = startup.data["gated_log"]
    opened = next(i for i, line in enumerate(log) if "tcp listening" in line)
    early = [line for line in log[:opened] if " http GET " in line or " grpc Check " in line]
    assert not early, early
    assert any("GET /started -> 200" in line for line in log[opened:])
    assert any("grpc Check 'started' -> SERVING" in line for line in log[opened:])


def test_startup_probe_that_never_succeeds_restarts_the_container(startup: Scenario) -> None:
    versions = startup.watch.of("never-starts")
    for version in versions:
        s = container_status(version.pod, "app")
        assert not s.get("started"), s
        assert not s.get("ready"), s
    counts = [container_status(v.pod, "app").get("restartCount", 0) for v in versions]
    assert counts == sorted(counts), counts
    assert counts[-1] >= 2, counts
    seen = [e for e in startup.data["events"] if e["involvedObject"]["name"] == "never-starts"]
    unhealthy = messages(seen, "Unhealthy")
    assert any(m.startswith("Startup probe failed: still starting") for m in unhealthy), unhealthy
    # Liveness and readiness never ran (the liveness probe would have failed, loudly).
    assert not [m for m in unhealthy if m.startswith(("Liveness", "Readiness"))], unhealthy
    killing = messages(seen, "Killing")
    assert killing, messages(seen)
    assert set(killing) == {"Container app failed startup probe, will be restarted"}, killing
    first_unhealthy = next(e for e in seen if e["reason"] == "Unhealthy")
    assert event_time(first_unhealthy) <= event_time(with_reason(seen, "Killing")[0])
