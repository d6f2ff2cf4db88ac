"""Leader election on a fake Lease client and a fake clock: acquiring, renewing, taking over an
expired Lease, losing it, releasing it, and two candidates racing for it."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from pocketkube.client.clock import FakeClock
from pocketkube.client.leaderelection import (
    LeaderElectionConfig,
    LeaderElectionLost,
    LeaderElector,
    new_identity,
)
from pocketkube.client.rest import ApiError, Obj, Params, TransportError

PATH = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kcm"
COLLECTION = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases"


@dataclass
class FakeLeases:
    """One Lease with resourceVersion preconditions; ``fail`` refuses, ``hang`` never answers."""

    lease: Obj | None = None
    rv: int = 0
    fail: bool = False
    hang: bool = False
    writes: list[Obj] = field(default_factory=list)

    async def _gate(self) -> None:
        await asyncio.sleep(0)  # let racing candidates interleave
        if self.hang:
            await asyncio.Event().wait()
        if self.fail:
            raise TransportError("connection refused")

    async def get(self, path: str, *, params: Params | None = None) -> Obj:
        await self._gate()
        assert path == PATH
        if self.lease is None:
            raise ApiError(404, "NotFound", "leases.coordination.k8s.io not found")
        return copy.deepcopy(self.lease)

    async def create(self, path: str, obj: Obj, *, params: Params | None = None) -> Obj:
        await self._gate()
        assert path == COLLECTION
        if self.lease is not None:
            raise ApiError(409, "AlreadyExists", "already exists")
        return self._store(obj)

    async def update(self, path: str, obj: Obj, *, params: Params | None = None) -> Obj:
        await self._gate()
        assert path == PATH
        assert self.lease is not None
        if obj["metadata"].get("resourceVersion") != self.lease["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", "the object has been modified")
        return self._store(obj)

    def _store(self, obj: Obj) -> Obj:
        self.rv += 1
        stored = copy.deepcopy(obj)
        stored["metadata"]["resourceVersion"] = str(self.rv)
        self.lease = stored
        self.writes.append(copy.deepcopy(stored))
        return copy.deepcopy(stored)

    @property
    def spec(self) -> dict[str, Any]:
        assert self.lease is not None
        return dict(self.lease["spec"])


def held_by(holder: str, *, duration: int = 15, transitions: int = 3) -> Obj:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "kcm", "namespace": "kube-system", "resourceVersion": "0"},
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": duration,
            "acquireTime": "2024-05-01T12:00:00.000000Z",
            "renewTime": "2024-05-01T12:00:00.000000Z",
            "leaseTransitions": transitions,
        },
    }


def elector(leases: FakeLeases, clock: FakeClock, identity: str = "a") -> LeaderElector:
    config = LeaderElectionConfig(namespace="kube-system", name="kcm", identity=identity)
    return LeaderElector(client=leases, config=config, clock=clock, jitter=lambda: 0.0)


async def settle() -> None:
    for _ in range(50):
        await asyncio.sleep(0)


async def advance(clock: FakeClock, seconds: float, step: float = 0.5) -> None:
    """Move the fake clock in steps, letting the loops run in between."""
    await settle()
    moved = 0.0
    while moved < seconds:
        clock.advance(step)
        moved += step
        await settle()


class Leading:
    """A ``lead`` callback that records whether it runs."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = False
        self.finish = asyncio.Event()

    async def __call__(self) -> None:
        self.started.set()
        try:
            await self.finish.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise


@contextlib.asynccontextmanager
async def running(le: LeaderElector, lead: Leading) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(le.run(lead))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, LeaderElectionLost):
            await task


async def test_acquires_an_absent_lease_and_leads() -> None:
    leases, clock, lead = FakeLeases(), FakeClock(), Leading()
    async with running(elector(leases, clock), lead):
        await settle()
        assert lead.started.is_set()
        spec = leases.spec
        assert spec["holderIdentity"] == "a"
        assert spec["leaseDurationSeconds"] == 15
        assert spec["leaseTransitions"] == 0
        assert spec["acquireTime"] == spec["renewTime"]
        assert spec["renewTime"].endswith("Z")


async def test_the_leader_renews_every_retry_period() -> None:
    leases, clock, lead = FakeLeases(), FakeClock(), Leading()
    times = iter(range(10**18, 10**19, 10**9))
    le = LeaderElector(
        client=leases,
        config=LeaderElectionConfig(namespace="kube-system", name="kcm", identity="a"),
        clock=clock,
        wall_ns=lambda: next(times),
    )
    async with running(le, lead):
        await settle()
        first = leases.spec
        await advance(clock, 2.0)
        renewed = leases.spec
        assert renewed["renewTime"] > first["renewTime"]
        assert renewed["acquireTime"] == first["acquireTime"]
        assert renewed["leaseTransitions"] == 0
        await advance(clock, 6.0)
        assert len(leases.writes) == 5  # the create, then one renewal per 2 s


async def test_waits_while_the_lease_is_held_then_takes_it_over_once_expired() -> None:
    leases, clock, lead = FakeLeases(lease=held_by("b")), FakeClock(), Leading()
    async with running(elector(leases, clock), lead):
        await advance(clock, 14.0)
        assert not lead.started.is_set()  # observed 14 s ago at most: still valid
        await advance(clock, 3.0)
        assert lead.started.is_set()
        assert leases.spec["holderIdentity"] == "a"
        assert leases.spec["leaseTransitions"] == 4


async def test_a_renewed_lease_is_never_taken() -> None:
    leases, clock, lead = FakeLeases(lease=held_by("b")), FakeClock(), Leading()
    async with running(elector(leases, clock), lead):
        for second in range(40):
            await advance(clock, 1.0)
            # the holder renews (timestamps from a clock far behind: only the change counts)
            assert leases.lease is not None
            leases.lease["spec"]["renewTime"] = f"2000-01-01T00:00:{second:02d}.000000Z"
        assert not lead.started.is_set()
        assert leases.spec["holderIdentity"] == "b"


async def test_its_own_lease_is_taken_at_once_without_a_transition() -> None:
    leases, clock, lead = FakeLeases(lease=held_by("a")), FakeClock(), Leading()
    async with running(elector(leases, clock), lead):
        await settle()
        assert lead.started.is_set()
        assert leases.spec["leaseTransitions"] == 3
        assert leases.spec["acquireTime"] == "2024-05-01T12:00:00.000000Z"


async def test_a_released_lease_is_taken_at_once() -> None:
    leases, clock, lead = FakeLeases(lease=held_by("", duration=1)), FakeClock(), Leading()
    async with running(elector(leases, clock), lead):
        await settle()
        assert lead.started.is_set()
        assert leases.spec["leaseTransitions"] == 4


@pytest.mark.parametrize("failure", ["fail", "hang"])
async def test_a_leader_that_cannot_renew_stops_within_the_renew_deadline(failure: str) -> None:
    leases, clock, lead = FakeLeases(), FakeClock(), Leading()
    le = elector(leases, clock)
    task = asyncio.create_task(le.run(lead))
    await settle()
    assert lead.started.is_set()
    setattr(leases, failure, True)
    await advance(clock, 2.0 + 9.5)  # the round starts after a retry period
    assert not task.done()
    await advance(clock, 1.0)
    assert task.done()
    with pytest.raises(LeaderElectionLost):
        await task
    assert lead.cancelled
    # well before a standby could consider the lease (15 s after the last renewal) expired
    assert clock.now() < 15.0


async def test_a_transient_failure_is_retried_within_the_deadline() -> None:
    leases, clock, lead = FakeLeases(), FakeClock(), Leading()
    async with running(elector(leases, clock), lead) as task:
        await settle()
        leases.fail = True
        await advance(clock, 6.0)
        leases.fail = False
        await advance(clock, 10.0)
        assert not task.done()
        assert not lead.cancelled


async def test_the_lease_is_released_on_cancel() -> None:
    leases, clock, lead = FakeLeases(), FakeClock(), Leading()
    le = elector(leases, clock)
    task = asyncio.create_task(le.run(lead))
    await settle()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert lead.cancelled
    spec = leases.spec
    assert spec["holderIdentity"] == ""
    assert spec["leaseDurationSeconds"] == 1
    assert spec["leaseTransitions"] == 0


async def test_the_lease_is_released_when_lead_returns() -> None:
    leases, clock, lead = FakeLeases(), FakeClock(), Leading()
    task = asyncio.create_task(elector(leases, clock).run(lead))
    await settle()
    lead.finish.set()
    await task
    assert leases.spec["holderIdentity"] == ""


async def test_no_release_without_release_on_cancel() -> None:
    leases, clock, lead = FakeLeases(), FakeClock(), Leading()
    config = LeaderElectionConfig(
        namespace="kube-system", name="kcm", identity="a", release_on_cancel=False
    )
    task = asyncio.create_task(LeaderElector(client=leases, config=config, clock=clock).run(lead))
    await settle()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert leases.spec["holderIdentity"] == "a"


async def test_a_candidate_cancelled_before_leading_writes_nothing() -> None:
    leases, clock, lead = FakeLeases(lease=held_by("b")), FakeClock(), Leading()
    task = asyncio.create_task(elector(leases, clock).run(lead))
    await advance(clock, 4.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert leases.writes == []


@pytest.mark.parametrize("start", ["absent", "expired"])
async def test_two_racing_candidates_never_both_win(start: str) -> None:
    leases, clock = FakeLeases(), FakeClock()
    if start == "expired":
        leases.lease = held_by("old")
    leads = {name: Leading() for name in "ab"}
    electors = {name: elector(leases, clock, name) for name in "ab"}
    tasks = [asyncio.create_task(electors[n].run(leads[n])) for n in "ab"]
    try:
        await advance(clock, 20.0)
        started = [name for name in "ab" if leads[name].started.is_set()]
        leaders = [name for name in "ab" if electors[name].is_leader]
        assert len(started) == 1
        assert leaders == started
        assert leases.spec["holderIdentity"] == started[0]
        await advance(clock, 20.0)  # the leader keeps renewing; the other keeps waiting
        assert [name for name in "ab" if leads[name].started.is_set()] == started
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_the_standby_takes_over_after_the_leader_stops_renewing() -> None:
    leases, clock = FakeLeases(), FakeClock()
    first, second = Leading(), Leading()
    config = LeaderElectionConfig(
        namespace="kube-system", name="kcm", identity="a", release_on_cancel=False
    )
    le = LeaderElector(client=leases, config=config, clock=clock)
    leader = asyncio.create_task(le.run(first))
    await settle()
    standby = asyncio.create_task(elector(leases, clock, "b").run(second))
    await advance(clock, 10.0)
    assert not second.started.is_set()
    leader.cancel()  # as if killed: no release
    await asyncio.gather(leader, return_exceptions=True)
    killed_at = clock.now()
    while not second.started.is_set():
        await advance(clock, 0.5)
    assert clock.now() - killed_at <= 15.0 + 2.0 * 2.2
    assert leases.spec["holderIdentity"] == "b"
    assert leases.spec["leaseTransitions"] == 1
    standby.cancel()
    await asyncio.gather(standby, return_exceptions=True)


class Emitted:
    def __init__(self) -> None:
        self.events: list[tuple[Obj, str, str]] = []

    async def emit(self, regarding: Obj, *, type: Any, reason: str, action: str, note: str) -> Obj:
        self.events.append((regarding, reason, note))
        return {}


async def test_becoming_leader_is_an_event_on_the_lease() -> None:
    leases, clock, lead, emitted = FakeLeases(), FakeClock(), Leading(), Emitted()
    config = LeaderElectionConfig(namespace="kube-system", name="kcm", identity="host_1")
    le = LeaderElector(client=leases, config=config, clock=clock, recorder=emitted)
    async with running(le, lead):
        await settle()
    [(regarding, reason, note)] = emitted.events
    assert regarding["kind"] == "Lease"
    assert regarding["metadata"]["name"] == "kcm"
    assert (reason, note) == ("LeaderElection", "host_1 became leader")


@pytest.mark.parametrize(
    ("lease", "renew", "retry", "identity"),
    [(10.0, 10.0, 2.0, "a"), (15.0, 2.0, 2.0, "a"), (15.0, 10.0, 0.0, "a"), (15, 10, 2, "")],
)
def test_bad_timings_are_refused(lease: float, renew: float, retry: float, identity: str) -> None:
    with pytest.raises(ValueError, match=r"must|requires"):
        LeaderElectionConfig(
            namespace="kube-system",
            name="kcm",
            identity=identity,
            lease_duration=lease,
            renew_deadline=renew,
            retry_period=retry,
        )


def test_identity_is_hostname_and_uuid() -> None:
    host, _, suffix = new_identity().rpartition("_")
    assert host
    assert len(suffix) == 36


class Hanging:
    async def emit(self, regarding: Obj, *, type: Any, reason: str, action: str, note: str) -> Obj:
        await asyncio.Event().wait()
        return {}


async def test_a_hanging_event_does_not_delay_losing_the_lease() -> None:
    leases, clock, lead = FakeLeases(), FakeClock(), Leading()
    config = LeaderElectionConfig(namespace="kube-system", name="kcm", identity="a")
    task = asyncio.create_task(
        LeaderElector(client=leases, config=config, clock=clock, recorder=Hanging()).run(lead)
    )
    await settle()
    leases.fail = True
    await advance(clock, 13.0)
    assert task.done()
    with pytest.raises(LeaderElectionLost):
        await task
