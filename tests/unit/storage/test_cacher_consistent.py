"""Consistent reads (resourceVersion unset) from the watch cache, on the in-memory backend.

Against SQLite and a real etcd too: tests/integration/storage/test_consistent_reads.py. What a
real etcd 3.4 does only now and then is made to happen here with a fake of it (etcd34.py).
"""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from pocketkube.storage.cache_watcher import CloseReason
from pocketkube.storage.errors import TooLargeResourceVersion, Unavailable
from pocketkube.storage.interface import (
    EventType,
    ListOptions,
    ObjectList,
    ResourceVersionMatch,
    WatchOptions,
)
from pocketkube.storage.memory import MemoryBackend
from pocketkube.storage.store import INITIAL_EVENTS_END, KVStorage
from tests.unit.storage.etcd34 import Etcd34
from tests.unit.storage.test_cacher import (
    PREFIX,
    bump,
    cacher,
    key,
    pod,
    registered,
    summary,
    take,
    until,
    web,
)


class Spy(KVStorage):
    """Counts the lists that reach the datastore; can pretend the datastore is far ahead."""

    def __init__(self) -> None:
        super().__init__(MemoryBackend())
        self.lists: list[ListOptions] = []
        self.ahead = 0

    async def get_list(self, key: str, opts: ListOptions) -> ObjectList:
        self.lists.append(opts)
        return await super().get_list(key, opts)

    async def current_resource_version(self) -> int:
        return await super().current_resource_version() + self.ahead


@pytest.fixture
def spy() -> Spy:
    return Spy()


def names(listed: ObjectList) -> list[str]:
    return [o["metadata"]["name"] for o in listed.items]


@pytest.mark.parametrize(
    ("opts", "expected"),
    [
        (ListOptions(), ["a", "b", "c"]),
        (ListOptions(predicate=web), ["a"]),
        (ListOptions(limit=2), ["a", "b"]),
    ],
)
async def test_consistent_list_is_served_from_memory(
    spy: Spy, opts: ListOptions, expected: list[str]
) -> None:
    await spy.create(key("a"), pod("a", app="web"))
    async with cacher(spy, progress_interval=60) as cache:
        spy.lists.clear()
        await spy.create(key("b"), pod("b"))
        await spy.create(key("c"), pod("c"))
        listed = await cache.get_list(PREFIX, opts)  # at once: the cache has not applied them
        assert names(listed) == expected
        assert listed.resource_version == "3"
        assert spy.lists == []
        assert cache.statistics()["consistent_reads"] == 1
        assert cache.statistics()["consistent_read_fallbacks"] == 0


async def test_limited_consistent_list_continues_from_the_datastore(spy: Spy) -> None:
    for name in "abcde":
        await spy.create(key(name), pod(name))
    async with cacher(spy) as cache:
        first = await cache.get_list(PREFIX, ListOptions(limit=2))
        assert (names(first), first.remaining_item_count) == (["a", "b"], 3)
        await spy.create(key("f"), pod("f"))
        spy.lists.clear()
        rest = await cache.get_list(PREFIX, ListOptions(continue_token=first.continue_token))
        assert names(rest) == ["c", "d", "e"]  # at the first page's revision
        assert rest.resource_version == first.resource_version == "5"
        assert len(spy.lists) == 1


async def test_lists_of_an_exact_state_still_go_to_the_datastore(spy: Spy) -> None:
    for name in "abc":
        await spy.create(key(name), pod(name))
    async with cacher(spy) as cache:
        spy.lists.clear()
        exact = ListOptions(resource_version="2", resource_version_match=ResourceVersionMatch.EXACT)
        legacy_exact = ListOptions(resource_version="2", limit=5)
        assert names(await cache.get_list(PREFIX, exact)) == ["a", "b"]
        assert names(await cache.get_list(PREFIX, legacy_exact)) == ["a", "b"]
        assert len(spy.lists) == 2


async def test_writes_elsewhere_are_caught_up_with_a_progress_request(spy: Spy) -> None:
    await spy.create(key("a"), pod("a"))
    async with cacher(spy, progress_interval=60) as cache:
        await asyncio.sleep(0.01)
        cm = {"kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "default"}}
        written = await spy.create("/registry/configmaps/default/cm", cm)
        started = time.perf_counter()
        listed = await cache.get_list(PREFIX, ListOptions())
        assert time.perf_counter() - started < 0.05  # not the 60 s progress interval
        assert listed.resource_version == written["metadata"]["resourceVersion"]
        assert names(listed) == ["a"]
        assert cache.statistics()["consistent_reads"] == 1


async def test_a_cache_that_cannot_catch_up_hands_the_list_to_the_datastore(spy: Spy) -> None:
    await spy.create(key("a"), pod("a"))
    async with cacher(spy, too_large_wait=0.1) as cache:
        spy.ahead = 1000
        spy.lists.clear()
        listed = await cache.get_list(PREFIX, ListOptions())
        assert names(listed) == ["a"]
        assert len(spy.lists) == 1
        assert cache.statistics()["consistent_read_fallbacks"] == 1


async def test_every_write_is_seen_by_the_list_right_after_it(spy: Spy) -> None:
    rng = random.Random(7)
    model: dict[str, str] = {}  # name -> resourceVersion, as the datastore has them
    async with cacher(spy, progress_interval=60) as cache:
        for _ in range(300):
            name = f"p{rng.randrange(20):02d}"
            if name not in model:
                written = await spy.create(key(name), pod(name))
                model[name] = written["metadata"]["resourceVersion"]
            elif rng.random() < 0.3:
                written = await spy.delete(key(name))
                del model[name]
            else:
                written = await spy.guaranteed_update(key(name), bump)
                model[name] = written["metadata"]["resourceVersion"]
            limit = rng.choice([0, 3])
            listed = await cache.get_list(PREFIX, ListOptions(limit=limit))
            assert int(listed.resource_version) >= int(written["metadata"]["resourceVersion"])
            expected = sorted(model)[: limit or None]
            seen = {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in listed.items}
            assert (names(listed), seen) == (expected, {n: model[n] for n in expected})
        assert cache.statistics()["consistent_read_fallbacks"] == 0


async def test_watch_list_without_resource_version_starts_from_the_current_state(
    spy: Spy,
) -> None:
    async with cacher(spy, progress_interval=60, bookmark_interval=60) as cache:
        created = await spy.create(key("a"), pod("a"))
        opts = WatchOptions(send_initial_events=True, bookmarks=True)
        async with cache.watch(PREFIX, opts) as w:
            events = await take(w, 2)
        assert summary(events[:1]) == [("ADDED", "a", 1)]
        assert events[1].type is EventType.BOOKMARK
        assert events[1].object["metadata"]["annotations"] == {INITIAL_EVENTS_END: "true"}
        assert events[1].resource_version >= int(created["metadata"]["resourceVersion"])


async def test_watch_list_fails_when_the_cache_cannot_catch_up(spy: Spy) -> None:
    async with cacher(spy, too_large_wait=0.1) as cache:
        spy.ahead = 1000
        opts = WatchOptions(send_initial_events=True, bookmarks=True)
        with pytest.raises(TooLargeResourceVersion):
            async with cache.watch(PREFIX, opts) as w:
                await take(w, 1)


async def test_legacy_watch_without_resource_version_still_starts(spy: Spy) -> None:
    await spy.create(key("a"), pod("a"))
    async with cacher(spy, too_large_wait=0.1) as cache:
        spy.ahead = 1000  # no consistent state in time: the cache's own state, as upstream
        async with cache.watch(PREFIX, WatchOptions()) as w:
            assert summary(await take(w, 1)) == [("ADDED", "a", 1)]


CONFIGMAPS = "/registry/configmaps/default/"


def configmap(name: str) -> dict[str, object]:
    return {"kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}}


async def etcd_with_pods_written_while_the_cache_registers_its_watch() -> tuple[Etcd34, KVStorage]:
    """etcd 3.4 where three pods are written after the cache's list, while etcd registers the
    cache's watch: the watcher starts out of sync (its events come with etcd's next round of
    catching up, :meth:`Etcd34.catch_up`), yet its created reply shows the revision before them,
    and progress requests are answered with the newest revision at once."""
    etcd = Etcd34()
    storage = KVStorage(etcd)
    await storage.create(CONFIGMAPS + "before", configmap("before"))

    async def create_pods() -> None:
        for i in range(3):
            await storage.create(key(f"p{i}"), pod(f"p{i}"))

    etcd.before_registering = create_pods
    return etcd, storage


async def test_watch_list_waits_for_the_events_of_a_cache_watch_still_catching_up() -> None:
    """tests/integration/storage/test_consistent_reads.py::test_watch_list_starts_from_the_
    latest_state[etcd] once sent an initial-events-end bookmark with no pods before it."""
    etcd, storage = await etcd_with_pods_written_while_the_cache_registers_its_watch()
    async with cacher(storage, progress_interval=60, bookmark_interval=60) as cache:
        await until(lambda: bool(etcd.streams))
        elsewhere = await storage.create(CONFIGMAPS + "cm", configmap("cm"))
        opts = WatchOptions(send_initial_events=True, bookmarks=True)
        async with cache.watch(PREFIX, opts) as w:
            first = asyncio.create_task(take(w, 1))
            await until(lambda: first.done() or etcd.checks_failed >= 2)
            assert not first.done(), "the watch-list started before the pods reached the cache"
            etcd.catch_up()
            events = [*await first, *await take(w, 3)]
    assert summary(events[:3]) == [("ADDED", "p0", 2), ("ADDED", "p1", 3), ("ADDED", "p2", 4)]
    assert events[3].type is EventType.BOOKMARK
    assert events[3].object["metadata"]["annotations"] == {INITIAL_EVENTS_END: "true"}
    assert events[3].resource_version >= int(elsewhere["metadata"]["resourceVersion"])
    assert cache.statistics()["relists"] == 0


async def test_a_consistent_list_waits_for_a_cache_watch_still_catching_up() -> None:
    etcd, storage = await etcd_with_pods_written_while_the_cache_registers_its_watch()
    async with cacher(storage, progress_interval=60) as cache:
        await until(lambda: bool(etcd.streams))
        listing = asyncio.create_task(cache.get_list(PREFIX, ListOptions()))
        await until(lambda: listing.done() or etcd.checks_failed >= 2)
        assert not listing.done(), "the list was served before the pods reached the cache"
        etcd.catch_up()
        listed = await listing
        assert (names(listed), listed.resource_version) == (["p0", "p1", "p2"], "4")
        assert cache.statistics()["consistent_reads"] == 1


async def test_an_event_behind_an_announced_revision_makes_the_cache_relist() -> None:
    """Should the underlying watch announce a revision before an event at or below it (as one
    trusting etcd 3.4's progress answers would), the cache cannot apply that event any more: it
    relists and ends its watchers, which resume or relist on their own."""
    etcd, storage = await etcd_with_pods_written_while_the_cache_registers_its_watch()
    etcd.lie = True
    async with cacher(storage, progress_interval=60) as cache:
        await until(lambda: bool(etcd.streams))
        wrong = await cache.get_list(PREFIX, ListOptions())
        assert (names(wrong), wrong.resource_version) == ([], "4")  # the lie at work
        async with cache.watch(PREFIX, WatchOptions(resource_version="4")) as w:
            reading = asyncio.create_task(take(w, 1))
            await registered(cache, 1)
            etcd.catch_up()
            with pytest.raises(Unavailable):
                await reading
            assert w.closed_reason is CloseReason.RELIST  # type: ignore[attr-defined]
        await until(lambda: cache.statistics()["relists"] == 1)
        listed = await cache.get_list(PREFIX, ListOptions(resource_version="0"))
        assert (names(listed), listed.resource_version) == (["p0", "p1", "p2"], "4")
