"""The ``ObjectReader`` admission plugins use: the registries' watch caches.

Upstream's plugins read informers, so a read costs no datastore round trip; a resourceVersion of
"0" ("any state will do") is the same bargain here. A get that misses is repeated against the
datastore (unless the plugin says a miss is usual and harmless), so an object created a moment
ago (say, the namespace a client creates just before its first pod) is never reported missing;
lists are not, as upstream's listers are not.

What a reader returns may be shared with the cache: plugins read it and never change it.
"""

from __future__ import annotations

from collections.abc import Mapping

from pocketkube.apiserver.registry import ResourceRegistry
from pocketkube.apiserver.resources import GroupVersionResource
from pocketkube.storage.errors import NotFound
from pocketkube.storage.interface import ListOptions, Obj


class RegistryReader:
    """Reads through the registries in ``registries`` (by group/version/resource), which may
    still be filling when the reader is made."""

    def __init__(self, registries: Mapping[tuple[str, str, str], ResourceRegistry]) -> None:
        self._registries = registries

    async def get(
        self, resource: GroupVersionResource, namespace: str, name: str, *, live: bool = True
    ) -> Obj | None:
        registry = self._registries[resource]
        key = registry.key(namespace, name)
        get_shared = getattr(registry.storage, "get_shared", None)
        if get_shared is not None:  # a watch cache: its own object, no copy
            found: Obj | None = await get_shared(key)
            if found is not None or not live:
                return found
        for resource_version in ("0", "") if live else ("0",):
            try:
                return await registry.storage.get(key, resource_version=resource_version)
            except NotFound:
                continue
        return None

    async def list(self, resource: GroupVersionResource, namespace: str = "") -> list[Obj]:
        registry = self._registries[resource]
        listed = await registry.storage.get_list(
            registry.key(namespace), ListOptions(resource_version="0")
        )
        return listed.items


class MemoryReader:
    """A reader over objects kept in memory: the fake for plugin tests."""

    def __init__(self, objects: dict[GroupVersionResource, list[Obj]] | None = None) -> None:
        self.objects: dict[GroupVersionResource, list[Obj]] = objects or {}
        self.reads: list[tuple[GroupVersionResource, str, str, bool]] = []

    def add(self, resource: GroupVersionResource, obj: Obj) -> None:
        self.objects.setdefault(resource, []).append(obj)

    async def get(
        self, resource: GroupVersionResource, namespace: str, name: str, *, live: bool = True
    ) -> Obj | None:
        self.reads.append((resource, namespace, name, live))
        for obj in await self.list(resource, namespace):
            if obj["metadata"]["name"] == name:
                return obj
        return None

    async def list(self, resource: GroupVersionResource, namespace: str = "") -> list[Obj]:
        return [
            obj
            for obj in self.objects.get(resource, [])
            if not namespace or obj["metadata"].get("namespace", "") == namespace
        ]
