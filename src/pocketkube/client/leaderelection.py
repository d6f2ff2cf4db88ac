"""Leader election on a ``coordination.k8s.io/v1`` Lease (client-go's ``tools/leaderelection``).

Several copies of a component (two controller managers, two schedulers) run at once; only the
one holding the Lease does the work. ``LeaderElector.run(lead)`` waits until it holds the Lease,
runs ``lead()`` while renewing it, and stops ``lead`` (cancels it) as soon as it cannot renew:

- **acquire**: every retry period (jittered up to 2.2x, as upstream's ``JitterUntil``) a
  candidate reads the Lease and takes it when it is absent, released (no holder), its own, or
  *expired*. Expiry is judged on the candidate's own clock, never on the recorded timestamps
  (the hosts' clocks need not agree): the record must have stayed unchanged for
  ``leaseDurationSeconds`` since this candidate last saw it change.
- **renew**: the leader rewrites ``renewTime`` every retry period; a round that has not
  succeeded within the renew deadline (shorter than the lease duration) ends leadership, so the
  old leader has stopped before any standby may consider the Lease expired.
- **write safety**: every write is an update of the object just read (its ``resourceVersion`` is
  the precondition) or a create, so of two candidates racing for one Lease the second gets a
  409 and loses; it never believes it leads.
- **release**: when ``run`` is cancelled while leading (a graceful stop), the Lease is given up
  (no holder, ``leaseDurationSeconds: 1``, upstream's ``ReleaseOnCancel``) so a standby takes
  over at once instead of waiting out the lease.

Losing the Lease raises ``LeaderElectionLost``; kube-controller-manager then exits
("leaderelection lost") and is restarted, which is simpler than stopping every controller
cleanly and starting them again. The Lease's spec: ``holderIdentity`` (``<hostname>_<uuid>``),
``leaseDurationSeconds``, ``acquireTime``, ``renewTime``, ``leaseTransitions``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from pocketkube.client.clock import Clock, RealClock
from pocketkube.client.events import micro_time
from pocketkube.client.resources import LEASES
from pocketkube.client.rest import ApiError, Obj, Params

log = logging.getLogger(__name__)

JITTER_FACTOR = 1.2  # upstream's JitterFactor for the acquire loop
RECORD_FIELDS = (
    "holderIdentity",
    "leaseDurationSeconds",
    "acquireTime",
    "renewTime",
    "leaseTransitions",
)
T = TypeVar("T")


class LeaseClient(Protocol):
    """What the elector needs of a client; ``rest.Client`` is one."""

    async def get(self, path: str, *, params: Params | None = None) -> Obj: ...

    async def create(self, path: str, obj: Obj, *, params: Params | None = None) -> Obj: ...

    async def update(self, path: str, obj: Obj, *, params: Params | None = None) -> Obj: ...


class EventEmitter(Protocol):
    """Where the ``LeaderElection`` event goes; ``events.EventRecorder`` is one."""

    async def emit(
        self, regarding: Obj, *, type: Any, reason: str, action: str, note: str
    ) -> Obj | None: ...


class LeaderElectionLost(Exception):
    """The leader could not renew its Lease within the renew deadline."""


def new_identity() -> str:
    """``<hostname>_<uuid>``, as kube-controller-manager and kube-scheduler name themselves."""
    return f"{socket.gethostname()}_{uuid.uuid4()}"


@dataclass(frozen=True, kw_only=True)
class LeaderElectionConfig:
    """The Lease and the timings (seconds); upstream's defaults 15 s / 10 s / 2 s."""

    namespace: str
    name: str
    identity: str
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    release_on_cancel: bool = True

    def __post_init__(self) -> None:
        # upstream's NewLeaderElector checks
        if self.lease_duration <= self.renew_deadline:
            raise ValueError("leaseDuration must be greater than renewDeadline")
        if self.renew_deadline <= JITTER_FACTOR * self.retry_period:
            raise ValueError("renewDeadline must be greater than retryPeriod*JitterFactor")
        if self.retry_period <= 0:
            raise ValueError("retryPeriod must be greater than zero")
        if not self.identity:
            raise ValueError("leader election requires an identity")


class LeaderElector:
    def __init__(
        self,
        *,
        client: LeaseClient,
        config: LeaderElectionConfig,
        clock: Clock | None = None,
        wall_ns: Callable[[], int] = time.time_ns,
        jitter: Callable[[], float] = random.random,
        recorder: EventEmitter | None = None,
    ) -> None:
        self._client = client
        self.config = config
        self._clock = clock or RealClock()
        self._wall_ns = wall_ns
        self._jitter = jitter
        self._recorder = recorder
        self._path = LEASES.path(namespace=config.namespace, name=config.name)
        self._observed: dict[str, Any] = {}
        self._observed_at = 0.0

    @property
    def holder(self) -> str:
        """The holder last seen on the Lease ("" if none)."""
        return str(self._observed.get("holderIdentity") or "")

    @property
    def is_leader(self) -> bool:
        return self.holder == self.config.identity

    async def run(self, lead: Callable[[], Awaitable[None]]) -> None:
        """Acquire the Lease, run ``lead()`` while renewing it; release when ``lead`` returns or
        ``run`` is cancelled. Raises ``LeaderElectionLost`` when renewal fails."""
        await self._acquire()
        lost = False
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [leading := group.create_task(_call(lead))]
                tasks.append(renewing := group.create_task(self._renew()))
                if self._recorder is not None:
                    tasks.append(group.create_task(self._announce(self._recorder)))
                await asyncio.wait({leading, renewing}, return_when=asyncio.FIRST_COMPLETED)
                lost = renewing.done()
                for task in tasks:
                    task.cancel()
        finally:
            if not lost and self.config.release_on_cancel:
                await self._release()
        if lost:
            log.error(
                "leader election lost: %s could not renew %s", self.config.identity, self._path
            )
            raise LeaderElectionLost(f"failed to renew lease {self._where()}")

    # -- the loops ------------------------------------------------------------------------------
    async def _acquire(self) -> None:
        log.info("attempting to acquire leader lease %s...", self._where())
        while not await self._try_acquire_or_renew():
            period = self.config.retry_period
            await self._clock.sleep(period + self._jitter() * JITTER_FACTOR * period)
        log.info("successfully acquired lease %s", self._where())

    async def _renew(self) -> None:
        """Renew every retry period; return when a round fails to renew before its deadline."""
        period = self.config.retry_period
        while True:
            await self._clock.sleep(period)
            deadline = self._clock.now() + self.config.renew_deadline
            while True:
                left = deadline - self._clock.now()
                if left <= 0:
                    return
                renewed = await _within(self._clock, left, self._try_acquire_or_renew())
                if renewed:
                    break
                await self._clock.sleep(min(period, max(0.0, deadline - self._clock.now())))

    async def _try_acquire_or_renew(self) -> bool:
        now = self._clock.now()
        stamp = micro_time(self._wall_ns())
        record: dict[str, Any] = {
            "holderIdentity": self.config.identity,
            # rounded up (upstream truncates): a fractional lease never reads shorter than the
            # leader's renew deadline
            "leaseDurationSeconds": max(1, math.ceil(self.config.lease_duration)),
            "acquireTime": stamp,
            "renewTime": stamp,
            "leaseTransitions": 0,
        }
        try:
            lease = await self._client.get(self._path)
        except ApiError as err:
            if not err.not_found:
                log.warning("error retrieving lease %s: %s", self._where(), err)
                return False
            return await self._write(None, record, now)
        old = _record(lease)
        if old != self._observed:
            self._observed, self._observed_at = old, now
        if old.get("holderIdentity") and not self.is_leader and self._valid(now):
            log.debug("lease is held by %s and has not yet expired", old["holderIdentity"])
            return False
        transitions = int(old.get("leaseTransitions") or 0)
        if self.is_leader:
            record["acquireTime"] = old.get("acquireTime") or stamp
            record["leaseTransitions"] = transitions
        else:
            record["leaseTransitions"] = transitions + 1
        return await self._write(lease, record, now)

    def _valid(self, now: float) -> bool:
        duration = float(self._observed.get("leaseDurationSeconds") or 0)
        return self._observed_at + duration > now

    async def _write(self, lease: Obj | None, record: dict[str, Any], now: float) -> bool:
        try:
            if lease is None:
                body: Obj = {
                    "apiVersion": LEASES.api_version,
                    "kind": LEASES.kind,
                    "metadata": {"name": self.config.name, "namespace": self.config.namespace},
                    "spec": record,
                }
                await self._client.create(LEASES.path(namespace=self.config.namespace), body)
            else:
                # the object as read: its resourceVersion makes a racing writer's update fail
                updated = {**lease, "spec": {**(lease.get("spec") or {}), **record}}
                await self._client.update(self._path, updated)
        except ApiError as err:
            log.warning("failed to write lease %s: %s", self._where(), err)
            return False
        self._observed, self._observed_at = record, now
        return True

    async def _release(self) -> None:
        """Give the Lease up (upstream's ReleaseOnCancel), if this candidate holds it."""
        if not self.is_leader:
            return
        try:
            lease = await _within(
                self._clock, self.config.renew_deadline, self._client.get(self._path)
            )
            if lease is None or _record(lease).get("holderIdentity") != self.config.identity:
                return
            stamp = micro_time(self._wall_ns())
            record = {
                "holderIdentity": "",
                "leaseDurationSeconds": 1,
                "acquireTime": stamp,
                "renewTime": stamp,
                "leaseTransitions": int(_record(lease).get("leaseTransitions") or 0),
            }
            updated = {**lease, "spec": {**(lease.get("spec") or {}), **record}}
            done = await _within(
                self._clock, self.config.renew_deadline, self._client.update(self._path, updated)
            )
            if done is not None:
                self._observed, self._observed_at = record, self._clock.now()
                log.info("released lease %s", self._where())
        except ApiError as err:
            log.warning("failed to release lease %s: %s", self._where(), err)

    async def _announce(self, recorder: EventEmitter) -> None:
        lease = {
            "apiVersion": LEASES.api_version,
            "kind": LEASES.kind,
            "metadata": {"name": self.config.name, "namespace": self.config.namespace},
        }
        await recorder.emit(
            lease,
            type="Normal",
            reason="LeaderElection",
            action="LeaderElection",
            note=f"{self.config.identity} became leader",
        )

    def _where(self) -> str:
        return f"{self.config.namespace}/{self.config.name}"


def _record(lease: Obj) -> dict[str, Any]:
    spec = lease.get("spec") or {}
    return {field: spec[field] for field in RECORD_FIELDS if spec.get(field) is not None}


async def _call(fn: Callable[[], Awaitable[None]]) -> None:
    await fn()


async def _within(clock: Clock, seconds: float, work: Coroutine[Any, Any, T]) -> T | None:
    """``work``'s result, or ``None`` if ``clock`` says ``seconds`` passed first (then it is
    cancelled): a hung request must not keep a leader that can no longer renew. Both tasks are
    awaited before returning, whatever happens."""
    task = asyncio.ensure_future(work)
    timer = asyncio.ensure_future(clock.sleep(seconds))
    try:
        await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        timer.cancel()
        if not task.done():
            task.cancel()
        await asyncio.gather(task, timer, return_exceptions=True)
    if task.cancelled():
        return None
    return task.result()
