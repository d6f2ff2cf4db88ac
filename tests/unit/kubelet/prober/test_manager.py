"""The prober manager: workers per probe, ready/started in the pod status, and the callbacks."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from pocketkube.client.clock import FakeClock
from pocketkube.kubelet.prober import ProberManager, ProbeType, Result
from pocketkube.kubelet.prober.fake import (
    FakeExecRuntime,
    FakeProber,
    FakeProberManager,
    FakeRecorder,
    FakeStatusSource,
)
from pocketkube.kubelet.prober.worker import parse_time

S, F = Result.SUCCESS, Result.FAILURE
LIVENESS, READINESS, STARTUP = ProbeType.LIVENESS, ProbeType.READINESS, ProbeType.STARTUP
STARTED_AT = "2024-05-01T10:00:00Z"
EXEC = {"exec": {"command": ["true"]}}


def make_pod(**probes: dict[str, Any]) -> dict[str, Any]:
    """A pod whose container "app" has the given probes (livenessProbe=...)."""
    return {
        "metadata": {"uid": "u1", "name": "web", "namespace": "default"},
        "spec": {
            "restartPolicy": "Always",
            "containers": [{"name": "app", **probes}, {"name": "plain"}],
            "initContainers": [
                {"name": "init"},
                {"name": "sidecar", "restartPolicy": "Always", "readinessProbe": EXEC},
            ],
        },
    }


def running(name: str, container_id: str) -> dict[str, Any]:
    return {
        "name": name,
        "containerID": container_id,
        "state": {"running": {"startedAt": STARTED_AT}},
    }


class Calls:
    def __init__(self) -> None:
        self.failures: list[tuple[Any, ...]] = []
        self.changes: list[str] = []

    def on_failure(self, *args: Any) -> None:
        self.failures.append(args)

    def on_change(self, pod_uid: str) -> None:
        self.changes.append(pod_uid)


def manager(
    prober: FakeProber | None = None, clock: FakeClock | None = None
) -> tuple[ProberManager, FakeStatusSource, Calls]:
    source, calls = FakeStatusSource(), Calls()
    source.pod_ips["u1"] = "10.0.0.9"
    mgr = ProberManager(
        runtime=FakeExecRuntime(),
        recorder=FakeRecorder(),
        status_source=source,
        on_failure=calls.on_failure,
        on_change=calls.on_change,
        clock=clock or FakeClock(),
        wall_clock=lambda: (parse_time(STARTED_AT) or 0) + 1000,
        random=lambda: 0.0,
        prober=prober or FakeProber(),
    )
    return mgr, source, calls


def test_add_pod_makes_one_worker_per_probe_and_is_idempotent() -> None:
    mgr, _, _ = manager()
    pod = make_pod(livenessProbe=EXEC, readinessProbe=EXEC, startupProbe=EXEC)
    mgr.add_pod(pod)
    mgr.add_pod(copy.deepcopy(pod))
    assert mgr.worker_keys() == {
        ("u1", "app", LIVENESS),
        ("u1", "app", READINESS),
        ("u1", "app", STARTUP),
        ("u1", "sidecar", READINESS),
    }
    mgr.remove_pod("u1")
    assert mgr.worker_keys() == set()


def status_of(*container_statuses: dict[str, Any]) -> dict[str, Any]:
    return {"containerStatuses": [copy.deepcopy(s) for s in container_statuses]}


@pytest.mark.parametrize(
    ("probes", "results", "state", "started", "ready"),
    [
        ({}, {}, "running", True, True),
        ({}, {}, "waiting", False, False),
        ({"readinessProbe": EXEC}, {}, "running", True, False),
        ({"readinessProbe": EXEC}, {READINESS: F}, "running", True, False),
        ({"readinessProbe": EXEC}, {READINESS: S}, "running", True, True),
        ({"readinessProbe": EXEC}, {READINESS: S}, "terminated", False, False),
        ({"startupProbe": EXEC}, {}, "running", False, False),
        ({"startupProbe": EXEC}, {STARTUP: Result.UNKNOWN}, "running", False, False),
        ({"startupProbe": EXEC}, {STARTUP: S}, "running", True, True),
        ({"startupProbe": EXEC, "readinessProbe": EXEC}, {STARTUP: S}, "running", True, False),
        ({"startupProbe": EXEC, "readinessProbe": EXEC}, {READINESS: S}, "running", False, False),
        ({"livenessProbe": EXEC}, {LIVENESS: F}, "running", True, True),
    ],
)
def test_update_pod_status(
    probes: dict[str, Any],
    results: dict[ProbeType, Result],
    state: str,
    started: bool,
    ready: bool,
) -> None:
    mgr, _, _ = manager()
    pod = make_pod(**probes)
    mgr.add_pod(pod)
    for kind, result in results.items():
        mgr._results[kind].set("c1", result)
    app = running("app", "c1")
    app["state"] = {state: {}} if state != "running" else app["state"]
    status = status_of(app, running("plain", "c2"))
    mgr.update_pod_status(pod, status)
    assert (status["containerStatuses"][0]["started"], status["containerStatuses"][0]["ready"]) == (
        started,
        ready,
    )
    assert status["containerStatuses"][1]["ready"] is True  # no probes: ready once running


def test_init_containers_in_the_status() -> None:
    mgr, _, _ = manager()
    pod = make_pod()
    mgr.add_pod(pod)
    status = {
        "containerStatuses": [],
        "initContainerStatuses": [
            {"name": "init", "containerID": "i1", "state": {"terminated": {"exitCode": 0}}},
            running("sidecar", "s1"),
        ],
    }
    mgr.update_pod_status(pod, status)
    init, sidecar = status["initContainerStatuses"]
    assert (init["started"], init["ready"]) == (False, True)
    assert (sidecar["started"], sidecar["ready"]) == (True, False)  # its readiness has no result
    mgr._results[READINESS].set("s1", S)
    mgr.update_pod_status(pod, status)
    assert status["initContainerStatuses"][1]["ready"] is True


async def settle() -> None:
    for _ in range(30):
        await asyncio.sleep(0)


async def test_liveness_failure_calls_on_failure_once_with_the_probe_grace_period() -> None:
    clock = FakeClock()
    prober = FakeProber({LIVENESS: [F]})
    mgr, source, calls = manager(prober, clock)
    probe = {**EXEC, "periodSeconds": 5, "terminationGracePeriodSeconds": 7}
    mgr.add_pod(make_pod(livenessProbe=probe))
    source.statuses[("u1", "app")] = running("app", "c1")
    task = asyncio.create_task(mgr.run())
    await settle()
    for _ in range(5):
        clock.advance(5)
        await settle()
    assert calls.failures == [
        ("u1", "app", "c1", LIVENESS, "Container app failed liveness probe", 7)
    ]
    assert len(prober.calls) == 3  # then on hold until a new container appears
    assert calls.changes == []  # liveness never changes readiness or started
    source.statuses[("u1", "app")] = running("app", "c2")
    for _ in range(3):
        clock.advance(5)
        await settle()
    assert [f[2] for f in calls.failures] == ["c1", "c2"]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert mgr.worker_keys() == set()  # the workers ended with run


async def test_readiness_changes_call_on_change_and_status_triggers_a_probe() -> None:
    clock = FakeClock()
    prober = FakeProber({READINESS: [F, S]})
    mgr, source, calls = manager(prober, clock)
    pod = make_pod(readinessProbe={**EXEC, "failureThreshold": 1, "periodSeconds": 100})
    mgr.add_pod(pod)  # before run: waits for it
    task = asyncio.create_task(mgr.run())
    await settle()
    assert prober.calls == []  # no container yet
    source.statuses[("u1", "app")] = running("app", "c1")
    status = status_of(running("app", "c1"))
    mgr.update_pod_status(pod, status)  # no result yet: probe now, not in 100 s
    await settle()
    assert len(prober.calls) == 1
    assert calls.changes == ["u1"]  # Failure was the initial value already: one change
    mgr.update_pod_status(pod, status)
    await settle()
    assert len(prober.calls) == 2
    assert calls.changes == ["u1", "u1"]  # now Success
    mgr.update_pod_status(pod, status)
    assert status["containerStatuses"][0]["ready"] is True
    await settle()
    assert len(prober.calls) == 2  # ready: no more triggering
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_startup_success_changes_started_and_unblocks_readiness() -> None:
    clock = FakeClock()
    prober = FakeProber({STARTUP: [S], READINESS: [S]})
    mgr, source, calls = manager(prober, clock)
    pod = make_pod(
        startupProbe={**EXEC, "periodSeconds": 1}, readinessProbe={**EXEC, "periodSeconds": 1}
    )
    source.statuses[("u1", "app")] = running("app", "c1")
    mgr.add_pod(pod)
    task = asyncio.create_task(mgr.run())
    await settle()
    clock.advance(1)
    await settle()
    kinds = [c.probe_type for c in prober.calls]
    assert kinds.count(STARTUP) == 1
    assert kinds.count(READINESS) >= 1
    assert kinds.index(STARTUP) < kinds.index(READINESS)
    status = status_of(running("app", "c1"))
    mgr.update_pod_status(pod, status)
    assert (status["containerStatuses"][0]["started"], status["containerStatuses"][0]["ready"]) == (
        True,
        True,
    )
    assert calls.changes
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_terminating_stops_liveness_and_startup_but_not_readiness() -> None:
    clock = FakeClock()
    mgr, source, _ = manager(FakeProber(), clock)
    pod = make_pod(livenessProbe=EXEC, readinessProbe=EXEC, startupProbe=EXEC)
    source.statuses[("u1", "app")] = running("app", "c1")
    mgr.add_pod(pod)
    task = asyncio.create_task(mgr.run())
    await settle()
    mgr.set_terminating("u1")
    await settle()
    assert mgr.worker_keys() == {("u1", "app", READINESS), ("u1", "sidecar", READINESS)}
    mgr.add_pod(pod)  # a later sync does not bring them back
    assert ("u1", "app", LIVENESS) not in mgr.worker_keys()
    mgr.cleanup_pods([])
    await settle()
    assert mgr.worker_keys() == set()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_deletion_timestamp_in_the_pod_stops_liveness() -> None:
    clock = FakeClock()
    prober = FakeProber({LIVENESS: [F]})
    mgr, source, calls = manager(prober, clock)
    pod = make_pod(livenessProbe={**EXEC, "periodSeconds": 1, "failureThreshold": 1})
    source.statuses[("u1", "app")] = running("app", "c1")
    deleting = copy.deepcopy(pod)
    deleting["metadata"]["deletionTimestamp"] = STARTED_AT
    mgr.add_pod(deleting)
    task = asyncio.create_task(mgr.run())
    await settle()
    assert prober.calls == []
    assert calls.failures == []
    assert mgr.worker_keys() == {("u1", "sidecar", READINESS)}
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_fake_manager() -> None:
    changes: list[str] = []
    fake = FakeProberManager(on_change=changes.append)
    pod = make_pod(readinessProbe=EXEC)
    fake.add_pod(pod)
    status = status_of(running("app", "c1"), {"name": "plain", "state": {"waiting": {}}})
    fake.update_pod_status(pod, status)
    assert [(s["started"], s["ready"]) for s in status["containerStatuses"]] == [
        (True, True),
        (False, False),
    ]
    fake.set_ready("u1", "app", False)
    fake.update_pod_status(pod, status)
    assert status["containerStatuses"][0]["ready"] is False
    assert changes == ["u1"]
