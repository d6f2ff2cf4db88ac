"""Expectations and slow-start batches (upstream's ``ControllerExpectations``,
``UIDTrackingControllerExpectations`` and ``slowStartBatch``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from pocketkube.client.clock import Clock, RealClock

EXPECTATIONS_TIMEOUT = 5 * 60.0  # upstream's ExpectationsTimeout
SLOW_START_INITIAL_BATCH_SIZE = 1


async def slow_start_batch(
    count: int,
    fn: Callable[[], Awaitable[None]],
    initial_batch_size: int = SLOW_START_INITIAL_BATCH_SIZE,
) -> tuple[int, BaseException | None]:
    """Call ``fn`` ``count`` times in batches of 1, 2, 4, ... run at once; stop after the first
    batch with a failure. Returns how many calls succeeded and the first error."""
    remaining, batch, successes = count, min(count, initial_batch_size), 0
    while batch > 0:
        results = await asyncio.gather(*(fn() for _ in range(batch)), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        successes += batch - len(errors)
        if errors:
            return successes, errors[0]
        remaining -= batch
        batch = min(2 * batch, remaining)
    return successes, None


# -- expectations ------------------------------------------------------------------------------
@dataclass
class _Expectation:
    add: int
    delete: int
    at: float


class ControllerExpectations:
    """Writes a controller made and has not yet seen, per controller key (upstream's
    ControllerExpectations; ``deletion_observed`` takes the pod key so a pod counted once is not
    counted again, as UIDTrackingControllerExpectations)."""

    def __init__(
        self, *, clock: Clock | None = None, timeout: float = EXPECTATIONS_TIMEOUT
    ) -> None:
        self._clock = clock or RealClock()
        self._timeout = timeout
        self._records: dict[str, _Expectation] = {}
        self._deleting: dict[str, set[str]] = {}  # controller key -> pod keys expected to go

    def satisfied(self, key: str) -> bool:
        """Whether a sync may compute a new diff: nothing outstanding, or the record expired."""
        record = self._records.get(key)
        if record is None:
            return True
        if record.add <= 0 and record.delete <= 0:
            return True
        return self._clock.now() - record.at > self._timeout

    def expect_creations(self, key: str, count: int) -> None:
        self._records[key] = _Expectation(count, 0, self._clock.now())

    def expect_deletions(self, key: str, pod_keys: Sequence[str]) -> None:
        self._records[key] = _Expectation(0, len(pod_keys), self._clock.now())
        self._deleting[key] = set(pod_keys)

    def lower_expectations(self, key: str, add: int = 0, delete: int = 0) -> None:
        record = self._records.get(key)
        if record is not None:
            record.add -= add
            record.delete -= delete

    def creation_observed(self, key: str) -> None:
        self.lower_expectations(key, add=1)

    def deletion_observed(self, key: str, pod_key: str | None = None) -> None:
        if pod_key is not None:
            expected = self._deleting.get(key)
            if expected is None or pod_key not in expected:
                return
            expected.discard(pod_key)
        self.lower_expectations(key, delete=1)

    def pending(self, key: str) -> tuple[int, int]:
        record = self._records.get(key)
        return (record.add, record.delete) if record is not None else (0, 0)

    def delete(self, key: str) -> None:
        """Forget ``key`` (its controller was deleted)."""
        self._records.pop(key, None)
        self._deleting.pop(key, None)
