"""EtcdBackend against a private real etcd: what the shared contract suite cannot reach.

Error details (Conflict's current value, the compacted revision inside Expired), watch replay
across etcd's catch-up batches, progress batches, endpoint parsing, and what happens when etcd
goes away. Tests share the session's etcd and stay apart through unique key prefixes; the ones
that stop etcd get their own.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pocketkube.storage.backend import EventType, KVEvent, WatchBatch
from pocketkube.storage.errors import (
    AlreadyExists,
    Conflict,
    Expired,
    NotFound,
    TooLargeResourceVersion,
    Unavailable,
)
from pocketkube.storage.etcd import Endpoints, EtcdBackend, channel_target, parse_endpoint
from pocketkube.storage.etcd_rpc import bytes_prefix_end
from tests.etcd_server import (
    NOT_INSTALLED,
    EtcdServer,
    etcd_binary,
    free_port,
    make_tls_files,
    running_etcd,
)

pytestmark = pytest.mark.etcd


def unique_prefix() -> str:
    return f"/test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def etcd(etcd_server: EtcdServer) -> AsyncIterator[EtcdBackend]:
    backend = EtcdBackend.from_endpoint(etcd_server.endpoint, key_prefix=unique_prefix())
    await backend.start()
    try:
        yield backend
    finally:
        await backend.close()


async def collect(
    watch: AsyncIterator[WatchBatch], events: int, within: float = 10.0
) -> list[WatchBatch]:
    """Batches until ``events`` events have arrived (progress batches included in the result)."""
    batches: list[WatchBatch] = []

    async def run() -> None:
        seen = 0
        async for batch in watch:
            batches.append(batch)
            seen += len(batch.events)
            if seen >= events:
                return

    await asyncio.wait_for(run(), within)
    return batches


def flatten(batches: list[WatchBatch]) -> list[KVEvent]:
    return [event for batch in batches for event in batch.events]


def other_tasks() -> set[asyncio.Task[object]]:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}


async def assert_no_tasks_beyond(before: set[asyncio.Task[object]]) -> None:
    """Our tasks end within close(); gRPC's status task of a cancelled call a moment later."""
    for _ in range(100):
        if not (left := other_tasks() - before):
            break
        await asyncio.sleep(0.01)
    assert not left


# -- endpoints ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("etcd://127.0.0.1:2379", Endpoints((("127.0.0.1", 2379),), tls=False)),
        (
            "etcd://127.0.0.1:2379,127.0.0.1:22379",
            Endpoints((("127.0.0.1", 2379), ("127.0.0.1", 22379)), tls=False),
        ),
        ("http://etcd-0:2379/", Endpoints((("etcd-0", 2379),), tls=False)),
        (
            "https://etcd-0:2379,https://etcd-1",
            Endpoints((("etcd-0", 2379), ("etcd-1", 2379)), tls=True),
        ),
        ("etcds://[::1]:4001", Endpoints((("::1", 4001),), tls=True)),
    ],
)
def test_parse_endpoint(endpoint: str, expected: Endpoints) -> None:
    assert parse_endpoint(endpoint) == expected


@pytest.mark.parametrize(
    "endpoint",
    ["127.0.0.1:2379", "sqlite://x", "etcd://", "etcd://a:port", "https://a,http://b"],
)
def test_bad_endpoints_are_refused(endpoint: str) -> None:
    with pytest.raises(ValueError, match="etcd endpoint"):
        parse_endpoint(endpoint)


def test_tls_files_need_a_tls_endpoint() -> None:
    with pytest.raises(ValueError, match="etcds://"):
        EtcdBackend.from_endpoint("etcd://127.0.0.1:2379", ca_file="/nonexistent/ca.crt")


@pytest.mark.parametrize(
    ("addresses", "target"),
    [
        ((("127.0.0.1", 2379),), "127.0.0.1:2379"),
        ((("etcd-0", 2379),), "etcd-0:2379"),
        ((("::1", 2379),), "[::1]:2379"),
        ((("127.0.0.1", 1), ("127.0.0.2", 2)), "ipv4:127.0.0.1:1,127.0.0.2:2"),
        ((("::1", 1), ("::2", 2)), "ipv6:[::1]:1,[::2]:2"),
        ((("localhost", 1), ("127.0.0.2", 2)), "ipv4:127.0.0.1:1,127.0.0.2:2"),
    ],
)
async def test_channel_target(addresses: tuple[tuple[str, int], ...], target: str) -> None:
    assert await channel_target(addresses) == target


@pytest.mark.parametrize(
    ("prefix", "end"),
    [(b"/a/", b"/a0"), (b"a\xff", b"b"), (b"\xff\xff", b"\x00"), (b"", b"\x00")],
)
def test_bytes_prefix_end(prefix: bytes, end: bytes) -> None:
    assert bytes_prefix_end(prefix) == end


# -- writes ------------------------------------------------------------------------------------
async def test_create_update_delete(etcd: EtcdBackend) -> None:
    created = await etcd.create("/a", b"1")
    with pytest.raises(AlreadyExists):
        await etcd.create("/a", b"other")
    kv, read_at = await etcd.get("/a")
    assert kv is not None
    assert (kv.key, kv.value, kv.create_revision, kv.mod_revision) == ("/a", b"1", created, created)
    assert read_at >= created

    updated = await etcd.update("/a", b"2", expected_revision=created)
    assert updated > created
    with pytest.raises(Conflict) as conflict:
        await etcd.update("/a", b"3", expected_revision=created)
    current = conflict.value.current
    assert current is not None
    assert (current.value, current.mod_revision) == (b"2", updated)
    assert current.create_revision == created
    with pytest.raises(Conflict):
        await etcd.delete("/a", expected_revision=created)

    deleted_at, gone = await etcd.delete("/a", expected_revision=updated)
    assert deleted_at > updated
    assert (gone.key, gone.value, gone.mod_revision) == ("/a", b"2", updated)
    assert await etcd.get("/a") == (None, await etcd.current_revision())
    with pytest.raises(NotFound):
        await etcd.update("/a", b"4", expected_revision=updated)
    with pytest.raises(NotFound):
        await etcd.delete("/a")
    with pytest.raises(NotFound):
        await etcd.delete("/a", expected_revision=updated)


async def test_revision_zero_means_unconditional_on_a_live_key(etcd: EtcdBackend) -> None:
    with pytest.raises(NotFound):
        await etcd.update("/a", b"x", expected_revision=0)
    await etcd.create("/a", b"1")
    second = await etcd.update("/a", b"2", expected_revision=0)
    deleted_at, gone = await etcd.delete("/a")
    assert deleted_at > second
    assert gone.value == b"2"


async def test_key_prefixes_keep_backends_apart(etcd: EtcdBackend, etcd_server: EtcdServer) -> None:
    neighbour = EtcdBackend.from_endpoint(etcd_server.endpoint, key_prefix=unique_prefix())
    await neighbour.start()
    try:
        await etcd.create("/shared", b"mine")
        await neighbour.create("/shared", b"theirs")
        assert (await etcd.get("/shared"))[0].value == b"mine"  # type: ignore[union-attr]
        assert [kv.key for kv in (await neighbour.list("/")).kvs] == ["/shared"]
        assert await etcd.count("") == 1
    finally:
        await neighbour.close()


# -- reads -------------------------------------------------------------------------------------
async def test_reads_at_past_revisions_and_pages(etcd: EtcdBackend) -> None:
    for name in "abcde":
        await etcd.create(f"/items/{name}", name.encode())
    before = await etcd.current_revision()
    await etcd.update("/items/a", b"changed", expected_revision=0)
    await etcd.delete("/items/b")
    await etcd.create("/itemsx", b"not under /items/")

    old = await etcd.list("/items/", revision=before)
    assert old.revision == before
    assert [(kv.key, kv.value) for kv in old.kvs] == [(f"/items/{n}", n.encode()) for n in "abcde"]
    assert (await etcd.get("/items/a", revision=before))[0].value == b"a"  # type: ignore[union-attr]
    assert (await etcd.get("/items/b", revision=before))[1] == before

    page = await etcd.list("/items/", limit=2)
    assert [kv.key for kv in page.kvs] == ["/items/a", "/items/c"]
    assert page.more
    rest = await etcd.list("/items/", start_key="/items/d", revision=page.revision)
    assert [kv.key for kv in rest.kvs] == ["/items/d", "/items/e"]
    assert not rest.more
    assert await etcd.count("/items/") == 4


async def test_future_revision_is_too_large(etcd: EtcdBackend) -> None:
    current = await etcd.current_revision()
    with pytest.raises(TooLargeResourceVersion) as info:
        await etcd.get("/a", revision=current + 1000)
    assert info.value.requested == current + 1000
    assert info.value.current >= current
    with pytest.raises(TooLargeResourceVersion):
        await etcd.list("/", revision=current + 1000)


async def test_compaction_expires_old_reads(etcd: EtcdBackend, etcd_server: EtcdServer) -> None:
    first = await etcd.create("/a", b"1")
    middle = await etcd.update("/a", b"2", expected_revision=first)
    await etcd.update("/a", b"3", expected_revision=middle)
    await etcd.compact(middle)
    assert await etcd.compacted_revision() == middle
    with pytest.raises(Expired) as info:
        await etcd.get("/a", revision=first)
    assert info.value.compacted_revision == middle
    with pytest.raises(Expired):
        await etcd.list("/", revision=first)
    assert (await etcd.get("/a", revision=middle))[0].value == b"2"  # type: ignore[union-attr]
    await etcd.compact(middle)  # again: a no-op
    await etcd.compact(first)  # below: a no-op

    # Another client learns the compacted revision from etcd itself.
    stranger = EtcdBackend.from_endpoint(etcd_server.endpoint, key_prefix=unique_prefix())
    await stranger.start()
    try:
        assert await stranger.compacted_revision() == middle
        await stranger.compact(await stranger.current_revision() + 100)  # clamped to now
        assert await etcd.compacted_revision() == await etcd.current_revision()
    finally:
        await stranger.close()


# -- watches -----------------------------------------------------------------------------------
async def test_watch_replays_history_with_previous_values(etcd: EtcdBackend) -> None:
    created = await etcd.create("/w/a", b"1")
    updated = await etcd.update("/w/a", b"2", expected_revision=created)
    deleted, _ = await etcd.delete("/w/a")
    await etcd.create("/elsewhere", b"x")
    recreated = await etcd.create("/w/a", b"3")
    async with etcd.watch("/w/", start_revision=created) as watch:
        batches = await collect(watch, 4)
    events = flatten(batches)
    assert [(e.type, e.revision, e.kv.value) for e in events] == [
        (EventType.PUT, created, b"1"),
        (EventType.PUT, updated, b"2"),
        (EventType.DELETE, deleted, b""),
        (EventType.PUT, recreated, b"3"),
    ]
    assert [e.prev.value if e.prev else None for e in events] == [None, b"1", b"2", None]
    assert [e.created for e in events] == [True, False, False, True]
    assert events[2].kv.create_revision == created
    assert all(e.kv.key == "/w/a" for e in events)
    assert all(b.revision == b.events[-1].revision for b in batches)


async def test_watch_from_now_and_of_one_key(etcd: EtcdBackend) -> None:
    await etcd.create("/k", b"before")
    async with etcd.watch("/k", prefix=False) as watch:
        collector = asyncio.create_task(collect(watch, 2))
        await asyncio.sleep(0.2)
        await etcd.create("/k2", b"a sibling, not the key")
        first = await etcd.update("/k", b"1", expected_revision=0)
        second, _ = await etcd.delete("/k")
        events = flatten(await collector)
    assert [(e.type, e.revision) for e in events] == [
        (EventType.PUT, first),
        (EventType.DELETE, second),
    ]


async def test_watch_replays_across_etcd_catch_up_batches(etcd: EtcdBackend) -> None:
    """etcd sends a catching-up watcher at most 1000 revisions per response; progress batches
    must not slip in between them."""
    start = await etcd.current_revision() + 1
    total = 2500

    async def writer(first: int) -> None:
        for i in range(first, total, 50):
            await etcd.create(f"/many/{i:05d}", b"x" * 100)

    await asyncio.gather(*(writer(i) for i in range(50)))
    async with etcd.watch("/many/", start_revision=start, progress_interval=0.02) as watch:
        batches = await collect(watch, total, within=60)
    revisions = [e.revision for e in flatten(batches)]
    assert len(revisions) == total
    assert revisions == sorted(set(revisions))
    delivered = 0
    for batch in batches:
        if batch.events:
            assert batch.events[0].revision > delivered
        else:
            assert batch.revision >= delivered
        delivered = batch.revision


async def test_idle_watch_sends_progress_batches(etcd: EtcdBackend) -> None:
    async with etcd.watch("/p/", progress_interval=0.1) as watch:
        iterator = aiter(watch)
        idle = await asyncio.wait_for(anext(iterator), 5)
        assert idle.events == ()
        assert idle.revision >= await etcd.current_revision() - 1
        written = await etcd.create("/p/a", b"1")
        batch = await asyncio.wait_for(anext(iterator), 5)
        assert [e.revision for e in batch.events] == [written]
        await etcd.create("/other", b"outside the watch")
        after = await etcd.current_revision()
        progress = await asyncio.wait_for(anext(iterator), 5)
        assert progress.events == ()
        assert progress.revision >= after


async def test_progress_never_overtakes_a_watcher_catching_up(etcd: EtcdBackend) -> None:
    """A watcher starting in the past is out of sync in etcd until its catch-up loop comes round,
    while etcd 3.4 answers progress requests at once: the watch checks the store instead."""
    start = await etcd.current_revision() + 1
    written = [await etcd.create(f"/cu/{i}", b"x") for i in range(3)]
    elsewhere = await etcd.create("/elsewhere", b"y")
    async with etcd.watch("/cu/", start_revision=start, progress_interval=60) as watch:
        watch.request_progress()
        batches: list[WatchBatch] = []
        async with asyncio.timeout(10):
            async for batch in watch:
                batches.append(batch)
                if not batch.events:
                    break
    assert [e.revision for e in flatten(batches)] == written
    assert batches[-1].revision >= elsewhere


async def test_unchanged_since(etcd: EtcdBackend) -> None:
    begin, end = etcd.codec.span("/u/")
    assert await etcd.unchanged_since(begin, end, 0, 0) == await etcd.current_revision()
    a = await etcd.create("/u/a", b"1")
    b = await etcd.create("/u/b", b"1")
    assert [await etcd.range_count(begin, end, r) for r in (0, a - 1, a, b)] == [0, 0, 1, 2]
    assert await etcd.unchanged_since(begin, end, a, 1) == 0  # b was created after a
    elsewhere = await etcd.create("/elsewhere", b"x")
    assert await etcd.unchanged_since(begin, end, b, 2) == elsewhere
    assert await etcd.unchanged_since(begin, end, b, 3) == 0  # not the count given
    updated = await etcd.update("/u/a", b"2", expected_revision=a)
    assert await etcd.unchanged_since(begin, end, b, 2) == 0
    assert await etcd.unchanged_since(begin, end, updated, 2) == updated
    deleted, _ = await etcd.delete("/u/b")
    assert await etcd.unchanged_since(begin, end, updated, 2) == 0  # one key fewer
    assert await etcd.unchanged_since(begin, end, deleted, 1) == deleted
    created = await etcd.create("/u/c", b"1")
    deleted, _ = await etcd.delete("/u/a")
    assert await etcd.range_count(begin, end, created - 1) == 1
    assert await etcd.unchanged_since(begin, end, created - 1, 1) == 0  # as many, but others
    await etcd.compact(deleted)
    with pytest.raises(Expired):
        await etcd.range_count(begin, end, updated)
    with pytest.raises(TooLargeResourceVersion):
        await etcd.range_count(begin, end, deleted + 100)


async def test_watch_from_compacted_revision_is_expired(etcd: EtcdBackend) -> None:
    first = await etcd.create("/c/a", b"1")
    second = await etcd.update("/c/a", b"2", expected_revision=first)
    await etcd.compact(second)
    with pytest.raises(Expired) as info:
        async with etcd.watch("/c/", start_revision=first) as watch:
            await collect(watch, 1)
    assert info.value.compacted_revision >= second
    async with etcd.watch("/c/", start_revision=second) as watch:
        assert [e.revision for e in flatten(await collect(watch, 1))] == [second]


async def test_close_ends_iteration_and_leaves_no_tasks(etcd: EtcdBackend) -> None:
    before = other_tasks()
    watch = etcd.watch("/x/", progress_interval=0.05)
    got: list[WatchBatch] = []

    async def consume() -> None:
        async for batch in watch:
            got.append(batch)

    consumer = asyncio.create_task(consume())
    await asyncio.sleep(0.3)
    await watch.close()
    await asyncio.wait_for(consumer, 2)
    assert got, "progress batches arrived while the watch was open"
    await assert_no_tasks_beyond(before)

    # Closing the backend ends the watches still open on it.
    second = etcd.watch("/x/")
    consumer = asyncio.create_task(consume_all(second))
    await asyncio.sleep(0.2)
    await etcd.close()
    await asyncio.wait_for(consumer, 2)
    await assert_no_tasks_beyond(before)


async def consume_all(watch: AsyncIterator[WatchBatch]) -> None:
    async for _ in watch:
        pass


# -- etcd going away ---------------------------------------------------------------------------
async def test_calls_fail_fast_while_etcd_is_down_and_recover() -> None:
    with running_etcd() as server:
        backend = EtcdBackend.from_endpoint(server.endpoint, timeout=2.0)
        await backend.start()
        try:
            await backend.create("/a", b"1")
            watch = backend.watch("/", progress_interval=0.1)
            watcher = asyncio.create_task(consume_all(watch))
            await asyncio.sleep(0.2)
            server.stop()
            started = time.monotonic()
            with pytest.raises(Unavailable):
                await backend.get("/a")
            with pytest.raises(Unavailable):
                await backend.create("/b", b"2")
            with pytest.raises(Unavailable):
                await asyncio.wait_for(watcher, 5)
            assert time.monotonic() - started < 6

            server.start()
            deadline = time.monotonic() + 10
            while True:
                try:
                    assert (await backend.get("/a"))[0] is not None
                    break
                except Unavailable:
                    assert time.monotonic() < deadline, "the backend did not reconnect"
                    await asyncio.sleep(0.1)
        finally:
            await backend.close()


async def test_start_without_etcd_is_unavailable() -> None:
    backend = EtcdBackend.from_endpoint(f"etcd://127.0.0.1:{free_port()}", connect_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(Unavailable):
        await backend.start()
    assert time.monotonic() - started < 3
    with pytest.raises(Unavailable):
        await backend.get("/a")


async def test_a_dead_member_is_skipped(etcd_server: EtcdServer) -> None:
    endpoint = f"etcd://127.0.0.1:{free_port()},{etcd_server.address}"
    backend = EtcdBackend.from_endpoint(endpoint, key_prefix=unique_prefix())
    await backend.start()
    try:
        for i in range(10):  # round robin would hit the dead member half the time
            await backend.create(f"/k{i}", b"x")
        assert await backend.count("/") == 10
    finally:
        await backend.close()


async def test_tls_with_client_certificates(tmp_path: Path) -> None:
    if etcd_binary() is None:
        pytest.skip(NOT_INSTALLED)
    tls = make_tls_files(tmp_path)
    files = {"ca_file": str(tls.ca), "cert_file": str(tls.cert), "key_file": str(tls.key)}
    with EtcdServer(tls=tls) as server:
        for endpoint in (
            server.endpoint,
            f"https://127.0.0.1:{free_port()},https://{server.address}",  # a dead member first
        ):
            backend = EtcdBackend.from_endpoint(endpoint, key_prefix=unique_prefix(), **files)
            await backend.start()
            try:
                revision = await backend.create("/a", b"secret")
                assert (await backend.get("/a"))[0].mod_revision == revision  # type: ignore[union-attr]
            finally:
                await backend.close()
        for refused in (
            EtcdBackend.from_endpoint(f"etcd://{server.address}", connect_timeout=1),
            EtcdBackend.from_endpoint(server.endpoint, ca_file=str(tls.ca), connect_timeout=1),
        ):
            with pytest.raises(Unavailable):
                await refused.start()
