"""getPhase: the pod phase from its container statuses, by upstream's counting rules."""

import pytest

from pocketkube.kubelet.podstatus import phase_of

RUNNING = {"running": {"startedAt": "2024-01-01T00:00:00Z"}}
WAITING = {"waiting": {"reason": "ContainerCreating"}}


def done(code: int) -> dict[str, object]:
    return {"terminated": {"exitCode": code}}


def pod(policy: str = "Always", inits: int = 0, sidecar: bool = False) -> dict[str, object]:
    init = [{"name": f"i{n}"} for n in range(inits)]
    if sidecar:
        init.append({"name": "side", "restartPolicy": "Always"})
    return {
        "spec": {"restartPolicy": policy, "initContainers": init, "containers": [{"name": "a"}]}
    }


def st(name: str, state: dict[str, object], last: dict[str, object] | None = None, **kw: object):
    return {"name": name, "state": state, "lastState": last or {}, **kw}


@pytest.mark.parametrize(
    ("policy", "state", "last", "phase"),
    [
        ("Always", WAITING, None, "Pending"),
        ("Always", RUNNING, None, "Running"),
        ("Always", done(0), None, "Running"),
        ("Always", done(1), None, "Running"),
        ("OnFailure", done(0), None, "Succeeded"),
        ("OnFailure", done(1), None, "Running"),
        ("Never", done(0), None, "Succeeded"),
        ("Never", done(1), None, "Failed"),
        ("Always", {"waiting": {"reason": "CrashLoopBackOff"}}, done(1), "Running"),
    ],
)
def test_restart_policy_table(policy: str, state, last, phase: str) -> None:
    assert phase_of(pod(policy), [st("a", state, last)], terminal=False, initialized=True) == phase


def test_terminal_pod_is_succeeded_or_failed_whatever_the_policy() -> None:
    assert phase_of(pod(), [st("a", done(0))], terminal=True, initialized=True) == "Succeeded"
    assert phase_of(pod(), [st("a", done(143))], terminal=True, initialized=True) == "Failed"


def test_init_containers() -> None:
    p = pod("Always", inits=2)
    running_init = [st("i0", RUNNING), st("a", WAITING)]
    assert phase_of(p, running_init, terminal=False, initialized=False) == "Pending"
    failed = [st("i0", done(1)), st("a", WAITING)]
    assert phase_of(p, failed, terminal=False, initialized=False) == "Pending"
    assert phase_of(pod("Never", 2), failed, terminal=False, initialized=False) == "Failed"
    ok = [st("i0", done(0)), st("i1", done(0)), st("a", RUNNING)]
    assert phase_of(p, ok, terminal=False, initialized=True) == "Running"


def test_sidecar_not_started_keeps_the_pod_pending_until_initialized() -> None:
    p = pod("Always", sidecar=True)
    statuses = [st("side", RUNNING, started=False), st("a", WAITING)]
    assert phase_of(p, statuses, terminal=False, initialized=False) == "Pending"
    statuses = [st("side", RUNNING, started=True), st("a", RUNNING)]
    assert phase_of(p, statuses, terminal=False, initialized=True) == "Running"
