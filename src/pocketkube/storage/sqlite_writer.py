"""The writing side of the SQLite log: one connection, used only from the single writer thread.

Every write of the backend passes through :meth:`LogWriter.commit`, which appends a whole batch
of requests in one transaction, so the batch costs one fsync however many writers it serves
(group commit). Each request still gets its own revision and its own compare-and-swap check, and
runs inside a SAVEPOINT, so a request that fails leaves the others of its batch intact. The
transaction takes the write lock up front (BEGIN IMMEDIATE), so the checks and the appends see the
same newest rows; the unique index on ``(name, prev_revision)`` backs the checks up should another
process ever write the same file.

SQLite errors become :class:`~pocketkube.storage.errors.Unavailable`: a lock another process
holds past the busy timeout, a full disk or an I/O error must never look like success, and the
writer must stay usable for the next batch once the cause is gone.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from pocketkube.storage import sqlite_log
from pocketkube.storage.backend import EventType, KeyValue, KVEvent
from pocketkube.storage.errors import (
    AlreadyExists,
    Conflict,
    NotFound,
    StorageError,
    Unavailable,
)

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 1


@dataclass(frozen=True, slots=True)
class Create:
    key: str
    value: bytes


@dataclass(frozen=True, slots=True)
class Update:
    key: str
    value: bytes
    expected_revision: int


@dataclass(frozen=True, slots=True)
class Delete:
    key: str
    expected_revision: int


WriteOp = Create | Update | Delete
Outcome = KVEvent | StorageError


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What one committed transaction did.

    ``foreign`` are rows that were already in the log beyond the revision this writer knew: a
    commit that reported an error yet reached the disk, or another process's writes. They must be
    published before ``outcomes`` so that watchers see no gap.
    """

    foreign: list[KVEvent]
    outcomes: list[Outcome]
    revision: int


def unavailable(err: sqlite3.Error, doing: str) -> Unavailable:
    return Unavailable(f"sqlite {doing} failed: {err}", retry_after_seconds=RETRY_AFTER_SECONDS)


NEWEST_SQL = """
SELECT id, deleted, create_revision, value FROM log WHERE name = ?
ORDER BY prev_revision DESC LIMIT 1
"""
INSERT_SQL = """
INSERT INTO log (id, name, created, deleted, create_revision, prev_revision, value)
VALUES (?, ?, ?, ?, ?, ?, ?)
"""
SET_META_SQL = "UPDATE meta SET value = MAX(value, ?) WHERE key = ?"
CHUNK_END_SQL = """
SELECT id FROM log WHERE id > :after AND id < :revision ORDER BY id LIMIT 1 OFFSET :skip
"""
# A row below the compacted revision goes if the row that replaced it is at or below that
# revision (it is superseded there), or if it is a tombstone (its key does not exist there). The
# row at the revision itself and everything later stay: the state reads at the revision still see.
COMPACT_SQL = """
DELETE FROM log WHERE id > :after AND id <= :last AND id < :revision AND (
    deleted = 1 OR EXISTS (
        SELECT 1 FROM log AS n
        WHERE n.name = log.name AND n.prev_revision = log.id AND n.id <= :revision
    )
)
"""


class LogWriter:
    """Appends to and compacts the log; see the module docstring. Not thread-safe by design:
    only the backend's one writer thread calls it."""

    def __init__(self, conn: sqlite3.Connection, *, revision: int) -> None:
        self._conn = conn
        self.revision = revision  # the newest revision this writer knows to be committed
        # Set when a transaction failed after it began: its COMMIT may have reached the disk
        # even though it reported an error, and the next commit will find out.
        self.uncertain = False

    # -- writes ----------------------------------------------------------------------------
    def commit(self, ops: Sequence[WriteOp]) -> BatchResult:
        """Apply ``ops`` in one transaction; raises Unavailable if nothing could be committed."""
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as err:
            raise unavailable(err, "write") from err
        try:
            seq = sqlite_log.read_header(conn).revision
            foreign: list[KVEvent] = []
            if seq > self.revision:
                log.warning(
                    "log has revisions %d..%d this writer did not commit", self.revision + 1, seq
                )
                foreign = sqlite_log.replay(conn, "", True, self.revision + 1, seq)
            revision = seq
            outcomes: list[Outcome] = []
            for op in ops:
                conn.execute("SAVEPOINT request")
                try:
                    event = self._apply(op, revision + 1)
                except (StorageError, sqlite3.IntegrityError) as err:
                    conn.execute("ROLLBACK TO request")
                    conn.execute("RELEASE request")
                    outcomes.append(_rejection(op, err))
                    continue
                conn.execute("RELEASE request")
                revision += 1
                outcomes.append(event)
            conn.execute("COMMIT")
        except sqlite3.Error as err:
            self.uncertain = True
            self._rollback()
            raise unavailable(err, "write") from err
        except BaseException:
            self.uncertain = True
            self._rollback()
            raise
        self.revision = revision
        self.uncertain = False
        return BatchResult(foreign, outcomes, revision)

    def _apply(self, op: WriteOp, revision: int) -> KVEvent:
        row = self._conn.execute(NEWEST_SQL, (op.key,)).fetchone()
        live = row is not None and not row[1]
        if isinstance(op, Create):
            if live:
                raise AlreadyExists(f"key {op.key} already exists", key=op.key)
            prev_revision = row[0] if row is not None else 0
            self._insert(revision, op.key, 1, 0, revision, prev_revision, op.value)
            return KVEvent(EventType.PUT, KeyValue(op.key, op.value, revision, revision))
        if not live:
            raise NotFound(f"key {op.key} not found", key=op.key)
        current = KeyValue(op.key, row[3], row[2], row[0])
        if op.expected_revision and current.mod_revision != op.expected_revision:
            raise Conflict(
                f"key {op.key} is at revision {current.mod_revision}, not {op.expected_revision}",
                key=op.key,
                current=current,
            )
        create_revision = current.create_revision
        if isinstance(op, Update):
            self._insert(revision, op.key, 0, 0, create_revision, current.mod_revision, op.value)
            kv = KeyValue(op.key, op.value, create_revision, revision)
            return KVEvent(EventType.PUT, kv, current)
        self._insert(revision, op.key, 0, 1, create_revision, current.mod_revision, current.value)
        tombstone = KeyValue(op.key, b"", create_revision, revision)
        return KVEvent(EventType.DELETE, tombstone, current)

    def _insert(self, *row: int | str | bytes) -> None:
        self._conn.execute(INSERT_SQL, row)

    def _rollback(self) -> None:
        # An I/O error or a full disk may already have rolled the transaction back.
        if self._conn.in_transaction:
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.Error:
                log.exception("rollback failed")

    # -- compaction --------------------------------------------------------------------------
    def record_compaction(self, revision: int) -> None:
        """Make reads below ``revision`` Expired; done before any row is deleted, so a read
        never sees history with holes in it."""
        self._set_meta("compacted", revision)

    def compact_step(self, revision: int, after: int, chunk: int) -> tuple[int, int, bool]:
        """Delete what compaction at ``revision`` removes among the next ``chunk`` rows after
        ``after``: returns (last id examined, rows deleted, finished)."""
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            params = {"after": after, "revision": revision, "skip": chunk - 1}
            row = conn.execute(CHUNK_END_SQL, params).fetchone()
            last = int(row[0]) if row is not None else revision - 1
            deleted = conn.execute(COMPACT_SQL, {**params, "last": last}).rowcount
            conn.execute("COMMIT")
        except sqlite3.Error as err:
            self._rollback()
            raise unavailable(err, "compaction") from err
        return last, deleted, last >= revision - 1

    def finish_compaction(self, revision: int) -> None:
        """Record that every row compaction at ``revision`` removes is gone."""
        self._set_meta("compact_done", revision)

    def vacuum_step(self, pages: int) -> int:
        """Hand up to ``pages`` free pages back to the file system; how many remain free.
        Best effort: a failure only leaves the file larger until the next compaction."""
        try:
            # executescript steps the pragma to the end; execute() would free a single page.
            self._conn.executescript(f"PRAGMA incremental_vacuum({int(pages)})")
            return int(self._conn.execute("PRAGMA freelist_count").fetchone()[0])
        except sqlite3.Error as err:
            log.warning("incremental vacuum failed: %s", err)
            self._rollback()
            return 0

    def _set_meta(self, key: str, value: int) -> None:
        try:
            self._conn.execute(SET_META_SQL, (value, key))
        except sqlite3.Error as err:
            self._rollback()
            raise unavailable(err, "compaction") from err

    # -- housekeeping ------------------------------------------------------------------------
    def checkpoint(self, *, truncate: bool) -> bool:
        """Copy the WAL into the database; with ``truncate`` also empty the WAL file. Returns
        whether the checkpoint completed (readers may hold it back; it is retried later)."""
        mode = "TRUNCATE" if truncate else "PASSIVE"
        try:
            busy, _, _ = self._conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        except sqlite3.Error as err:
            log.warning("WAL checkpoint failed: %s", err)
            return False
        return not busy

    def close(self) -> None:
        self._conn.close()


def _rejection(op: WriteOp, err: StorageError | sqlite3.IntegrityError) -> StorageError:
    if isinstance(err, StorageError):
        return err
    # Only another process writing the same key between our check and our insert gets here.
    return Conflict(f"key {op.key} was written concurrently", key=op.key)
