"""RELIABILITY F6 for the datastore: another process holds the SQLite database locked.

Writes and compaction must fail with Unavailable (and a Retry-After) after a bounded wait, never
hang, and work again by themselves once the lock is gone, without restarting the backend. In WAL
mode a foreign write lock does not block readers, so reads keep working meanwhile. A process
that holds the file in exclusive locking mode blocks readers too; SQLite only grants that while
nobody else has the file open, so we check it against start(), which must fail the same way.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pocketkube.storage.errors import Unavailable
from pocketkube.storage.sqlite import SQLiteBackend

BUSY_TIMEOUT = 1.0
HOLD_SECONDS = 6.0
BOUND = BUSY_TIMEOUT + 5.0  # generous: the call must return, not necessarily quickly

LOCKER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
if sys.argv[3] == "exclusive":
    conn.execute("PRAGMA locking_mode = EXCLUSIVE")
conn.execute("BEGIN EXCLUSIVE")
conn.execute("CREATE TABLE IF NOT EXISTS lock_holder (x)")
conn.execute("INSERT INTO lock_holder VALUES (1)")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("ROLLBACK")
conn.close()
"""


@contextmanager
def locked(path: Path, mode: str = "write") -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(path), str(HOLD_SECONDS), mode],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        try:
            proc.wait(HOLD_SECONDS + 5)  # it lets go by itself
        finally:
            proc.kill()
            proc.wait()


async def timed_unavailable(call: asyncio.Future[object] | object) -> float:
    started = time.monotonic()
    with pytest.raises(Unavailable) as err:
        await asyncio.wait_for(call, BOUND)  # type: ignore[arg-type]
    assert err.value.retry_after_seconds >= 1
    return time.monotonic() - started


@pytest.mark.slow
async def test_writes_fail_fast_while_locked_and_recover(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    db = SQLiteBackend(path, busy_timeout=BUSY_TIMEOUT)
    await db.start()
    try:
        r1 = await db.create("/k/a", b"1")
        for i in range(20):
            await db.create(f"/k/old{i}", b"x")
        seen: list[int] = []
        want = [sys.maxsize]
        caught_up = asyncio.Event()

        async def consume() -> None:
            async with db.watch("/k/", start_revision=r1 + 1) as watch:
                async for batch in watch:
                    seen.extend(e.revision for e in batch.events)
                    if seen[-1] >= want[0]:
                        caught_up.set()

        watcher = asyncio.create_task(consume())
        locked_at = time.monotonic()
        with locked(path) as locker:
            elapsed = await timed_unavailable(db.update("/k/a", b"2", expected_revision=r1))
            assert elapsed >= BUSY_TIMEOUT * 0.5
            # Writers queued behind a refused batch are refused with it, not one by one.
            started = time.monotonic()
            results = await asyncio.gather(
                *(db.create(f"/k/new{i}", b"x") for i in range(20)), return_exceptions=True
            )
            assert all(isinstance(r, Unavailable) for r in results)
            assert time.monotonic() - started < BOUND
            await timed_unavailable(db.compact(r1 + 10))
            # WAL: a writer elsewhere does not stop readers.
            kv, _ = await db.get("/k/a")
            assert kv is not None
            assert kv.value == b"1"
            assert locker.poll() is None, "the lock was released before the checks ended"

            # Keep trying, as a client honouring Retry-After would: each try ends within the
            # bound, and one succeeds once the other process lets go, with no restart.
            while True:
                started = time.monotonic()
                try:
                    r2 = await asyncio.wait_for(
                        db.update("/k/a", b"2", expected_revision=r1), BOUND
                    )
                    break
                except Unavailable:
                    assert time.monotonic() - started < BOUND
                    await asyncio.sleep(0.2)
        assert time.monotonic() - locked_at < HOLD_SECONDS + BOUND
        await db.compact(r2)
        assert await db.compacted_revision() == r2
        assert await db.count("/k/") == 21
        want[0] = r2
        if seen and seen[-1] >= r2:
            caught_up.set()
        async with asyncio.timeout(5):
            await caught_up.wait()
        watcher.cancel()
        # Nothing refused shows up; the history resumes without a gap.
        assert seen == list(range(r1 + 1, r2 + 1))
        assert db.statistics().failed_transactions >= 2
    finally:
        await db.close()


@pytest.mark.slow
async def test_start_fails_fast_while_locked_and_works_after(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    db = SQLiteBackend(path, busy_timeout=BUSY_TIMEOUT)
    await db.start()
    await db.create("/k/a", b"1")
    await db.close()

    db = SQLiteBackend(path, busy_timeout=BUSY_TIMEOUT)
    with locked(path, "exclusive"):
        await timed_unavailable(db.start())
        with pytest.raises(Unavailable):
            await db.get("/k/a")
    await db.start()
    try:
        kv, _ = await db.get("/k/a")
        assert kv is not None
        assert await db.create("/k/b", b"2") == 2
    finally:
        await db.close()
