"""The informer's reflector and handler semantics against a scripted fake list/watch."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from pocketkube.client import ApiError, Informer, TransportError, WatchEvent
from pocketkube.client.resources import CONFIGMAPS
from pocketkube.client.rest import Obj, Params

Step = WatchEvent | BaseException


def cm(name: str, rv: int) -> Obj:
    # As kube-apiserver lists them: no apiVersion/kind on the items.
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": str(rv)}}


def page(rv: int, *items: Obj, token: str | None = None) -> Obj:
    meta: dict[str, Any] = {"resourceVersion": str(rv)}
    if token:
        meta["continue"] = token
    return {"kind": "ConfigMapList", "metadata": meta, "items": list(items)}


def event(kind: str, obj: Obj) -> WatchEvent:
    return WatchEvent(kind, {"apiVersion": "v1", "kind": "ConfigMap", **obj})


GONE = ApiError(410, "Expired", "too old resource version")


class FakeListWatch:
    """Answers lists and watches from scripts; a watch whose script is used up hangs, as a
    quiet watch does, and a list or watch with no script left fails the test."""

    def __init__(self, lists: list[Obj | BaseException], watches: list[list[Step]]) -> None:
        self.lists = lists
        self.watches = watches
        self.list_params: list[dict[str, Any]] = []
        self.watch_params: list[dict[str, Any]] = []
        self.idle = asyncio.Event()  # set when a watch ran out of script

    async def list(self, path: str, *, params: Params | None = None) -> Obj:
        assert path == "/api/v1/namespaces/ns/configmaps"
        self.list_params.append(dict(params or {}))
        answer = self.lists.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    async def watch(
        self, path: str, *, params: Params | None = None
    ) -> AsyncGenerator[WatchEvent, None]:
        self.watch_params.append(dict(params or {}))
        script = self.watches.pop(0)
        for step in script:
            if isinstance(step, BaseException):
                raise step
            yield step
        if not self.watches:
            self.idle.set()
            await asyncio.Event().wait()


class Heard:
    def __init__(self, informer: Informer) -> None:
        self.log: list[tuple[str, str, str]] = []  # (verb, name, resourceVersion)
        informer.add_handler(on_add=self.add, on_update=self.update, on_delete=self.delete)

    def _note(self, verb: str, obj: Obj) -> None:
        self.log.append((verb, obj["metadata"]["name"], obj["metadata"]["resourceVersion"]))

    def add(self, obj: Obj) -> None:
        self._note("add", obj)

    def update(self, old: Obj, new: Obj) -> None:
        self._note("update", new)

    def delete(self, obj: Obj) -> None:
        self._note("delete", obj)


def informer_for(fake: FakeListWatch, **kwargs: Any) -> Informer:
    return Informer(
        client=fake,
        resource=CONFIGMAPS,
        namespace="ns",
        initial_backoff=0.001,
        max_backoff=0.002,
        **kwargs,
    )


@asynccontextmanager
async def until_idle(informer: Informer, fake: FakeListWatch) -> AsyncIterator[None]:
    task = asyncio.create_task(informer.run())
    try:
        async with asyncio.timeout(5):
            await fake.idle.wait()
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_relist_after_410_reconciles_like_delta_fifo_replace() -> None:
    fake = FakeListWatch(
        lists=[
            page(10, cm("a", 1), cm("b", 2), cm("c", 3)),
            page(20, cm("a", 1), cm("b", 15), cm("d", 16)),
        ],
        watches=[[GONE], []],
    )
    informer = informer_for(fake)
    heard = Heard(informer)
    async with until_idle(informer, fake):
        pass
    assert heard.log == [
        ("add", "a", "1"),
        ("add", "b", "2"),
        ("add", "c", "3"),
        ("delete", "c", "3"),  # vanished: the last object the store had
        ("update", "b", "15"),  # changed; "a" did not
        ("add", "d", "16"),
    ]
    assert sorted(informer.store.keys()) == ["ns/a", "ns/b", "ns/d"]
    assert [p["resourceVersion"] for p in fake.watch_params] == ["10", "20"]
    assert "resourceVersion" not in fake.list_params[1]  # a consistent relist


async def test_events_bookmarks_and_rewatching_from_the_last_version() -> None:
    fake = FakeListWatch(
        lists=[page(10)],
        watches=[
            [
                event("ADDED", cm("a", 11)),
                event("MODIFIED", cm("a", 12)),
                WatchEvent("BOOKMARK", {"metadata": {"resourceVersion": "30"}}),
            ],  # then the server ends the watch
            [event("DELETED", cm("a", 31)), TransportError("reset")],
            [],
        ],
    )
    informer = informer_for(fake)
    heard = Heard(informer)
    async with until_idle(informer, fake):
        pass
    assert heard.log == [("add", "a", "11"), ("update", "a", "12"), ("delete", "a", "31")]
    assert [p["resourceVersion"] for p in fake.watch_params] == ["10", "30", "31"]
    assert len(fake.list_params) == 1  # never relisted
    assert informer.resource_version == "31"
    params = fake.watch_params[0]
    assert params["allowWatchBookmarks"] is True
    assert 300 <= params["timeoutSeconds"] <= 600


async def test_paging_and_an_expired_continue_token() -> None:
    fake = FakeListWatch(
        lists=[
            page(10, cm("a", 1), token="t1"),
            page(10, cm("b", 2), token="t2"),
            ApiError(410, "Expired", "continue token expired"),
            page(12, cm("a", 1), cm("b", 2), cm("c", 11)),  # the unpaged fallback
        ],
        watches=[[]],
    )
    informer = informer_for(fake, page_size=1, label_selector="x=y")
    heard = Heard(informer)
    async with until_idle(informer, fake):
        assert informer.has_synced
    assert [p.get("continue") for p in fake.list_params] == [None, "t1", "t2", None]
    assert [p.get("limit") for p in fake.list_params] == [1, 1, 1, None]
    assert all(p["labelSelector"] == "x=y" for p in fake.list_params + fake.watch_params)
    assert [name for _, name, _ in heard.log] == ["a", "b", "c"]
    assert fake.watch_params[0]["resourceVersion"] == "12"


async def test_failures_are_retried_and_handlers_cannot_break_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeListWatch(
        lists=[
            TransportError("refused"),
            ApiError(500, "InternalError", "x"),
            page(10, cm("a", 1)),
        ],
        watches=[[ApiError(503, "ServiceUnavailable", "busy")], [event("ADDED", cm("b", 11))], []],
    )
    informer = informer_for(fake)

    def broken(obj: Obj) -> None:
        raise RuntimeError("handler bug")

    informer.add_handler(on_add=broken)
    heard = Heard(informer)
    async with until_idle(informer, fake):
        pass
    assert [name for _, name, _ in heard.log] == ["a", "b"]
    assert len(fake.list_params) == 3
    assert [p["resourceVersion"] for p in fake.watch_params] == ["10", "10", "11"]
    assert "handler bug" in caplog.text


async def test_wait_synced_and_filled_in_type_meta() -> None:
    fake = FakeListWatch(lists=[page(10, cm("a", 1))], watches=[[]])
    informer = informer_for(fake)
    assert not informer.has_synced
    async with until_idle(informer, fake):
        await informer.wait_synced()
        obj = informer.store.get("ns/a")
        assert obj is not None
        assert (obj["apiVersion"], obj["kind"]) == ("v1", "ConfigMap")


async def test_resync_hands_every_object_to_on_update() -> None:
    fake = FakeListWatch(lists=[page(10, cm("a", 1))], watches=[[]])
    informer = informer_for(fake, resync_period=0.01)
    heard = Heard(informer)
    async with until_idle(informer, fake):
        for _ in range(100):
            if ("update", "a", "1") in heard.log:
                break
            await asyncio.sleep(0.01)
    assert ("update", "a", "1") in heard.log


async def test_a_late_handler_hears_the_store_as_adds() -> None:
    fake = FakeListWatch(lists=[page(10, cm("a", 1), cm("b", 2))], watches=[[]])
    informer = informer_for(fake)
    async with until_idle(informer, fake):
        heard = Heard(informer)
    assert sorted(heard.log) == [("add", "a", "1"), ("add", "b", "2")]
