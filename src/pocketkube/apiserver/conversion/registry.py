"""A registry serving one version of a resource over the registry of its storage version.

Upstream decodes every request into the internal version and encodes every response into the
request's version, so one ``registry.Store`` serves all versions of a resource. We keep objects
as JSON in the storage version instead, and put this wrapper in front of the storage version's
registry: request objects are converted to the storage version before create and update (the
update's ``mutate`` sees and returns request-version objects), and everything that comes back —
objects, list items, watch events — is converted to the request version.

Reads need nothing else: label selectors see the same metadata in every version, and field
selectors are evaluated on the stored object with the labels translated to the storage
version's (``api.fields``), as upstream's field label conversion functions do.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import TracebackType
from typing import Self

from pocketkube.api import status
from pocketkube.api.status import StatusError
from pocketkube.apiserver.conversion import Converter
from pocketkube.apiserver.conversion.errors import ConversionError
from pocketkube.apiserver.registry import (
    TRACK_FIELDS,
    DeleteOptions,
    ResourceInfo,
    ResourceRegistry,
)
from pocketkube.storage.interface import (
    Event,
    EventType,
    ListOptions,
    Obj,
    ObjectList,
    WatchOptions,
    WatchStream,
)

_OBJECT_EVENTS = (EventType.ADDED, EventType.MODIFIED, EventType.DELETED)


class ConvertingRegistry(ResourceRegistry):
    """``info`` is the served version's; ``inner`` is the storage version's registry."""

    def __init__(
        self, *, info: ResourceInfo, inner: ResourceRegistry, converter: Converter
    ) -> None:
        super().__init__(info=info, storage=inner.storage)
        self.inner = inner
        self.converter = converter

    def to_served(self, obj: Obj) -> Obj:
        converted = self.converter.from_storage(obj)
        return {"apiVersion": self.info.api_version, "kind": self.info.kind, **converted}

    def to_stored(self, obj: Obj) -> Obj:
        try:
            return self.converter.to_storage(obj)
        except ConversionError as err:
            raise StatusError(status.bad_request(str(err))) from None

    @contextlib.contextmanager
    def _tracking_served(self) -> Iterator[None]:
        """The request's managedFields bookkeeping sees objects in the served version, as
        upstream's field manager does; what it records is stored as it is."""
        track = TRACK_FIELDS.get()
        if track is None:
            yield
            return

        def served_track(old: Obj | None, new: Obj) -> None:
            served = self.to_served(new)
            track(None if old is None else self.to_served(old), served)
            managed = served.get("metadata", {}).get("managedFields")
            meta = new.setdefault("metadata", {})
            if managed is None:
                meta.pop("managedFields", None)
            else:
                meta["managedFields"] = managed

        token = TRACK_FIELDS.set(served_track)
        try:
            yield
        finally:
            TRACK_FIELDS.reset(token)

    # -- reads ---------------------------------------------------------------------------------
    async def get(self, namespace: str, name: str, *, resource_version: str = "") -> Obj:
        obj = await self.inner.get(namespace, name, resource_version=resource_version)
        return self.to_served(obj)

    async def list(self, namespace: str, opts: ListOptions) -> ObjectList:
        # Converted items must be encoded anew: ask for objects, not the cache's encodings.
        result = await self.inner.list(namespace, dataclasses.replace(opts, raw_items_only=False))
        return dataclasses.replace(
            result, items=[self.to_served(obj) for obj in result.items], raw_items=None
        )

    def watch(self, namespace: str, opts: WatchOptions, *, name: str = "") -> WatchStream:
        return ConvertingWatch(self.inner.watch(namespace, opts, name=name), self.to_served)

    # -- writes --------------------------------------------------------------------------------
    async def create(self, namespace: str, obj: Obj, *, dry_run: bool = False) -> Obj:
        with self._tracking_served():
            created = await self.inner.create(namespace, self.to_stored(obj), dry_run=dry_run)
        return self.to_served(created)

    async def update(
        self, namespace: str, name: str, mutate: Callable[[Obj], Awaitable[Obj]], *, dry_run: bool
    ) -> Obj:
        async def converted(stored: Obj) -> Obj:
            current = self.to_served(stored)
            served_status = copy.deepcopy(current.get("status"))
            desired = await mutate(current)
            updated = self.to_stored(desired)
            # A write that leaves the served status alone keeps the stored one whole, as
            # upstream's strategies copy the old status over on writes to the main resource: a
            # conversion there and back could lose what the served version cannot say.
            if desired.get("status") == served_status:
                if "status" in stored:
                    updated["status"] = stored["status"]
                else:
                    updated.pop("status", None)
            return updated

        with self._tracking_served():
            updated = await self.inner.update(namespace, name, converted, dry_run=dry_run)
        return self.to_served(updated)

    async def delete(
        self, namespace: str, name: str, options: DeleteOptions | None = None
    ) -> tuple[Obj, bool]:
        obj, deleted_now = await self.inner.delete(namespace, name, options)
        return self.to_served(obj), deleted_now


class ConvertingWatch:
    """A watch whose ADDED/MODIFIED/DELETED objects are converted (bookmarks pass as they are)."""

    def __init__(self, inner: WatchStream, convert: Callable[[Obj], Obj]) -> None:
        self._inner = inner
        self._convert = convert

    @property
    def queued(self) -> int:
        """Events ready without waiting (the server batches them into one write)."""
        queued: int = getattr(self._inner, "queued", 0)
        return queued

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._events()

    async def _events(self) -> AsyncIterator[Event]:
        async for event in self._inner:
            if event.type in _OBJECT_EVENTS:
                yield Event(event.type, self._convert(event.object))
            else:
                yield event

    async def close(self) -> None:
        await self._inner.close()

    async def __aenter__(self) -> Self:
        await self._inner.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._inner.__aexit__(exc_type, exc, tb)
