"""The work queue between informer handlers and a controller's workers (client-go workqueue).

Handlers only enqueue keys; workers loop ``key = await queue.get()`` → ``sync(key)`` →
``queue.forget(key)`` on success or ``queue.add_rate_limited(key)`` on failure → always
``queue.done(key)``. The queue guarantees what makes such level-triggered controllers correct:

- **duplicate adds collapse**: a key added ten times before a worker takes it is synced once,
  because ``sync`` reads the current state anyway (the *dirty* set);
- **one worker per key**: a key added while a worker holds it is not handed to another worker,
  but queued again when the first calls ``done`` (the *processing* set), so two syncs of one
  object never race;
- **delays**: ``add_after`` (a Job's activeDeadlineSeconds, a retry) and ``add_rate_limited``
  (``ratelimit``: per-key exponential backoff) hold a key until its time, then add it; a key
  waiting twice keeps its earlier time.

``shutdown`` stops accepting keys; workers still get what is queued, then ``get`` raises
``ShutDown``. Time comes from an injected ``Clock`` so tests run on a ``FakeClock``.
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import itertools
from collections.abc import Hashable
from typing import Generic, TypeVar

from pocketkube.client.clock import Clock, RealClock
from pocketkube.client.ratelimit import RateLimiter, default_controller_rate_limiter

K = TypeVar("K", bound=Hashable)


class ShutDown(Exception):
    """The queue was shut down and is empty: the worker should return."""


class WorkQueue(Generic[K]):
    """A deduplicating, per-key exclusive, delaying and rate-limited queue of keys."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        rate_limiter: RateLimiter | None = None,
        name: str = "",
    ) -> None:
        self.name = name
        self._clock = clock or RealClock()
        self._rate_limiter = rate_limiter or default_controller_rate_limiter(clock=self._clock)
        self._queue: collections.deque[K] = collections.deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._waiting: dict[K, float] = {}  # key -> when it becomes ready
        self._heap: list[tuple[float, int, K]] = []  # (ready_at, tiebreak, key); stale allowed
        self._order = itertools.count()
        self._changed = asyncio.Event()
        self._shutting_down = False

    # -- adding --------------------------------------------------------------------------------
    def add(self, key: K) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return  # requeued by done()
        self._queue.append(key)
        self._changed.set()

    def add_after(self, key: K, delay: float) -> None:
        """Add ``key`` once ``delay`` seconds have passed (at once if ``delay`` <= 0)."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        ready_at = self._clock.now() + delay
        current = self._waiting.get(key)
        if current is not None and current <= ready_at:
            return
        self._waiting[key] = ready_at
        heapq.heappush(self._heap, (ready_at, next(self._order), key))
        self._changed.set()  # a getter may be sleeping until a later time

    def add_rate_limited(self, key: K) -> None:
        """Add ``key`` after the rate limiter's delay: retries back off, per key."""
        self.add_after(key, self._rate_limiter.when(key))

    def forget(self, key: K) -> None:
        """``key`` was synced successfully: its next failure starts the backoff over."""
        self._rate_limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        return self._rate_limiter.num_requeues(key)

    # -- taking --------------------------------------------------------------------------------
    async def get(self) -> K:
        """The next key to sync; the caller owns it until ``done(key)``."""
        while True:
            self._promote()
            if self._queue:
                return self._take()
            if self._shutting_down:
                raise ShutDown(self.name)
            self._changed.clear()
            if self._heap:
                await self._wait(self._heap[0][0] - self._clock.now())
            else:
                await self._changed.wait()

    def get_nowait(self) -> K:
        """A key if one is ready; ``asyncio.QueueEmpty`` (or ``ShutDown``) otherwise."""
        self._promote()
        if self._queue:
            return self._take()
        if self._shutting_down:
            raise ShutDown(self.name)
        raise asyncio.QueueEmpty

    def done(self, key: K) -> None:
        """The worker is finished with ``key``; if it was added meanwhile, queue it again."""
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._changed.set()

    # -- state ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        """Keys ready to be taken (not those being processed or still delayed)."""
        self._promote()
        return len(self._queue)

    @property
    def waiting(self) -> int:
        """Keys held back by ``add_after`` / ``add_rate_limited``."""
        return len(self._waiting)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def shutdown(self) -> None:
        """Accept no more keys and wake the workers; delayed keys are dropped."""
        self._shutting_down = True
        self._waiting.clear()
        self._heap.clear()
        self._changed.set()

    # -- internals -----------------------------------------------------------------------------
    def _take(self) -> K:
        key = self._queue.popleft()
        self._processing.add(key)
        self._dirty.discard(key)
        return key

    def _promote(self) -> None:
        """Move delayed keys whose time has come into the queue."""
        now = self._clock.now()
        while self._heap and self._heap[0][0] <= now:
            ready_at, _, key = heapq.heappop(self._heap)
            if self._waiting.get(key) == ready_at:  # else superseded by an earlier time
                del self._waiting[key]
                self.add(key)

    async def _wait(self, delay: float) -> None:
        """Until something changes or ``delay`` passes on the clock, whichever is first."""
        changed = asyncio.ensure_future(self._changed.wait())
        timer = asyncio.ensure_future(self._clock.sleep(delay))
        try:
            await asyncio.wait((changed, timer), return_when=asyncio.FIRST_COMPLETED)
        finally:
            changed.cancel()
            timer.cancel()
