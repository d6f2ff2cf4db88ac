"""How long a failed key waits before it is retried: client-go's workqueue rate limiters.

A controller whose sync fails calls ``add_rate_limited(key)``; the delay comes from here.
The default, as client-go's ``DefaultControllerRateLimiter``, is the larger of two limits:

- per key, exponential: 5 ms, 10 ms, 20 ms ... capped at 1000 s, so one broken object backs off
  without slowing the others, and ``forget(key)`` after a success starts it over;
- overall, a token bucket (10 per second, bursts of 100), so that a flood of failures (the API
  server is down) does not become a flood of retries.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Protocol

from pocketkube.client.clock import Clock, RealClock


class RateLimiter(Protocol):
    def when(self, item: Hashable) -> float:
        """The delay before ``item`` may be retried; counts one more failure."""
        ...

    def forget(self, item: Hashable) -> None:
        """``item`` succeeded: start its backoff over."""
        ...

    def num_requeues(self, item: Hashable) -> int: ...


class ItemExponentialRateLimiter:
    """``base * 2**failures``, capped, per item."""

    def __init__(self, *, base: float = 0.005, cap: float = 1000.0) -> None:
        self._base = base
        self._cap = cap
        self._failures: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        failures = self._failures.get(item, 0)
        self._failures[item] = failures + 1
        if failures > 62:  # 2**63 * base is past any sensible cap; avoid huge floats
            return self._cap
        return float(min(self._cap, self._base * 2**failures))

    def forget(self, item: Hashable) -> None:
        self._failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        return self._failures.get(item, 0)


class BucketRateLimiter:
    """A token bucket shared by all items: ``qps`` tokens a second, at most ``burst`` saved."""

    def __init__(self, *, qps: float = 10.0, burst: int = 100, clock: Clock | None = None) -> None:
        self._qps = qps
        self._burst = float(burst)
        self._clock = clock or RealClock()
        self._tokens = float(burst)
        self._last = self._clock.now()

    def when(self, item: Hashable) -> float:
        now = self._clock.now()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._qps)
        self._last = now
        self._tokens -= 1.0  # reserve a token, possibly one not yet earned
        return 0.0 if self._tokens >= 0 else -self._tokens / self._qps

    def forget(self, item: Hashable) -> None:
        pass

    def num_requeues(self, item: Hashable) -> int:
        return 0


class MaxOfRateLimiter:
    """The longest delay any of its limiters asks for."""

    def __init__(self, *limiters: RateLimiter) -> None:
        self._limiters = limiters

    def when(self, item: Hashable) -> float:
        return max(limiter.when(item) for limiter in self._limiters)

    def forget(self, item: Hashable) -> None:
        for limiter in self._limiters:
            limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        return max(limiter.num_requeues(item) for limiter in self._limiters)


def default_controller_rate_limiter(*, clock: Clock | None = None) -> RateLimiter:
    return MaxOfRateLimiter(
        ItemExponentialRateLimiter(base=0.005, cap=1000.0),
        BucketRateLimiter(qps=10.0, burst=100, clock=clock),
    )
