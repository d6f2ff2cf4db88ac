"""The watch cache against KVStorage on the in-memory backend."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest

from pocketkube.storage.cache_watcher import CacheWatcher, CloseReason
from pocketkube.storage.cacher import Cacher
from pocketkube.storage.errors import (
    AlreadyExists,
    Expired,
    NotFound,
    TooLargeResourceVersion,
    Unavailable,
)
from pocketkube.storage.interface import (
    Event,
    EventType,
    ListOptions,
    Obj,
    ResourceVersionMatch,
    WatchOptions,
    WatchStream,
)
from pocketkube.storage.memory import MemoryBackend
from pocketkube.storage.store import INITIAL_EVENTS_END, KVStorage

PREFIX = "/registry/pods/"


def pod(name: str, ns: str = "default", **labels: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": dict(labels)},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }


def key(name: str, ns: str = "default") -> str:
    return f"{PREFIX}{ns}/{name}"


def web(obj: Obj) -> bool:
    return bool(obj["metadata"].get("labels", {}).get("app") == "web")


def relabel(app: str) -> Callable[[Obj | None], Awaitable[Obj]]:
    async def update(obj: Obj | None) -> Obj:
        assert obj is not None
        obj["metadata"]["labels"] = {"app": app}
        return obj

    return update


def bump(obj: Obj | None) -> Awaitable[Obj]:
    async def update() -> Obj:
        assert obj is not None
        obj["spec"]["n"] = obj["spec"].get("n", 0) + 1
        return obj

    return update()


@pytest.fixture
def storage() -> KVStorage:
    return KVStorage(MemoryBackend())


@asynccontextmanager
async def cacher(storage: KVStorage, **kwargs: Any) -> AsyncIterator[Cacher]:
    kwargs.setdefault("progress_interval", 0.05)
    async with Cacher(storage, prefix=PREFIX, **kwargs) as cache:
        await cache.wait_ready()
        yield cache


async def until(condition: Callable[[], bool], seconds: float = 2.0) -> None:
    async with asyncio.timeout(seconds):
        while True:
            if condition():
                return
            await asyncio.sleep(0.001)


async def caught_up(cache: Cacher, storage: KVStorage) -> None:
    target = await storage.current_resource_version()
    await until(lambda: cache.revision >= target)


async def registered(cache: Cacher, watchers: int) -> None:
    await until(lambda: cache.statistics()["watchers"] == watchers)


async def take(w: WatchStream, n: int, seconds: float = 2.0) -> list[Event]:
    it = aiter(w)
    events = []
    async with asyncio.timeout(seconds):
        for _ in range(n):
            events.append(await anext(it))
    return events


class Collector:
    """Reads a watch in a task of its own, as an API server handler would."""

    def __init__(self, w: WatchStream) -> None:
        self.watch = w
        self.events: list[Event] = []
        self.error: Exception | None = None
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            async for event in self.watch:
                self.events.append(event)
        except (Expired, Unavailable, TooLargeResourceVersion) as err:
            self.error = err

    async def wait(self, n: int) -> list[Event]:
        await until(lambda: len(self.events) >= n)
        return self.events

    async def close(self) -> None:
        await self.watch.close()
        await self.task


@asynccontextmanager
async def collect(cache: Cacher, watch_key: str, opts: WatchOptions) -> AsyncIterator[Collector]:
    """A registered watch: writes made inside the block are all seen."""
    before = cache.statistics()["watchers"]
    collector = Collector(cache.watch(watch_key, opts))
    await until(lambda: cache.statistics()["watchers"] > before or collector.error is not None)
    try:
        yield collector
    finally:
        await collector.close()


def summary(events: list[Event]) -> list[tuple[str, str, int]]:
    return [
        (e.type.value, e.object["metadata"].get("name", ""), e.resource_version) for e in events
    ]


async def history(storage: KVStorage) -> list[int]:
    """Write a small history: 3 creates, an update, a delete; returns the revisions."""
    revs = []
    for name in ("a", "b", "c"):
        revs.append(
            int((await storage.create(key(name), pod(name)))["metadata"]["resourceVersion"])
        )
    revs.append(
        int((await storage.guaranteed_update(key("a"), bump))["metadata"]["resourceVersion"])
    )
    revs.append(int((await storage.delete(key("b")))["metadata"]["resourceVersion"]))
    return revs


# -- lists and gets ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("list_key", "opts", "names"),
    [
        (PREFIX, ListOptions(resource_version="0"), ["a", "b", "c", "x"]),
        (PREFIX, ListOptions(resource_version="0", predicate=web), ["a", "c"]),
        (PREFIX + "default", ListOptions(resource_version="0"), ["a", "b", "c"]),
        (PREFIX + "other/", ListOptions(resource_version="0"), ["x"]),
        (
            PREFIX,
            ListOptions(
                resource_version="1", resource_version_match=ResourceVersionMatch.NOT_OLDER_THAN
            ),
            ["a", "b", "c", "x"],
        ),
        (key("b"), ListOptions(resource_version="0", recursive=False), ["b"]),
        (key("zz"), ListOptions(resource_version="0", recursive=False), []),
        (key("b"), ListOptions(resource_version="0", recursive=False, predicate=web), []),
    ],
)
async def test_list_from_cache(
    storage: KVStorage, list_key: str, opts: ListOptions, names: list[str]
) -> None:
    await storage.create(key("c"), pod("c", app="web"))
    await storage.create(key("a"), pod("a", app="web"))
    await storage.create(key("b"), pod("b", app="db"))
    await storage.create(key("x", "other"), pod("x", "other"))
    async with cacher(storage) as cache:
        listed = await cache.get_list(list_key, opts)
        assert [o["metadata"]["name"] for o in listed.items] == names
        assert listed.resource_version == str(cache.revision) == "4"
        assert listed.raw_items == [orjson.dumps(o) for o in listed.items]
        direct = await storage.get_list(list_key, ListOptions(recursive=opts.recursive))
        assert [o for o in direct.items if opts.predicate is None or opts.predicate(o)] == (
            listed.items
        )


async def test_list_waits_for_a_newer_resource_version(storage: KVStorage) -> None:
    await storage.create(key("a"), pod("a"))
    async with cacher(storage) as cache:
        waiting = asyncio.create_task(cache.get_list(PREFIX, ListOptions(resource_version="2")))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        await storage.create(key("b"), pod("b"))
        listed = await waiting
        assert listed.resource_version == "2"
        assert [o["metadata"]["name"] for o in listed.items] == ["a", "b"]


async def test_progress_from_other_prefixes_advances_the_cache(storage: KVStorage) -> None:
    await storage.create(key("a"), pod("a"))
    async with cacher(storage, progress_interval=0.02) as cache:
        cm = {"kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "default"}}
        await storage.create("/registry/configmaps/default/cm", cm)
        listed = await cache.get_list(PREFIX, ListOptions(resource_version="2"))
        assert listed.resource_version == "2"
        assert len(listed.items) == 1


async def read_at(cache: Cacher, read: str, rv: str) -> None:
    if read == "list":
        await cache.get_list(PREFIX, ListOptions(resource_version=rv))
    elif read == "get":
        await cache.get(key("a"), resource_version=rv)
    else:
        async with cache.watch(PREFIX, WatchOptions(resource_version=rv)) as w:
            await take(w, 1)


@pytest.mark.parametrize("read", ["list", "get", "watch"])
async def test_too_large_resource_version(storage: KVStorage, read: str) -> None:
    await storage.create(key("a"), pod("a"))
    async with cacher(storage, too_large_wait=0.1) as cache:
        with pytest.raises(TooLargeResourceVersion) as raised:
            await read_at(cache, read, "50")
        assert raised.value.requested == 50
        assert raised.value.current == 1


async def test_reads_that_need_the_datastore_are_delegated(storage: KVStorage) -> None:
    for name in "abcde":
        await storage.create(key(name), pod(name))
    async with cacher(storage) as cache:
        # A limited list from the cache pages on through the storage at the same revision.
        first = await cache.get_list(PREFIX, ListOptions(resource_version="0", limit=2))
        assert [o["metadata"]["name"] for o in first.items] == ["a", "b"]
        assert first.remaining_item_count == 3
        await storage.create(key("f"), pod("f"))
        rest = await cache.get_list(PREFIX, ListOptions(continue_token=first.continue_token))
        assert [o["metadata"]["name"] for o in rest.items] == ["c", "d", "e"]
        assert rest.resource_version == first.resource_version == "5"
        # Unset resourceVersion reads the latest state, Exact an exact one.
        latest = await cache.get_list(PREFIX, ListOptions())
        assert latest.resource_version == "6"
        exact = await cache.get_list(
            PREFIX,
            ListOptions(resource_version="3", resource_version_match=ResourceVersionMatch.EXACT),
        )
        assert [o["metadata"]["name"] for o in exact.items] == ["a", "b", "c"]


async def test_get(storage: KVStorage) -> None:
    await storage.create(key("a"), pod("a"))
    async with cacher(storage) as cache:
        got = await cache.get(key("a"), resource_version="0")
        assert got == await storage.get(key("a"))
        got["metadata"]["name"] = "changed"  # a private copy: the cache is unaffected
        assert (await cache.get(key("a"), resource_version="1"))["metadata"]["name"] == "a"
        with pytest.raises(NotFound):
            await cache.get(key("zz"), resource_version="0")
        await storage.create(key("b"), pod("b"))
        assert (await cache.get(key("b")))["metadata"]["name"] == "b"  # unset: the datastore


async def test_guaranteed_update_suggests_the_cached_object(storage: KVStorage) -> None:
    await storage.create(key("a"), pod("a"))
    seen: list[Obj | None] = []

    class Spy(KVStorage):
        async def guaranteed_update(self, *args: Any, **kwargs: Any) -> Obj:
            seen.append(kwargs.get("suggestion"))
            return await super().guaranteed_update(*args, **kwargs)

    spy = Spy(storage.backend)
    async with cacher(spy) as cache:
        updated = await cache.guaranteed_update(key("a"), bump)
        assert updated["spec"]["n"] == 1
        assert seen[0] is not None
        assert seen[0]["metadata"]["resourceVersion"] == "1"


# -- watches ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        # history(): a@1 b@2 c@3 ADDED, a@4 MODIFIED, b@5 DELETED
        (1, [("ADDED", "b", 2), ("ADDED", "c", 3), ("MODIFIED", "a", 4), ("DELETED", "b", 5)]),
        (2, [("ADDED", "c", 3), ("MODIFIED", "a", 4), ("DELETED", "b", 5)]),
        (4, [("DELETED", "b", 5)]),
        (5, []),
        # resourceVersion 0: the current state, not history
        (0, [("ADDED", "a", 4), ("ADDED", "c", 3)]),
    ],
)
async def test_watch_replays_the_window_exactly(
    storage: KVStorage, start: int, expected: list[tuple[str, str, int]]
) -> None:
    async with cacher(storage) as cache:  # listed at revision 0: the window holds everything
        await history(storage)
        await caught_up(cache, storage)
        async with cache.watch(PREFIX, WatchOptions(resource_version=str(start))) as w:
            events = await take(w, len(expected))
            await storage.create(key("d"), pod("d"))
            events += await take(w, 1)
        assert summary(events) == [*expected, ("ADDED", "d", 6)]


async def test_watch_from_a_too_old_resource_version_is_expired(storage: KVStorage) -> None:
    async with cacher(storage, window_size=3) as cache:
        revs = await history(storage)  # 5 events, the window keeps the last 3
        await caught_up(cache, storage)
        assert cache.statistics()["oldest_resource_version"] == 2
        with pytest.raises(Expired, match=r"too old resource version: 1 \(2\)"):
            async with cache.watch(PREFIX, WatchOptions(resource_version="1")) as w:
                await take(w, 1)
        async with cache.watch(PREFIX, WatchOptions(resource_version="2")) as w:
            assert [e.resource_version for e in await take(w, 3)] == revs[2:]


async def test_watch_after_listing_at_a_later_revision(storage: KVStorage) -> None:
    await history(storage)
    async with cacher(storage) as cache:  # listed at 5: older starts are gone
        with pytest.raises(Expired):
            async with cache.watch(PREFIX, WatchOptions(resource_version="4")) as w:
                await take(w, 1)
        async with cache.watch(PREFIX, WatchOptions(resource_version="5")) as w:
            await storage.create(key("z"), pod("z"))
            assert summary(await take(w, 1)) == [("ADDED", "z", 6)]


@pytest.mark.parametrize("replay", [False, True])
async def test_selector_transitions(storage: KVStorage, replay: bool) -> None:
    async with cacher(storage) as cache:
        await storage.create(key("other"), pod("other", app="db"))  # revision 1
        opts = WatchOptions(resource_version="1", predicate=web)
        if not replay:
            await caught_up(cache, storage)
            c = Collector(cache.watch(PREFIX, opts))
            await registered(cache, 1)
        await storage.create(key("a"), pod("a", app="web"))  # 2: ADDED
        await storage.guaranteed_update(key("a"), relabel("db"))  # 3: leaves: DELETED
        await storage.guaranteed_update(key("a"), relabel("db2"))  # 4: still out: nothing
        await storage.guaranteed_update(key("a"), relabel("web"))  # 5: enters: ADDED
        await storage.guaranteed_update(key("a"), bump)  # 6: MODIFIED
        await storage.delete(key("a"))  # 7: DELETED
        if replay:
            c = Collector(cache.watch(PREFIX, opts))
        events = await c.wait(5)
        await c.close()
        assert summary(events) == [
            ("ADDED", "a", 2),
            ("DELETED", "a", 3),
            ("ADDED", "a", 5),
            ("MODIFIED", "a", 6),
            ("DELETED", "a", 7),
        ]
        # Leaving: the last state that matched, at the revision where it stopped matching.
        assert events[1].object["metadata"]["labels"] == {"app": "web"}
        assert events[1].raw == orjson.dumps(events[1].object)


async def test_single_key_watch(storage: KVStorage) -> None:
    async with cacher(storage) as cache:
        opts = WatchOptions(resource_version="0", recursive=False)
        async with collect(cache, key("b"), opts) as c:
            await history(storage)
            events = await c.wait(2)
        assert summary(events) == [("ADDED", "b", 2), ("DELETED", "b", 5)]


@pytest.mark.parametrize("bookmarks", [True, False])
async def test_send_initial_events_ends_with_a_bookmark(
    storage: KVStorage, bookmarks: bool
) -> None:
    await history(storage)
    async with cacher(storage, bookmark_interval=60) as cache:
        opts = WatchOptions(send_initial_events=True, bookmarks=bookmarks)
        async with cache.watch(PREFIX, opts) as w:
            events = await take(w, 3 if bookmarks else 2)
            await storage.create(key("z"), pod("z"))
            live = await take(w, 1)
        assert summary(events[:2]) == [("ADDED", "a", 4), ("ADDED", "c", 3)]
        if bookmarks:
            assert events[2].type is EventType.BOOKMARK
            assert events[2].resource_version == 5
            assert events[2].object["metadata"]["annotations"] == {INITIAL_EVENTS_END: "true"}
        assert summary(live) == [("ADDED", "z", 6)]


async def test_bookmarks_never_precede_events_at_or_below_them(storage: KVStorage) -> None:
    async with cacher(storage, bookmark_interval=0.002) as cache:
        opts = WatchOptions(resource_version="0", bookmarks=True)
        writes = 300

        async def writer() -> None:
            for i in range(writes):
                await storage.create(key(f"p{i:04}"), pod(f"p{i:04}"))
                if i % 7 == 0:
                    await asyncio.sleep(0.001)

        async with cache.watch(PREFIX, opts) as w, asyncio.TaskGroup() as tg:
            tg.create_task(writer())
            seen: list[Event] = []
            async with asyncio.timeout(10):
                async for event in w:
                    seen.append(event)
                    if event.type is not EventType.BOOKMARK and event.resource_version == writes:
                        break
        objects = [e.resource_version for e in seen if e.type is not EventType.BOOKMARK]
        assert objects == list(range(1, writes + 1))
        bookmarks = [i for i, e in enumerate(seen) if e.type is EventType.BOOKMARK]
        assert bookmarks, "expected some bookmarks"
        for i in bookmarks:
            later = [e.resource_version for e in seen[i + 1 :] if e.type is not EventType.BOOKMARK]
            assert all(rv > seen[i].resource_version for rv in later)


async def test_slow_watcher_is_closed_while_a_healthy_one_keeps_up(storage: KVStorage) -> None:
    await storage.create(key("first"), pod("first"))
    async with cacher(storage, watcher_queue_size=10) as cache:
        slow = cache.watch(PREFIX, WatchOptions(resource_version="0"))
        await take(slow, 1)  # registered, then never reads again
        healthy = cache.watch(PREFIX, WatchOptions(resource_version="1"))
        writes = 100

        async def write() -> None:
            for i in range(writes):
                await storage.create(key(f"p{i}"), pod(f"p{i}"))
                await asyncio.sleep(0)

        async with slow, healthy, asyncio.TaskGroup() as tg:
            tg.create_task(write())
            events = await take(healthy, writes)
            assert [e.resource_version for e in events] == list(range(2, writes + 2))
            assert isinstance(slow, CacheWatcher)
            assert slow.closed_reason is CloseReason.TOO_SLOW
            with pytest.raises(Unavailable):
                await take(slow, 1)
        stats = cache.statistics()
        assert stats["terminated_slow_watchers"] == 1
        assert stats["watchers"] == 0


async def test_fan_out_to_100_watchers(storage: KVStorage) -> None:
    writes = 200
    async with cacher(storage, watcher_queue_size=writes) as cache:
        watchers = [cache.watch(PREFIX, WatchOptions(resource_version="0")) for _ in range(100)]

        async def receive(w: WatchStream) -> list[int]:
            got = []
            async with w:
                async for event in w:
                    got.append(event.resource_version)
                    if len(got) == writes:
                        return got
            return got

        async with asyncio.timeout(20), asyncio.TaskGroup() as tg:
            receivers = [tg.create_task(receive(w)) for w in watchers]
            await asyncio.sleep(0.05)
            for i in range(writes):
                await storage.create(key(f"p{i:03}"), pod(f"p{i:03}"))
        for task in receivers:
            assert task.result() == list(range(1, writes + 1))
        assert cache.statistics()["terminated_slow_watchers"] == 0


async def test_close_ends_iteration_promptly(storage: KVStorage) -> None:
    async with cacher(storage) as cache:
        w = cache.watch(PREFIX, WatchOptions(resource_version="0", bookmarks=True))
        received: list[Event] = []

        async def consume() -> None:
            async for event in w:
                received.append(event)

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.05)
        await w.close()
        async with asyncio.timeout(0.5):
            await task
        assert cache.statistics()["watchers"] == 0


async def test_underlying_watch_dropped_resumes_without_losing_watchers(
    storage: KVStorage,
) -> None:
    backend = storage.backend
    assert isinstance(backend, MemoryBackend)
    async with cacher(storage) as cache:
        async with cache.watch(PREFIX, WatchOptions(resource_version="0")) as w:
            await storage.create(key("a"), pod("a"))
            await take(w, 1)
            backend.hub.close_all(Unavailable("datastore hiccup"))
            await storage.create(key("b"), pod("b"))
            await storage.create(key("c"), pod("c"))
            assert summary(await take(w, 2)) == [("ADDED", "b", 2), ("ADDED", "c", 3)]
        stats = cache.statistics()
        assert stats["rewatches"] == 1
        assert stats["relists"] == 0


async def test_relist_after_the_underlying_history_is_gone(storage: KVStorage) -> None:
    backend = storage.backend
    assert isinstance(backend, MemoryBackend)
    gate = asyncio.Event()

    async def gated_sleep(_: float) -> None:
        await gate.wait()

    await storage.create(key("a"), pod("a"))
    async with cacher(storage, sleep=gated_sleep) as cache:
        async with cache.watch(PREFIX, WatchOptions(resource_version="1")) as w:
            backend.hub.close_all(Unavailable("datastore hiccup"))
            await asyncio.sleep(0.01)  # the cache waits (gated) before watching again
            await storage.create(key("b"), pod("b"))
            await storage.delete(key("a"))
            await backend.compact(await backend.current_revision())
            gate.set()  # the rewatch from revision 1 gets 410: relist, drop the watcher
            with pytest.raises(Unavailable):
                await take(w, 1)
            assert isinstance(w, CacheWatcher)
            assert w.closed_reason is CloseReason.RELIST
        await caught_up(cache, storage)
        listed = await cache.get_list(PREFIX, ListOptions(resource_version="0"))
        assert [o["metadata"]["name"] for o in listed.items] == ["b"]
        assert listed.resource_version == "3"
        assert cache.statistics()["relists"] == 1
        with pytest.raises(Expired):
            async with cache.watch(PREFIX, WatchOptions(resource_version="1")) as w2:
                await take(w2, 1)


async def test_close_leaves_no_tasks(storage: KVStorage) -> None:
    before = asyncio.all_tasks()
    await storage.create(key("a"), pod("a"))
    async with cacher(storage) as cache:
        w = cache.watch(PREFIX, WatchOptions(resource_version="0", bookmarks=True))
        await take(w, 1)
        mine = [t for t in asyncio.all_tasks() - before if t.get_name().startswith("cacher")]
        assert len(mine) == 1  # the cacher's own task (the storage's watch may have its own)
    assert asyncio.all_tasks() == before
    assert isinstance(w, CacheWatcher)
    assert w.closed_reason is CloseReason.CACHE_STOPPED
    assert await take(w, 0) == []
    with pytest.raises(Unavailable):
        await cache.get_list(PREFIX, ListOptions(resource_version="0"))


async def test_statistics(storage: KVStorage) -> None:
    async with cacher(storage, window_size=4) as cache:
        await history(storage)
        await caught_up(cache, storage)
        async with collect(cache, PREFIX, WatchOptions(resource_version="5")):
            stats = cache.statistics()
    assert stats["revision"] == 5
    assert stats["events"] == 5
    assert stats["window_size"] == 4
    assert stats["objects"] == 2
    assert stats["ready"] is True
    assert stats["watchers"] == 1


async def test_initial_events_are_filtered(storage: KVStorage) -> None:
    await storage.create(key("a"), pod("a", app="web"))
    await storage.create(key("b"), pod("b", app="db"))
    await storage.create(key("c"), pod("c", app="web"))
    async with cacher(storage) as cache:
        opts = WatchOptions(resource_version="0", predicate=web)
        async with cache.watch(PREFIX, opts) as w:
            assert summary(await take(w, 2)) == [("ADDED", "a", 1), ("ADDED", "c", 3)]


async def test_close_interrupts_a_watch_waiting_for_its_resource_version(
    storage: KVStorage,
) -> None:
    async with cacher(storage, too_large_wait=5) as cache:
        c = Collector(cache.watch(PREFIX, WatchOptions(resource_version="9")))
        await asyncio.sleep(0.02)
        async with asyncio.timeout(0.5):
            await c.close()
        assert c.events == []
        assert c.error is None


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_watches_match_the_storage_watch(storage: KVStorage, seed: int) -> None:
    """Random history; every cache watch equals the datastore's own watch of the same kind."""
    rng = random.Random(seed)

    async def write(n: int) -> None:
        for _ in range(n):
            name = f"p{rng.randrange(12)}"
            app = rng.choice(["web", "db"])
            try:
                op = rng.random()
                if op < 0.4:
                    await storage.create(key(name), pod(name, app=app))
                elif op < 0.8:
                    await storage.guaranteed_update(key(name), relabel(app))
                else:
                    await storage.delete(key(name))
            except (AlreadyExists, NotFound):
                pass

    def view(events: list[Event]) -> list[tuple[str, str, int, Any]]:
        labels = [e.object["metadata"]["labels"] for e in events]
        return [(*s, lab) for s, lab in zip(summary(events), labels, strict=True)]

    async with cacher(storage, window_size=1000) as cache:
        await write(100)
        middle = await storage.current_resource_version()
        await write(100)
        await caught_up(cache, storage)
        for predicate in (None, web):
            for start in (str(middle - 3), str(middle), str(middle + 20)):
                opts = WatchOptions(resource_version=start, predicate=predicate)
                async with storage.watch(PREFIX, opts) as direct:
                    expected = await take_all(direct)
                async with cache.watch(PREFIX, opts) as cached:
                    got = await take_all(cached)
                assert view(got) == view(expected)
                assert [e.raw for e in got] == [orjson.dumps(e.object) for e in got]


async def take_all(w: WatchStream) -> list[Event]:
    """Events until the stream stays quiet for a moment."""
    events: list[Event] = []
    it = aiter(w)
    while True:
        try:
            async with asyncio.timeout(0.05):
                events.append(await anext(it))
        except TimeoutError:
            return events


async def test_watcher_closed_as_the_cache_becomes_fresh_is_not_registered() -> None:
    """A client that goes away in the same step as the cache reaches its resourceVersion must
    not leave a watcher behind (found in review)."""
    storage = KVStorage(MemoryBackend())
    cache = Cacher(storage, prefix="/registry/pods/", progress_interval=60)
    await cache.start()
    try:
        await cache.wait_ready()
        await storage.create("/registry/pods/d/x", {"metadata": {"name": "x", "namespace": "d"}})
        await asyncio.sleep(0.05)
        watch = cache.watch(
            "/registry/pods/", WatchOptions(resource_version=str(cache.revision + 1))
        )

        async def consume() -> None:
            async for _ in watch:
                pass

        consumer = asyncio.create_task(consume())
        await asyncio.sleep(0.05)  # waiting for revision + 1
        await storage.create("/registry/pods/d/y", {"metadata": {"name": "y", "namespace": "d"}})
        closing = asyncio.create_task(watch.close())
        await asyncio.wait_for(consumer, 5)
        await closing
        assert cache.statistics()["watchers"] == 0
    finally:
        await cache.close()


async def test_get_shared_is_the_cached_object(storage: KVStorage) -> None:
    await storage.create(key("a"), pod("a"))
    async with cacher(storage) as cache:
        shared = await cache.get_shared(key("a"))
        assert shared is not None
        assert shared["metadata"]["name"] == "a"
        assert await cache.get_shared(key("a")) is shared  # no copy
        assert await cache.get_shared(key("missing")) is None
        assert await cache.get_shared("/registry/nodes/n") is None  # not this cache's prefix
