"""EtcdWatch's progress notifications against a fake etcd 3.4 (tests/unit/storage/etcd34.py).

A progress batch promises that every event at or below its revision was delivered. etcd 3.4
answers progress requests with its current revision even while a watcher is still catching up,
so until a watch has seen etcd put it in sync it checks the store instead. The real etcd parts
(the check's transaction) are in tests/integration/storage/test_etcd_backend.py.
"""

from __future__ import annotations

import asyncio

from pocketkube.storage.backend import WatchBatch
from pocketkube.storage.etcd_watch import CATCH_UP_REVISIONS, EtcdWatch
from tests.unit.storage.etcd34 import Etcd34
from tests.unit.storage.test_cacher import until


class Reader:
    """Iterates a watch in a task of its own."""

    def __init__(self, watch: EtcdWatch) -> None:
        self.batches: list[WatchBatch] = []
        self.task = asyncio.create_task(self._run(watch))

    async def _run(self, watch: EtcdWatch) -> None:
        async for batch in watch:
            self.batches.append(batch)

    def progress(self) -> list[int]:
        return [b.revision for b in self.batches if not b.events]

    def seen(self) -> list[tuple[list[int], int]]:
        return [([e.revision for e in b.events], b.revision) for b in self.batches]


def delivered_in_order(batches: list[WatchBatch]) -> bool:
    """No batch announces, or carries, a revision at or below one already announced."""
    delivered = 0
    for batch in batches:
        if batch.events and batch.events[0].revision <= delivered:
            return False
        delivered = max(delivered, batch.revision)
    return True


async def test_a_watcher_registered_just_after_a_write_announces_nothing_before_its_events() -> (
    None
):
    """The flaky watch-list's cause: the cache listed at revision 1 and watches from 2; a write
    at 2 lands while etcd registers the watcher, whose created reply still says 1. The watcher
    is out of sync, its event some 100 ms away, while etcd already answers progress with 2."""
    etcd = Etcd34()
    await etcd.create("/r/a", b"1")

    async def write_in_between() -> None:
        await etcd.create("/r/b", b"2")

    etcd.before_registering = write_in_between
    async with etcd.watch("/r/", start_revision=2, progress_interval=60) as watch:
        reader = Reader(watch)
        await until(lambda: bool(etcd.streams))
        watch.request_progress()
        # It looks, finds a change on its way, and waits for it (announcing 2 would be a lie).
        await until(lambda: bool(reader.batches) or etcd.checks_failed >= 2)
        assert reader.batches == []
        assert etcd.progress_requests == 0
        etcd.catch_up()
        await until(lambda: bool(reader.progress()))
    assert reader.seen() == [([2], 2), ([], 2)]


async def test_a_quiet_range_announces_the_current_revision_after_a_check() -> None:
    etcd = Etcd34()
    await etcd.create("/r/a", b"1")
    async with etcd.watch("/r/", start_revision=2, progress_interval=60) as watch:
        reader = Reader(watch)
        await until(lambda: bool(etcd.streams))
        elsewhere = await etcd.create("/elsewhere", b"x")
        watch.request_progress()
        await until(lambda: bool(reader.progress()))
        assert reader.seen() == [([], elsewhere)]
        assert (etcd.checks, etcd.progress_requests) == (1, 0)
        # Still not known to be in sync: the next notification is checked too.
        again = await etcd.create("/elsewhere2", b"x")
        watch.request_progress()
        await until(lambda: len(reader.progress()) == 2)
        assert reader.progress() == [elsewhere, again]
        assert (etcd.checks, etcd.progress_requests) == (2, 0)


async def test_once_in_sync_progress_is_asked_of_etcd_twice() -> None:
    etcd = Etcd34()
    async with etcd.watch("/r/", start_revision=1, progress_interval=60) as watch:
        reader = Reader(watch)
        await until(lambda: bool(etcd.streams))
        written = await etcd.create("/r/a", b"1")  # in sync from the start: sent at once
        await until(lambda: bool(reader.batches))
        elsewhere = await etcd.create("/elsewhere", b"x")
        watch.request_progress()
        await until(lambda: bool(reader.progress()))
    assert reader.seen() == [([written], written), ([], elsewhere)]
    assert (etcd.checks, etcd.progress_requests) == (0, 2)


async def test_catch_up_batches_at_etcds_limit_are_not_taken_for_sync() -> None:
    etcd = Etcd34()
    total = CATCH_UP_REVISIONS + 200
    for i in range(total):
        await etcd.create(f"/r/{i:05d}", b"x")
    async with etcd.watch("/r/", start_revision=1, progress_interval=0.01) as watch:
        reader = Reader(watch)
        await until(lambda: bool(etcd.streams))
        etcd.catch_up()
        await until(lambda: bool(reader.batches))
        checks = etcd.checks_failed
        await until(lambda: etcd.checks_failed >= checks + 2)  # the rest is still on its way
        assert reader.seen() == [(list(range(1, CATCH_UP_REVISIONS + 1)), CATCH_UP_REVISIONS)]
        etcd.catch_up()
        await until(lambda: bool(reader.progress()))
    assert sum(len(b.events) for b in reader.batches) == total
    assert reader.progress()[0] == total
    assert delivered_in_order(reader.batches)
