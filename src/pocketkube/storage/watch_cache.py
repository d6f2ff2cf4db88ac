"""The watch cache's memory: the current objects of one resource and a window of recent events.

This is ``watchCache`` in ``k8s.io/apiserver/pkg/storage/cacher``. The state maps each storage key
to its object, kept three ways at once: the decoded dict (for predicates), its JSON encoding
computed once (so a list of 10,000 objects is a join, not 10,000 encodings) and its revision. Keys
are also kept sorted, updated on create and delete only, so a list needs no sort.

The window is a bounded deque of the last events in revision order. It lets a watch resume from
any revision it still covers; older ones get 410 Expired, as from a compacted etcd. Each entry
remembers the object it replaced, so a watcher's label selector can be applied to both sides of a
change and an object leaving the selector becomes DELETED for that watcher (entering: ADDED).

Nothing here awaits: the :class:`~pocketkube.storage.cacher.Cacher` applies an event and fans it
out in one step, which is what makes snapshots and registrations consistent with the event stream.
"""

from __future__ import annotations

import bisect
import collections
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import orjson

from pocketkube.storage.codec import with_resource_version
from pocketkube.storage.interface import Event, EventType, Obj, Predicate

KeyFunc = Callable[[Obj], str]


def kept_encoding(obj: Obj) -> bytes:
    """``obj``'s JSON for keeping: orjson's result holds a buffer ~8x its length (~130 KB for a
    10 KB object, measured with tracemalloc), which a cache of thousands of objects cannot
    afford; an exact-size copy costs a memcpy."""
    return bytes(memoryview(orjson.dumps(obj)))


@dataclass(slots=True)
class CachedObject:
    key: str
    obj: Obj
    raw: bytes
    revision: int

    @classmethod
    def of(cls, key: str, obj: Obj) -> CachedObject:
        return cls(key, obj, kept_encoding(obj), int(obj["metadata"]["resourceVersion"]))

    def added(self) -> Event:
        return Event(EventType.ADDED, self.obj, self.raw)


@dataclass(slots=True)
class CacheEvent:
    """One change in the window. For DELETED, ``obj`` is the deleted object at the deletion's
    revision; ``prev`` is the object as it was before this change (None when it did not exist)."""

    type: EventType
    key: str
    obj: Obj
    raw: bytes
    prev: Obj | None
    revision: int
    event: Event = field(init=False)
    _as_added: Event | None = field(default=None, init=False)
    _as_deleted: Event | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.event = Event(self.type, self.obj, self.raw)

    def for_predicate(self, predicate: Predicate | None) -> Event | None:
        """This change as a watcher with ``predicate`` sees it, if at all."""
        if predicate is None:
            return self.event
        if self.type is EventType.DELETED:
            return self.event if predicate(self.obj) else None
        now = predicate(self.obj)
        before = self.prev is not None and predicate(self.prev)
        if now:
            return self.event if before or self.type is EventType.ADDED else self._added()
        return self._deleted() if before else None

    def _added(self) -> Event:
        if self._as_added is None:
            self._as_added = Event(EventType.ADDED, self.obj, self.raw)
        return self._as_added

    def _deleted(self) -> Event:
        # The object left the selector: the watcher sees its last matching state go away, at the
        # revision of the change (as KVStorage's translate does).
        if self._as_deleted is None:
            assert self.prev is not None
            gone = with_resource_version(self.prev, self.revision)
            self._as_deleted = Event(EventType.DELETED, gone, kept_encoding(gone))
        return self._as_deleted


def default_key_func(prefix: str) -> KeyFunc:
    """``{prefix}{namespace}/{name}`` for namespaced objects, ``{prefix}{name}`` otherwise."""

    def key_of(obj: Obj) -> str:
        meta = obj["metadata"]
        namespace = meta.get("namespace")
        return f"{prefix}{namespace}/{meta['name']}" if namespace else f"{prefix}{meta['name']}"

    return key_of


def prefix_end(prefix: str) -> str:
    """The smallest string greater than every string starting with ``prefix``."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1) if prefix else "\U0010ffff"


class WatchCache:
    """Objects under one prefix at ``revision``, and the events that led there."""

    def __init__(self, *, window_size: int) -> None:
        if window_size < 1:
            raise ValueError("window_size must be at least 1")
        self.objects: dict[str, CachedObject] = {}
        self.keys: list[str] = []  # sorted
        self.window: collections.deque[CacheEvent] = collections.deque(maxlen=window_size)
        self.revision = 0
        self.listed_revision = 0  # revision of the last full list (replace)
        self.evicted = False  # whether the window lost events since that list
        self.events_applied = 0

    # -- changes ---------------------------------------------------------------------------
    def replace(self, items: Iterable[tuple[str, Obj]], revision: int) -> None:
        """Start over from a full list at ``revision``; the window restarts empty."""
        self.objects = {key: CachedObject.of(key, obj) for key, obj in items}
        self.keys = sorted(self.objects)
        self.window.clear()
        self.revision = self.listed_revision = revision
        self.evicted = False

    def apply(self, type_: EventType, key: str, obj: Obj) -> CacheEvent:
        """Record a change at ``obj``'s resourceVersion (which must exceed ``revision``)."""
        revision = int(obj["metadata"]["resourceVersion"])
        before = self.objects.get(key)
        prev = before.obj if before is not None else None
        if type_ is EventType.DELETED:
            raw = kept_encoding(obj)
            if before is not None:
                del self.objects[key]
                i = bisect.bisect_left(self.keys, key)
                del self.keys[i]
        else:
            cached = CachedObject(key, obj, kept_encoding(obj), revision)
            raw = cached.raw
            self.objects[key] = cached
            if before is None:
                bisect.insort(self.keys, key)
        entry = CacheEvent(type_, key, obj, raw, prev, revision)
        if len(self.window) == self.window.maxlen:
            self.evicted = True
        self.window.append(entry)
        self.revision = revision
        self.events_applied += 1
        return entry

    def advance(self, revision: int) -> bool:
        """A progress notification: nothing under the prefix changed up to ``revision``."""
        if revision <= self.revision:
            return False
        self.revision = revision
        return True

    # -- reads -----------------------------------------------------------------------------
    def range(self, prefix: str) -> Sequence[CachedObject]:
        """The objects whose keys start with ``prefix``, in key order."""
        keys = self.keys
        lo = bisect.bisect_left(keys, prefix)
        hi = bisect.bisect_left(keys, prefix_end(prefix), lo)
        objects = self.objects
        if lo == 0 and hi == len(keys):
            return [objects[k] for k in keys]
        return [objects[keys[i]] for i in range(lo, hi)]

    def select(
        self, key: str, *, recursive: bool, predicate: Predicate | None, limit: int = 0
    ) -> tuple[list[CachedObject], int]:
        """The objects under ``key`` (a prefix when ``recursive``) that ``predicate`` keeps, in
        key order, at most ``limit + 1`` of them when limited (the extra one tells that more
        follow); and how many objects were considered."""
        candidates: Sequence[CachedObject]
        if recursive:
            candidates = self.range(key)
        else:
            single = self.objects.get(key)
            candidates = [single] if single is not None else []
        if predicate is None:
            found = list(candidates[: limit + 1] if limit else candidates)
        elif not limit:
            found = [cached for cached in candidates if predicate(cached.obj)]
        else:
            found = []
            for cached in candidates:
                if predicate(cached.obj):
                    found.append(cached)
                    if len(found) > limit:
                        break
        return found, len(candidates)

    @property
    def oldest_servable(self) -> int:
        """The oldest resourceVersion a watch can start from: every later event is retained."""
        if not self.evicted:
            return self.listed_revision
        return self.window[0].revision - 1

    def events_after(self, revision: int) -> list[CacheEvent]:
        """The retained events newer than ``revision`` (which must be >= oldest_servable)."""
        window = self.window
        if not window or window[-1].revision <= revision:
            return []
        if window[0].revision > revision:
            return list(window)
        # Binary search over the deque (bounded, and this runs once per watch, not per event).
        lo, hi = 0, len(window)
        while lo < hi:
            mid = (lo + hi) // 2
            if window[mid].revision <= revision:
                lo = mid + 1
            else:
                hi = mid
        return list(itertools.islice(window, lo, None))
