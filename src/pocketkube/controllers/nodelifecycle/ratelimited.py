"""Zone-aware rate limiting of NoExecute tainting (upstream's ``scheduler/rate_limited_queue.go``
and the node lifecycle controller's zone states).

Each zone (``topology.kubernetes.io/region`` + ``zone``) has a queue of nodes waiting for their
NoExecute taint, drained through a token bucket (burst 1) at ``--node-eviction-rate`` per second.
A node stays *known* to its queue after it was tainted (so it is not queued again) until it is
removed when the node is reachable again. A zone is **FullDisruption** when none of its nodes is
Ready, **PartialDisruption** when more than 2 and at least ``--unhealthy-zone-threshold`` of them
are not, else **Normal**; the rate then becomes ``--secondary-node-eviction-rate`` (0 in zones of
at most ``--large-cluster-size-threshold`` nodes), the normal rate, and when *every* zone is
fully disrupted nothing is tainted at all (the controller suspects itself, not the nodes).
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from pocketkube.client.clock import Clock
from pocketkube.client.rest import Obj

BURST = 1


class ZoneState(enum.StrEnum):
    INITIAL = "Initial"
    NORMAL = "Normal"
    FULL_DISRUPTION = "FullDisruption"
    PARTIAL_DISRUPTION = "PartialDisruption"


def compute_zone_state(
    ready_conditions: Sequence[Obj | None], unhealthy_threshold: float
) -> tuple[int, ZoneState]:
    """Upstream's ComputeZoneState: (not-ready count, state); a missing condition is not ready."""
    ready = sum(1 for c in ready_conditions if c is not None and c.get("status") == "True")
    not_ready = len(ready_conditions) - ready
    if ready == 0 and not_ready > 0:
        return not_ready, ZoneState.FULL_DISRUPTION
    if not_ready > 2 and not_ready / (not_ready + ready) >= unhealthy_threshold:
        return not_ready, ZoneState.PARTIAL_DISRUPTION
    return not_ready, ZoneState.NORMAL


class TokenBucket:
    """``qps`` tokens a second, at most ``burst`` kept; qps <= 0 never accepts."""

    def __init__(self, qps: float, *, clock: Clock, burst: int = BURST) -> None:
        self.qps = qps
        self._clock = clock
        self._burst = float(burst)
        self._tokens = float(burst)
        self._last = clock.now()

    def try_accept(self) -> bool:
        if self.qps <= 0:
            return False
        now = self._clock.now()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self.qps)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


@dataclass(kw_only=True)
class TimedValue:
    value: str
    uid: str
    added_at: float
    process_at: float


# Returns (done, retry_after): done=False keeps the value queued for ``retry_after`` seconds.
Action = Callable[[TimedValue], Awaitable[tuple[bool, float]]]


class RateLimitedTimedQueue:
    """Upstream's RateLimitedTimedQueue over a UniqueQueue, in insertion order."""

    def __init__(self, qps: float, *, clock: Clock) -> None:
        self._clock = clock
        self.limiter = TokenBucket(qps, clock=clock)
        self._queue: list[TimedValue] = []  # ordered by process_at, then insertion
        self._known: set[str] = set()

    def __len__(self) -> int:
        return len(self._queue)

    def __contains__(self, value: object) -> bool:
        return value in self._known

    def add(self, value: str, uid: str) -> bool:
        """Queue ``value`` unless it is known already (queued, or done and not removed)."""
        if value in self._known:
            return False
        now = self._clock.now()
        self._known.add(value)
        self._queue.append(TimedValue(value=value, uid=uid, added_at=now, process_at=now))
        self._queue.sort(key=lambda v: v.process_at)
        return True

    def remove(self, value: str) -> bool:
        """Forget ``value`` entirely; True when it was known."""
        self._queue = [v for v in self._queue if v.value != value]
        if value in self._known:
            self._known.discard(value)
            return True
        return False

    def swap_limiter(self, qps: float) -> None:
        if qps == self.limiter.qps:
            return
        new = TokenBucket(qps, clock=self._clock)
        # While the old limiter is out of tokens, so is the new one (burst 1).
        if qps > 0 and not self.limiter.try_accept():
            new.try_accept()
        self.limiter = new

    async def try_(self, action: Action) -> None:
        """Process the values whose time has come, one token each, with ``action``."""
        while self._queue:
            head = self._queue[0]
            if not self.limiter.try_accept():
                return
            now = self._clock.now()
            if now < head.process_at:
                return
            done, wait = await action(head)
            if head not in self._queue:
                continue  # removed meanwhile
            self._queue.remove(head)
            if not done:
                head.process_at = now + wait
                self._queue.append(head)
                self._queue.sort(key=lambda v: v.process_at)
            # done: it stays known until removed
