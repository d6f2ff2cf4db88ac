"""The informer's local copy of a resource: objects by key, with optional secondary indexes.

This is client-go's ``cache.Indexer``: controllers and the scheduler read from it (as listers)
instead of asking the API server, which is what makes level-triggered ``sync(key)`` loops cheap.
It belongs to one informer and is only touched from the event loop, so it has no locks. The
objects are the informer's own: a caller that wants to change one must copy it first.

An indexer is a function from an object to the values it is filed under (``namespace`` files a
pod under its namespace; a ``nodeName`` indexer lets the kubelet find its pods), kept up to date
on every change, so ``by_index`` costs a dictionary lookup.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

Obj = dict[str, Any]
IndexFunc = Callable[[Obj], list[str]]

NAMESPACE_INDEX = "namespace"


def key_of(obj: Obj) -> str:
    """``namespace/name``, or ``name`` for a cluster-scoped object (client-go's
    ``MetaNamespaceKeyFunc``)."""
    meta = obj.get("metadata") or {}
    name = str(meta.get("name", ""))
    namespace = meta.get("namespace")
    return f"{namespace}/{name}" if namespace else name


def split_key(key: str) -> tuple[str | None, str]:
    """The namespace (``None`` when cluster-scoped) and the name of a ``key_of`` key."""
    namespace, sep, name = key.partition("/")
    return (namespace, name) if sep else (None, namespace)


def namespace_index(obj: Obj) -> list[str]:
    """Files an object under its namespace (client-go's ``MetaNamespaceIndexFunc``)."""
    namespace = (obj.get("metadata") or {}).get("namespace")
    return [str(namespace)] if namespace else []


class Store:
    """Objects by key, plus named indexes over them."""

    def __init__(self) -> None:
        self._items: dict[str, Obj] = {}
        self._indexers: dict[str, IndexFunc] = {}
        self._indices: dict[str, dict[str, set[str]]] = {}

    # -- reading -------------------------------------------------------------------------------
    def get(self, key: str) -> Obj | None:
        return self._items.get(key)

    def list(self) -> builtins.list[Obj]:
        return list(self._items.values())

    def keys(self) -> builtins.list[str]:
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def by_index(self, name: str, value: str) -> builtins.list[Obj]:
        """The objects filed under ``value`` by the indexer ``name``."""
        return [self._items[key] for key in sorted(self.index_keys(name, value))]

    def index_keys(self, name: str, value: str) -> set[str]:
        if name not in self._indices:
            raise KeyError(f"no indexer named {name!r}")
        return set(self._indices[name].get(value, ()))

    # -- indexing ------------------------------------------------------------------------------
    def add_indexer(self, name: str, fn: IndexFunc) -> None:
        """Index every object, present and future, by ``fn``."""
        if name in self._indexers:
            raise ValueError(f"indexer {name!r} already exists")
        self._indexers[name] = fn
        self._indices[name] = {}
        for key, obj in self._items.items():
            self._file(name, key, obj)

    # -- writing (the informer's) --------------------------------------------------------------
    def put(self, obj: Obj) -> Obj | None:
        """Store ``obj`` under its key; return what it replaced."""
        key = key_of(obj)
        old = self._items.get(key)
        if old is not None:
            self._unfile(key, old)
        self._items[key] = obj
        for name in self._indexers:
            self._file(name, key, obj)
        return old

    def delete(self, key: str) -> Obj | None:
        """Forget ``key``; return the object it held."""
        old = self._items.pop(key, None)
        if old is not None:
            self._unfile(key, old)
        return old

    def _file(self, name: str, key: str, obj: Obj) -> None:
        index = self._indices[name]
        for value in self._indexers[name](obj):
            index.setdefault(value, set()).add(key)

    def _unfile(self, key: str, obj: Obj) -> None:
        for name, fn in self._indexers.items():
            index = self._indices[name]
            for value in fn(obj):
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]
