"""The key-value contract every datastore implements: etcd v3 semantics, nothing more.

Kubernetes keeps its objects in etcd, and everything it promises about resourceVersions comes from
three etcd facts: one global revision that every write increases, compare-and-swap writes on a
key's ``mod_revision``, and a watch that replays history in revision order from any revision that
has not been compacted. A :class:`Backend` offers exactly those facts, so the object layer above
(:mod:`pocketkube.storage.store`) is written once and runs unchanged on the in-memory fake,
the embedded SQLite log and a real etcd cluster.

Conventions shared by every backend (the contract tests in ``tests/`` hold them to it):

- Revisions start at 1 for the first write; 0 means "latest" in reads and "none" otherwise.
- Keys are text; a *prefix* read covers every key that starts with the prefix, in byte order.
- ``compact(C)`` forgets history before ``C``: reads at revisions below ``C`` and watches
  starting below ``C`` raise :class:`~pocketkube.storage.errors.Expired`; the state *at* ``C``
  stays readable.
- A watch yields :class:`WatchBatch` values in revision order, no gaps and no duplicates. A batch
  with no events is a progress notification: every event at or below its revision has already been
  delivered (this is what makes bookmarks safe).
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self


@dataclass(frozen=True, slots=True)
class KeyValue:
    """One key's value as of ``mod_revision``; ``create_revision`` is when this life of it began."""

    key: str
    value: bytes
    create_revision: int
    mod_revision: int


class EventType(enum.Enum):
    PUT = "PUT"
    DELETE = "DELETE"


@dataclass(frozen=True, slots=True)
class KVEvent:
    """A change to one key.

    For PUT, ``kv`` is the new value and ``prev`` the value it replaced (None on create, and may be
    None when the previous value was compacted away). For DELETE, ``kv`` has the key, an empty value
    and the deletion's revision as ``mod_revision``; ``prev`` is the deleted value when known.
    """

    type: EventType
    kv: KeyValue
    prev: KeyValue | None = None

    @property
    def revision(self) -> int:
        return self.kv.mod_revision

    @property
    def created(self) -> bool:
        return self.type is EventType.PUT and self.kv.create_revision == self.kv.mod_revision


@dataclass(frozen=True, slots=True)
class WatchBatch:
    """Events of one or more revisions, in order; ``revision`` is the store revision they reach.

    Every event at or below ``revision`` that matches the watch has been delivered by the time
    this batch is yielded. An empty ``events`` tuple is a progress notification.
    """

    events: tuple[KVEvent, ...]
    revision: int


@dataclass(frozen=True, slots=True)
class ListResult:
    """A page of a prefix read: ``kvs`` in key order, read at store revision ``revision``."""

    kvs: list[KeyValue]
    revision: int
    more: bool


class Watch(Protocol):
    """An open watch. Use as ``async with backend.watch(...) as w: async for batch in w``.

    Iteration raises Expired (start revision compacted), Unavailable (the datastore went away, or
    the consumer fell too far behind and the watch was dropped), and ends after ``close()``.
    """

    def __aiter__(self) -> AsyncIterator[WatchBatch]: ...

    def request_progress(self) -> None:
        """Ask for a progress notification soon (etcd's WatchProgressRequest), idle or not.

        The watch then yields, once every event up to it is delivered, a batch whose revision
        is at least the store's revision at the time of the request; one batch may answer several
        requests. This is how a reader learns that a quiet key range is current without waiting
        for ``progress_interval``.
        """

    async def close(self) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class Backend(Protocol):
    """An etcd-shaped key-value store with a global revision (see the module docstring)."""

    name: str

    async def start(self) -> None:
        """Open the datastore and start background work; idempotent."""

    async def close(self) -> None:
        """Stop background work, end open watches, release the datastore."""

    async def current_revision(self) -> int: ...

    async def compacted_revision(self) -> int: ...

    async def get(self, key: str, *, revision: int = 0) -> tuple[KeyValue | None, int]:
        """The key's value at ``revision`` (0: latest) and the store revision it was read at."""

    async def list(
        self, prefix: str, *, start_key: str = "", revision: int = 0, limit: int = 0
    ) -> ListResult:
        """Keys under ``prefix`` from ``start_key`` (inclusive), at most ``limit`` (0: all)."""

    async def count(self, prefix: str, *, start_key: str = "", revision: int = 0) -> int:
        """How many keys under ``prefix`` from ``start_key`` (inclusive) live at ``revision``
        (0: latest); Expired / TooLargeResourceVersion as ``list``."""

    async def create(self, key: str, value: bytes) -> int:
        """Store a new key; its revision. AlreadyExists if the key is live."""

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> int:
        """Replace the key if its mod_revision is ``expected_revision``; the new revision.

        NotFound if the key is not live; Conflict (with ``current``) if it moved on.
        """

    async def delete(self, key: str, *, expected_revision: int = 0) -> tuple[int, KeyValue]:
        """Delete the key (if its mod_revision is ``expected_revision``, when that is not 0).

        Returns the deletion's revision and the value deleted. NotFound / Conflict as update.
        """

    def watch(
        self,
        key: str,
        *,
        prefix: bool = True,
        start_revision: int = 0,
        progress_interval: float | None = None,
    ) -> Watch:
        """Changes to ``key`` (or every key under it, with ``prefix``) from ``start_revision``.

        ``start_revision`` is inclusive (etcd's meaning); 0 means "changes after now". With
        ``progress_interval`` the watch yields an empty batch at least that often while idle.
        """

    async def compact(self, revision: int) -> None:
        """Forget history before ``revision``; a no-op when already compacted that far."""


def prefix_end(prefix: str) -> str:
    """The smallest key greater than every key starting with ``prefix`` (etcd's range_end).

    UTF-8 byte order equals code point order, so bumping the last code point is enough; keys are
    Kubernetes paths, whose characters are far from the top of the code point range.
    """
    if not prefix:
        raise ValueError("an empty prefix has no end; list with a prefix such as '/registry/'")
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)
