"""Compaction keeps the SQLite file bounded under a steady stream of updates.

200,000 updates of five keys (think node leases) with a compaction keeping the newest 10,000
revisions after every 20,000 writes, while the writers keep writing. The log then never holds
more than about 30,000 rows, and after the last compaction about 10,000.

The bound, 8 MiB for the database plus its WAL after the last compaction: 10,000 rows of a
100-byte value take about 1.5 MiB with their index entries (measured: 1.8 MiB in all); the
compaction truncates the WAL, and incremental vacuum hands the pages of the deleted rows back, so
the file shrinks instead of keeping its high-water mark. Before each compaction (30,000 rows, the
WAL near its 1,000-page auto-checkpoint size) we measured about 9 MiB, hence the 16 MiB bound on
the peak. Without compaction the file would pass 40 MiB.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sqlite3
import time
from pathlib import Path

import pytest

from pocketkube.storage.errors import Expired
from pocketkube.storage.sqlite import SQLiteBackend

UPDATES = 200_000
KEYS = 5
WRITERS = 64
COMPACT_EVERY = 20_000
KEEP = 10_000
BOUND_BYTES = 8 << 20
PAGE_PRAGMAS = ("page_count", "freelist_count")
PEAK_BOUND_BYTES = 16 << 20  # database + WAL sampled before each compaction


def disk_usage(path: Path) -> int:
    return sum(
        os.path.getsize(p) for p in (path, path.with_name(path.name + "-wal")) if os.path.exists(p)
    )


@pytest.mark.slow
async def test_periodic_compaction_bounds_the_file(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    # synchronous=FULL as in production: durability is not what this test is about, but group
    # commit must carry the load with it.
    db = SQLiteBackend(path)
    await db.start()
    keys = [f"/registry/leases/node-{i}" for i in range(KEYS)]
    for key in keys:
        await db.create(key, b"0")
    counter = itertools.count()
    peak = 0
    started = time.monotonic()

    async def writer() -> None:
        nonlocal peak
        while (n := next(counter)) < UPDATES:
            value = f"renewed {n} at {time.time():.6f}".encode().ljust(100, b".")
            # expected_revision=0: an unconditional update (as memory.py does), so 64 writers
            # of 5 keys do not spend the run conflicting.
            await db.update(keys[n % KEYS], value, expected_revision=0)
            if n % COMPACT_EVERY == COMPACT_EVERY - 1:
                peak = max(peak, disk_usage(path))
                await db.compact(await db.current_revision() - KEEP)

    try:
        await asyncio.gather(*(writer() for _ in range(WRITERS)))
        elapsed = time.monotonic() - started
        current = await db.current_revision()
        assert current == UPDATES + KEYS
        await db.compact(current - KEEP)
        with pytest.raises(Expired):
            await db.get(keys[0], revision=current - KEEP - 1)
        page = await db.list("/registry/leases/", revision=current - KEEP)
        assert len(page.kvs) == KEYS
        stats = db.statistics()
        size = disk_usage(path)
    finally:
        await db.close()

    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT COUNT(*) FROM log").fetchone()[0]
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        pages = [
            conn.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count", "freelist_count")
        ]
    print(
        f"{UPDATES} updates in {elapsed:.1f} s ({UPDATES / elapsed:.0f}/s, "
        f"{stats.transactions} transactions); {stats.compactions} compactions removed "
        f"{stats.compacted_rows} rows; {rows} rows left; file {size / 2**20:.1f} MiB, "
        f"peak {peak / 2**20:.1f} MiB; pages, free pages: {pages}"
    )
    assert rows <= KEEP + KEYS
    assert size < BOUND_BYTES
    assert peak < PEAK_BOUND_BYTES
