"""The in-memory backend is the reference the others are compared with: pin down its log rules."""

from __future__ import annotations

import asyncio

import pytest

from pocketkube.storage.backend import EventType
from pocketkube.storage.errors import Expired, TooLargeResourceVersion
from pocketkube.storage.memory import MemoryBackend


async def test_revisions_are_global_and_reads_see_the_past() -> None:
    b = MemoryBackend()
    r1 = await b.create("/k/a", b"1")
    r2 = await b.create("/k/b", b"1")
    r3 = await b.update("/k/a", b"2", expected_revision=r1)
    r4, deleted = await b.delete("/k/b")
    assert [r1, r2, r3, r4] == [1, 2, 3, 4]
    assert deleted.value == b"1"
    kv, at = await b.get("/k/a", revision=r2)
    assert kv is not None
    assert (kv.value, at) == (b"1", 2)
    page = await b.list("/k/", revision=r3)
    assert [(kv.key, kv.value) for kv in page.kvs] == [("/k/a", b"2"), ("/k/b", b"1")]
    with pytest.raises(TooLargeResourceVersion):
        await b.get("/k/a", revision=99)


async def test_compaction_keeps_the_state_at_its_revision() -> None:
    b = MemoryBackend()
    r1 = await b.create("/k/a", b"1")
    await b.update("/k/a", b"2", expected_revision=r1)
    r3 = await b.create("/k/gone", b"x")
    r4, _ = await b.delete("/k/gone")
    await b.create("/k/c", b"c")
    await b.compact(r4)
    with pytest.raises(Expired):
        await b.get("/k/a", revision=r3)
    page = await b.list("/k/", revision=r4)
    assert [(kv.key, kv.value) for kv in page.kvs] == [("/k/a", b"2")]
    # The deletion at exactly the compacted revision can still be watched.
    async with b.watch("/k/", start_revision=r4) as watch:
        async for batch in watch:
            assert [(e.type, e.kv.key) for e in batch.events][:1] == [(EventType.DELETE, "/k/gone")]
            break
    await b.compact(r4 + 1)
    assert len(b._log) == 2


async def test_a_watch_beyond_the_store_sends_no_progress_from_the_future() -> None:
    b = MemoryBackend()
    await b.create("/r/a", b"1")
    async with b.watch("/r/", start_revision=5, progress_interval=0.02) as watch:
        batches = []

        async def read() -> None:
            async for batch in watch:
                batches.append(batch)
                if batch.events:
                    return

        reader = asyncio.create_task(read())
        await asyncio.sleep(0.1)
        assert batches == []  # the store is at 1; nothing may claim revision 4 was reached
        for i in range(4):
            await b.create(f"/r/x{i}", b"1")
        await asyncio.wait_for(reader, 5)
    assert batches[-1].events[0].revision == 5
    assert all(batch.revision <= 5 for batch in batches)
