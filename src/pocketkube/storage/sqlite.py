"""The embedded datastore: etcd's key-value contract on one SQLite file, in the spirit of kine.

Three modules do the work: :mod:`~pocketkube.storage.sqlite_log` defines the log (one row per
write, the row id is the revision) and the read queries, :mod:`~pocketkube.storage.sqlite_writer`
appends and compacts on the writer thread, and :mod:`~pocketkube.storage.sqlite_commit` batches
every write onto that thread (group commit: one transaction and one fsync per batch, with
``synchronous=FULL`` so that acknowledged means on disk). This module puts them together:

- **Reads** run on a small pool of threads, each with its own connection; WAL lets them read a
  consistent snapshot beside the writer. Each read checks the requested revision against the
  compacted and the current revision *of its snapshot*.
- **Watches** come from the :class:`WatchHub`, fed with each batch after it commits and replaying
  history from the log.
- **Compaction** first records the compacted revision, then deletes rows in chunks, each chunk a
  transaction queued between write batches so writes keep flowing, then vacuums and truncates the
  WAL.
- A lock held by another process, a full disk or an I/O error turn into Unavailable after at most
  the busy timeout; nothing is retried behind the caller's back.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pocketkube.storage import sqlite_log
from pocketkube.storage.backend import KeyValue, KVEvent, ListResult, Watch
from pocketkube.storage.errors import Unavailable
from pocketkube.storage.localwatch import WatchHub
from pocketkube.storage.sqlite_commit import GroupCommitter
from pocketkube.storage.sqlite_writer import (
    BatchResult,
    Create,
    Delete,
    LogWriter,
    Update,
    unavailable,
)

T = TypeVar("T")

VACUUM_PAGES = 2048  # free pages given back per transaction after a compaction (8 MiB)


@dataclass(frozen=True, slots=True)
class SQLiteStatistics:
    """Counters since start(): ``transactions`` committed write batches serving ``writes``
    appended rows and ``rejected`` requests (conflicts and the like)."""

    transactions: int
    writes: int
    rejected: int
    failed_transactions: int
    largest_batch: int
    compactions: int
    compacted_rows: int
    checkpoints: int
    queued: int


class SQLiteBackend:
    name = "sqlite"

    def __init__(
        self,
        path: Path | str,
        *,
        synchronous: str = "FULL",
        busy_timeout: float = 2.0,
        readers: int = 4,
        max_batch: int = 1000,
        compaction_chunk: int = 2000,
        checkpoint_interval: float = 30.0,
        wal_limit_bytes: int = 16 << 20,
    ) -> None:
        synchronous = synchronous.upper()
        if synchronous not in sqlite_log.SYNCHRONOUS_MODES:
            raise ValueError(f"synchronous must be one of {sqlite_log.SYNCHRONOUS_MODES}")
        self.path = Path(path)
        self._synchronous = synchronous
        self._busy_timeout = busy_timeout
        self._readers = readers
        self._max_batch = max_batch
        self._compaction_chunk = compaction_chunk
        self._checkpoint_interval = checkpoint_interval
        self._wal_limit = wal_limit_bytes
        self.hub = WatchHub(replay=self._replay, compacted=lambda: self._compacted)
        self._revision = 0
        self._compacted = 0
        self._compact_done = 0
        self._compaction_lock = asyncio.Lock()
        self._start_lock = asyncio.Lock()
        self._writer: LogWriter | None = None
        self._committer: GroupCommitter | None = None
        self._reader_threads: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._reader_conns_lock = threading.Lock()
        self._stats: dict[str, int] = dict.fromkeys(SQLiteStatistics.__dataclass_fields__, 0)

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        async with self._start_lock:
            if self._committer is None:
                await self._start()

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        writer_thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        try:
            writer, header = await loop.run_in_executor(writer_thread, self._open)
        except BaseException:
            writer_thread.shutdown(wait=False)
            raise
        self._writer = writer
        self._revision = self.hub.revision = header.revision
        self._compacted = header.compacted
        self._compact_done = header.compact_done
        self._compaction_lock = asyncio.Lock()
        self._stats = dict.fromkeys(SQLiteStatistics.__dataclass_fields__, 0)
        self._reader_threads = ThreadPoolExecutor(self._readers, thread_name_prefix="sqlite-reader")
        self._committer = GroupCommitter(
            writer=writer,
            thread=writer_thread,
            publish=self._publish,
            stats=self._stats,
            max_batch=self._max_batch,
            checkpoint_interval=self._checkpoint_interval,
            wal_path=self.path.with_name(self.path.name + "-wal"),
            wal_limit_bytes=self._wal_limit,
        )

    def _open(self) -> tuple[LogWriter, sqlite_log.Header]:
        """Runs on the writer thread: create or open the file, and read where the log is."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not self.path.exists():
                sqlite_log.create_file(self.path)
            conn = sqlite_log.connect(
                self.path, busy_timeout=self._busy_timeout, synchronous=self._synchronous
            )
        except (OSError, sqlite3.Error) as err:
            raise Unavailable(f"cannot open {self.path}: {err}") from err
        try:
            sqlite_log.create_schema(conn, wal_limit_bytes=self._wal_limit)
            header = sqlite_log.read_header(conn)
        except sqlite3.Error as err:
            conn.close()
            raise unavailable(err, "open") from err
        return LogWriter(conn, revision=header.revision), header

    async def close(self) -> None:
        committer, self._committer = self._committer, None
        if committer is not None:
            await committer.stop()  # finishes the queued writes first
        self.hub.close_all()
        readers, self._reader_threads = self._reader_threads, None
        if readers is not None:
            await asyncio.get_running_loop().run_in_executor(None, readers.shutdown)
        with self._reader_conns_lock:
            conns, self._reader_conns = self._reader_conns, []
        for conn in conns:
            conn.close()
        self._local = threading.local()
        self._writer = None

    def statistics(self) -> SQLiteStatistics:
        queued = self._committer.queued if self._committer is not None else 0
        return SQLiteStatistics(**{**self._stats, "queued": queued})

    # -- reads -------------------------------------------------------------------------------
    async def current_revision(self) -> int:
        return self._revision

    async def compacted_revision(self) -> int:
        return self._compacted

    async def get(self, key: str, *, revision: int = 0) -> tuple[KeyValue | None, int]:
        return await self._read(lambda conn: sqlite_log.get(conn, key, revision))

    async def list(
        self, prefix: str, *, start_key: str = "", revision: int = 0, limit: int = 0
    ) -> ListResult:
        kvs, at, more = await self._read(
            lambda conn: sqlite_log.list_keys(conn, prefix, start_key, revision, limit)
        )
        return ListResult(kvs=kvs, revision=at, more=more)

    async def count(self, prefix: str, *, start_key: str = "", revision: int = 0) -> int:
        return await self._read(lambda conn: sqlite_log.count(conn, prefix, start_key, revision))

    async def _replay(self, key: str, prefix: bool, start: int, end: int) -> Sequence[KVEvent]:
        return await self._read(lambda conn: sqlite_log.replay(conn, key, prefix, start, end))

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._committer is None or self._reader_threads is None:
            raise Unavailable("the sqlite datastore is not running")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader_threads, self._read_in_thread, fn)

    def _read_in_thread(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        try:
            conn = self._reader_connection()
            conn.execute("BEGIN")  # one snapshot for the header check and the query
            try:
                return fn(conn)
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
        except sqlite3.Error as err:
            raise unavailable(err, "read") from err

    def _reader_connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite_log.connect(
                self.path, busy_timeout=self._busy_timeout, synchronous=self._synchronous
            )
            conn.execute("PRAGMA query_only = 1")
            conn.execute("PRAGMA cache_size = -8192")
            self._local.conn = conn
            with self._reader_conns_lock:
                self._reader_conns.append(conn)
        return conn

    # -- writes ------------------------------------------------------------------------------
    async def create(self, key: str, value: bytes) -> int:
        return (await self._running().write(Create(key, value))).revision

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> int:
        return (await self._running().write(Update(key, value, expected_revision))).revision

    async def delete(self, key: str, *, expected_revision: int = 0) -> tuple[int, KeyValue]:
        event = await self._running().write(Delete(key, expected_revision))
        assert event.prev is not None
        return event.revision, event.prev

    def _running(self) -> GroupCommitter:
        if self._committer is None:
            raise Unavailable("the sqlite datastore is not running")
        return self._committer

    def _publish(self, result: BatchResult) -> None:
        """Called by the committer after each COMMIT, before it answers the writers."""
        events = result.foreign + [o for o in result.outcomes if isinstance(o, KVEvent)]
        self._revision = max(self._revision, result.revision)
        if events:
            self.hub.publish(events, result.revision)

    # -- watch and compaction ----------------------------------------------------------------
    def watch(
        self,
        key: str,
        *,
        prefix: bool = True,
        start_revision: int = 0,
        progress_interval: float | None = None,
    ) -> Watch:
        return self.hub.watch(
            key, prefix=prefix, start_revision=start_revision, progress_interval=progress_interval
        )

    async def compact(self, revision: int) -> None:
        async with self._compaction_lock:
            committer, writer = self._running(), self._writer
            assert writer is not None
            target = min(revision, self._revision)
            if target > self._compacted:
                await committer.job(lambda: writer.record_compaction(target))
                self._compacted = target
            # Also finishes a compaction that an error or a crash interrupted.
            if self._compact_done >= self._compacted:
                return
            compacted, after, finished = self._compacted, 0, False
            while not finished:
                step = functools.partial(
                    writer.compact_step, compacted, after, self._compaction_chunk
                )
                after, deleted, finished = await committer.job(step)
                self._stats["compacted_rows"] += deleted
            await committer.job(lambda: writer.finish_compaction(compacted))
            self._compact_done = compacted
            self._stats["compactions"] += 1
            # Shrink the file in steps, so that writes go on between them, then empty the WAL.
            vacuum = functools.partial(writer.vacuum_step, VACUUM_PAGES)
            free = await committer.job(vacuum)
            while free:
                left = await committer.job(vacuum)
                if left >= free:  # nothing more to give back
                    break
                free = left
            if await committer.job(lambda: writer.checkpoint(truncate=True)):
                self._stats["checkpoints"] += 1
