"""The watch cache: kube-apiserver's ``Cacher`` (``k8s.io/apiserver/pkg/storage/cacher``).

One Cacher serves one resource prefix (``/registry/pods/``). A single background task lists the
prefix once and then follows the underlying storage's watch, applying each event to an in-memory
:class:`~pocketkube.storage.watch_cache.WatchCache` and fanning it out to the open
:class:`~pocketkube.storage.cache_watcher.CacheWatcher` objects in the same step, without awaiting,
so every watcher sees the events in revision order with no gap and no duplicate.

Reads that may be served from memory are: GET and LIST at resourceVersion "0" (any state) or N
(any state at least as new as N, after waiting up to ``too_large_wait`` for the cache to get there),
every WATCH, and, as upstream's ConsistentListFromCache, a LIST with resourceVersion unset: the
cache reads the datastore's current revision (cheap: no objects) and serves the list once it has
caught up with it, asking the underlying watch for a progress notification in case its prefix is
quiet; if it does not get there within ``too_large_wait`` the list goes to the datastore. A WATCH
with resourceVersion unset starts from a state caught up the same way. Reads of an exact state
(Exact, continue tokens), GET with resourceVersion unset and all writes go to the underlying
storage, as upstream (:mod:`~pocketkube.storage.cache_list` has the rule).

When the underlying watch breaks, the cache resumes it from its own revision, so its watchers
notice nothing. Only when that history is gone (410), or the watch sent an event after a progress
notification past it (which the cache cannot apply any more), does it relist; it then terminates
the watchers that would otherwise miss events, and they resume (or relist) on their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self

import orjson

from pocketkube.storage.cache_freshness import Freshness
from pocketkube.storage.cache_list import delegate_list, list_cached
from pocketkube.storage.cache_watcher import CacheWatcher, CloseReason
from pocketkube.storage.codec import parse_resource_version
from pocketkube.storage.errors import (
    Expired,
    NotFound,
    TooLargeResourceVersion,
    Unavailable,
)
from pocketkube.storage.interface import (
    Event,
    EventType,
    ListOptions,
    Obj,
    ObjectList,
    Preconditions,
    ProgressRequester,
    Storage,
    UpdateFn,
    ValidateDeletion,
    WatchOptions,
    WatchStream,
)
from pocketkube.storage.store import list_prefix
from pocketkube.storage.watch_cache import CacheEvent, KeyFunc, WatchCache
from pocketkube.storage.watch_cache import default_key_func as default_key_func

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

# Let the watchers' tasks run at least this often while applying a burst of events.
YIELD_EVERY = 64
RETRY_INITIAL = 0.1
RETRY_MAX = 5.0


class _EventBehind(Exception):
    """The underlying watch sent an event at or below a revision it had already announced as
    complete: the cache's state and window lack that event, so it must start over from a list."""


class Cacher:
    """A :class:`~pocketkube.storage.interface.Storage` serving reads of one prefix from memory."""

    def __init__(
        self,
        storage: Storage,
        *,
        prefix: str,
        window_size: int = 1000,
        watcher_queue_size: int = 1000,
        bookmark_interval: float = 10.0,
        too_large_wait: float = 3.0,
        progress_interval: float = 0.25,
        key_func: KeyFunc | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.storage = storage
        self.prefix = list_prefix(prefix)
        self._cache = WatchCache(window_size=window_size)
        self._queue_size = watcher_queue_size
        self._bookmark_interval = bookmark_interval
        self._progress_interval = progress_interval
        self._key_func = key_func or default_key_func(self.prefix)
        self._sleep = sleep
        self._watchers: dict[CacheWatcher, None] = {}  # insertion-ordered set
        self._fanout: tuple[CacheWatcher, ...] | None = ()
        self._freshness = Freshness(timeout=too_large_wait)
        self._task: asyncio.Task[None] | None = None
        self._stream: WatchStream | None = None  # the underlying watch being followed
        self._stopped = False
        self._missed_events = False  # the state lacks an event: the next list must reset watchers
        self._stats = {
            "relists": 0,
            "rewatches": 0,
            "terminated_slow_watchers": 0,
            "consistent_reads": 0,  # resourceVersion unset, served from memory
            "consistent_read_fallbacks": 0,  # the same, sent to the storage instead
        }

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        if self._task is not None:
            return
        self._freshness.start()
        self._task = asyncio.create_task(self._run(), name=f"cacher {self.prefix}")

    async def close(self) -> None:
        self._stopped = True
        task, self._task = self._task, None
        if self._stream is not None:
            await self._stream.close()
        if task is not None:
            # Cancel until it lands: Python 3.11's wait_for (in the layers below) can swallow a
            # cancellation that races with its inner future completing.
            while not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=0.1)
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for watcher in list(self._watchers):
            watcher.terminate(CloseReason.CACHE_STOPPED)
        self._freshness.stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def wait_ready(self) -> None:
        """Wait until the first list has been loaded."""
        await self._freshness.until_ready()

    @property
    def revision(self) -> int:
        return self._cache.revision

    def statistics(self) -> dict[str, Any]:
        cache = self._cache
        return {
            "watchers": len(self._watchers),
            "objects": len(cache.objects),
            "events": cache.events_applied,
            "revision": cache.revision,
            "window_size": len(cache.window),
            "window_capacity": cache.window.maxlen,
            "oldest_resource_version": cache.oldest_servable,
            "ready": self._freshness.ready,
            **self._stats,
        }

    # -- the background task: list, then follow the watch ------------------------------------
    async def _run(self) -> None:
        delay = RETRY_INITIAL
        while not self._stopped:
            try:
                await self._list()
                delay = RETRY_INITIAL
                await self._follow()
            except Exception as err:  # keep caching whatever went wrong; the next list resyncs
                log.warning("watch cache %s: %s; relisting in %.1fs", self.prefix, err, delay)
                await self._sleep(delay)
                delay = min(delay * 2, RETRY_MAX)

    async def _list(self) -> None:
        listed = await self.storage.get_list(self.prefix, ListOptions())
        revision = int(listed.resource_version)
        cache = self._cache
        if self._freshness.ready:
            self._stats["relists"] += 1
            if revision != cache.revision or self._missed_events:
                # Events were missed: no watcher can go on.
                for watcher in list(self._watchers):
                    watcher.terminate(CloseReason.RELIST)
        self._missed_events = False
        cache.replace(((self._key_func(obj), obj) for obj in listed.items), revision)
        self._freshness.notify(cache.revision)
        self._freshness.set_ready()

    async def _follow(self) -> None:
        """Apply the underlying watch's events; returns when its history is gone (410)."""
        delay = RETRY_INITIAL
        while not self._stopped:
            opts = WatchOptions(
                resource_version=str(self._cache.revision),
                bookmarks=True,
                send_initial_events=False,
                progress_interval=self._progress_interval,
            )
            try:
                async with self.storage.watch(self.prefix, opts) as stream:
                    self._stream = stream
                    since_yield = 0
                    async for event in stream:
                        delay = RETRY_INITIAL
                        since_yield += 1
                        if self._apply(event) or since_yield >= YIELD_EVERY:
                            since_yield = 0
                            await asyncio.sleep(0)  # let the watchers drain their queues
            except Expired as err:
                log.info("watch cache %s: %s; relisting", self.prefix, err)
                return
            except _EventBehind as err:
                log.warning("watch cache %s: %s; relisting", self.prefix, err)
                self._missed_events = True
                return
            except Unavailable as err:
                log.info("watch cache %s: watch dropped (%s); resuming", self.prefix, err)
            finally:
                self._stream = None
            if self._stopped:
                return
            self._stats["rewatches"] += 1
            await self._sleep(delay)
            delay = min(delay * 2, RETRY_MAX)

    def _apply(self, event: Event) -> bool:
        """Apply and fan out one event; True when some watcher's queue is filling up."""
        cache = self._cache
        if event.type is EventType.BOOKMARK:
            if cache.advance(event.resource_version):
                self._freshness.notify(cache.revision)
            return False
        if event.type is EventType.ERROR:
            raise Unavailable(f"the underlying watch failed: {event.object}")
        if event.resource_version <= cache.revision:
            # The watch resumed after the cache's revision, so a progress notification claimed
            # this event's revision before the event came: the cache missed it.
            raise _EventBehind(
                f"the underlying watch sent revision {event.resource_version} after progress "
                f"to {cache.revision}"
            )
        entry = cache.apply(event.type, self._key_func(event.object), event.object)
        pressure = self._dispatch(entry)
        self._freshness.notify(cache.revision)
        return pressure

    def _dispatch(self, entry: CacheEvent) -> bool:
        fanout = self._fanout
        if fanout is None:
            fanout = self._fanout = tuple(self._watchers)
        pressure = False
        for watcher in fanout:
            if watcher.closed_reason is None and watcher.offer(entry):
                pressure = True
        return pressure

    def _revision(self) -> int:
        return self._cache.revision

    def _request_progress(self) -> None:
        stream = self._stream
        if isinstance(stream, ProgressRequester):
            stream.request_progress()

    async def _caught_up(self, interrupt: asyncio.Future[None] | None = None) -> bool:
        """Whether the cache has (or gets, within ``too_large_wait``) every change the datastore
        has now, so that memory can answer a consistent read."""
        if not self._freshness.ready or self._stream is None:
            return False  # loading, or between two underlying watches: it cannot catch up now
        current = await self.storage.current_resource_version()
        return await self._freshness.wait_current(
            current, self._revision, self._request_progress, interrupt
        )

    def _cached(self, key: str) -> bool:
        return key.startswith(self.prefix)

    # -- writes: always the underlying storage -------------------------------------------------
    async def create(self, key: str, obj: Obj) -> Obj:
        return await self.storage.create(key, obj)

    async def guaranteed_update(
        self,
        key: str,
        update: UpdateFn,
        *,
        preconditions: Preconditions | None = None,
        ignore_not_found: bool = False,
        suggestion: Obj | None = None,
    ) -> Obj:
        if suggestion is None and self._cached(key):
            cached = self._cache.objects.get(key)
            suggestion = cached.obj if cached is not None else None
        return await self.storage.guaranteed_update(
            key,
            update,
            preconditions=preconditions,
            ignore_not_found=ignore_not_found,
            suggestion=suggestion,
        )

    async def delete(
        self,
        key: str,
        *,
        preconditions: Preconditions | None = None,
        validate_deletion: ValidateDeletion | None = None,
    ) -> Obj:
        return await self.storage.delete(
            key, preconditions=preconditions, validate_deletion=validate_deletion
        )

    async def count(self, key: str) -> int:
        return await self.storage.count(key)

    async def current_resource_version(self) -> int:
        return await self.storage.current_resource_version()

    # -- reads -------------------------------------------------------------------------------
    async def get(self, key: str, *, resource_version: str = "") -> Obj:
        if resource_version == "" or not self._cached(key):
            return await self.storage.get(key, resource_version=resource_version)
        minimum = parse_resource_version(resource_version)
        await self._freshness.wait_fresh(minimum, self._revision)
        cached = self._cache.objects.get(key)
        if cached is None:
            raise NotFound(f"key {key} not found", key=key)
        return orjson.loads(cached.raw)  # type: ignore[no-any-return]  # a private copy

    async def get_shared(self, key: str) -> Obj | None:
        """The cached object at ``key`` (any state will do, as a get at resourceVersion "0"),
        shared with the cache: read-only. None when the cache does not hold it; the caller then
        reads the datastore if a miss matters."""
        if not self._cached(key):
            return None
        await self._freshness.wait_fresh(0, self._revision)
        cached = self._cache.objects.get(key)
        return cached.obj if cached is not None else None

    async def get_list(self, key: str, opts: ListOptions) -> ObjectList:
        """From memory unless the list needs an exact state (see the module docstring).

        The items are shared with the cache: treat them as read-only (copy before mutating).
        """
        rv = parse_resource_version(opts.resource_version)
        if delegate_list(opts) or not self._cached(list_prefix(key) if opts.recursive else key):
            return await self.storage.get_list(key, opts)
        if opts.resource_version == "":
            if not await self._caught_up():
                self._stats["consistent_read_fallbacks"] += 1
                return await self.storage.get_list(key, opts)
            self._stats["consistent_reads"] += 1
        else:
            await self._freshness.wait_fresh(rv, self._revision)
        return list_cached(self._cache, key, opts)

    def watch(self, key: str, opts: WatchOptions) -> WatchStream:
        if not self._cached(list_prefix(key) if opts.recursive else key):
            return self.storage.watch(key, opts)
        return CacheWatcher(
            key=list_prefix(key) if opts.recursive else key,
            recursive=opts.recursive,
            predicate=opts.predicate,
            bookmarks=opts.bookmarks,
            queue_size=self._queue_size,
            bookmark_interval=self._bookmark_interval,
            start=lambda watcher: self._start_watcher(watcher, opts),
            revision=self._revision,
            unregister=self._unregister,
        )

    async def _start_watcher(self, watcher: CacheWatcher, opts: WatchOptions) -> None:
        """Give ``watcher`` its backlog and register it, in one step with no await between."""
        rv = parse_resource_version(opts.resource_version)
        initial = opts.send_initial_events
        if initial is None:
            initial = rv == 0
        if not await self._freshness.wait_fresh(rv, self._revision, watcher.closing()):
            return  # closed meanwhile
        if opts.resource_version == "" and not await self._caught_up(watcher.closing()):
            if watcher.closed_reason is not None:
                return
            if opts.send_initial_events:  # a watch-list must start from a consistent state
                current = await self.storage.current_resource_version()
                raise TooLargeResourceVersion(
                    f"Too large resource version: {current}, current: {self.revision}",
                    requested=current,
                    current=self.revision,
                )
            # The legacy watch without a resourceVersion: upstream starts it from whatever
            # state the cache has; do so too rather than fail it.
        if watcher.closed_reason is not None:
            return  # closed in the same step as the cache became fresh: never register it
        cache = self._cache
        if initial:
            # Unfiltered: the watcher's own task applies its predicate as it sends them.
            snapshot, _ = cache.select(watcher.key, recursive=watcher.recursive, predicate=None)
            end = cache.revision if opts.send_initial_events and opts.bookmarks else None
            watcher.begin(initial=snapshot, initial_events_end=end)
        elif rv:
            oldest = cache.oldest_servable
            if rv < oldest:
                raise Expired(
                    f"too old resource version: {rv} ({oldest})", compacted_revision=oldest
                )
            watcher.begin(replay=cache.events_after(rv))
        self._watchers[watcher] = None
        self._fanout = None

    def _unregister(self, watcher: CacheWatcher) -> None:
        if watcher in self._watchers:
            del self._watchers[watcher]
            self._fanout = None
            if watcher.closed_reason is CloseReason.TOO_SLOW:
                self._stats["terminated_slow_watchers"] += 1
