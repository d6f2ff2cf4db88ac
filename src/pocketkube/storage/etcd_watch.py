"""Watches on etcd: one gRPC Watch stream per watch, turned into the contract's WatchBatches.

Each :class:`EtcdWatch` owns one bidirectional stream carrying one etcd watcher (start revision
inclusive, ``prev_kv`` on) and one reader task, which it cancels and awaits on ``close()``; a read
cannot be abandoned half way without cancelling the whole gRPC call, hence the dedicated task.

Progress notifications need care. A batch with no events promises that every event at or below
its revision has been delivered, but etcd 3.4 answers a progress request from the stream's control
channel with its current revision whatever the watcher has been sent (etcd issue 15220, fixed in
later releases). The answer can overtake two kinds of events:

- events already queued for a watcher that is in sync (in etcd's "synced" group);
- events not yet sent to a watcher that is catching up. A watcher whose start revision is not
  beyond etcd's revision when it is registered starts out of sync and is caught up by a loop that
  runs every 100 ms (later when etcd is busy), which sends nothing if nothing in the range
  changed. The created response cannot tell: its header is the revision etcd read *before*
  registering the watcher, so a write landing in between leaves a watcher that seems to start
  after the head catching up, its events some 100 ms away.

So a watch counts as in sync only once it has received a batch of events spanning fewer revisions
than etcd's catch-up limit (:data:`CATCH_UP_REVISIONS`): etcd sends such a batch only to a watcher
in sync, or as the catch-up batch that puts the watcher in sync. Until then (a quiet range) a
progress notification, idle or requested, is checked against the store instead of asked for: one
read-only transaction tells whether the range still holds as many keys as at the last revision
delivered and none written since (:meth:`EtcdBackend.unchanged_since
<pocketkube.storage.etcd.EtcdBackend.unchanged_since>`), and only then is its revision yielded;
otherwise the events are on their way, and the watch looks again :data:`CHECK_RETRY_SECONDS`
later. (A key created and deleted again since then leaves no trace to find; should its events
follow the notification, they are yielded late, with a warning, and the watch cache relists.) Once
in sync, an idle watch:

1. asks for progress and notes the revision R it is told;
2. asks again, and only when that second answer arrives yields the empty batch at R: etcd's send
   loop has drained whatever was queued before the first answer by the time the second request
   reaches it, and the stream delivers in order.

``request_progress()`` does the same at once instead of after ``progress_interval`` of quiet.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import AsyncIterator
from types import TracebackType
from typing import TYPE_CHECKING, Final, Self

from pocketkube.storage.backend import WatchBatch
from pocketkube.storage.errors import Expired, StorageError, TooLargeResourceVersion, Unavailable
from pocketkube.storage.etcd_rpc import WatchReply, WatchStream

if TYPE_CHECKING:
    from pocketkube.storage.etcd import EtcdBackend

log = logging.getLogger(__name__)

# etcd's watchBatchMaxRevs: a catch-up response spanning this many revisions may have more behind.
CATCH_UP_REVISIONS = 1000
CHECK_RETRY_SECONDS = 0.1  # the period of etcd's loop that catches watchers up
DEFAULT_MAX_PENDING = 10_000


class _Idle:
    """What waiting for a reply returns when its timeout passed first."""


class _Nudged:
    """What waiting for a reply returns when a progress request interrupted it."""


IDLE: Final = _Idle()
NUDGED: Final = _Nudged()


class EtcdWatch:
    """One etcd watch; see :class:`pocketkube.storage.backend.Watch`."""

    def __init__(
        self,
        *,
        backend: EtcdBackend,
        key: bytes,
        range_end: bytes,
        start_revision: int,
        progress_interval: float | None,
        max_pending: int = DEFAULT_MAX_PENDING,
    ) -> None:
        self._backend = backend
        self._key = key
        self._range_end = range_end
        self._start = start_revision
        self._interval = progress_interval
        self._max_pending = max_pending
        self._pending: collections.deque[WatchReply] = collections.deque()
        self._wakeup = asyncio.Event()
        self._failure: StorageError | None = None
        self._closed = False
        self._iterated = False
        self._progress_requested = False
        self._counted: tuple[int, int] | None = None  # (revision, keys in the range then)
        self._stream: WatchStream | None = None
        self._reader: asyncio.Task[None] | None = None

    def __aiter__(self) -> AsyncIterator[WatchBatch]:
        if self._iterated:
            raise RuntimeError("an etcd watch can be iterated only once")
        self._iterated = True
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[WatchBatch]:
        if self._closed:
            return
        self._backend._watch_opened(self)
        try:
            stream = self._stream = self._backend.rpc.watch_stream()
            self._reader = asyncio.create_task(self._read(stream))
            await stream.create(self._key, self._range_end, start_revision=self._start)
            async for batch in self._batches(stream):
                yield batch
        except Unavailable:
            if not self._closed:
                raise
        finally:
            await self._shutdown()

    async def _batches(self, stream: WatchStream) -> AsyncIterator[WatchBatch]:
        loop = asyncio.get_running_loop()
        created = False
        in_sync = False  # etcd surely has the watcher in its synced group (module docstring)
        delivered = max(self._start - 1, 0)  # every event at or below it has been yielded
        unchanged = 0  # a revision the range was checked unchanged at, to yield once idle
        probes = 0  # progress requests in flight: the first, then the confirming one
        probe_revision = 0
        probe_deadline = 0.0
        quiet_since = not_before = loop.time()
        while True:
            within: float | None = None
            if probes:
                within = probe_deadline - loop.time()
            elif unchanged:
                within = 0.0  # after the replies already received
            elif created and self._progress_requested:
                within = not_before - loop.time()
            elif created and self._interval is not None:
                within = max(quiet_since + self._interval, not_before) - loop.time()
            reply = await self._next(within)
            if reply is None:
                return
            if isinstance(reply, _Nudged):
                continue
            if isinstance(reply, _Idle):
                if probes:
                    raise Unavailable("etcd did not answer a watch progress request in time")
                if unchanged:
                    delivered, unchanged = max(delivered, unchanged), 0
                    yield WatchBatch((), delivered)
                    quiet_since = loop.time()
                    continue
                # A request made from now on may need a later revision than this probe's.
                requested, self._progress_requested = self._progress_requested, False
                if in_sync:
                    await stream.request_progress()
                    probes, probe_deadline = 1, loop.time() + self._backend.timeout
                    continue
                unchanged = await self._unchanged_since(delivered)
                if not unchanged:  # events are on their way: look again after etcd's next round
                    self._progress_requested = self._progress_requested or requested
                    not_before = loop.time() + CHECK_RETRY_SECONDS
                continue
            if reply.canceled:
                raise self._cancellation(reply)
            if reply.created:
                created, quiet_since = True, loop.time()
                if not self._start:
                    delivered = reply.revision
                continue
            if reply.events:
                revision = reply.events[-1].revision
                if len({event.revision for event in reply.events}) < CATCH_UP_REVISIONS:
                    in_sync = True
                if revision <= delivered:
                    log.warning("etcd delivered revision %d after progress %d", revision, delivered)
                delivered = max(delivered, revision)
                yield WatchBatch(reply.events, revision)
                quiet_since = loop.time()
                continue
            if not reply.progress or not probes:
                continue
            if probes == 1:
                probes, probe_revision = 2, reply.revision
                probe_deadline = loop.time() + self._backend.timeout
                await stream.request_progress()
                continue
            probes = 0
            delivered = max(delivered, probe_revision)
            yield WatchBatch((), delivered)
            quiet_since = loop.time()

    async def _unchanged_since(self, delivered: int) -> int:
        """The store's current revision if nothing in the range changed after ``delivered``,
        else 0 (also while ``delivered`` is still in the future)."""
        counted = self._counted
        if counted is not None and counted[0] == delivered:
            count = counted[1]
        else:
            try:
                count = await self._backend.range_count(self._key, self._range_end, delivered)
            except TooLargeResourceVersion:
                return 0
        current = await self._backend.unchanged_since(self._key, self._range_end, delivered, count)
        if current:
            self._counted = (current, count)
        return current

    def _cancellation(self, reply: WatchReply) -> StorageError:
        if reply.compact_revision:
            self._backend._saw_compaction(reply.compact_revision)
            return Expired(
                f"required revision {self._start} has been compacted",
                compacted_revision=reply.compact_revision,
            )
        return Unavailable(f"etcd canceled the watch: {reply.cancel_reason or 'no reason given'}")

    async def _next(self, within: float | None) -> WatchReply | _Idle | _Nudged | None:
        """The next reply; IDLE if ``within`` seconds pass first; NUDGED if request_progress()
        came first; None once closed."""
        while True:
            if self._closed:
                return None
            if self._pending:
                return self._pending.popleft()
            if self._failure is not None:
                raise self._failure
            if within is not None and within <= 0:
                return IDLE
            self._wakeup.clear()
            try:
                async with asyncio.timeout(within):
                    await self._wakeup.wait()
            except TimeoutError:
                return IDLE
            if not (self._pending or self._closed or self._failure is not None):
                return NUDGED

    def request_progress(self) -> None:
        self._progress_requested = True
        self._wakeup.set()

    async def _read(self, stream: WatchStream) -> None:
        try:
            while True:
                reply = await stream.read()
                if reply is None:
                    raise Unavailable("etcd ended the watch stream")
                if len(self._pending) >= self._max_pending:
                    raise Unavailable("watch dropped: the consumer fell too far behind")
                self._pending.append(reply)
                self._wakeup.set()
        except StorageError as err:
            self._failure = err
        except Exception as err:
            self._failure = Unavailable(f"the etcd watch failed: {err!r}")
        self._wakeup.set()
        stream.cancel()

    async def _shutdown(self) -> None:
        self._backend._watch_closed(self)
        if self._stream is not None:
            self._stream.cancel()
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            await asyncio.wait([reader])

    async def close(self) -> None:
        self._closed = True
        self._wakeup.set()
        await self._shutdown()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
