"""Consistent reads from the watch cache on every backend (memory, SQLite, real etcd).

A LIST with resourceVersion unset is served from memory once the cache has caught up with the
datastore's current revision, so it must see every write acknowledged before it: the writer's
own, other clients', and writes to other resources that moved the revision on. The cache's
periodic progress notifications are turned off here (``progress_interval=60``), so a quiet prefix
can only catch up through the progress requests that the consistent read makes.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pocketkube.storage.backend import Backend
from pocketkube.storage.cacher import Cacher
from pocketkube.storage.interface import EventType, ListOptions, Obj, ObjectList, WatchOptions
from pocketkube.storage.store import INITIAL_EVENTS_END, KVStorage

PREFIX = "/registry/pods/"
ELSEWHERE = "/registry/configmaps/default/"


def pod(name: str, ns: str = "default", n: int = 0) -> Obj:
    return {"kind": "Pod", "metadata": {"name": name, "namespace": ns}, "spec": {"n": n}}


def key(name: str, ns: str = "default") -> str:
    return f"{PREFIX}{ns}/{name}"


def rv(obj: Obj) -> int:
    return int(obj["metadata"]["resourceVersion"])


def versions(listed: ObjectList) -> dict[str, str]:
    return {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in listed.items}


@pytest.fixture
async def storage(backend: Backend) -> KVStorage:
    return KVStorage(backend)


@pytest.fixture
async def cache(storage: KVStorage) -> AsyncIterator[Cacher]:
    async with Cacher(storage, prefix=PREFIX, progress_interval=60) as cacher:
        await cacher.wait_ready()
        yield cacher


def bump(obj: Obj | None) -> Any:
    async def update() -> Obj:
        assert obj is not None
        obj["spec"]["n"] += 1
        return obj

    return update()


async def test_a_list_right_after_a_write_sees_it(storage: KVStorage, cache: Cacher) -> None:
    rng = random.Random(11)
    model: dict[str, str] = {}
    for i in range(150):
        name = f"p{rng.randrange(12):02d}"
        choice = rng.random()
        if choice < 0.2:
            written = await storage.create(f"{ELSEWHERE}cm{i}", {"metadata": {"name": f"cm{i}"}})
        elif name not in model:
            written = await storage.create(key(name), pod(name))
            model[name] = written["metadata"]["resourceVersion"]
        elif choice < 0.4:
            written = await storage.delete(key(name))
            del model[name]
        else:
            written = await storage.guaranteed_update(key(name), bump)
            model[name] = written["metadata"]["resourceVersion"]
        limit = rng.choice([0, 0, 4])
        listed = await cache.get_list(PREFIX, ListOptions(limit=limit))
        assert int(listed.resource_version) >= rv(written)
        expected = sorted(model)[: limit or None]
        assert versions(listed) == {n: model[n] for n in expected}
        if limit and len(model) > limit:
            assert listed.remaining_item_count == len(model) - limit
    stats = cache.statistics()
    assert (stats["consistent_reads"], stats["consistent_read_fallbacks"]) == (150, 0)


async def test_concurrent_writers_each_see_their_own_writes(
    storage: KVStorage, cache: Cacher
) -> None:
    async def client(number: int) -> None:
        name = f"w{number}"
        written = await storage.create(key(name), pod(name))
        for _ in range(15):
            listed = await cache.get_list(PREFIX + "default", ListOptions())
            assert versions(listed)[name] == written["metadata"]["resourceVersion"]
            written = await storage.guaranteed_update(key(name), bump)
        await storage.delete(key(name))
        listed = await cache.get_list(PREFIX, ListOptions())
        assert name not in versions(listed)

    async with asyncio.timeout(60):
        await asyncio.gather(*(client(n) for n in range(8)))
    assert cache.statistics()["consistent_read_fallbacks"] == 0


async def test_watch_list_starts_from_the_latest_state(storage: KVStorage, cache: Cacher) -> None:
    for i in range(3):
        written = await storage.create(key(f"p{i}"), pod(f"p{i}"))
    elsewhere = await storage.create(f"{ELSEWHERE}cm", {"metadata": {"name": "cm"}})
    opts = WatchOptions(send_initial_events=True, bookmarks=True)
    async with asyncio.timeout(10), cache.watch(PREFIX, opts) as stream:
        events = []
        async for event in stream:
            events.append(event)
            if event.type is EventType.BOOKMARK:
                break
    assert [e.object["metadata"]["name"] for e in events[:-1]] == ["p0", "p1", "p2"]
    assert events[-1].object["metadata"]["annotations"] == {INITIAL_EVENTS_END: "true"}
    assert events[-1].resource_version >= max(rv(written), rv(elsewhere))
