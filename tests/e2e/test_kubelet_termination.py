"""E2E: lifecycle hooks and graceful termination on a real node, through real kubectl (issue 5,
RELIABILITY F9 and F10).

- postStart runs before the container is shown Running; a failing one kills the container;
- preStop runs before SIGTERM; SIGKILL comes at the grace period; ``--grace-period=1`` and a
  forced deletion kill promptly; a preStop still running at the end of the grace period gets
  2 s more; ``kubectl get pods`` shows ``Terminating`` meanwhile;
- an app that fails its readiness probe once it got SIGTERM leaves Ready before it goes away;
- a failing preStop is reported (``FailedPreStopHook``).

Containers write what they do, with their own timestamps, into a hostPath directory the test
reads (``$POCKETKUBE_ROOT/shared/...`` inside, a temporary directory outside). Scenarios are
module-scoped fixtures, like in test_kubelet_probes.py, whose helpers this module shares.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.test_kubelet_probes import (
    ROOT,
    Obj,
    Scenario,
    ScenarioFactory,
    apply,
    condition,
    container_status,
    event_time,
    host_dir_volume,
    is_ready,
    kubectl_json,
    messages,
    parse_time,
    pod_manifest,
    scenario,
    server_container,
    sh_container,
    with_reason,
)

__all__ = ["scenario"]  # the fixture, shared with test_kubelet_probes.py

SHARED = {"name": "shared", "mountPath": "/shared"}
OUT = f'"{ROOT}/shared'  # opening quote and directory of a file in the shared directory


def stamped(path: Path, label: str) -> list[float]:
    """The times of the ``<label> at <epoch seconds>`` lines a container wrote to ``path``."""
    if not path.exists():
        return []
    times = []
    for line in path.read_text().splitlines():
        if line.startswith(f"{label} at "):
            times.append(float(line.removeprefix(f"{label} at ").split()[0]))
    return times


def alive(pid: int) -> bool:
    """Whether the process runs (a zombie does not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return False
    return "State:\tZ" not in status


def running(pod: Obj | None, name: str) -> bool:
    return pod is not None and "running" in container_status(pod, name).get("state", {})


# -- 6. postStart ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def poststart(scenario: ScenarioFactory, tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    shared = tmp_path_factory.mktemp("poststart")
    marker = shared / "slow.done"
    with scenario("term-poststart", sample=lambda pod: marker.exists()) as s:
        s.data["shared"] = shared
        volumes = [host_dir_volume("shared", shared)]
        apply(
            s.cluster,
            s.namespace,
            pod_manifest(
                "slow-hook",
                sh_container(
                    "app",
                    f'echo main at $(date +%s.%N) >> {OUT}/slow.log"; exec sleep 3600',
                    volumeMounts=[SHARED],
                    lifecycle={
                        "postStart": {
                            "exec": {
                                "command": [
                                    "sh",
                                    "-c",
                                    f'sleep 2; echo hook at $(date +%s.%N) >> {OUT}/slow.log"; '
                                    f'touch {OUT}/slow.done"',
                                ]
                            }
                        }
                    },
                ),
                volumes=volumes,
            ),
            pod_manifest(
                "bad-hook",
                sh_container(
                    "app",
                    "exec sleep 3600",
                    lifecycle={
                        "postStart": {"exec": {"command": ["sh", "-c", "echo boom; exit 3"]}}
                    },
                ),
            ),
        )

        def done() -> bool:
            bad = s.watch.latest("bad-hook")
            if not running(s.watch.latest("slow-hook"), "app") or bad is None:
                return False
            return int(container_status(bad, "app").get("restartCount", 0)) >= 1

        s.wait(done, 45, "slow-hook to run and bad-hook to be restarted")
        time.sleep(1)  # let the kill's events land
        s.data["events"] = s.events()
        s.data["bad"] = s.pod("bad-hook")
        return s


def test_poststart_hook_completes_before_the_container_is_running(poststart: Scenario) -> None:
    versions = poststart.watch.of("slow-hook")
    first = next(i for i, v in enumerate(versions) if running(v.pod, "app"))
    assert versions[first].extra is True, "shown Running before its postStart hook returned"
    for version in versions[:first]:
        state = container_status(version.pod, "app").get("state") or {}
        if state:
            assert state.get("waiting", {}).get("reason") == "ContainerCreating", state
    log = poststart.data["shared"] / "slow.log"
    (main,), (hook,) = stamped(log, "main"), stamped(log, "hook")
    # The hook ran while the container's process was already running (it started first).
    assert hook - main >= 1.5, (main, hook)
    assert versions[first].at >= hook
    started = parse_time(
        container_status(versions[first].pod, "app")["state"]["running"]["startedAt"]
    )
    assert started <= main + 1  # startedAt (whole seconds) is the process start, not the hook's end


def test_failed_poststart_hook_kills_and_restarts_the_container(poststart: Scenario) -> None:
    seen = [e for e in poststart.data["events"] if e["involvedObject"]["name"] == "bad-hook"]
    failed = with_reason(seen, "FailedPostStartHook")
    assert failed, messages(seen)
    assert failed[0]["type"] == "Warning"
    assert failed[0]["involvedObject"].get("fieldPath") == "spec.containers{app}"
    killing = with_reason(seen, "Killing")
    assert killing, messages(seen)
    assert killing[0]["message"] == "FailedPostStartHook"  # upstream's killContainer message
    status = container_status(poststart.data["bad"], "app")
    assert status["restartCount"] >= 1
    assert "terminated" in status["lastState"], status
    assert not status["ready"]
    reasons = {}
    for version in poststart.watch.of("bad-hook"):
        waiting = container_status(version.pod, "app").get("state", {}).get("waiting") or {}
        if waiting.get("reason") in ("PostStartHookError", "CrashLoopBackOff"):
            reasons[waiting["reason"]] = waiting.get("message", "")
    assert reasons, "never shown waiting after the failed hook"
    if "PostStartHookError" in reasons:
        detail = reasons["PostStartHookError"]
        assert detail.startswith(
            'Exec lifecycle hook ([sh -c echo boom; exit 3]) for Container "app" in Pod "bad-hook_'
        ), detail
        assert "exited with 3" in detail, detail
        assert detail.endswith('message: "boom\\n"'), detail


def test_failed_poststart_event_says_only_that_it_failed(poststart: Scenario) -> None:
    seen = [e for e in poststart.data["events"] if e["involvedObject"]["name"] == "bad-hook"]
    assert set(messages(seen, "FailedPostStartHook")) == {"PostStartHook failed"}


# -- 7 and 9. preStop, SIGTERM, a failing preStop ----------------------------------------------


@pytest.fixture(scope="module")
def graceful(scenario: ScenarioFactory, tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    shared = tmp_path_factory.mktemp("graceful")
    with scenario("term-graceful") as s:
        s.data["shared"] = shared
        apply(
            s.cluster,
            s.namespace,
            pod_manifest(
                "graceful",
                sh_container(
                    "sh",
                    f"trap 'echo TERM at $(date +%s.%N) >> {OUT}/sh.log\"; exit 0' TERM; "
                    "while true; do sleep 0.1; done",
                    volumeMounts=[SHARED],
                    lifecycle={
                        "preStop": {
                            "exec": {
                                "command": [
                                    "sh",
                                    "-c",
                                    f'echo preStop at $(date +%s.%N) >> {OUT}/sh.log"; sleep 1',
                                ]
                            }
                        }
                    },
                ),
                server_container(
                    "py",
                    *("--exit-delay", "0.5", "--log-file", f"{ROOT}/shared/py.log"),
                    volumeMounts=[SHARED],
                    lifecycle={
                        "preStop": {
                            "exec": {
                                "command": [
                                    "sh",
                                    "-c",
                                    f'echo preStop at $(date +%s.%N) >> {OUT}/py-prestop.log"',
                                ]
                            }
                        }
                    },
                ),
                sh_container(
                    "badstop",
                    "exec sleep 3600",
                    lifecycle={
                        "preStop": {"exec": {"command": ["sh", "-c", "echo cannot drain; exit 4"]}}
                    },
                ),
                grace=5,
                volumes=[host_dir_volume("shared", shared)],
            ),
        )
        s.wait(lambda: is_ready(s.watch.latest("graceful") or {}), 60, "graceful to be Ready")
        s.data["t0"] = time.time()
        s.cluster.kubectl("delete", "pod", "graceful", "-n", s.namespace, "--wait=false")
        s.wait(lambda: s.watch.deleted_at("graceful"), 30, "graceful to be deleted")
        s.data["events"] = s.events("graceful")
        return s


def test_prestop_runs_before_sigterm(graceful: Scenario) -> None:
    shared, t0 = graceful.data["shared"], graceful.data["t0"]
    (pre_stop,) = stamped(shared / "sh.log", "preStop")
    terms = stamped(shared / "sh.log", "TERM")
    assert terms, (shared / "sh.log").read_text()
    assert t0 <= pre_stop < terms[0]
    assert terms[0] - pre_stop >= 1.0  # the hook's own second, before any SIGTERM
    py_pre_stop = stamped(shared / "py-prestop.log", "preStop")
    py_terms = [line for line in (shared / "py.log").read_text().splitlines() if "TERM at" in line]
    assert py_pre_stop, "the py container's preStop hook did not run"
    assert py_terms, "the py container got no SIGTERM"
    assert py_pre_stop[0] < parse_time(py_terms[0].split()[0])


def test_graceful_deletion_removes_the_pod_within_its_grace_period(graceful: Scenario) -> None:
    took = graceful.watch.gone_at("graceful") - graceful.data["t0"]
    assert 1.0 <= took <= 5 + 15, took
    killing = messages(with_reason(graceful.data["events"], "Killing"))
    for name in ("sh", "py", "badstop"):
        assert f"Stopping container {name}" in killing, killing


def test_failing_prestop_hook_is_reported(graceful: Scenario) -> None:
    failed = with_reason(graceful.data["events"], "FailedPreStopHook")
    assert len(failed) == 1, messages(graceful.data["events"])
    assert failed[0]["type"] == "Warning"
    assert failed[0]["involvedObject"].get("fieldPath") == "spec.containers{badstop}"


def test_failing_prestop_event_says_only_that_it_failed(graceful: Scenario) -> None:
    assert messages(graceful.data["events"], "FailedPreStopHook") == ["PreStopHook failed"]


# -- 7. SIGKILL at the grace period, grace 1, forced deletion, preStop past the grace ---------

# Kubernetes expands $(VAR) in a command and turns $$ into $: the shell's $$ is written $$$$.
IGNORE_TERM = (
    "trap '' TERM; echo $$$$ > {out}/{name}.pid\"; "
    'while true; do date +%s.%N > {out}/{name}.beat"; sleep 0.1; done'
)
LOG_TERM = (
    "trap 'echo TERM at $(date +%s.%N) >> {out}/{name}.log\"' TERM; "
    'echo $$$$ > {out}/{name}.pid"; '
    "while true; do sleep 0.1; done"
)


@pytest.fixture(scope="module")
def deletions(scenario: ScenarioFactory, tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    shared = tmp_path_factory.mktemp("deletions")
    names = ("stubborn", "quick", "forced", "slow-prestop")
    with scenario("term-deletions") as s:
        s.data["shared"] = shared

        def ignoring(name: str, grace: int) -> Obj:
            script = IGNORE_TERM.format(out=OUT, name=name)
            container = sh_container("app", script, volumeMounts=[SHARED])
            return pod_manifest(name, container, grace=grace, volumes=[volume])

        volume = host_dir_volume("shared", shared)
        slow = sh_container(
            "app",
            LOG_TERM.format(out=OUT, name="slow-prestop"),
            volumeMounts=[SHARED],
            lifecycle={
                "preStop": {
                    "exec": {
                        "command": [
                            "sh",
                            "-c",
                            f'echo preStop at $(date +%s.%N) >> {OUT}/slow-prestop.log"; sleep 30',
                        ]
                    }
                }
            },
        )
        apply(
            s.cluster,
            s.namespace,
            ignoring("stubborn", 3),
            ignoring("quick", 30),
            ignoring("forced", 30),
            pod_manifest("slow-prestop", slow, grace=2, volumes=[volume]),
        )

        def all_running() -> bool:
            pods = [s.watch.latest(name) for name in names]
            pids = [shared / f"{name}.pid" for name in names]
            return all(running(p, "app") for p in pods) and all(p.exists() for p in pids)

        s.wait(all_running, 45, "every pod to run")
        pids = {name: int((shared / f"{name}.pid").read_text()) for name in names}
        s.data["pids"] = pids
        t0: dict[str, float] = {}
        for name, flags in (
            ("stubborn", ()),
            ("slow-prestop", ()),
            ("quick", ("--grace-period=1",)),
        ):
            t0[name] = time.time()
            s.cluster.kubectl("delete", "pod", name, "-n", s.namespace, "--wait=false", *flags)
        s.data["table"] = s.cluster.kubectl("get", "pods", "-n", s.namespace).stdout
        t0["forced"] = time.time()
        s.cluster.kubectl(
            "delete", "pod", "forced", "-n", s.namespace, "--grace-period=0", "--force"
        )
        gone = s.cluster.kubectl("get", "pod", "forced", "-n", s.namespace, check=False)
        s.data["forced_api_gone"] = (time.time() - t0["forced"], gone.returncode, gone.stderr)
        s.data["t0"] = t0
        dead: dict[str, float] = {}

        def finished() -> bool:
            for name, pid in pids.items():
                if name not in dead and not alive(pid):
                    dead[name] = time.time()
            return len(dead) == len(pids) and all(
                s.watch.deleted_at(name) for name in names if name != "forced"
            )

        s.wait(finished, 40, "every pod to be gone and its process dead")
        s.data["dead"] = dead
        return s


def test_kubectl_shows_terminating(deletions: Scenario) -> None:
    rows = {line.split()[0]: line.split() for line in deletions.data["table"].splitlines()[1:]}
    assert rows["stubborn"][2] == "Terminating", deletions.data["table"]
    assert rows["slow-prestop"][2] == "Terminating", deletions.data["table"]


def test_sigkill_at_the_grace_period(deletions: Scenario) -> None:
    t0 = deletions.data["t0"]["stubborn"]
    took = deletions.watch.gone_at("stubborn") - t0
    assert 3.0 <= took <= 3 + 15, took
    killed = deletions.data["dead"]["stubborn"] - t0
    assert 3.0 <= killed <= 3 + 15, killed
    last_beat = float((deletions.data["shared"] / "stubborn.beat").read_text())
    assert last_beat >= t0 + 2.5, "it ignores SIGTERM: it should have run until the SIGKILL"


def test_grace_period_one_kills_promptly(deletions: Scenario) -> None:
    t0 = deletions.data["t0"]["quick"]
    took = deletions.watch.gone_at("quick") - t0
    assert 1.0 <= took <= 15, took  # not the pod's 30 s
    assert deletions.data["dead"]["quick"] - t0 <= 15


def test_forced_deletion_removes_the_object_at_once_and_kills_promptly(
    deletions: Scenario,
) -> None:
    after, code, stderr = deletions.data["forced_api_gone"]
    assert code != 0, "still there after a forced deletion"
    assert "NotFound" in stderr, stderr
    assert after < 5
    assert deletions.data["dead"]["forced"] - deletions.data["t0"]["forced"] <= 15


def test_prestop_past_the_grace_period_gets_two_more_seconds(deletions: Scenario) -> None:
    t0 = deletions.data["t0"]["slow-prestop"]
    log = deletions.data["shared"] / "slow-prestop.log"
    (pre_stop,), terms = stamped(log, "preStop"), stamped(log, "TERM")
    assert terms, log.read_text()
    assert terms[0] - pre_stop >= 1.8  # the hook had the whole 2 s grace period
    killed = deletions.data["dead"]["slow-prestop"]
    assert killed - terms[0] >= 1.8  # then SIGTERM, and SIGKILL 2 s later (it ignores TERM)
    took = deletions.watch.gone_at("slow-prestop") - t0
    assert 4.0 <= took <= 4 + 15, took


# -- 8. readiness false while terminating ------------------------------------------------------


@pytest.fixture(scope="module")
def drain(scenario: ScenarioFactory, tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    shared = tmp_path_factory.mktemp("drain")
    port = 18180
    pre_stop = {"preStop": {"sleep": {"seconds": 2}}}
    with scenario("term-drain") as s:
        apply(
            s.cluster,
            s.namespace,
            pod_manifest(
                "drain",
                # SIGTERM: stop being ready, finish in 3 s.
                sh_container(
                    "sh",
                    f"trap 'touch {OUT}/term\"; sleep 3; exit 0' TERM; "
                    "while true; do sleep 0.1; done",
                    volumeMounts=[SHARED],
                    lifecycle=pre_stop,
                    readinessProbe={
                        "exec": {"command": ["sh", "-c", f'test ! -e {OUT}/term"']},
                        "periodSeconds": 1,
                        "failureThreshold": 1,
                    },
                ),
                server_container(
                    "py",
                    *("--http-port", str(port), "--unready-on-term", "--exit-delay", "4"),
                    lifecycle=pre_stop,
                    readinessProbe={
                        "httpGet": {"path": "/ready", "port": port},
                        "periodSeconds": 1,
                        "failureThreshold": 1,
                    },
                ),
                grace=10,
                volumes=[host_dir_volume("shared", shared)],
            ),
        )
        s.wait(lambda: is_ready(s.watch.latest("drain") or {}), 60, "drain to be Ready")
        s.data["t0"] = time.time()
        s.cluster.kubectl("delete", "pod", "drain", "-n", s.namespace, "--wait=false")
        s.wait(lambda: s.watch.deleted_at("drain"), 40, "drain to be deleted")
        s.data["events"] = s.events("drain")
        return s


def test_readiness_probes_keep_running_while_terminating(drain: Scenario) -> None:
    t0 = drain.data["t0"]
    failures = [
        e
        for e in with_reason(drain.data["events"], "Unhealthy")
        if e["message"].startswith("Readiness probe failed") and event_time(e) >= t0
    ]
    # Both apps turn unready on SIGTERM, which comes after the 2 s preStop sleep.
    notes = messages(failures)
    assert "Readiness probe failed: HTTP probe failed with statuscode: 500" in notes, notes
    assert any(m.startswith("Readiness probe failed: ") for m in notes), notes
    assert min(event_time(e) for e in failures) - t0 >= 2.0
    for version in drain.watch.of("drain"):
        for name in ("sh", "py"):
            assert container_status(version.pod, name).get("restartCount", 0) == 0
    assert not [m for m in messages(drain.data["events"], "Unhealthy") if "Liveness" in m]


def test_readiness_turns_false_while_terminating(drain: Scenario) -> None:
    t0 = drain.data["t0"]
    terminating = [
        v
        for v in drain.watch.of("drain")
        if v.type != "DELETED" and v.pod["metadata"].get("deletionTimestamp")
    ]
    assert terminating, "never seen terminating"
    # Unready because the probes said so, while the containers were still running.
    unready = [
        v
        for v in terminating
        if not is_ready(v.pod) and running(v.pod, "sh") and running(v.pod, "py")
    ]
    assert unready, [
        (round(v.at - t0, 1), condition(v.pod, "Ready"), v.pod["status"].get("phase"))
        for v in terminating
    ]
    first = unready[0]
    # Ready while the preStop hooks slept (readiness keeps probing), unready after SIGTERM.
    assert first.at - t0 >= 2.0, first.at - t0
    assert condition(first.pod, "Ready")["reason"] == "ContainersNotReady"
    both = [
        v for v in unready if not any(container_status(v.pod, n)["ready"] for n in ("sh", "py"))
    ]
    assert both, "not both containers were shown unready while running"


def test_deleted_pod_gone_from_the_api(drain: Scenario) -> None:
    result = drain.cluster.kubectl("get", "pod", "drain", "-n", drain.namespace, check=False)
    assert result.returncode != 0
    assert "NotFound" in result.stderr
    assert kubectl_json(drain.cluster, "get", "pods", "-n", drain.namespace)["items"] == []
