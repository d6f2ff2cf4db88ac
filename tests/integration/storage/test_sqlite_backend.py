"""The SQLite backend at the key-value level: group commit, compare-and-swap errors, reads in the
past, compaction (checked against the in-memory reference), watch replay and reopening."""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pocketkube.storage.backend import Backend, EventType, KeyValue, KVEvent
from pocketkube.storage.errors import (
    AlreadyExists,
    Conflict,
    Expired,
    NotFound,
    StorageError,
    TooLargeResourceVersion,
    Unavailable,
)
from pocketkube.storage.memory import MemoryBackend
from pocketkube.storage.sqlite import SQLiteBackend


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[SQLiteBackend]:
    backend = SQLiteBackend(tmp_path / "db.sqlite")
    await backend.start()
    try:
        yield backend
    finally:
        await backend.close()


def file_size(path: Path) -> int:
    return os.stat(path).st_size


async def events_until(backend: Backend, key: str, start: int, last: int) -> list[KVEvent]:
    """Every event under ``key`` from ``start`` until the watch reaches revision ``last``."""
    events: list[KVEvent] = []
    if start > last:
        return events
    watch = backend.watch(key, start_revision=start, progress_interval=0.02)
    async with asyncio.timeout(10), watch:
        async for batch in watch:
            events.extend(batch.events)
            if batch.revision >= last:
                return events
    raise AssertionError("watch ended early")


# -- the basics ----------------------------------------------------------------------------------
async def test_writes_and_their_errors(db: SQLiteBackend) -> None:
    r1 = await db.create("/k/a", b"1")
    with pytest.raises(AlreadyExists):
        await db.create("/k/a", b"again")
    r2 = await db.update("/k/a", b"2", expected_revision=r1)
    with pytest.raises(Conflict) as conflict:
        await db.update("/k/a", b"stale", expected_revision=r1)
    assert conflict.value.current == KeyValue("/k/a", b"2", r1, r2)
    with pytest.raises(NotFound):
        await db.update("/k/missing", b"x", expected_revision=1)
    with pytest.raises(Conflict):
        await db.delete("/k/a", expected_revision=r1)
    r3, deleted = await db.delete("/k/a", expected_revision=r2)
    assert deleted == KeyValue("/k/a", b"2", r1, r2)
    with pytest.raises(NotFound):
        await db.delete("/k/a")
    r4 = await db.create("/k/a", b"reborn")
    assert [r1, r2, r3, r4] == [1, 2, 3, 4]
    kv, at = await db.get("/k/a")
    assert (kv, at) == (KeyValue("/k/a", b"reborn", r4, r4), r4)
    assert await db.current_revision() == r4
    stats = db.statistics()
    assert (stats.writes, stats.rejected) == (4, 5)


async def test_reads_in_the_past_and_the_future(db: SQLiteBackend) -> None:
    r1 = await db.create("/k/a", b"1")
    r2 = await db.create("/k/b", b"1")
    r3 = await db.update("/k/a", b"2", expected_revision=r1)
    r4, _ = await db.delete("/k/b")
    assert (await db.get("/k/a", revision=r2))[0] == KeyValue("/k/a", b"1", r1, r1)
    assert (await db.get("/k/b", revision=r4))[0] is None
    page = await db.list("/k/", revision=r3)
    assert [(kv.key, kv.value) for kv in page.kvs] == [("/k/a", b"2"), ("/k/b", b"1")]
    assert page.revision == r3
    page = await db.list("/k/")
    assert [kv.key for kv in page.kvs] == ["/k/a"]
    assert page.revision == r4
    assert await db.count("/k/") == 1
    with pytest.raises(TooLargeResourceVersion):
        await db.get("/k/a", revision=r4 + 1)
    with pytest.raises(TooLargeResourceVersion):
        await db.list("/k/", revision=r4 + 1)


async def test_list_pages(db: SQLiteBackend) -> None:
    await asyncio.gather(*(db.create(f"/k/{i:03d}", b"v") for i in range(25)))
    await db.create("/other/x", b"v")
    keys: list[str] = []
    start = ""
    revision = 0
    while True:
        page = await db.list("/k/", start_key=start, limit=10, revision=revision)
        revision = page.revision
        keys += [kv.key for kv in page.kvs]
        if not page.more:
            break
        start = page.kvs[-1].key + "\0"
    assert keys == [f"/k/{i:03d}" for i in range(25)]
    assert len((await db.list("", limit=0)).kvs) == 26


async def test_file_is_private(db: SQLiteBackend) -> None:
    await db.create("/k/a", b"secret")
    for path in (db.path, db.path.with_name(db.path.name + "-wal")):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path


async def test_unavailable_before_start_and_after_close(tmp_path: Path) -> None:
    backend = SQLiteBackend(tmp_path / "db.sqlite")
    with pytest.raises(Unavailable):
        await backend.create("/k/a", b"1")
    with pytest.raises(Unavailable):
        await backend.get("/k/a")
    await backend.start()
    await backend.start()  # idempotent
    await backend.create("/k/a", b"1")
    await backend.close()
    with pytest.raises(Unavailable):
        await backend.create("/k/b", b"1")
    with pytest.raises(Unavailable):
        await backend.list("/k/")


# -- group commit --------------------------------------------------------------------------------
async def test_concurrent_writes_share_transactions(db: SQLiteBackend) -> None:
    revisions = await asyncio.gather(*(db.create(f"/k/{i}", b"x" * 2048) for i in range(200)))
    assert sorted(revisions) == list(range(1, 201))
    stats = db.statistics()
    assert stats.writes == 200
    assert stats.transactions < 20, stats
    assert stats.largest_batch > 10


async def test_one_failure_does_not_undo_its_batch(db: SQLiteBackend) -> None:
    r = await db.create("/k/a", b"0")
    results = await asyncio.gather(
        db.update("/k/a", b"first", expected_revision=r),
        db.update("/k/a", b"second", expected_revision=r),
        db.create("/k/a", b"exists"),
        db.create("/k/b", b"new"),
        return_exceptions=True,
    )
    assert isinstance(results[0], int)
    assert isinstance(results[1], Conflict)
    assert results[1].current == KeyValue("/k/a", b"first", r, results[0])
    assert isinstance(results[2], AlreadyExists)
    assert isinstance(results[3], int)
    assert (await db.get("/k/b"))[0] is not None
    assert db.statistics().transactions == 2


async def test_a_cancelled_writer_does_not_break_the_batch(db: SQLiteBackend) -> None:
    slow = [asyncio.create_task(db.create(f"/k/{i}", b"x")) for i in range(20)]
    slow[3].cancel()
    done = await asyncio.gather(*slow, return_exceptions=True)
    assert isinstance(done[3], asyncio.CancelledError)
    assert all(isinstance(r, int) for i, r in enumerate(done) if i != 3)
    assert await db.count("/k/") in (19, 20)  # the cancelled one may have been committed


async def test_watchers_see_a_write_before_its_writer_does(db: SQLiteBackend) -> None:
    seen: list[int] = []
    async with db.watch("/k/") as watch:

        async def consume() -> None:
            async for batch in watch:
                seen.extend(e.revision for e in batch.events)

        task = asyncio.create_task(consume())
        await asyncio.sleep(0)
        for i in range(5):
            revision = await db.create(f"/k/{i}", b"x")
            await asyncio.sleep(0)
            assert seen[-1] == revision
        task.cancel()


async def test_two_backends_on_one_file_stay_consistent(tmp_path: Path) -> None:
    """Not how pocketkube runs, but the log must not be corrupted if it happens: writes are
    checked inside the write lock, and each backend publishes the other's writes it finds."""
    first = SQLiteBackend(tmp_path / "db.sqlite")
    second = SQLiteBackend(tmp_path / "db.sqlite")
    await first.start()
    await second.start()
    try:
        r1 = await first.create("/k/a", b"1")
        with pytest.raises(AlreadyExists):
            await second.create("/k/a", b"other")
        r2 = await second.update("/k/a", b"2", expected_revision=r1)
        with pytest.raises(Conflict) as conflict:
            await first.update("/k/a", b"stale", expected_revision=r1)
        assert conflict.value.current == KeyValue("/k/a", b"2", r1, r2)
        r3 = await first.update("/k/a", b"3", expected_revision=r2)
        assert [r1, r2, r3] == [1, 2, 3]
        # first learnt of r2 when it committed r3, and published it in order.
        events = await events_until(first, "/k/", 1, r3)
        assert [e.revision for e in events] == [r1, r2, r3]
    finally:
        await first.close()
        await second.close()


async def test_periodic_checkpoints_keep_the_wal_small(tmp_path: Path) -> None:
    db = SQLiteBackend(tmp_path / "db.sqlite", checkpoint_interval=0.0, wal_limit_bytes=0)
    await db.start()
    try:
        for i in range(20):
            await db.create(f"/k/{i}", b"x" * 4096)
        assert db.statistics().checkpoints > 0
        assert file_size(tmp_path / "db.sqlite-wal") < 64 * 1024
    finally:
        await db.close()


# -- errors from SQLite itself -------------------------------------------------------------------
class FailingConnection:
    """Wraps the writer's connection and fails COMMIT (after or instead of doing it)."""

    def __init__(self, conn: sqlite3.Connection, *, commit_first: bool) -> None:
        self.conn = conn
        self.commit_first = commit_first
        self.armed = True

    def execute(self, sql: str, *args: Any) -> Any:
        if sql == "COMMIT" and self.armed:
            self.armed = False
            if self.commit_first:
                self.conn.execute(sql)
            raise sqlite3.OperationalError("disk I/O error")
        return self.conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)


@pytest.mark.parametrize("commit_first", [False, True], ids=["lost", "committed-anyway"])
async def test_a_failed_commit_is_unavailable_and_watchers_miss_nothing(
    db: SQLiteBackend, commit_first: bool
) -> None:
    await db.create("/k/a", b"1")
    writer = db._writer
    assert writer is not None
    writer._conn = FailingConnection(writer._conn, commit_first=commit_first)  # type: ignore[assignment]
    events: list[KVEvent] = []
    async with db.watch("/k/", start_revision=1) as watch:
        it = aiter(watch)
        events.extend((await anext(it)).events)
        with pytest.raises(Unavailable):
            await db.create("/k/b", b"2")
        if commit_first:
            # With no further write, the backend still finds and publishes what reached the
            # disk, soon after the failure.
            async with asyncio.timeout(5):
                events.extend((await anext(it)).events)
        revision = await db.create("/k/c", b"3")
        async with asyncio.timeout(5):
            while events[-1].revision < revision:
                events.extend((await anext(it)).events)
    keys = [e.kv.key for e in events]
    assert keys == (["/k/a", "/k/b", "/k/c"] if commit_first else ["/k/a", "/k/c"])
    assert [e.revision for e in events] == list(range(1, len(events) + 1))
    assert db.statistics().failed_transactions == 1
    kv, _ = await db.get("/k/b")
    assert (kv is not None) == commit_first


# -- compaction ----------------------------------------------------------------------------------
async def test_compaction_keeps_the_state_at_its_revision(tmp_path: Path) -> None:
    db = SQLiteBackend(tmp_path / "db.sqlite", compaction_chunk=2)
    await db.start()
    try:
        r1 = await db.create("/k/a", b"1")
        await db.update("/k/a", b"2", expected_revision=r1)
        r3 = await db.create("/k/gone", b"x")
        r4, _ = await db.delete("/k/gone")
        await db.create("/k/c", b"c")
        await db.compact(r4)
        assert await db.compacted_revision() == r4
        with pytest.raises(Expired):
            await db.get("/k/a", revision=r3)
        page = await db.list("/k/", revision=r4)
        assert [(kv.key, kv.value) for kv in page.kvs] == [("/k/a", b"2")]
        events = await events_until(db, "/k/", r4, r4 + 1)
        assert [(e.type, e.kv.key) for e in events] == [
            (EventType.DELETE, "/k/gone"),
            (EventType.PUT, "/k/c"),
        ]
        with pytest.raises(Expired):
            await events_until(db, "/k/", r3, r4)
        await db.compact(r4 + 1)
        await db.create("/k/gone", b"again")  # re-create once the tombstone is gone
        stats = db.statistics()
        assert stats.compactions == 2
        assert stats.compacted_rows == 3  # a@1, gone@3 and its tombstone
    finally:
        await db.close()
    with sqlite3.connect(tmp_path / "db.sqlite") as conn:
        rows = conn.execute("SELECT id, name FROM log ORDER BY id").fetchall()
    assert rows == [(2, "/k/a"), (5, "/k/c"), (6, "/k/gone")]


Op = tuple[Any, ...]


def random_ops(rng: random.Random, count: int) -> list[Op]:
    keys = [f"/k/{name}" for name in "abcdefg"] + ["/kx", "/k/a/sub"]
    ops: list[Op] = []
    for _ in range(count):
        roll = rng.random()
        key = rng.choice(keys)
        if roll < 0.3:
            ops.append(("create", key, rng.randbytes(rng.randrange(0, 64))))
        elif roll < 0.6:
            ops.append(("update", key, rng.randbytes(8), rng.choice(["right", "stale", "any"])))
        elif roll < 0.72:
            ops.append(("delete", key, rng.choice(["right", "stale", "any"])))
        elif roll < 0.76:
            ops.append(("compact", rng.random() * 0.7))
        else:
            ops.append(("read", key, rng.random(), rng.randrange(0, 4)))
    return ops


async def apply(backend: Backend, op: Op) -> Any:
    """Run one op; the outcome, with errors reduced to what must be equal across backends."""
    try:
        current = await backend.current_revision()
        kind = op[0]
        if kind in ("update", "delete"):
            kv, _ = await backend.get(op[1])
            live = kv.mod_revision if kv is not None else 1
            expected = {"right": live, "stale": max(live - 1, 1), "any": 0}[op[-1]]
            if kind == "update":
                return await backend.update(op[1], op[2], expected_revision=expected or live)
            return await backend.delete(op[1], expected_revision=expected)
        if kind == "create":
            return await backend.create(op[1], op[2])
        if kind == "compact":
            compacted = await backend.compacted_revision()
            await backend.compact(compacted + round(op[1] * (current - compacted)))
            return await backend.compacted_revision()
        revision = round(op[2] * (current + 2))  # also below the compacted one and in the future
        limit = op[3]
        page = await backend.list("/k/", start_key=op[1], revision=revision, limit=limit)
        got = await backend.get(op[1], revision=revision)
        return page, got, await backend.count("/k/"), await backend.count("")
    except StorageError as err:
        return type(err), getattr(err, "current", None)


def same_event(sqlite_event: KVEvent, memory_event: KVEvent, compacted: int) -> bool:
    if sqlite_event.prev is None and memory_event.prev is not None:
        # SQLite loses the previous value once compaction deleted its row, as etcd does.
        return (
            memory_event.prev.mod_revision < compacted
            and sqlite_event.type is memory_event.type
            and sqlite_event.kv == memory_event.kv
        )
    return sqlite_event == memory_event


@pytest.mark.parametrize("seed", range(6))
async def test_behaves_like_the_memory_backend(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    memory = MemoryBackend()
    db = SQLiteBackend(tmp_path / "db.sqlite", compaction_chunk=rng.choice([1, 3, 1000]))
    await db.start()
    try:
        for i, op in enumerate(random_ops(rng, 250)):
            if i == 150:  # halfway, reopen: everything must come back from the file
                await db.close()
                db = SQLiteBackend(tmp_path / "db.sqlite")
                await db.start()
            expected = await apply(memory, op)
            assert await apply(db, op) == expected, (i, op)
        current = await memory.current_revision()
        compacted = await memory.compacted_revision()
        assert (await db.current_revision(), await db.compacted_revision()) == (current, compacted)
        for start in sorted({max(compacted, 1), (compacted + current) // 2, current}):
            for key in ("/k/", "/k/a", ""):
                got = await events_until(db, key, start, current)
                want = await events_until(memory, key, start, current)
                assert len(got) == len(want)
                assert all(same_event(g, w, compacted) for g, w in zip(got, want, strict=True))
    finally:
        await db.close()


# -- reopening -----------------------------------------------------------------------------------
async def test_reopen_keeps_data_revisions_and_history(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    first = SQLiteBackend(path)
    await first.start()
    r1 = await first.create("/k/a", b"1")
    r2 = await first.update("/k/a", b"2", expected_revision=r1)
    r3 = await first.create("/k/b", b"b")
    r4, _ = await first.delete("/k/b")
    await first.compact(r2)
    await first.close()

    second = SQLiteBackend(path)
    await second.start()
    try:
        assert await second.current_revision() == r4
        assert await second.compacted_revision() == r2
        assert (await second.get("/k/a"))[0] == KeyValue("/k/a", b"2", r1, r2)
        with pytest.raises(Expired):
            await second.get("/k/a", revision=r1)
        replayed = await events_until(second, "/k/", r2, r4)
        assert [(e.type, e.revision) for e in replayed] == [
            (EventType.PUT, r2),
            (EventType.PUT, r3),
            (EventType.DELETE, r4),
        ]
        assert replayed[2].prev == KeyValue("/k/b", b"b", r3, r3)
        # A watch from the past continues live after the replay.
        async with second.watch("/k/", start_revision=r3) as watch:
            it = aiter(watch)
            first_batch = await anext(it)
            assert [e.revision for e in first_batch.events] == [r3, r4]
            r5 = await second.create("/k/c", b"c")
            assert [e.revision for e in (await anext(it)).events] == [r5]
        assert r5 == r4 + 1
    finally:
        await second.close()


async def test_watch_racing_a_compaction_is_expired_not_gapped(tmp_path: Path) -> None:
    """The replay runs on a reader thread; a compaction that lands while it waits must turn into
    Expired, never into a history with a hole (found in review)."""
    db = SQLiteBackend(tmp_path / "race.db", readers=1)
    await db.start()
    try:
        await db.create("/r/a", b"a1")
        b1 = await db.create("/r/b", b"b1")
        await db.update("/r/b", b"b2", expected_revision=b1)
        await db.create("/r/c", b"c1")
        busy = asyncio.get_running_loop().run_in_executor(db._reader_threads, time.sleep, 0.5)
        seen: list[int] = []

        async def consume() -> None:
            async with db.watch("/r/", start_revision=1) as watch:
                async for batch in watch:
                    seen.extend(e.revision for e in batch.events)
                    if seen and seen[-1] >= 4:
                        return

        consumer = asyncio.create_task(consume())
        await asyncio.sleep(0.05)  # the watch passed its first check; its replay is queued
        await db.compact(4)
        with pytest.raises(Expired):
            await asyncio.wait_for(consumer, 10)
        assert seen == []
        await busy
    finally:
        await db.close()
