"""Informers: a local, always-current copy of one resource, and callbacks when it changes.

This is client-go's shared informer, in three parts:

- the **reflector** lists the resource (pages of 500, all read at the first page's
  resourceVersion) and then watches from that resourceVersion with bookmarks, so that every
  change after the list arrives exactly once. A watch the server ends (its ``timeoutSeconds``,
  5 to 10 minutes at random so that a fleet of clients does not re-watch in step) is resumed from
  the last resourceVersion seen; a ``410 Gone`` (that version has left the server's window) means
  events were lost, so it lists again; any other failure is retried with exponential backoff
  (0.8 s doubling to 30 s). It never gives up: it runs until its task is cancelled.
- the **store** (``store.Store``) holds the objects by ``namespace/name``;
- the **handlers** hear ``on_add``, ``on_update(old, new)`` and ``on_delete``. A relist is
  reconciled against the store as client-go's ``DeltaFIFO.Replace`` does: objects that vanished
  get ``on_delete`` (with the last object the store had), objects whose resourceVersion changed
  get ``on_update``, new ones ``on_add``. With a ``resync_period`` every object is also handed to
  ``on_update(obj, obj)`` periodically, for controllers that want a level-triggered nudge.

Handlers are synchronous and should only compute a key and enqueue it (see ``workqueue``); one
that raises is logged and the informer goes on. List items come without ``apiVersion``/``kind``
from kube-apiserver, so the informer fills them in from the resource: handlers always see whole
objects (an event recorder needs the kind).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, Protocol

from pocketkube.client.resources import Resource
from pocketkube.client.rest import ApiError, Obj, Params, WatchEvent
from pocketkube.client.store import IndexFunc, Store, key_of

log = logging.getLogger(__name__)

PAGE_SIZE = 500
WATCH_TIMEOUT_RANGE = (300, 600)  # seconds, as client-go's minWatchTimeout .. 2x
INITIAL_BACKOFF = 0.8
MAX_BACKOFF = 30.0
SHORT_WATCH = 1.0  # a watch that ends this fast without an event is a failure, not a timeout


class ListWatcher(Protocol):
    """What an informer needs from a client; ``rest.Client`` is one, a test's fake another."""

    async def list(self, path: str, *, params: Params | None = None) -> Obj: ...

    def watch(
        self, path: str, *, params: Params | None = None
    ) -> AsyncGenerator[WatchEvent, None]: ...


@dataclass(frozen=True, kw_only=True)
class _Handler:
    on_add: Callable[[Obj], None] | None
    on_update: Callable[[Obj, Obj], None] | None
    on_delete: Callable[[Obj], None] | None


class Informer:
    """List+watch one resource (optionally one namespace, filtered by selectors) into a store."""

    def __init__(
        self,
        *,
        client: ListWatcher,
        resource: Resource,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resync_period: float | None = None,
        page_size: int = PAGE_SIZE,
        initial_backoff: float = INITIAL_BACKOFF,
        max_backoff: float = MAX_BACKOFF,
        rng: random.Random | None = None,
    ) -> None:
        self.resource = resource
        self.store = Store()
        self._client = client
        self._path = resource.path(namespace=namespace)
        self._selectors: dict[str, str] = {}
        if label_selector:
            self._selectors["labelSelector"] = label_selector
        if field_selector:
            self._selectors["fieldSelector"] = field_selector
        self._resync_period = resync_period
        self._page_size = page_size
        self._initial_backoff = initial_backoff
        self._max_backoff = max_backoff
        self._rng = rng or random.Random()
        self._handlers: list[_Handler] = []
        self._synced = asyncio.Event()
        self.resource_version: str | None = None  # the last one seen, by list, event or bookmark

    def add_indexer(self, name: str, fn: IndexFunc) -> None:
        self.store.add_indexer(name, fn)

    def add_handler(
        self,
        *,
        on_add: Callable[[Obj], None] | None = None,
        on_update: Callable[[Obj, Obj], None] | None = None,
        on_delete: Callable[[Obj], None] | None = None,
    ) -> None:
        """Register callbacks; a handler added late first hears ``on_add`` for every object
        already in the store, as with client-go's shared informers."""
        handler = _Handler(on_add=on_add, on_update=on_update, on_delete=on_delete)
        self._handlers.append(handler)
        if on_add is not None:
            for obj in self.store.list():
                _call(on_add, obj)

    @property
    def has_synced(self) -> bool:
        """Whether the first list has been delivered to the store and the handlers."""
        return self._synced.is_set()

    async def wait_synced(self) -> None:
        await self._synced.wait()

    async def run(self) -> None:
        """List and watch until cancelled; run it in the owner's ``TaskGroup``."""
        async with asyncio.TaskGroup() as group:
            if self._resync_period:
                group.create_task(self._resync(self._resync_period))
            await self._reflect()

    # -- the reflector -------------------------------------------------------------------------
    async def _reflect(self) -> None:
        loop = asyncio.get_running_loop()
        rv: str | None = None
        failures = 0
        while True:
            fresh, seen = False, 0
            try:
                if rv is None:
                    rv = await self._list()
                    fresh = True
                    failures = 0
                started = loop.time()
                async with aclosing(
                    self._client.watch(self._path, params=self._watch_params(rv))
                ) as events:
                    async for event in events:
                        rv = self._apply(event) or rv
                        self.resource_version = rv
                        seen += 1
                        failures = 0
                if seen or loop.time() - started >= SHORT_WATCH:
                    continue  # the server ended the watch: resume where it stopped
                log.warning("%s: watch ended at once without events", self._path)
            except ApiError as err:
                if err.gone:
                    log.info("%s: resourceVersion %s is gone (%s); relisting", self._path, rv, err)
                    rv = None
                    if seen or not fresh:
                        continue  # relist at once, unless even a fresh list's version was gone
                else:
                    log.warning("%s: %s", self._path, err)
            except Exception:
                log.exception("%s: list/watch failed", self._path)
            failures += 1
            await asyncio.sleep(self._backoff(failures))

    def _backoff(self, failures: int) -> float:
        delay = min(self._max_backoff, self._initial_backoff * 2.0 ** (failures - 1))
        return min(self._max_backoff, delay * self._rng.uniform(1.0, 1.5))

    def _watch_params(self, rv: str) -> dict[str, str | int | bool]:
        return {
            **self._selectors,
            "resourceVersion": rv,
            "allowWatchBookmarks": True,
            "timeoutSeconds": self._rng.randint(*WATCH_TIMEOUT_RANGE),
        }

    async def _list(self) -> str:
        """List every page at one resourceVersion, reconcile the store, return the version."""
        items: list[Obj] = []
        rv: str | None = None
        token: str | None = None
        while True:
            params: dict[str, str | int | bool] = {**self._selectors, "limit": self._page_size}
            if token:
                params["continue"] = token
            try:
                page = await self._client.list(self._path, params=params)
            except ApiError as err:
                if not (err.gone and token):
                    raise
                # The continue token outlived its version: one unpaged list, as client-go's pager.
                page = await self._client.list(self._path, params=self._selectors)
                items, rv = [], None
            items.extend(page.get("items") or ())
            meta = page.get("metadata") or {}
            rv = rv or str(meta.get("resourceVersion", ""))
            token = meta.get("continue")
            if not token:
                break
        self._replace(items)
        self.resource_version = rv
        return rv

    def _replace(self, items: list[Obj]) -> None:
        listed = {key_of(obj): self._whole(obj) for obj in items}
        for gone in self.store.list():
            if key_of(gone) not in listed:
                self.store.delete(key_of(gone))
                self._dispatch_delete(gone)
        for obj in listed.values():
            old = self.store.put(obj)
            if old is None:
                self._dispatch_add(obj)
            elif _rv(old) != _rv(obj):
                self._dispatch_update(old, obj)
        self._synced.set()

    def _apply(self, event: WatchEvent) -> str | None:
        """Apply one watch event to the store and handlers; return its resourceVersion."""
        obj = self._whole(event.object)
        if event.type == "BOOKMARK":
            return _rv(obj)
        if event.type in ("ADDED", "MODIFIED"):
            old = self.store.put(obj)
            if old is None:
                self._dispatch_add(obj)
            else:
                self._dispatch_update(old, obj)
        elif event.type == "DELETED":
            self.store.delete(key_of(obj))
            self._dispatch_delete(obj)
        else:
            log.warning("%s: ignoring watch event of type %r", self._path, event.type)
        return _rv(obj)

    def _whole(self, obj: Obj) -> Obj:
        obj.setdefault("apiVersion", self.resource.api_version)
        obj.setdefault("kind", self.resource.kind)
        return obj

    async def _resync(self, period: float) -> None:
        await self._synced.wait()
        while True:
            await asyncio.sleep(period)
            for obj in self.store.list():
                self._dispatch_update(obj, obj)

    # -- handlers ------------------------------------------------------------------------------
    def _dispatch_add(self, obj: Obj) -> None:
        for handler in self._handlers:
            if handler.on_add is not None:
                _call(handler.on_add, obj)

    def _dispatch_update(self, old: Obj, new: Obj) -> None:
        for handler in self._handlers:
            if handler.on_update is not None:
                _call(handler.on_update, old, new)

    def _dispatch_delete(self, obj: Obj) -> None:
        for handler in self._handlers:
            if handler.on_delete is not None:
                _call(handler.on_delete, obj)


def _call(fn: Callable[..., None], *args: Any) -> None:
    try:
        fn(*args)
    except Exception:
        log.exception("informer handler %r failed", fn)


def _rv(obj: Obj) -> str | None:
    rv = (obj.get("metadata") or {}).get("resourceVersion")
    return str(rv) if rv is not None else None
