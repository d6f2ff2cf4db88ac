"""The garbage collector's informers: one per deletable resource, started and stopped as
discovery changes (upstream's resource monitors).

They are the collector's own (not the process's ``SharedInformers``, which takes no new
informer once running, while custom resources come and go), and metadata-only, as upstream's:
with a ``rest.Client`` they ask for ``PartialObjectMetadata``, and with any client each object
is trimmed to the metadata the graph needs before the store keeps it (no managedFields, labels,
annotations, spec or status), so the collector's copy of a big cluster stays small.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable, Iterable
from contextlib import aclosing
from typing import Any

from pocketkube.client.informer import Informer, ListWatcher
from pocketkube.client.resources import Resource
from pocketkube.client.rest import PARTIAL_OBJECT_METADATA_LIST, Client, Obj, Params, WatchEvent
from pocketkube.controllers.garbagecollector.graph import EventType

log = logging.getLogger(__name__)

KEPT_METADATA = (
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "ownerReferences",
    "finalizers",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)

Handler = Callable[[EventType, Resource, Obj, Obj | None], None]


def trim(obj: Obj, resource: Resource) -> Obj:
    """The object as the collector keeps it: apiVersion, kind and the graph's metadata."""
    meta = obj.get("metadata") or {}
    return {
        "apiVersion": resource.api_version,
        "kind": resource.kind,
        "metadata": {k: meta[k] for k in KEPT_METADATA if k in meta},
    }


class MetadataListWatcher:
    """A ``ListWatcher`` for one resource that hands the informer trimmed objects."""

    def __init__(self, client: ListWatcher, resource: Resource) -> None:
        self._client = client
        self._resource = resource
        self._partial = isinstance(client, Client)

    async def list(self, path: str, *, params: Params | None = None) -> Obj:
        if isinstance(self._client, Client):
            page = await self._client.list(path, params=params, accept=PARTIAL_OBJECT_METADATA_LIST)
        else:
            page = await self._client.list(path, params=params)
        page["items"] = [trim(item, self._resource) for item in page.get("items") or ()]
        return page

    async def watch(
        self, path: str, *, params: Params | None = None
    ) -> AsyncGenerator[WatchEvent, None]:
        if isinstance(self._client, Client):
            stream = self._client.watch(path, params=params, accept=PARTIAL_OBJECT_METADATA_LIST)
        else:
            stream = self._client.watch(path, params=params)
        async with aclosing(stream) as events:
            async for event in events:
                yield WatchEvent(event.type, trim(event.object, self._resource))


class Monitors:
    """The running informers, by resource."""

    def __init__(self, *, client: ListWatcher, handler: Handler) -> None:
        self._client = client
        self._handler = handler
        self._running: dict[Resource, tuple[Informer, asyncio.Task[Any]]] = {}

    @property
    def resources(self) -> set[Resource]:
        return set(self._running)

    def informer(self, resource: Resource) -> Informer | None:
        entry = self._running.get(resource)
        return entry[0] if entry else None

    def sync(self, wanted: Iterable[Resource], group: asyncio.TaskGroup) -> None:
        """Start informers for new resources in ``group``, stop those no longer wanted."""
        wanted = set(wanted)
        for resource in list(self._running):
            if resource not in wanted:
                log.info("garbage collector: stopped watching %s", resource.plural)
                _, task = self._running.pop(resource)
                task.cancel()
        for resource in wanted - set(self._running):
            informer = Informer(
                client=MetadataListWatcher(self._client, resource), resource=resource
            )
            self._handle(informer, resource)
            task = group.create_task(informer.run())
            self._running[resource] = (informer, task)

    def _handle(self, informer: Informer, resource: Resource) -> None:
        def on_add(obj: Obj) -> None:
            self._handler("add", resource, obj, None)

        def on_update(old: Obj, new: Obj) -> None:
            self._handler("update", resource, new, old)

        def on_delete(obj: Obj) -> None:
            self._handler("delete", resource, obj, None)

        informer.add_handler(on_add=on_add, on_update=on_update, on_delete=on_delete)

    @property
    def synced(self) -> bool:
        return all(informer.has_synced for informer, _ in self._running.values())

    async def wait_synced(self) -> None:
        """Until every informer has listed (callers bound it with ``asyncio.timeout``)."""
        for informer, _ in list(self._running.values()):
            await informer.wait_synced()
