"""The backoff queue: pods that failed, waiting out a penalty that doubles with each attempt.

A pod that keeps failing would otherwise be retried in a tight loop and crowd out the pods
behind it. Its wait is ``initial * 2**(attempts-1)`` seconds from its last failure, capped at
the maximum (upstream's ``backoffQueue``: 1 s and 10 s by default, from
``podInitialBackoffSeconds`` and ``podMaxBackoffSeconds``). The heap is ordered by expiry so
that a flush only looks at the pods whose wait is over.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from pocketkube.scheduler.framework.interface import QueuedPodInfo
from pocketkube.scheduler.heap import KeyedHeap
from pocketkube.scheduler.nominator import pod_uid

DEFAULT_INITIAL_BACKOFF = 1.0
DEFAULT_MAX_BACKOFF = 10.0


def queued_key(info: QueuedPodInfo) -> str:
    return pod_uid(info.pod)


class BackoffQueue:
    __slots__ = ("_clock", "_heap", "initial", "maximum")

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        initial: float = DEFAULT_INITIAL_BACKOFF,
        maximum: float = DEFAULT_MAX_BACKOFF,
    ) -> None:
        self._clock = clock
        self.initial = initial
        self.maximum = maximum
        self._heap: KeyedHeap[QueuedPodInfo] = KeyedHeap(
            key=queued_key, less=lambda a, b: self.expiration(a) < self.expiration(b)
        )

    def duration(self, info: QueuedPodInfo) -> float:
        """``initial * 2**(attempts-1)``, capped; a pod never tried owes nothing."""
        if info.attempts == 0:
            return 0.0
        duration = self.initial
        for _ in range(1, info.attempts):
            if duration > self.maximum - duration:
                return self.maximum
            duration += duration
        return duration

    def expiration(self, info: QueuedPodInfo) -> float:
        return info.timestamp + self.duration(info)

    def is_backing_off(self, info: QueuedPodInfo) -> bool:
        return self.expiration(info) > self._clock()

    def add(self, info: QueuedPodInfo) -> None:
        self._heap.add_or_update(info)

    def delete(self, uid: str) -> QueuedPodInfo | None:
        return self._heap.delete(uid)

    def get(self, uid: str) -> QueuedPodInfo | None:
        return self._heap.get(uid)

    def pop_completed(self) -> list[QueuedPodInfo]:
        """Remove and return the pods whose backoff is over, earliest first."""
        done = []
        while (info := self._heap.peek()) is not None and not self.is_backing_off(info):
            done.append(self._heap.pop())
        return done

    def __contains__(self, uid: object) -> bool:
        return uid in self._heap

    def __len__(self) -> int:
        return len(self._heap)

    def __iter__(self) -> Iterator[QueuedPodInfo]:
        return iter(self._heap)
