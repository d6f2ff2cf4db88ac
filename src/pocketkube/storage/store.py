"""KVStorage: Kubernetes' object storage semantics on top of any etcd-shaped :class:`Backend`.

This is the layer ``k8s.io/apiserver/pkg/storage/etcd3/store.go`` is in Kubernetes: it turns
compare-and-swap on revisions into create / guaranteed_update / delete with preconditions, reads
lists page by page at one revision (so a paged list is consistent), and turns the backend's
revision-ordered key events into ADDED / MODIFIED / DELETED / BOOKMARK object events, filtered by a
predicate so that an object leaving a selector is DELETED for that watcher and ADDED on return.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Self

from pocketkube.storage.backend import Backend, KeyValue, KVEvent, Watch
from pocketkube.storage.backend import EventType as KVEventType
from pocketkube.storage.codec import (
    decode,
    encode,
    encode_with_resource_version,
    parse_resource_version,
    with_resource_version,
)
from pocketkube.storage.continuetoken import decode_continue, encode_continue
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
    ObjectList,
    Preconditions,
    Predicate,
    ResourceVersionMatch,
    UpdateFn,
    ValidateDeletion,
    WatchOptions,
)

log = logging.getLogger(__name__)

# When a predicate filters a limited list, read this many keys per backend call at least.
MIN_FILTERED_BATCH = 500
# A larger limit means "everything" anyway; capping it keeps it inside 64-bit datastore integers.
MAX_LIMIT = 1 << 31
INITIAL_EVENTS_END = "k8s.io/initial-events-end"
EXPIRED_CONTINUE = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter."
)


def check_preconditions(key: str, obj: Obj, preconditions: Preconditions | None) -> None:
    """Raise PreconditionFailed (409) unless ``obj`` has the uid and resourceVersion required."""
    if preconditions is None:
        return
    meta = obj.get("metadata", {})
    if preconditions.uid is not None and preconditions.uid != meta.get("uid"):
        raise PreconditionFailed(
            f"Precondition failed: UID in precondition: {preconditions.uid}, "
            f"UID in object meta: {meta.get('uid', '')}",
            key=key,
        )
    rv = preconditions.resource_version
    if rv is not None and rv != meta.get("resourceVersion"):
        raise PreconditionFailed(
            f"Precondition failed: ResourceVersion in precondition: {rv}, "
            f"ResourceVersion in object meta: {meta.get('resourceVersion', '')}",
            key=key,
        )


def bookmark(revision: int, *, initial_events_end: bool = False) -> Event:
    meta: Obj = {"resourceVersion": str(revision)}
    if initial_events_end:
        meta["annotations"] = {INITIAL_EVENTS_END: "true"}
    return Event(EventType.BOOKMARK, {"metadata": meta})


def list_revisions(opts: ListOptions) -> tuple[int, int]:
    """(revision to read at, 0 for latest; minimum revision the result must reach) for a list
    without a continue token, following Kubernetes' resourceVersion / resourceVersionMatch rules."""
    rv = parse_resource_version(opts.resource_version)
    match = opts.resource_version_match
    if match is ResourceVersionMatch.EXACT:
        if rv == 0:
            raise InvalidRequest("resourceVersionMatch=Exact requires a resourceVersion > 0")
        return rv, 0
    if match is ResourceVersionMatch.UNSET and opts.limit > 0 and rv > 0:
        return rv, 0  # a limited list at an explicit version reads exactly that version
    return 0, rv


def list_prefix(key: str) -> str:
    return key if key.endswith("/") else key + "/"


class KVStorage:
    """The :class:`~pocketkube.storage.interface.Storage` of Kubernetes objects over a backend."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    async def current_resource_version(self) -> int:
        return await self.backend.current_revision()

    # -- writes ----------------------------------------------------------------------------
    async def create(self, key: str, obj: Obj) -> Obj:
        if obj.get("metadata", {}).get("resourceVersion"):
            raise InvalidRequest("resourceVersion should not be set on objects to be created")
        data = encode(obj)
        revision = await self.backend.create(key, data)
        return decode(data, revision)

    async def _read(self, key: str) -> KeyValue | None:
        kv, _ = await self.backend.get(key)
        return kv

    async def guaranteed_update(
        self,
        key: str,
        update: UpdateFn,
        *,
        preconditions: Preconditions | None = None,
        ignore_not_found: bool = False,
        suggestion: Obj | None = None,
    ) -> Obj:
        kv: KeyValue | None
        from_suggestion = suggestion is not None
        if suggestion is not None:
            revision = parse_resource_version(suggestion["metadata"].get("resourceVersion", ""))
            kv = KeyValue(key, encode(suggestion), 0, revision)
        else:
            kv = await self._read(key)
        while True:
            if kv is None and not ignore_not_found:
                raise NotFound(f"key {key} not found", key=key)
            # Decoded for this attempt alone, so it is the update's to change.
            current = decode(kv.value, kv.mod_revision) if kv is not None else None
            try:
                if current is not None:
                    check_preconditions(key, current, preconditions)
                elif preconditions is not None:
                    raise NotFound(f"key {key} not found", key=key)
                desired = await update(current)
            except Exception:
                if from_suggestion:  # the suggestion may be stale: decide on fresh data
                    from_suggestion, kv = False, await self._read(key)
                    continue
                raise
            data = encode(desired)
            if kv is not None and data == kv.value:
                if from_suggestion:
                    from_suggestion, kv = False, await self._read(key)
                    continue
                return decode(kv.value, kv.mod_revision)  # unchanged: as stored
            try:
                if kv is None:
                    revision = await self.backend.create(key, data)
                else:
                    revision = await self.backend.update(
                        key, data, expected_revision=kv.mod_revision
                    )
            except Conflict as conflict:
                kv = conflict.current if conflict.current is not None else await self._read(key)
                from_suggestion = False
                continue
            except (AlreadyExists, NotFound):
                kv, from_suggestion = await self._read(key), False
                continue
            return decode(data, revision)

    async def delete(
        self,
        key: str,
        *,
        preconditions: Preconditions | None = None,
        validate_deletion: ValidateDeletion | None = None,
    ) -> Obj:
        kv = await self._read(key)
        while True:
            if kv is None:
                raise NotFound(f"key {key} not found", key=key)
            current = decode(kv.value, kv.mod_revision)
            check_preconditions(key, current, preconditions)
            if validate_deletion is not None:
                await validate_deletion(current)
            try:
                revision, deleted = await self.backend.delete(
                    key, expected_revision=kv.mod_revision
                )
            except Conflict as conflict:
                kv = conflict.current if conflict.current is not None else await self._read(key)
                continue
            return decode(deleted.value, revision)

    # -- reads -----------------------------------------------------------------------------
    async def get(self, key: str, *, resource_version: str = "") -> Obj:
        minimum = parse_resource_version(resource_version)
        kv, revision = await self.backend.get(key)
        if minimum > revision:
            raise TooLargeResourceVersion(
                f"Too large resource version: {minimum}, current: {revision}",
                requested=minimum,
                current=revision,
            )
        if kv is None:
            raise NotFound(f"key {key} not found", key=key)
        return decode(kv.value, kv.mod_revision)

    async def count(self, key: str) -> int:
        return await self.backend.count(list_prefix(key))

    async def get_list(self, key: str, opts: ListOptions) -> ObjectList:
        if opts.limit < 0:
            raise InvalidRequest(f"limit must not be negative: {opts.limit}")
        prefix = list_prefix(key) if opts.recursive else key
        if opts.continue_token:
            if opts.resource_version not in ("", "0"):
                raise InvalidRequest(
                    "specifying resource version is not allowed when using continue"
                )
            start, read_at = decode_continue(opts.continue_token, prefix)
            minimum = 0
        else:
            start = prefix
            read_at, minimum = list_revisions(opts)
        try:
            if opts.recursive:
                limit = min(opts.limit, MAX_LIMIT)
                raw = opts.raw_items_only and opts.predicate is None
                result = await self._read_pages(
                    prefix, start, read_at, limit, opts.predicate, raw=raw
                )
            else:
                result = await self._get_single(key, read_at, opts.predicate)
        except Expired as expired:
            if opts.continue_token:
                compacted = expired.compacted_revision
                raise Expired(EXPIRED_CONTINUE, compacted_revision=compacted) from None
            raise Expired(
                f"resourceVersion {read_at} is too old: {expired.message}",
                compacted_revision=expired.compacted_revision,
            ) from None
        if minimum > int(result.resource_version):
            raise TooLargeResourceVersion(
                f"Too large resource version: {minimum}, current: {result.resource_version}",
                requested=minimum,
                current=int(result.resource_version),
            )
        return result

    async def _get_single(self, key: str, read_at: int, predicate: Predicate | None) -> ObjectList:
        kv, revision = await self.backend.get(key, revision=read_at)
        items = []
        if kv is not None:
            obj = decode(kv.value, kv.mod_revision)
            if predicate is None or predicate(obj):
                items.append(obj)
        return ObjectList(items=items, resource_version=str(revision))

    async def _read_pages(
        self,
        prefix: str,
        start: str,
        read_at: int,
        limit: int,
        predicate: Predicate | None,
        *,
        raw: bool = False,
    ) -> ObjectList:
        """One consistent list at ``read_at``; with ``raw`` (and no predicate) as encodings."""
        batch = max(limit, MIN_FILTERED_BATCH) if predicate is not None and limit else limit
        items: list[Obj] = []
        encoded: list[bytes] = []
        continue_from = ""
        while True:
            page = await self.backend.list(prefix, start_key=start, revision=read_at, limit=batch)
            read_at = read_at or page.revision
            for i, kv in enumerate(page.kvs):
                if raw:
                    encoded.append(encode_with_resource_version(kv.value, kv.mod_revision))
                    found = len(encoded)
                else:
                    obj = decode(kv.value, kv.mod_revision)
                    if predicate is not None and not predicate(obj):
                        continue
                    items.append(obj)
                    found = len(items)
                if limit and found == limit:
                    if i < len(page.kvs) - 1 or page.more:
                        continue_from = kv.key + "\x00"
                    break
            else:
                if page.more and page.kvs:
                    start = page.kvs[-1].key + "\x00"
                    continue
            break
        token, remaining = "", None
        if continue_from:
            token = encode_continue(continue_from, prefix, read_at)
            if predicate is None:
                # As etcd3's GetList: the keys after this page, at the page's revision. With a
                # predicate the number could only be a guess, so it is left out, as upstream.
                remaining = await self.backend.count(
                    prefix, start_key=continue_from, revision=read_at
                )
        return ObjectList(
            items=items,
            resource_version=str(read_at),
            continue_token=token,
            remaining_item_count=remaining,
            raw_items=encoded if raw else None,
        )

    def watch(self, key: str, opts: WatchOptions) -> ObjectWatch:
        return ObjectWatch(self, key, opts)


def translate(event: KVEvent, predicate: Predicate | None) -> Event | None:
    """A key event as the object event a watcher with ``predicate`` should see, if any."""
    revision = event.revision
    if predicate is None and event.type is not KVEventType.DELETE:
        # No selector: the previous state is not needed, so it is not decoded.
        current = decode(event.kv.value, revision)
        return Event(EventType.ADDED if event.created else EventType.MODIFIED, current)
    prev = decode(event.prev.value, event.prev.mod_revision) if event.prev is not None else None
    if event.type is KVEventType.DELETE:
        if prev is None:
            return None
        if predicate is not None and not predicate(prev):
            return None
        return Event(EventType.DELETED, with_resource_version(prev, revision))
    current = decode(event.kv.value, revision)
    if predicate is None:
        return Event(EventType.ADDED if event.created else EventType.MODIFIED, current)
    now = predicate(current)
    before = predicate(prev) if prev is not None else (now and not event.created)
    if now and before:
        return Event(EventType.MODIFIED, current)
    if now:
        return Event(EventType.ADDED, current)
    if before:
        assert prev is not None
        return Event(EventType.DELETED, with_resource_version(prev, revision))
    return None


class ObjectWatch:
    """A watch of Kubernetes objects: initial state (when asked), then changes, then bookmarks."""

    def __init__(self, storage: KVStorage, key: str, opts: WatchOptions) -> None:
        self._storage = storage
        self._key = key
        self._opts = opts
        self._inner: Watch | None = None
        self._closed = False
        self._progress_requested = False
        self._events: AsyncIterator[Event] | None = None

    def __aiter__(self) -> AsyncIterator[Event]:
        # One stream per watch: iterating twice continues it rather than starting over.
        if self._events is None:
            self._events = self._iterate()
        return self._events

    async def _iterate(self) -> AsyncIterator[Event]:
        opts = self._opts
        backend = self._storage.backend
        rv = parse_resource_version(opts.resource_version)
        key = list_prefix(self._key) if opts.recursive else self._key
        initial = opts.send_initial_events if opts.send_initial_events is not None else rv == 0
        if initial:
            listed = await self._storage.get_list(
                self._key, ListOptions(predicate=opts.predicate, recursive=opts.recursive)
            )
            rv = int(listed.resource_version)
            for obj in listed.items:
                yield Event(EventType.ADDED, obj)
            if opts.send_initial_events and opts.bookmarks:
                yield bookmark(rv, initial_events_end=True)
        else:
            compacted = await backend.compacted_revision()
            if rv + 1 < compacted:
                raise Expired(
                    f"too old resource version: {rv} ({compacted})", compacted_revision=compacted
                )
        if self._closed:
            return
        self._inner = backend.watch(
            key,
            prefix=opts.recursive,
            start_revision=rv + 1,
            progress_interval=opts.progress_interval if opts.bookmarks else None,
        )
        if self._progress_requested:
            self._inner.request_progress()
        try:
            async for batch in self._inner:
                for kv_event in batch.events:
                    event = translate(kv_event, opts.predicate)
                    if event is not None:
                        yield event
                if not batch.events and opts.bookmarks:
                    yield bookmark(batch.revision)
        except Expired as expired:
            raise Expired(
                f"too old resource version: {rv} ({expired.compacted_revision})",
                compacted_revision=expired.compacted_revision,
            ) from None
        finally:
            await self._inner.close()

    def request_progress(self) -> None:
        """See :class:`~pocketkube.storage.interface.ProgressRequester` (with ``bookmarks``)."""
        if self._inner is None:
            self._progress_requested = True  # passed on once the backend watch is open
        else:
            self._inner.request_progress()

    async def close(self) -> None:
        self._closed = True
        if self._inner is not None:
            await self._inner.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
