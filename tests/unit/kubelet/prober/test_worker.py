"""The probe worker's state machine, one tick at a time, with a fake prober and a fake clock."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from pocketkube.client.clock import FakeClock
from pocketkube.kubelet.prober.fake import FakeProber, FakeStatusSource
from pocketkube.kubelet.prober.results import Result, ResultsCache
from pocketkube.kubelet.prober.spec import ProbeType, parse_probe
from pocketkube.kubelet.prober.worker import Worker, parse_time

S, F, U = Result.SUCCESS, Result.FAILURE, Result.UNKNOWN
LIVENESS, READINESS, STARTUP = ProbeType.LIVENESS, ProbeType.READINESS, ProbeType.STARTUP
STARTED_AT = "2024-05-01T10:00:00Z"
T0 = parse_time(STARTED_AT) or 0.0


@dataclass
class Owner:
    started: bool = True
    sets: list[tuple[Result, bool, bool]] = field(default_factory=list)  # result, changed, probed
    done: list[Worker] = field(default_factory=list)

    def container_started(self, pod_uid: str, status: dict[str, Any]) -> bool:
        return self.started

    def result_set(self, worker: Worker, result: Result, *, changed: bool, probed: bool) -> None:
        self.sets.append((result, changed, probed))

    def worker_done(self, worker: Worker) -> None:
        self.done.append(worker)


@dataclass
class Harness:
    worker: Worker
    owner: Owner
    prober: FakeProber
    source: FakeStatusSource
    results: ResultsCache
    clock: FakeClock
    wall: list[float]
    pod: dict[str, Any]

    def result(self) -> Result | None:
        return self.results.get(self.worker.container_id)


def harness(
    probe_type: ProbeType,
    probe: dict[str, Any] | None = None,
    answers: list[Result | None] | None = None,
    *,
    restart_policy: str = "Always",
    running: bool = True,
) -> Harness:
    pod = {"metadata": {"uid": "u1", "name": "p"}, "spec": {"restartPolicy": restart_policy}}
    container = {"name": "app"}
    prober = FakeProber({probe_type: list(answers or [S])})
    source = FakeStatusSource()
    source.pod_ips["u1"] = "10.0.0.7"
    if running:
        source.set_running("u1", "app", "c1", STARTED_AT)
    owner, results, clock, wall = Owner(), ResultsCache(), FakeClock(), [T0 + 100]
    worker = Worker(
        probe_type=probe_type,
        spec=parse_probe({"exec": {"command": ["true"]}, **(probe or {})}),
        pod=pod,
        container=container,
        owner=owner,
        prober=prober,
        status_source=source,
        results=results,
        clock=clock,
        wall_clock=lambda: wall[0],
    )
    return Harness(worker, owner, prober, source, results, clock, wall, pod)


@pytest.mark.parametrize(
    ("probe_type", "probe", "answers", "after_each_tick", "probes"),
    [
        (READINESS, {}, [S], [S], 1),
        (READINESS, {"successThreshold": 2}, [S, S, S], [F, S, S], 3),
        (READINESS, {}, [S, F, F, F], [S, S, S, F], 4),
        (READINESS, {"failureThreshold": 1}, [S, F, S], [S, F, S], 3),
        (LIVENESS, {}, [F, F, F, F, F], [S, S, F, F, F], 3),
        (LIVENESS, {}, [F, F, S, F, F], [S, S, S, S, S], 5),
        (LIVENESS, {"failureThreshold": 1}, [F], [F], 1),
        (LIVENESS, {"failureThreshold": 2}, [F, None, F], [S, S, F], 3),
        (STARTUP, {}, [F, S, S], [U, S, S], 2),
        (STARTUP, {"failureThreshold": 2}, [F, F, S], [U, F, F], 2),
    ],
    ids=[
        "readiness-first-success",
        "readiness-success-threshold",
        "readiness-failure-threshold",
        "readiness-flips-each-way",
        "liveness-fails-then-holds",
        "liveness-success-breaks-the-run",
        "liveness-threshold-one",
        "errors-are-not-counted",
        "startup-success-then-holds",
        "startup-failure-then-holds",
    ],
)
async def test_thresholds(
    probe_type: ProbeType,
    probe: dict[str, Any],
    answers: list[Result | None],
    after_each_tick: list[Result],
    probes: int,
) -> None:
    h = harness(probe_type, probe, answers)
    if probe_type is STARTUP:
        h.owner.started = False
    seen = []
    for _ in after_each_tick:
        assert await h.worker.do_probe() is True
        seen.append(h.result())
    assert seen == after_each_tick
    assert len(h.prober.calls) == probes


async def test_initial_value_and_reports() -> None:
    h = harness(LIVENESS, {"failureThreshold": 1}, [S, F])
    await h.worker.do_probe()
    await h.worker.do_probe()
    # initial Success (bookkeeping), the same Success from a probe (no change), then a failure
    assert h.owner.sets == [(S, True, False), (S, False, True), (F, True, True)]
    assert h.prober.calls[0].pod_ip == "10.0.0.7"
    assert h.prober.calls[0].container_id == "c1"


async def test_no_container_yet_means_wait() -> None:
    h = harness(READINESS, running=False)
    assert await h.worker.do_probe() is True
    assert h.prober.calls == []
    assert h.owner.sets == []


@pytest.mark.parametrize(
    ("elapsed", "delay", "probed"),
    [(4.9, 5, False), (5.0, 5, True), (100, 5, True), (0, 0, True)],
)
async def test_initial_delay_counts_from_container_start(
    elapsed: float, delay: int, probed: bool
) -> None:
    h = harness(READINESS, {"initialDelaySeconds": delay})
    h.wall[0] = T0 + elapsed
    await h.worker.do_probe()
    assert bool(h.prober.calls) is probed
    assert h.result() is (S if probed else F)


@pytest.mark.parametrize(
    ("probe_type", "started", "probed"),
    [
        (READINESS, False, False),
        (LIVENESS, False, False),
        (STARTUP, False, True),
        (READINESS, True, True),
        (LIVENESS, True, True),
        (STARTUP, True, False),
    ],
)
async def test_startup_gates_the_others(probe_type: ProbeType, started: bool, probed: bool) -> None:
    h = harness(probe_type)
    h.owner.started = started
    await h.worker.do_probe()
    assert bool(h.prober.calls) is probed


@pytest.mark.parametrize(
    ("restart_policy", "state", "keep_going"),
    [
        ("Always", {"terminated": {"exitCode": 1}}, True),
        ("OnFailure", {"terminated": {"exitCode": 0}}, True),
        ("Never", {"terminated": {"exitCode": 0}}, False),
        ("Never", {"waiting": {"reason": "ContainerCreating"}}, True),
    ],
)
async def test_a_container_not_running_is_a_quiet_failure(
    restart_policy: str, state: dict[str, Any], keep_going: bool
) -> None:
    h = harness(LIVENESS, restart_policy=restart_policy)
    h.source.statuses[("u1", "app")] = {"name": "app", "containerID": "c1", "state": state}
    assert await h.worker.do_probe() is keep_going
    assert h.result() is F
    assert h.owner.sets[-1] == (F, True, False)  # not probed: nobody is killed for it
    assert h.prober.calls == []


@pytest.mark.parametrize(
    ("probe_type", "stops"), [(LIVENESS, True), (STARTUP, True), (READINESS, False)]
)
async def test_deletion_stops_liveness_and_startup_quietly(
    probe_type: ProbeType, stops: bool
) -> None:
    h = harness(probe_type, {}, [F])
    h.owner.started = probe_type is not STARTUP
    h.worker.pod = {**h.pod, "metadata": {**h.pod["metadata"], "deletionTimestamp": STARTED_AT}}
    assert await h.worker.do_probe() is not stops
    if stops:
        assert h.result() is S
        assert h.prober.calls == []
    else:
        assert len(h.prober.calls) == 1


async def test_a_new_container_starts_over() -> None:
    h = harness(LIVENESS, {"failureThreshold": 2}, [F])
    for _ in range(4):
        await h.worker.do_probe()
    assert h.result() is F
    assert len(h.prober.calls) == 2  # then on hold
    h.source.set_running("u1", "app", "c2", STARTED_AT)
    await h.worker.do_probe()
    assert h.worker.container_id == "c2"
    assert h.results.get("c1") is None  # the old container's result is dropped
    assert h.result() is S  # initial value, then one failure: below the threshold again
    assert len(h.prober.calls) == 3
    await h.worker.do_probe()
    assert h.result() is F


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_run_probes_every_period_and_when_triggered() -> None:
    h = harness(READINESS, {"periodSeconds": 10})
    task = asyncio.create_task(h.worker.run())
    await settle()
    assert len(h.prober.calls) == 1  # at once (no jitter)
    h.clock.advance(9)
    await settle()
    assert len(h.prober.calls) == 1
    h.clock.advance(1)
    await settle()
    assert len(h.prober.calls) == 2
    h.worker.trigger()
    await settle()
    assert len(h.prober.calls) == 3
    h.clock.advance(9.5)  # the trigger restarted the period
    await settle()
    assert len(h.prober.calls) == 3
    h.clock.advance(0.5)
    await settle()
    assert len(h.prober.calls) == 4
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert h.owner.done == [h.worker]


async def test_run_waits_its_jitter_first_and_ends_with_the_container() -> None:
    h = harness(READINESS, {"periodSeconds": 10}, restart_policy="Never")
    h.worker._jitter = 4
    task = asyncio.create_task(h.worker.run())
    await settle()
    assert h.prober.calls == []
    h.clock.advance(4)
    await settle()
    assert len(h.prober.calls) == 1
    h.source.set_terminated("u1", "app", "c1", 0)
    h.clock.advance(10)
    await asyncio.wait_for(task, 1)  # a terminated container of a Never pod: the worker ends
    assert h.owner.done == [h.worker]


async def test_a_crashing_probe_does_not_end_the_worker() -> None:
    h = harness(READINESS, {"periodSeconds": 1})

    async def boom(*args: Any, **kwargs: Any) -> Result:
        raise RuntimeError("boom")

    h.prober.probe = boom  # type: ignore[method-assign]
    task = asyncio.create_task(h.worker.run())
    await settle()
    h.clock.advance(1)
    await settle()
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
