"""Group commit: every write of the SQLite backend, batched onto its one writer thread.

Writers queue requests in the event loop; one task takes everything queued and hands it to the
writer thread as one transaction (:meth:`LogWriter.commit`), so a batch costs one fsync however
many writers it serves. While a batch commits the next one gathers, so the more concurrent
writers, the larger the batches. After COMMIT the batch's events go to the watch hub, in revision
order, and only then are the writers answered: a watcher never misses a write whose client has
already seen it acknowledged.

Maintenance (compaction chunks, vacuum, checkpoints) runs as jobs on the same thread, one between
two batches, so it never holds writes up for long.

A batch SQLite refuses (lock held elsewhere past the busy timeout, full disk, I/O error) fails
with Unavailable together with everything queued behind it, since those would only wait as long
again; the next batch starts afresh. If a failed transaction may still have reached the disk, an
empty batch soon after publishes whatever it finds in the log beyond what watchers were sent.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pocketkube.storage.backend import KVEvent
from pocketkube.storage.errors import StorageError, Unavailable
from pocketkube.storage.sqlite_writer import (
    RETRY_AFTER_SECONDS,
    BatchResult,
    LogWriter,
    Outcome,
    WriteOp,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

RESYNC_SECONDS = 1.0  # after a failed commit, how soon to look for rows it wrote all the same


@dataclass(slots=True)
class _Pending:
    op: WriteOp
    future: asyncio.Future[KVEvent]


@dataclass(slots=True)
class _Job:
    fn: Callable[[], Any]
    future: asyncio.Future[Any]


class GroupCommitter:
    """Owns the writer thread and its connection from start() to stop()."""

    def __init__(
        self,
        *,
        writer: LogWriter,
        thread: ThreadPoolExecutor,
        publish: Callable[[BatchResult], None],
        stats: dict[str, int],
        max_batch: int,
        checkpoint_interval: float,
        wal_path: Path,
        wal_limit_bytes: int,
    ) -> None:
        self._writer = writer
        self._thread = thread
        self._publish = publish
        self._stats = stats
        self._max_batch = max_batch
        self._checkpoint_interval = checkpoint_interval
        self._wal_path = wal_path
        self._wal_limit = wal_limit_bytes
        self._writes: collections.deque[_Pending] = collections.deque()
        self._jobs: collections.deque[_Job] = collections.deque()
        self._wakeup = asyncio.Event()
        self._accepting = True
        self._resync = False
        self._last_checkpoint = time.monotonic()
        self._task = asyncio.create_task(self._loop(), name="sqlite-writer")

    @property
    def queued(self) -> int:
        return len(self._writes)

    async def stop(self) -> None:
        """Refuse new requests, finish the queued ones, then close the connection."""
        self._accepting = False
        self._wakeup.set()
        try:
            await self._task
        except Exception:
            log.exception("the sqlite writer task failed")
        loop = asyncio.get_running_loop()
        # Closing the last connection checkpoints the WAL into the database and removes it.
        await loop.run_in_executor(self._thread, self._writer.close)
        self._thread.shutdown()

    async def write(self, op: WriteOp) -> KVEvent:
        if not self._accepting or self._task.done():
            raise Unavailable("the sqlite datastore is not running")
        future: asyncio.Future[KVEvent] = asyncio.get_running_loop().create_future()
        self._writes.append(_Pending(op, future))
        self._wakeup.set()
        return await future

    async def job(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the writer thread between two write batches."""
        if not self._accepting or self._task.done():
            raise Unavailable("the sqlite datastore is not running")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._jobs.append(_Job(fn, future))
        self._wakeup.set()
        return await future

    # -- the writer task ---------------------------------------------------------------------
    async def _loop(self) -> None:
        while True:
            if self._writes or self._jobs:
                try:
                    await self._serve()
                except Exception:  # a bug: log it, but never leave writers waiting forever
                    log.exception("sqlite writer loop failed")
                continue
            if not self._accepting:
                return
            self._wakeup.clear()
            if not self._resync:
                await self._wakeup.wait()
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RESYNC_SECONDS):
                    await self._wakeup.wait()
            if not self._writes and self._accepting:
                await self._commit([])

    async def _serve(self) -> None:
        if self._writes:
            count = min(len(self._writes), self._max_batch)
            await self._commit([self._writes.popleft() for _ in range(count)])
            # Let the writers just answered queue their next write, so it joins the next
            # batch instead of waiting a whole commit for the one after.
            await asyncio.sleep(0)
        if self._jobs:
            await self._run_job(self._jobs.popleft())
        if time.monotonic() - self._last_checkpoint >= self._checkpoint_interval:
            await self._checkpoint()

    async def _in_thread(self, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        # Shielded: once a transaction is handed to the thread, its outcome must be published.
        return await asyncio.shield(loop.run_in_executor(self._thread, fn))

    async def _commit(self, queued: Sequence[_Pending]) -> None:
        batch = [p for p in queued if not p.future.done()]  # callers that gave up before
        if queued and not batch:
            return
        writer = self._writer
        try:
            result = await self._in_thread(lambda: writer.commit([p.op for p in batch]))
        except Unavailable as err:
            self._fail(batch, err)
            return
        except Exception as err:  # a bug; keep the writer alive for the next batch
            log.exception("sqlite write batch failed")
            self._fail(batch, Unavailable(f"sqlite write failed: {err!r}"))
            return
        self._resync = False
        self._publish(result)
        stats = self._stats
        stats["transactions"] += bool(batch)
        stats["largest_batch"] = max(stats["largest_batch"], len(batch))
        for pending, outcome in zip(batch, result.outcomes, strict=True):
            _resolve(pending.future, outcome)
            stats["writes" if isinstance(outcome, KVEvent) else "rejected"] += 1

    def _fail(self, batch: Sequence[_Pending], err: Unavailable) -> None:
        self._stats["failed_transactions"] += 1
        self._resync = self._writer.uncertain
        queued, self._writes = self._writes, collections.deque()
        for pending in (*batch, *queued):
            _resolve(
                pending.future, Unavailable(err.message, retry_after_seconds=RETRY_AFTER_SECONDS)
            )

    async def _run_job(self, job: _Job) -> None:
        try:
            result = await self._in_thread(job.fn)
        except Exception as err:
            if not job.future.done():
                job.future.set_exception(err)
            return
        if not job.future.done():
            job.future.set_result(result)

    async def _checkpoint(self) -> None:
        """Keep the WAL bounded: SQLite checkpoints every 1,000 pages by itself, but only a
        truncating checkpoint gives the space back, and readers can hold the automatic ones off."""
        self._last_checkpoint = time.monotonic()
        try:
            big = self._wal_path.stat().st_size > self._wal_limit
        except OSError:
            return
        writer = self._writer
        if await self._in_thread(lambda: writer.checkpoint(truncate=big)):
            self._stats["checkpoints"] += 1


def _resolve(future: asyncio.Future[KVEvent], outcome: Outcome) -> None:
    if future.done():
        return
    if isinstance(outcome, StorageError):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
