"""The object storage contract: Kubernetes' ``storage.Interface``, in Python.

The API server stores Kubernetes objects (JSON-shaped dicts) under keys such as
``/registry/pods/default/web-0`` through this interface. Every object's
``metadata.resourceVersion`` is the datastore's global revision at the object's last write, exactly
as Kubernetes on etcd: it is never stored inside the value, but set on every object read back.

Two implementations exist: :class:`pocketkube.storage.store.KVStorage` over any
:class:`~pocketkube.storage.backend.Backend`, and the watch cache
(:class:`pocketkube.storage.cacher.Cacher`), which wraps a storage and serves lists and watches
from memory.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

Obj = dict[str, Any]
"""A Kubernetes object as decoded JSON."""

Predicate = Callable[[Obj], bool]
"""Selects objects (label and field selectors become predicates in the API server)."""

UpdateFn = Callable[[Obj | None], Awaitable[Obj]]
"""guaranteed_update's pure update: current object (None when absent) → desired object.

It may run several times (once per conflict), so it must not have side effects; it raises to
abort the update.
"""

ValidateDeletion = Callable[[Obj], Awaitable[None]]


class ResourceVersionMatch(enum.StrEnum):
    UNSET = ""
    NOT_OLDER_THAN = "NotOlderThan"
    EXACT = "Exact"


@dataclass(frozen=True, slots=True)
class Preconditions:
    """Write preconditions, as ``metav1.Preconditions``: the object's uid and resourceVersion."""

    uid: str | None = None
    resource_version: str | None = None


@dataclass(frozen=True, slots=True)
class ListOptions:
    resource_version: str = ""
    resource_version_match: ResourceVersionMatch = ResourceVersionMatch.UNSET
    limit: int = 0
    continue_token: str = ""
    predicate: Predicate | None = None
    recursive: bool = True
    # The caller only needs the items' JSON: a storage may then answer with ``raw_items`` alone
    # (``items`` left empty), sparing a decode and an encode per object.
    raw_items_only: bool = False


@dataclass(slots=True)
class ObjectList:
    """A list result; ``raw_items`` (when present) are the items' JSON encodings, in order."""

    items: list[Obj]
    resource_version: str
    continue_token: str = ""
    remaining_item_count: int | None = None
    raw_items: list[bytes] | None = field(default=None, repr=False)


class EventType(enum.StrEnum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"
    BOOKMARK = "BOOKMARK"
    ERROR = "ERROR"


@dataclass(frozen=True, slots=True)
class Event:
    """A watch event. BOOKMARK events carry only ``metadata.resourceVersion`` (and, for the
    end of initial events, the ``k8s.io/initial-events-end`` annotation)."""

    type: EventType
    object: Obj
    raw: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def resource_version(self) -> int:
        return int(self.object["metadata"]["resourceVersion"])


class WatchStream(Protocol):
    """An open object watch: ``async with storage.watch(...) as w: async for event in w``.

    Iteration raises Expired when the starting resourceVersion is too old (HTTP 410), and
    Unavailable when the watch was dropped (datastore gone, or the consumer too slow).
    """

    def __aiter__(self) -> AsyncIterator[Event]: ...

    async def close(self) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


@runtime_checkable
class ProgressRequester(Protocol):
    """A watch that can be asked for a progress notification (KVStorage's watches can).

    With ``bookmarks``, it then sends a BOOKMARK at a revision at least the datastore's revision
    at the time of the request, once every event up to it has been sent: the watch cache asks
    for one when a consistent read needs it to be current while its prefix is quiet.
    """

    def request_progress(self) -> None: ...


@dataclass(frozen=True, slots=True)
class WatchOptions:
    resource_version: str = ""
    predicate: Predicate | None = None
    recursive: bool = True
    bookmarks: bool = False
    # sendInitialEvents=true: the current state as ADDED events, then a bookmark marking their end.
    send_initial_events: bool | None = None
    progress_interval: float = 1.0


class Storage(Protocol):
    async def create(self, key: str, obj: Obj) -> Obj:
        """Store a new object; returns it with its resourceVersion. AlreadyExists if present."""

    async def get(self, key: str, *, resource_version: str = "") -> Obj:
        """The object at ``key``; NotFound when absent. ``resource_version`` as in a GET."""

    async def get_list(self, key: str, opts: ListOptions) -> ObjectList:
        """Objects under ``key`` (a prefix when ``opts.recursive``), paged and filtered."""

    async def guaranteed_update(
        self,
        key: str,
        update: UpdateFn,
        *,
        preconditions: Preconditions | None = None,
        ignore_not_found: bool = False,
        suggestion: Obj | None = None,
    ) -> Obj:
        """Apply ``update`` to the current object until it is written without conflict.

        ``suggestion`` is a probably-current object (e.g. from a cache) tried first. When the
        update returns an object equal to the current one nothing is written.
        """

    async def delete(
        self,
        key: str,
        *,
        preconditions: Preconditions | None = None,
        validate_deletion: ValidateDeletion | None = None,
    ) -> Obj:
        """Delete the object; returns it with the deletion's resourceVersion."""

    async def count(self, key: str) -> int: ...

    def watch(self, key: str, opts: WatchOptions) -> WatchStream: ...

    async def current_resource_version(self) -> int: ...
