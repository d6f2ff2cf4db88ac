"""Leader election against the real API server, with short timings (lease 2 s, renew deadline
1.5 s, retry 0.3 s): one of two candidates leads; a killed leader is replaced within the lease
duration, a stopped one at once; a leader whose Lease is taken stops; and two controller
managers' worth of the token cleaner never both work: each expired token is deleted by one
stack only, and their leading spells never overlap."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import pytest

from pocketkube.client import ApiError, Client, TransportError, WatchEvent
from pocketkube.client.leaderelection import (
    LeaderElectionConfig,
    LeaderElectionLost,
    LeaderElector,
)
from pocketkube.client.rest import Obj, Params, PatchType
from pocketkube.controllers import manager
from pocketkube.controllers.app import run_elected
from pocketkube.controllers.context import Context, Options
from pocketkube.controllers.informers import SharedInformers
from tests.integration.controllers.conftest import eventually
from tests.integration.controllers.test_controllers import SECRETS, token_secret

LEASE = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/test-lock"
TIMINGS = {"lease_duration": 2.0, "renew_deadline": 1.5, "retry_period": 0.3}
# worst case for a standby: the lease, the acquire loop's jittered retry (seeing the last renewal,
# then taking over), and slack for a busy machine
TAKEOVER = 2.0 + 2 * 2.2 * 0.3 + 2.0


def config(identity: str, **overrides: Any) -> LeaderElectionConfig:
    return LeaderElectionConfig(
        namespace="kube-system", name="test-lock", identity=identity, **{**TIMINGS, **overrides}
    )


class Candidate:
    """A LeaderElector run in a task, recording when it leads."""

    def __init__(self, client: Client, identity: str, **overrides: Any) -> None:
        self.identity = identity
        self.elector = LeaderElector(client=client, config=config(identity, **overrides))
        self.leading_since: float | None = None
        self.stopped_at: float | None = None
        self.task = asyncio.create_task(self.elector.run(self._lead))

    async def _lead(self) -> None:
        self.leading_since = time.monotonic()
        try:
            await asyncio.Event().wait()
        finally:
            self.stopped_at = time.monotonic()

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, LeaderElectionLost):
            await self.task


async def holder(client: Client) -> str:
    lease = await client.get(LEASE)
    return str(lease["spec"].get("holderIdentity") or "")


async def test_one_of_two_candidates_leads_and_a_killed_leader_is_replaced(
    client: Client,
) -> None:
    # as if killed: a leader that stops renewing without releasing
    a = Candidate(client, "a", release_on_cancel=False)
    b = Candidate(client, "b", release_on_cancel=False)
    try:
        await eventually(lambda: _async(a.leading_since or b.leading_since))
        await asyncio.sleep(1.0)  # several renewals: still exactly one leader
        leader, standby = (a, b) if a.leading_since else (b, a)
        assert standby.leading_since is None
        assert await holder(client) == leader.identity
        await leader.stop()
        killed = time.monotonic()
        await eventually(lambda: _async(standby.leading_since), within=TAKEOVER + 2)
        assert standby.leading_since is not None
        assert standby.leading_since - killed <= TAKEOVER
        # judged by the standby's clock: at least a lease duration without a renewal
        assert standby.leading_since - killed >= 1.0
        lease = await client.get(LEASE)
        assert lease["spec"]["holderIdentity"] == standby.identity
        assert lease["spec"]["leaseTransitions"] == 1
        assert lease["spec"]["leaseDurationSeconds"] == 2
    finally:
        await a.stop()
        await b.stop()


async def test_a_stopped_leader_releases_and_the_standby_takes_over_at_once(
    client: Client,
) -> None:
    a = Candidate(client, "a")
    await eventually(lambda: _async(a.leading_since))
    b = Candidate(client, "b")
    try:
        await asyncio.sleep(0.5)
        assert b.leading_since is None
        await a.stop()
        released = time.monotonic()
        await eventually(lambda: _async(b.leading_since))
        assert b.leading_since is not None
        assert b.leading_since - released < 1.5
    finally:
        await b.stop()


async def test_a_leader_whose_lease_is_taken_stops_leading(client: Client) -> None:
    a = Candidate(client, "a")
    await eventually(lambda: _async(a.leading_since))
    lease = await client.get(LEASE)
    lease["spec"]["holderIdentity"] = "intruder"
    await client.update(LEASE, lease)
    taken = time.monotonic()
    with pytest.raises(LeaderElectionLost):
        await asyncio.wait_for(a.task, timeout=5)
    assert a.stopped_at is not None
    # within a retry period and the renew deadline: before the lease (2 s) could expire
    assert a.stopped_at - taken < 0.3 + 1.5 + 1.0
    assert await holder(client) == "intruder"


async def test_becoming_leader_is_recorded_as_an_event(client: Client) -> None:
    options = Options(controllers=(), leader_elect_resource_name="test-lock", **_durations())
    ctx = Context(client=client, informers=SharedInformers(client=client), options=options)
    task = asyncio.create_task(run_elected(ctx, [], identity="host_1234"))
    try:

        async def event() -> list[Obj]:
            events = await client.get(
                "/api/v1/namespaces/kube-system/events",
                params={"fieldSelector": "involvedObject.name=test-lock"},
            )
            return [e for e in events["items"] if e["reason"] == "LeaderElection"]

        [found] = await eventually(event)
        assert found["message"] == "host_1234 became leader"
        assert found["involvedObject"]["kind"] == "Lease"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# -- two controller managers ------------------------------------------------------------------
@dataclasses.dataclass
class Recording:
    """A client that records the writes it got through and can be cut off from the server
    (a partitioned controller manager: it can neither renew nor act)."""

    client: Client
    writes: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    cut: bool = False

    def _check(self, verb: str, path: str) -> None:
        if self.cut:
            raise TransportError(f"{verb} {path}: cut off")

    async def get(self, path: str, *, params: Params | None = None) -> Obj:
        self._check("GET", path)
        return await self.client.get(path, params=params)

    async def list(self, path: str, *, params: Params | None = None) -> Obj:
        self._check("LIST", path)
        return await self.client.list(path, params=params)

    async def watch(
        self, path: str, *, params: Params | None = None
    ) -> AsyncGenerator[WatchEvent, None]:
        self._check("WATCH", path)
        async for event in self.client.watch(path, params=params):
            yield event

    async def create(self, path: str, obj: Obj, *, params: Params | None = None) -> Obj:
        self._check("POST", path)
        result = await self.client.create(path, obj, params=params)
        self.writes.append(("POST", path))
        return result

    async def update(self, path: str, obj: Obj, *, params: Params | None = None) -> Obj:
        self._check("PUT", path)
        result = await self.client.update(path, obj, params=params)
        self.writes.append(("PUT", path))
        return result

    async def patch(
        self,
        path: str,
        patch: Obj,
        *,
        patch_type: PatchType = "merge",
        params: Params | None = None,
    ) -> Obj:
        self._check("PATCH", path)
        result = await self.client.patch(path, patch, patch_type=patch_type, params=params)
        self.writes.append(("PATCH", path))
        return result

    async def delete(
        self, path: str, *, body: Obj | None = None, params: Params | None = None
    ) -> Obj:
        self._check("DELETE", path)
        result = await self.client.delete(path, body=body, params=params)
        self.writes.append(("DELETE", path))
        return result

    def deleted_secrets(self) -> list[str]:
        return [
            p.rsplit("/", 1)[1] for verb, p in self.writes if verb == "DELETE" and "/secrets/" in p
        ]


def _durations() -> dict[str, float]:
    return {
        "leader_elect_lease_duration": 2.0,
        "leader_elect_renew_deadline": 1.5,
        "leader_elect_retry_period": 0.3,
    }


@dataclasses.dataclass
class Stack:
    """One controller manager's worth: its client, informers and the token cleaner, elected."""

    name: str
    recording: Recording
    task: asyncio.Task[None]
    spells: list[list[float]]


@contextlib.asynccontextmanager
async def stack(client: Client, name: str) -> AsyncIterator[Stack]:
    recording = Recording(client)
    options = Options(
        controllers=("tokencleaner",), leader_elect_resource_name="test-lock", **_durations()
    )
    ctx = Context(client=recording, informers=SharedInformers(client=recording), options=options)
    controllers = manager.build(ctx)
    spells: list[list[float]] = []
    # record when the cleaner runs: it starts once its informers synced and stops on loss
    cleaner = controllers[0]
    run = cleaner.run

    async def timed_run() -> None:
        spell = [time.monotonic(), float("inf")]
        spells.append(spell)
        try:
            await run()
        finally:
            spell[1] = time.monotonic()

    cleaner.run = timed_run  # type: ignore[method-assign]
    task = asyncio.create_task(run_elected(ctx, controllers, identity=name))
    try:
        yield Stack(name, recording, task, spells)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, LeaderElectionLost):
            await task


async def _expired_token(client: Client, token_id: str) -> None:
    secret = token_secret(token_id, "0123456789abcdef", expiration="2000-01-01T00:00:00Z")
    await client.create(SECRETS, secret)


async def _gone(client: Client, names: list[str]) -> bool:
    for name in names:
        try:
            await client.get(f"{SECRETS}/{name}")
        except ApiError as err:
            if err.not_found:
                continue
            raise
        return False
    return True


async def test_two_controller_managers_never_do_the_work_twice(client: Client) -> None:
    async with stack(client, "one") as one, stack(client, "two") as two:
        await eventually(lambda: _async(one.spells or two.spells))
        leader, standby = (one, two) if one.spells else (two, one)
        first = [f"aaa00{i}" for i in range(3)]
        for token in first:
            await _expired_token(client, token)
        await eventually(lambda: _gone(client, [f"bootstrap-token-{t}" for t in first]))
        assert not standby.spells

        leader.recording.cut = True  # partitioned: cannot renew, so stops within the deadline
        with pytest.raises(LeaderElectionLost):
            await asyncio.wait_for(leader.task, timeout=5)
        await eventually(lambda: _async(standby.spells), within=TAKEOVER + 2)
        second = [f"bbb00{i}" for i in range(3)]
        for token in second:
            await _expired_token(client, token)
        await eventually(lambda: _gone(client, [f"bootstrap-token-{t}" for t in second]))

    deleted = leader.recording.deleted_secrets() + standby.recording.deleted_secrets()
    assert sorted(deleted) == sorted(f"bootstrap-token-{t}" for t in first + second)
    assert sorted(leader.recording.deleted_secrets()) == [f"bootstrap-token-{t}" for t in first]
    # the leading spells never overlap: the old leader had stopped before the new one started
    [(_, old_end)] = leader.spells
    [(new_start, _)] = standby.spells
    assert old_end < new_start


async def _async(value: Any) -> Any:
    return value
