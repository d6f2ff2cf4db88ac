"""Watches for backends that commit in this process (memory and SQLite).

Such a backend knows every event the moment it commits, so it publishes each committed batch to a
:class:`WatchHub`, which hands it to every open watch whose key range it touches. A watch that
starts in the past first replays history from the backend's log, then switches to the live feed:
it registers *before* reading history, so that nothing committed in between is lost, and drops the
live events the replay already covered, so that nothing is delivered twice.

A watch whose consumer stops reading is dropped after ``max_pending`` undelivered batches rather
than buffering without bound; its iterator then raises Unavailable and the consumer must resume
from the last revision it saw.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from types import TracebackType
from typing import Self

from pocketkube.storage.backend import KVEvent, WatchBatch
from pocketkube.storage.errors import Expired, Unavailable

# Reads the events with start <= revision <= end that touch the watched keys, in order.
ReplayFn = Callable[[str, bool, int, int], Awaitable[Sequence[KVEvent]]]
CompactedFn = Callable[[], int]

DEFAULT_MAX_PENDING = 10_000


def matches(watched: str, prefix: bool, key: str) -> bool:
    return key.startswith(watched) if prefix else key == watched


def bucket(key: str) -> str:
    """``key`` up to its third ``/`` (``/registry/pods/`` of ``/registry/pods/ns/name``), or ""
    when it has fewer. A watched key that is a prefix of (or equal to) an event's key and has a
    bucket shares it with the event's key, so a commit is offered only to the watches of its
    keys' buckets and to those too wide to have one."""
    end = key.find("/", key.find("/", key.find("/") + 1) + 1)
    return key[: end + 1] if end >= 0 else ""


class WatchHub:
    """Fans committed events out to the open :class:`LocalWatch` objects of one backend."""

    def __init__(self, *, replay: ReplayFn, compacted: CompactedFn) -> None:
        self._replay = replay
        self._compacted = compacted
        self._watches: set[LocalWatch] = set()
        self._buckets: dict[str, set[LocalWatch]] = {}  # by bucket(watched key); "" for wide ones
        self.revision = 0

    def publish(self, events: Sequence[KVEvent], revision: int) -> None:
        """Called, in revision order, after each commit; ``revision`` is the store's new one."""
        self.revision = revision = max(self.revision, revision)
        buckets = self._buckets
        touched = {bucket(event.kv.key) for event in events}
        touched.add("")
        for name in touched:
            for watch in list(buckets.get(name, ())):
                watch.offer(events, revision)

    def watch(
        self,
        key: str,
        *,
        prefix: bool,
        start_revision: int,
        progress_interval: float | None,
        max_pending: int = DEFAULT_MAX_PENDING,
    ) -> LocalWatch:
        return LocalWatch(
            hub=self,
            key=key,
            prefix=prefix,
            start_revision=start_revision,
            progress_interval=progress_interval,
            max_pending=max_pending,
        )

    def close_all(self, reason: BaseException | None = None) -> None:
        for watch in list(self._watches):
            watch.end(reason)

    @property
    def open_watches(self) -> int:
        return len(self._watches)

    def _register(self, watch: LocalWatch) -> None:
        if watch not in self._watches:
            self._watches.add(watch)
            self._buckets.setdefault(watch.bucket, set()).add(watch)

    def _unregister(self, watch: LocalWatch) -> None:
        if watch in self._watches:
            self._watches.discard(watch)
            members = self._buckets[watch.bucket]
            members.discard(watch)
            if not members:
                del self._buckets[watch.bucket]


class LocalWatch:
    """One watch on a :class:`WatchHub`; see :class:`pocketkube.storage.backend.Watch`."""

    def __init__(
        self,
        *,
        hub: WatchHub,
        key: str,
        prefix: bool,
        start_revision: int,
        progress_interval: float | None,
        max_pending: int,
    ) -> None:
        self._hub = hub
        self._key = key
        self._prefix = prefix
        self.bucket = bucket(key)
        self._start = start_revision
        self._progress_interval = progress_interval
        self._max_pending = max_pending
        self._pending: collections.deque[WatchBatch] = collections.deque()
        self._wakeup = asyncio.Event()
        self._ended: BaseException | None = None
        self._closed = False
        self._delivered = 0  # highest revision handed to the consumer
        self._progress_requested = False

    # -- called by the hub -------------------------------------------------------------------
    def offer(self, events: Sequence[KVEvent], revision: int) -> None:
        if self._closed:
            return
        watched = self._key
        if self._prefix:
            mine = tuple(e for e in events if e.kv.key.startswith(watched))
        else:
            mine = tuple(e for e in events if e.kv.key == watched)
        if not mine:
            return
        if len(self._pending) >= self._max_pending:
            self.end(Unavailable("watch dropped: the consumer fell too far behind"))
            return
        self._pending.append(WatchBatch(mine, revision))
        self._wakeup.set()

    def request_progress(self) -> None:
        self._progress_requested = True
        self._wakeup.set()

    def end(self, reason: BaseException | None = None) -> None:
        if self._ended is None and not self._closed:
            self._ended = reason or _Closed()
        self._hub._unregister(self)
        self._wakeup.set()

    # -- the consumer side -------------------------------------------------------------------
    def __aiter__(self) -> AsyncIterator[WatchBatch]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[WatchBatch]:
        if self._start and self._start < self._hub._compacted():
            raise Expired(
                f"required revision {self._start} has been compacted",
                compacted_revision=self._hub._compacted(),
            )
        self._hub._register(self)
        try:
            caught_up = self._hub.revision
            if self._start:
                history = await self._replay(caught_up)
                if history:
                    yield WatchBatch(tuple(history), max(caught_up, history[-1].revision))
            self._delivered = max(caught_up, self._start - 1)
            async for batch in self._live():
                yield batch
        finally:
            self._hub._unregister(self)

    async def _replay(self, until: int) -> list[KVEvent]:
        if self._start > until:
            return []
        events = list(await self._hub._replay(self._key, self._prefix, self._start, until))
        if self._start < self._hub._compacted():
            # A compaction began while the history was read (backends record the compacted
            # revision before removing rows), so rows of that history may be missing.
            raise Expired(
                f"required revision {self._start} has been compacted",
                compacted_revision=self._hub._compacted(),
            )
        return events

    async def _live(self) -> AsyncIterator[WatchBatch]:
        while True:
            while self._pending:
                batch = self._pending.popleft()
                fresh = tuple(e for e in batch.events if e.revision > self._delivered)
                if fresh:
                    self._delivered = max(self._delivered, batch.revision)
                    yield WatchBatch(fresh, batch.revision)
            if self._ended is not None:
                if isinstance(self._ended, _Closed):
                    return
                raise self._ended
            if self._progress_requested:
                # Nothing is pending and the hub offers each commit to every watch before its
                # revision can be seen: every event up to the hub's revision has been delivered.
                self._progress_requested = False
                if self._hub.revision >= self._delivered:
                    self._delivered = self._hub.revision
                    yield WatchBatch((), self._delivered)
                continue
            self._wakeup.clear()
            if self._progress_interval is None:
                await self._wakeup.wait()
                continue
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation.
                async with asyncio.timeout(self._progress_interval):
                    await self._wakeup.wait()
            except TimeoutError:
                # A watch that starts beyond the store stays silent until the store gets there.
                caught_up = self._hub.revision >= self._delivered
                if caught_up and not self._pending and self._ended is None:
                    self._delivered = self._hub.revision
                    yield WatchBatch((), self._delivered)

    async def close(self) -> None:
        self._closed = True
        if self._ended is None:
            self._ended = _Closed()
        self._hub._unregister(self)
        self._wakeup.set()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class _Closed(Exception):
    """Marks a watch ended by close(): iteration stops quietly."""
