"""Informers against a real API server: the first list, then changes as events, and a relist
after the server answered 410 because the informer's resourceVersion left its window."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing, asynccontextmanager
from typing import Any

from pocketkube.client import Client, Informer, WatchEvent, key_of
from pocketkube.client.resources import CONFIGMAPS, NAMESPACES
from pocketkube.client.rest import Obj, Params
from tests.integration.client.helpers import CMS, NS, churn, cm, configmap, eventually


class Recorder:
    """Handlers that write down what they heard, as ``(verb, name)``."""

    def __init__(self, informer: Informer) -> None:
        self.heard: list[tuple[str, str]] = []
        self.updates: list[tuple[Obj, Obj]] = []
        informer.add_handler(on_add=self.add, on_update=self.update, on_delete=self.delete)

    def add(self, obj: Obj) -> None:
        self.heard.append(("add", obj["metadata"]["name"]))

    def update(self, old: Obj, new: Obj) -> None:
        self.heard.append(("update", new["metadata"]["name"]))
        self.updates.append((old, new))

    def delete(self, obj: Obj) -> None:
        self.heard.append(("delete", obj["metadata"]["name"]))

    def names(self, verb: str) -> set[str]:
        return {name for v, name in self.heard if v == verb}


@asynccontextmanager
async def running(informer: Informer) -> AsyncIterator[Informer]:
    task = asyncio.create_task(informer.run())
    try:
        async with asyncio.timeout(10):
            await informer.wait_synced()
        yield informer
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_first_list_is_paged_and_delivered_as_adds(client: Client) -> None:
    for i in range(5):
        await client.create(CMS, configmap(f"c{i}"))
    informer = Informer(client=client, resource=CONFIGMAPS, namespace=NS, page_size=2)
    heard = Recorder(informer)
    assert not informer.has_synced
    async with running(informer):
        assert informer.has_synced
        assert sorted(informer.store.keys()) == [f"default/c{i}" for i in range(5)]
        assert heard.names("add") == {f"c{i}" for i in range(5)}
        obj = informer.store.get("default/c0")
        assert obj is not None
        assert (obj["apiVersion"], obj["kind"]) == ("v1", "ConfigMap")  # filled in
        assert informer.resource_version is not None


async def test_changes_reach_the_store_and_the_handlers(client: Client) -> None:
    informer = Informer(client=client, resource=CONFIGMAPS, namespace=NS)
    heard = Recorder(informer)
    async with running(informer):
        await client.create(CMS, configmap("a", v="1"))
        await eventually(lambda: "default/a" in informer.store)
        await client.patch(cm("a"), {"data": {"v": "2"}})
        await eventually(lambda: ("update", "a") in heard.heard)
        old, new = heard.updates[-1]
        assert (old["data"], new["data"]) == ({"v": "1"}, {"v": "2"})
        await client.delete(cm("a"))
        await eventually(lambda: ("delete", "a") in heard.heard)
        assert "default/a" not in informer.store
    assert heard.heard == [("add", "a"), ("update", "a"), ("delete", "a")]


async def test_selectors_indexers_and_late_handlers(client: Client) -> None:
    await client.create(CMS, configmap("red", labels={"color": "red"}))
    await client.create(CMS, configmap("blue", labels={"color": "blue"}))
    informer = Informer(
        client=client, resource=CONFIGMAPS, namespace=NS, label_selector="color=red"
    )
    informer.add_indexer("color", lambda obj: [obj["metadata"]["labels"]["color"]])
    async with running(informer):
        assert informer.store.keys() == ["default/red"]
        await client.create(CMS, configmap("red2", labels={"color": "red"}))
        await eventually(lambda: len(informer.store) == 2)
        names = [o["metadata"]["name"] for o in informer.store.by_index("color", "red")]
        assert names == ["red", "red2"]
        late = Recorder(informer)  # hears the objects already there
        assert late.names("add") == {"red", "red2"}
        # Relabelled out of the selector: the server sends DELETED.
        await client.patch(cm("red2"), {"metadata": {"labels": {"color": "blue"}}})
        await eventually(lambda: len(informer.store) == 1)
        assert late.heard[-1] == ("delete", "red2")


async def test_cluster_scoped_resources_are_keyed_by_name(client: Client) -> None:
    informer = Informer(client=client, resource=NAMESPACES)
    async with running(informer):
        assert {"default", "kube-system"} <= set(informer.store.keys())
        assert key_of(informer.store.list()[0]) == informer.store.list()[0]["metadata"]["name"]


class GatedClient:
    """The real client, except that its first watch stops after the event about ``trigger``
    (as a server's timeout would end it) and the second waits for ``gate``: in between, the
    test pushes the informer's resourceVersion out of the server's window."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.lists = 0
        self.watches = 0
        self.gate = asyncio.Event()

    async def list(self, path: str, *, params: Params | None = None) -> Obj:
        if "continue" not in (params or {}):
            self.lists += 1  # a new list, not the next page of one
        return await self.client.list(path, params=params)

    async def watch(
        self, path: str, *, params: Params | None = None
    ) -> AsyncGenerator[WatchEvent, None]:
        self.watches += 1
        if self.watches == 2:
            await self.gate.wait()
        async with aclosing(self.client.watch(path, params=params)) as stream:
            async for event in stream:
                yield event
                if self.watches == 1 and event.object["metadata"].get("name") == "trigger":
                    return


async def test_relists_after_410_and_reconciles_the_store(client: Client) -> None:
    for name in ("kept", "changed", "gone"):
        await client.create(CMS, configmap(name, v="1"))
    gated = GatedClient(client)
    informer: Informer = Informer(client=gated, resource=CONFIGMAPS, namespace=NS)
    heard = Recorder(informer)
    async with running(informer):
        await client.create(CMS, configmap("trigger"))
        await eventually(lambda: gated.watches == 2)  # re-watching from where it stopped
        assert (gated.lists, len(informer.store)) == (1, 4)
        heard.heard.clear()

        await client.patch(cm("changed"), {"data": {"v": "2"}})
        await client.delete(cm("gone"))
        await churn(client, 1100, prefix="new")  # more than the watch cache's window
        gated.gate.set()

        await eventually(lambda: len(informer.store) == 1103, within=20)
        assert gated.lists == 2
    assert heard.names("delete") == {"gone"}
    assert heard.names("update") == {"changed"}  # "kept" and "trigger" did not change
    assert heard.names("add") == {f"new-{i}" for i in range(1100)}
    changed = informer.store.get("default/changed")
    assert changed is not None
    assert changed["data"] == {"v": "2"}


async def test_keeps_trying_while_the_server_is_away(client: Client) -> None:
    class Flaky(GatedClient):
        async def list(self, path: str, *, params: Any = None) -> Obj:
            self.lists += 1
            if self.lists < 3:
                raise ConnectionResetError("flaky")
            return await self.client.list(path, params=params)

    flaky = Flaky(client)
    flaky.gate.set()
    informer = Informer(
        client=flaky, resource=CONFIGMAPS, namespace=NS, initial_backoff=0.01, max_backoff=0.05
    )
    async with running(informer):
        assert flaky.lists == 3
