"""The storage contract, run against every backend (memory, SQLite, real etcd).

These are the promises of ../shared/RELIABILITY.md that belong to the storage layer: every write
bumps resourceVersion, stale writes conflict, exactly one of concurrent read-modify-writes wins,
paged lists are consistent, watches replay history with no gaps or duplicates, compaction expires
old revisions, and bookmarks never run ahead of events.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from pocketkube.storage.backend import Backend
from pocketkube.storage.errors import (
    AlreadyExists,
    Conflict,
    Expired,
    InvalidRequest,
    NotFound,
    PreconditionFailed,
    TooLargeResourceVersion,
)
from pocketkube.storage.interface import (
    Event,
    EventType,
    ListOptions,
    Obj,
    Preconditions,
    ResourceVersionMatch,
    WatchOptions,
)
from pocketkube.storage.store import KVStorage

PREFIX = "/registry/configmaps/"


def cm(name: str, value: str = "v", *, labels: dict[str, str] | None = None, uid: str = "") -> Obj:
    meta: dict[str, Any] = {"name": name, "namespace": "default", "uid": uid or f"uid-{name}"}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"v": value}}


def key(name: str) -> str:
    return f"{PREFIX}default/{name}"


def rv(obj: Obj) -> int:
    return int(obj["metadata"]["resourceVersion"])


@pytest.fixture
def storage(backend: Backend) -> KVStorage:
    return KVStorage(backend)


async def collect(stream: Any, count: int, within: float = 10.0) -> list[Event]:
    events: list[Event] = []

    async def run() -> None:
        async for event in stream:
            events.append(event)
            if len(events) >= count:
                return

    await asyncio.wait_for(run(), within)
    return events


async def test_create_get_update_delete(storage: KVStorage) -> None:
    created = await storage.create(key("a"), cm("a"))
    assert rv(created) > 0
    assert await storage.get(key("a")) == created

    async def bump(obj: Obj | None) -> Obj:
        assert obj is not None
        obj["data"]["v"] = "w"
        return obj

    updated = await storage.guaranteed_update(key("a"), bump)
    assert rv(updated) > rv(created)
    assert updated["data"] == {"v": "w"}
    assert await storage.get(key("a")) == updated

    deleted = await storage.delete(key("a"))
    assert rv(deleted) > rv(updated)
    assert deleted["data"] == {"v": "w"}
    with pytest.raises(NotFound):
        await storage.get(key("a"))
    recreated = await storage.create(key("a"), cm("a"))
    assert rv(recreated) > rv(deleted)


async def test_create_existing_is_already_exists(storage: KVStorage) -> None:
    await storage.create(key("a"), cm("a"))
    with pytest.raises(AlreadyExists):
        await storage.create(key("a"), cm("a", "other"))
    assert (await storage.get(key("a")))["data"] == {"v": "v"}


async def test_create_with_resource_version_is_refused(storage: KVStorage) -> None:
    obj = cm("a")
    obj["metadata"]["resourceVersion"] = "5"
    with pytest.raises(InvalidRequest):
        await storage.create(key("a"), obj)


async def test_update_of_missing_key_is_not_found(storage: KVStorage) -> None:
    async def same(obj: Obj | None) -> Obj:
        assert obj is not None
        return obj

    with pytest.raises(NotFound):
        await storage.guaranteed_update(key("missing"), same)
    with pytest.raises(NotFound):
        await storage.delete(key("missing"))


async def test_ignore_not_found_creates(storage: KVStorage) -> None:
    async def make(obj: Obj | None) -> Obj:
        assert obj is None
        return cm("new")

    created = await storage.guaranteed_update(key("new"), make, ignore_not_found=True)
    assert await storage.get(key("new")) == created


async def test_stale_revision_conflicts(backend: Backend) -> None:
    first = await backend.create(key("a"), b'{"metadata":{}}')
    second = await backend.update(key("a"), b'{"metadata":{"x":1}}', expected_revision=first)
    with pytest.raises(Conflict) as info:
        await backend.update(key("a"), b'{"metadata":{"x":2}}', expected_revision=first)
    assert info.value.current is not None
    assert info.value.current.mod_revision == second
    with pytest.raises(Conflict):
        await backend.delete(key("a"), expected_revision=first)


async def test_exactly_one_of_sixteen_concurrent_read_modify_writes_wins(
    storage: KVStorage,
) -> None:
    created = await storage.create(key("counter"), cm("counter", "0"))
    data = (await storage.get(key("counter")))["data"]
    assert data == {"v": "0"}

    async def write(i: int) -> bool:
        obj = cm("counter", str(i + 1))
        obj["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]

        async def replace(current: Obj | None) -> Obj:
            return obj

        try:
            await storage.guaranteed_update(
                key("counter"),
                replace,
                preconditions=Preconditions(
                    resource_version=created["metadata"]["resourceVersion"]
                ),
            )
        except Conflict:
            return False
        return True

    results = await asyncio.gather(*(write(i) for i in range(16)))
    assert sum(results) == 1


async def test_concurrent_guaranteed_updates_all_apply(storage: KVStorage) -> None:
    await storage.create(key("counter"), cm("counter", "0"))

    async def increment(obj: Obj | None) -> Obj:
        assert obj is not None
        obj["data"]["v"] = str(int(obj["data"]["v"]) + 1)
        return obj

    await asyncio.gather(*(storage.guaranteed_update(key("counter"), increment) for _ in range(16)))
    assert (await storage.get(key("counter")))["data"]["v"] == "16"


async def test_update_with_no_change_writes_nothing(storage: KVStorage) -> None:
    created = await storage.create(key("a"), cm("a"))

    async def same(obj: Obj | None) -> Obj:
        assert obj is not None
        return obj

    assert await storage.guaranteed_update(key("a"), same) == created
    assert rv(await storage.get(key("a"))) == rv(created)


async def test_stale_suggestion_is_retried_on_fresh_data(storage: KVStorage) -> None:
    stale = await storage.create(key("a"), cm("a", "0"))

    async def increment(obj: Obj | None) -> Obj:
        assert obj is not None
        obj["data"]["v"] = str(int(obj["data"]["v"]) + 1)
        return obj

    await storage.guaranteed_update(key("a"), increment)
    result = await storage.guaranteed_update(key("a"), increment, suggestion=stale)
    assert result["data"]["v"] == "2"


@pytest.mark.parametrize(
    "preconditions",
    [
        Preconditions(uid="someone-else"),
        Preconditions(resource_version="123456789"),
    ],
)
async def test_preconditions_refuse_update_and_delete(
    storage: KVStorage, preconditions: Preconditions
) -> None:
    await storage.create(key("a"), cm("a"))

    async def change(obj: Obj | None) -> Obj:
        assert obj is not None
        obj["data"]["v"] = "changed"
        return obj

    with pytest.raises(PreconditionFailed):
        await storage.guaranteed_update(key("a"), change, preconditions=preconditions)
    with pytest.raises(PreconditionFailed):
        await storage.delete(key("a"), preconditions=preconditions)
    assert (await storage.get(key("a")))["data"] == {"v": "v"}


async def test_matching_preconditions_allow_delete(storage: KVStorage) -> None:
    created = await storage.create(key("a"), cm("a"))
    meta = created["metadata"]
    await storage.delete(
        key("a"),
        preconditions=Preconditions(uid=meta["uid"], resource_version=meta["resourceVersion"]),
    )
    with pytest.raises(NotFound):
        await storage.get(key("a"))


async def test_paged_list_is_consistent_at_the_first_pages_revision(storage: KVStorage) -> None:
    names = [f"item-{i:02d}" for i in range(10)]
    for name in names:
        await storage.create(key(name), cm(name))
    first = await storage.get_list(PREFIX, ListOptions(limit=3))
    assert [o["metadata"]["name"] for o in first.items] == names[:3]
    assert first.continue_token
    # Changes after the first page must not show up in later pages.
    await storage.create(key("item-99"), cm("item-99"))
    await storage.delete(key("item-05"))

    async def change(obj: Obj | None) -> Obj:
        assert obj is not None
        obj["data"]["v"] = "changed"
        return obj

    await storage.guaranteed_update(key("item-07"), change)
    seen = list(first.items)
    token = first.continue_token
    while token:
        page = await storage.get_list(PREFIX, ListOptions(limit=3, continue_token=token))
        assert page.resource_version == first.resource_version
        seen.extend(page.items)
        token = page.continue_token
    assert [o["metadata"]["name"] for o in seen] == names
    assert all(o["data"] == {"v": "v"} for o in seen)


@pytest.mark.parametrize("limit", [0, 3])
async def test_raw_items_only_lists_the_same_objects(storage: KVStorage, limit: int) -> None:
    # Objects whose stored layout differs: metadata first, a nested "metadata" before the
    # object's own, an empty-looking object, and a value that mentions resourceVersion.
    objects = [
        cm("a"),
        {"metadata": {"name": "b", "namespace": "default"}, "kind": "ConfigMap"},
        {"data": {"metadata": {"x": "y"}}, "metadata": {"name": "c", "namespace": "default"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d"}, "data": {}},
        cm("e", '"resourceVersion":"1"'),
    ]
    for obj in objects:
        await storage.create(key(obj["metadata"]["name"]), obj)
    await storage.guaranteed_update(key("a"), _set_value("changed"))
    decoded = await storage.get_list(PREFIX, ListOptions(limit=limit))
    raw = await storage.get_list(PREFIX, ListOptions(limit=limit, raw_items_only=True))
    assert raw.resource_version == decoded.resource_version
    assert raw.continue_token == decoded.continue_token
    items = raw.items if raw.raw_items is None else [orjson.loads(r) for r in raw.raw_items]
    assert items == decoded.items
    assert len(items) == (limit or len(objects))


def _set_value(value: str) -> Any:
    async def update(obj: Obj | None) -> Obj:
        assert obj is not None
        obj["data"]["v"] = value
        return obj

    return update


async def test_list_with_predicate_and_limit_fills_pages(storage: KVStorage) -> None:
    for i in range(20):
        labels = {"app": "web" if i % 3 == 0 else "db"}
        await storage.create(key(f"item-{i:02d}"), cm(f"item-{i:02d}", labels=labels))

    def web(obj: Obj) -> bool:
        return bool(obj["metadata"].get("labels", {}).get("app") == "web")

    seen: list[str] = []
    token = ""
    while True:
        page = await storage.get_list(
            PREFIX, ListOptions(limit=2, continue_token=token, predicate=web)
        )
        seen.extend(o["metadata"]["name"] for o in page.items)
        token = page.continue_token
        if not token:
            break
        assert len(page.items) == 2
    assert seen == [f"item-{i:02d}" for i in range(20) if i % 3 == 0]


async def test_continue_token_expires_after_compaction(
    storage: KVStorage, backend: Backend
) -> None:
    for i in range(5):
        await storage.create(key(f"item-{i}"), cm(f"item-{i}"))
    first = await storage.get_list(PREFIX, ListOptions(limit=2))
    for i in range(5):
        await storage.delete(key(f"item-{i}"))
    await backend.compact(await backend.current_revision())
    with pytest.raises(Expired):
        await storage.get_list(PREFIX, ListOptions(limit=2, continue_token=first.continue_token))


@pytest.mark.parametrize(
    "token",
    ["not-base64!!", "e30", "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MSwic3RhcnQiOiIuLi94In0"],
)
async def test_malformed_continue_token_is_a_bad_request(storage: KVStorage, token: str) -> None:
    with pytest.raises(InvalidRequest):
        await storage.get_list(PREFIX, ListOptions(limit=2, continue_token=token))


async def test_list_at_exact_revision_shows_the_past(storage: KVStorage) -> None:
    before = await storage.create(key("a"), cm("a", "old"))

    async def change(obj: Obj | None) -> Obj:
        assert obj is not None
        obj["data"]["v"] = "new"
        return obj

    await storage.guaranteed_update(key("a"), change)
    await storage.create(key("b"), cm("b"))
    past = await storage.get_list(
        PREFIX,
        ListOptions(
            resource_version=str(rv(before)),
            resource_version_match=ResourceVersionMatch.EXACT,
        ),
    )
    assert past.resource_version == str(rv(before))
    assert [(o["metadata"]["name"], o["data"]["v"]) for o in past.items] == [("a", "old")]


async def test_list_newer_than_the_store_is_too_large(storage: KVStorage, backend: Backend) -> None:
    current = await backend.current_revision()
    with pytest.raises(TooLargeResourceVersion):
        await storage.get_list(
            PREFIX,
            ListOptions(
                resource_version=str(current + 100),
                resource_version_match=ResourceVersionMatch.NOT_OLDER_THAN,
            ),
        )


async def test_watch_replays_history_in_order_without_gaps(storage: KVStorage) -> None:
    start = await storage.create(key("w0"), cm("w0"))
    expected: list[tuple[EventType, str, int]] = []
    for i in range(1, 30):
        obj = await storage.create(key(f"w{i}"), cm(f"w{i}"))
        expected.append((EventType.ADDED, f"w{i}", rv(obj)))
        if i % 3 == 0:
            gone = await storage.delete(key(f"w{i - 1}"))
            expected.append((EventType.DELETED, f"w{i - 1}", rv(gone)))
    async with storage.watch(PREFIX, WatchOptions(resource_version=str(rv(start)))) as stream:
        events = await collect(stream, len(expected))
    got = [(e.type, e.object["metadata"]["name"], e.resource_version) for e in events]
    assert got == expected


async def test_watch_delivers_live_changes_after_history(storage: KVStorage) -> None:
    start = await storage.create(key("a"), cm("a"))
    async with storage.watch(PREFIX, WatchOptions(resource_version=str(rv(start)))) as stream:
        collector = asyncio.create_task(collect(stream, 20))
        revisions = [rv(await storage.create(key(f"live-{i}"), cm(f"live-{i}"))) for i in range(20)]
        events = await collector
    assert [e.resource_version for e in events] == revisions


async def test_watch_from_compacted_revision_is_expired(
    storage: KVStorage, backend: Backend
) -> None:
    first = await storage.create(key("a"), cm("a"))
    for i in range(5):
        await storage.create(key(f"b{i}"), cm(f"b{i}"))
    await backend.compact(await backend.current_revision())
    with pytest.raises(Expired):
        async with storage.watch(PREFIX, WatchOptions(resource_version=str(rv(first)))) as stream:
            await collect(stream, 1)


async def test_watch_from_zero_starts_with_current_state(storage: KVStorage) -> None:
    await storage.create(key("a"), cm("a"))
    await storage.create(key("b"), cm("b"))
    async with storage.watch(PREFIX, WatchOptions(resource_version="0")) as stream:
        collector = asyncio.create_task(collect(stream, 3))
        await asyncio.sleep(0.2)
        await storage.create(key("c"), cm("c"))
        events = await collector
    assert [(e.type, e.object["metadata"]["name"]) for e in events] == [
        (EventType.ADDED, "a"),
        (EventType.ADDED, "b"),
        (EventType.ADDED, "c"),
    ]


async def test_watch_of_a_single_key(storage: KVStorage) -> None:
    start = await storage.create(key("a"), cm("a"))
    await storage.create(key("ab"), cm("ab"))
    deleted = await storage.delete(key("a"))
    opts = WatchOptions(resource_version=str(rv(start)), recursive=False)
    async with storage.watch(key("a"), opts) as stream:
        events = await collect(stream, 1)
    assert [(e.type, e.resource_version) for e in events] == [(EventType.DELETED, rv(deleted))]


async def test_selector_transitions_are_added_and_deleted(storage: KVStorage) -> None:
    start = await storage.create(key("a"), cm("a", labels={"app": "web"}))

    def web(obj: Obj) -> bool:
        return bool(obj["metadata"].get("labels", {}).get("app") == "web")

    async def relabel(app: str) -> Obj:
        async def change(obj: Obj | None) -> Obj:
            assert obj is not None
            obj["metadata"]["labels"] = {"app": app}
            return obj

        return await storage.guaranteed_update(key("a"), change)

    left = await relabel("db")
    await relabel("cache")  # invisible: neither before nor after matches
    back = await relabel("web")
    opts = WatchOptions(resource_version=str(rv(start)), predicate=web)
    async with storage.watch(PREFIX, opts) as stream:
        events = await collect(stream, 2)
    assert [(e.type, e.resource_version) for e in events] == [
        (EventType.DELETED, rv(left)),
        (EventType.ADDED, rv(back)),
    ]


async def test_bookmarks_never_precede_events_at_or_below_them(storage: KVStorage) -> None:
    start = await storage.create(key("start"), cm("start"))
    opts = WatchOptions(resource_version=str(rv(start)), bookmarks=True, progress_interval=0.05)
    seen: list[Event] = []
    async with storage.watch(PREFIX, opts) as stream:

        async def read() -> None:
            async for event in stream:
                seen.append(event)
                if event.type is EventType.ADDED and event.object["metadata"]["name"] == "last":
                    return

        reader = asyncio.create_task(read())
        for i in range(30):
            await storage.create(key(f"x{i}"), cm(f"x{i}"))
            if i % 5 == 0:
                await asyncio.sleep(0.12)
        await asyncio.sleep(0.2)
        await storage.create(key("last"), cm("last"))
        await asyncio.wait_for(reader, 10)
    bookmarks = [e for e in seen if e.type is EventType.BOOKMARK]
    assert bookmarks, "an idle watch with bookmarks sends bookmarks"
    highest_bookmark = 0
    for event in seen:
        if event.type is EventType.BOOKMARK:
            assert event.resource_version >= highest_bookmark
            highest_bookmark = event.resource_version
        else:
            assert event.resource_version > highest_bookmark


async def test_progress_requests_are_answered_with_bookmarks(storage: KVStorage) -> None:
    start = await storage.create(key("a"), cm("a"))
    opts = WatchOptions(resource_version=str(rv(start)), bookmarks=True, progress_interval=60)
    async with storage.watch(PREFIX, opts) as stream:
        changed = await storage.guaranteed_update(key("a"), _set_value("b"))
        elsewhere = await storage.create("/registry/secrets/default/s", cm("s"))
        stream.request_progress()  # before the watch runs: kept until it does
        first = await collect(stream, 2, within=5)
        # On a running, idle watch whose key range is quiet while others change:
        again = await storage.create("/registry/secrets/default/t", cm("t"))
        stream.request_progress()
        stream.request_progress()  # requests before the answer share it
        second = await collect(stream, 1, within=5)
    assert [(e.type, e.resource_version) for e in first[:1]] == [(EventType.MODIFIED, rv(changed))]
    assert first[1].type is EventType.BOOKMARK
    assert first[1].resource_version >= rv(elsewhere)
    assert second[0].type is EventType.BOOKMARK
    assert second[0].resource_version >= rv(again)


async def test_count(storage: KVStorage) -> None:
    for i in range(4):
        await storage.create(key(f"c{i}"), cm(f"c{i}"))
    await storage.create("/registry/secrets/default/s", cm("s"))
    assert await storage.count(PREFIX) == 4


async def test_count_from_a_key_at_a_revision(storage: KVStorage, backend: Backend) -> None:
    for i in range(4):
        await storage.create(key(f"c{i}"), cm(f"c{i}"))
    before = await backend.current_revision()
    await storage.delete(key("c2"))
    await storage.create(key("c9"), cm("c9"))
    assert await backend.count(PREFIX, start_key=key("c1")) == 3  # c1, c3, c9
    assert await backend.count(PREFIX, start_key=key("c1") + "\x00", revision=before) == 2
    assert await backend.count(PREFIX, start_key="/a", revision=before) == 4  # before the prefix
    with pytest.raises(TooLargeResourceVersion):
        await backend.count(PREFIX, revision=before + 100)


@pytest.mark.parametrize("raw", [False, True])
async def test_limited_list_counts_the_items_after_the_page(storage: KVStorage, raw: bool) -> None:
    names = [f"item-{i}" for i in range(7)]
    for name in names:
        await storage.create(key(name), cm(name))
    await storage.create(f"{PREFIX}other/x", cm("x"))  # another namespace: not in the list
    await storage.create("/registry/secrets/default/s", cm("s"))  # another resource
    namespace = PREFIX + "default"
    first = await storage.get_list(namespace, ListOptions(limit=2, raw_items_only=raw))
    assert first.remaining_item_count == 5
    # Counted at the first page's revision: later writes change nothing for the next pages.
    await storage.delete(key("item-3"))
    await storage.create(key("item-8"), cm("item-8"))
    token, remaining = first.continue_token, []
    while token:
        page = await storage.get_list(
            namespace, ListOptions(limit=2, continue_token=token, raw_items_only=raw)
        )
        remaining.append(page.remaining_item_count)
        token = page.continue_token
    assert remaining == [3, 1, None]  # the last page has nothing after it
    everything = await storage.get_list(namespace, ListOptions(raw_items_only=raw))
    assert everything.remaining_item_count is None
    exact = await storage.get_list(namespace, ListOptions(limit=7))
    assert (exact.continue_token, exact.remaining_item_count) == ("", None)


async def test_limited_list_with_a_predicate_leaves_the_count_out(storage: KVStorage) -> None:
    for i in range(5):
        await storage.create(key(f"item-{i}"), cm(f"item-{i}", labels={"app": "web"}))
    listed = await storage.get_list(
        PREFIX, ListOptions(limit=2, predicate=lambda obj: "labels" in obj["metadata"])
    )
    assert listed.continue_token
    assert listed.remaining_item_count is None


@pytest.mark.parametrize("huge", ["9223372036854775807", "9999999999999999999", "-1", "x"])
async def test_out_of_range_resource_versions_are_bad_requests(
    storage: KVStorage, huge: str
) -> None:
    with pytest.raises(InvalidRequest):
        await storage.get_list(PREFIX, ListOptions(resource_version=huge))
    with pytest.raises(InvalidRequest):
        async with storage.watch(PREFIX, WatchOptions(resource_version=huge)) as stream:
            await collect(stream, 1)


async def test_a_huge_limit_lists_everything(storage: KVStorage) -> None:
    await storage.create(key("a"), cm("a"))
    listed = await storage.get_list(PREFIX, ListOptions(limit=2**63))
    assert [o["metadata"]["name"] for o in listed.items] == ["a"]
    with pytest.raises(InvalidRequest):
        await storage.get_list(PREFIX, ListOptions(limit=-1))


async def test_single_key_list_honours_resource_version(storage: KVStorage) -> None:
    first = await storage.create(key("a"), cm("a", "one"))

    async def change(obj: Obj | None) -> Obj:
        assert obj is not None
        obj["data"]["v"] = "two"
        return obj

    await storage.guaranteed_update(key("a"), change)
    exact = ListOptions(
        resource_version=str(rv(first)),
        resource_version_match=ResourceVersionMatch.EXACT,
        recursive=False,
    )
    past = await storage.get_list(key("a"), exact)
    assert [o["data"]["v"] for o in past.items] == ["one"]
    future = ListOptions(resource_version=str(rv(first) + 1000), recursive=False)
    with pytest.raises(TooLargeResourceVersion):
        await storage.get_list(key("a"), future)


async def test_names_with_dots_page_through(storage: KVStorage) -> None:
    for name in ("a..b", "a..c", "a..d"):
        await storage.create(key(name), cm(name))
    first = await storage.get_list(PREFIX, ListOptions(limit=1))
    second = await storage.get_list(
        PREFIX, ListOptions(limit=5, continue_token=first.continue_token)
    )
    assert [o["metadata"]["name"] for o in second.items] == ["a..c", "a..d"]
