"""One watch served by the watch cache: ``cacheWatcher`` in ``k8s.io/apiserver/pkg/storage/cacher``.

A watcher first sends its backlog (the current objects as ADDED events, or the window's events
after the requested resourceVersion), then live events. The backlog is a list of references taken
at registration, filtered lazily by the consumer's own task; live events are filtered by the cache
when it fans them out and land in a bounded queue.

A consumer that does not keep up is not buffered for: when its queue is full the watcher is
terminated (``closed_reason`` says why, and iteration raises Unavailable so the client resumes from
the last resourceVersion it saw). That keeps memory bounded and keeps one stuck client from
holding up the others, since fan-out only ever appends to queues.

Bookmarks are sent from the consumer's task when its queue is empty: the cache hands out events
synchronously as it applies them, so an empty queue means everything up to the cache's revision
has been delivered, and a bookmark at that revision can never precede an event at or below it.
"""

from __future__ import annotations

import asyncio
import collections
import enum
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from types import TracebackType
from typing import Self

from pocketkube.storage.errors import Unavailable
from pocketkube.storage.interface import Event, Predicate
from pocketkube.storage.store import bookmark
from pocketkube.storage.watch_cache import CachedObject, CacheEvent


class CloseReason(enum.StrEnum):
    CLOSED = "closed"  # by its consumer
    TOO_SLOW = "too slow"  # its queue overflowed
    RELIST = "relist"  # the cache lost its history and started over from a new list
    CACHE_STOPPED = "cache stopped"


# Raise Unavailable for these: the client must resume (or relist) on its own.
DROPPED = {
    CloseReason.TOO_SLOW: "watch dropped: the consumer fell too far behind",
    CloseReason.RELIST: "watch dropped: the watch cache was reinitialized",
}


class CacheWatcher:
    """A :class:`~pocketkube.storage.interface.WatchStream` fed by the watch cache."""

    def __init__(
        self,
        *,
        key: str,
        recursive: bool,
        predicate: Predicate | None,
        bookmarks: bool,
        queue_size: int,
        bookmark_interval: float,
        start: Callable[[CacheWatcher], Awaitable[None]],
        revision: Callable[[], int],
        unregister: Callable[[CacheWatcher], None],
    ) -> None:
        self.key = key
        self.recursive = recursive
        self.predicate = predicate
        self.bookmarks = bookmarks
        self.closed_reason: CloseReason | None = None
        self._queue_size = max(1, queue_size)
        self._pressure_at = max(1, self._queue_size // 2)
        self._bookmark_interval = bookmark_interval
        self._start = start
        self._revision = revision
        self._unregister = unregister
        self._queue: collections.deque[Event] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None  # the consumer waiting for events
        self._closing: asyncio.Future[None] | None = None
        self._iterator: AsyncIterator[Event] | None = None
        # Set by the cache at registration:
        self._initial: Sequence[CachedObject] = ()
        self._replay: Sequence[CacheEvent] = ()
        self._initial_events_end: int | None = None

    # -- called by the cache (never awaits) --------------------------------------------------
    def begin(
        self,
        *,
        initial: Sequence[CachedObject] = (),
        replay: Sequence[CacheEvent] = (),
        initial_events_end: int | None = None,
    ) -> None:
        self._initial = initial
        self._replay = replay
        self._initial_events_end = initial_events_end

    def wants(self, key: str) -> bool:
        return key.startswith(self.key) if self.recursive else key == self.key

    def offer(self, entry: CacheEvent) -> bool:
        """Queue ``entry`` if this watcher sees it; True when the queue is filling up."""
        # The hot path of fan-out (once per event and watcher), hence inlined checks.
        if self.recursive:
            if not entry.key.startswith(self.key):
                return False
        elif entry.key != self.key:
            return False
        event = entry.event if self.predicate is None else entry.for_predicate(self.predicate)
        if event is None:
            return False
        queue = self._queue
        if len(queue) >= self._queue_size:
            self.terminate(CloseReason.TOO_SLOW)
            return False
        queue.append(event)
        self._wake()
        return len(queue) >= self._pressure_at

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def terminate(self, reason: CloseReason) -> None:
        if self.closed_reason is not None:
            return
        self.closed_reason = reason
        self._queue.clear()  # free memory now: a stuck consumer may never read again
        self._initial = self._replay = ()
        self._unregister(self)
        self._wake()
        if self._closing is not None and not self._closing.done():
            self._closing.set_result(None)

    @property
    def queued(self) -> int:
        return len(self._queue)

    def closing(self) -> asyncio.Future[None]:
        """Done once the watcher is terminated (the cache uses it to interrupt setup waits)."""
        if self._closing is None:
            self._closing = asyncio.get_running_loop().create_future()
            if self.closed_reason is not None:
                self._closing.set_result(None)
        return self._closing

    # -- the consumer's side -------------------------------------------------------------------
    def __aiter__(self) -> AsyncIterator[Event]:
        # One iteration per watcher: iterating again continues it rather than starting over.
        if self._iterator is None:
            self._iterator = self._iterate()
        return self._iterator

    async def _iterate(self) -> AsyncIterator[Event]:
        if self.closed_reason is not None:
            return
        try:
            await self._start(self)
            async for event in self._backlog():
                yield event
            if self._initial_events_end is not None and self.closed_reason is None:
                yield bookmark(self._initial_events_end, initial_events_end=True)
            async for event in self._live():
                yield event
        finally:
            self.terminate(CloseReason.CLOSED)

    async def _backlog(self) -> AsyncIterator[Event]:
        # Index loops, so that terminate() dropping the lists also ends the iteration.
        predicate = self.predicate
        i = 0
        while i < len(self._initial):
            cached = self._initial[i]
            i += 1
            if predicate is None or predicate(cached.obj):
                yield cached.added()
        i = 0
        while i < len(self._replay):
            entry = self._replay[i]
            i += 1
            if self.wants(entry.key):
                event = entry.for_predicate(predicate)
                if event is not None:
                    yield event
        self._initial = self._replay = ()

    async def _live(self) -> AsyncIterator[Event]:
        loop = asyncio.get_running_loop()
        queue = self._queue
        next_bookmark = loop.time() + self._bookmark_interval
        while True:
            while queue:
                yield queue.popleft()
            reason = self.closed_reason
            if reason is not None:
                if reason in DROPPED:
                    raise Unavailable(DROPPED[reason])
                return
            if self.bookmarks and loop.time() >= next_bookmark:
                # The queue is empty and nothing was awaited since it was found empty: every
                # event up to the cache's revision has been delivered.
                yield bookmark(self._revision())
                next_bookmark = loop.time() + self._bookmark_interval
                continue
            waiter = self._waiter = loop.create_future()
            if not self.bookmarks:
                await waiter
                continue
            try:
                async with asyncio.timeout_at(next_bookmark):
                    await waiter
            except TimeoutError:
                self._waiter = None

    async def close(self) -> None:
        self.terminate(CloseReason.CLOSED)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
