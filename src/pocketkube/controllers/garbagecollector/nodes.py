"""The garbage collector's graph vocabulary: identities, ownerReferences, nodes, the
absent-owner cache (upstream's ``graph.go``, ``uid_cache.go`` and the helpers of
``graph_builder.go``)."""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

FOREGROUND_FINALIZER = "foregroundDeletion"  # metav1.FinalizerDeleteDependents
ORPHAN_FINALIZER = "orphan"  # metav1.FinalizerOrphanDependents
ABSENT_OWNER_CACHE_SIZE = 500  # upstream's NewReferenceCache(500)

EventType = Literal["add", "update", "delete"]


@dataclass(frozen=True, slots=True)
class Identity:
    """upstream's ``objectReference``: an ownerReference's coordinates plus a namespace."""

    api_version: str
    kind: str
    name: str
    uid: str
    namespace: str = ""

    def __str__(self) -> str:
        return (
            f"[{self.api_version}/{self.kind}, namespace: {self.namespace}, "
            f"name: {self.name}, uid: {self.uid}]"
        )


@dataclass(frozen=True, slots=True, weakref_slot=True)
class OwnerRef:
    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None

    @classmethod
    def parse(cls, ref: Mapping[str, Any]) -> OwnerRef:
        return cls(
            api_version=str(ref.get("apiVersion", "")),
            kind=str(ref.get("kind", "")),
            name=str(ref.get("name", "")),
            uid=str(ref.get("uid", "")),
            controller=ref.get("controller"),
            block_owner_deletion=ref.get("blockOwnerDeletion"),
        )

    @property
    def blocking(self) -> bool:
        return self.block_owner_deletion is True

    def identity(self, namespace: str = "") -> Identity:
        return Identity(self.api_version, self.kind, self.name, self.uid, namespace)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "name": self.name,
            "uid": self.uid,
        }
        if self.controller is not None:
            out["controller"] = self.controller
        if self.block_owner_deletion is not None:
            out["blockOwnerDeletion"] = self.block_owner_deletion
        return out


# One shared instance per distinct reference (the 1,000 pods of a ReplicaSet hold one), dropped
# when no node holds it any more.
_REFS: weakref.WeakValueDictionary[OwnerRef, OwnerRef] = weakref.WeakValueDictionary()


def _shared(ref: OwnerRef) -> OwnerRef:
    return _REFS.setdefault(ref, ref)


def owner_refs(meta: Mapping[str, Any]) -> tuple[OwnerRef, ...]:
    refs = meta.get("ownerReferences") or ()
    return tuple(_shared(OwnerRef.parse(r)) for r in refs if isinstance(r, Mapping))


def being_deleted(meta: Mapping[str, Any]) -> bool:
    return bool(meta.get("deletionTimestamp"))


def has_finalizer(meta: Mapping[str, Any], finalizer: str) -> bool:
    return finalizer in (meta.get("finalizers") or ())


_NO_DEPENDENTS: frozenset[Node] = frozenset()


class Node:
    """One object (observed by an informer) or a virtual owner (only named by dependents)."""

    __slots__ = (
        "being_deleted",
        "deleting_dependents",
        "dependents",
        "identity",
        "owners",
        "virtual",
    )

    def __init__(
        self,
        identity: Identity,
        *,
        owners: tuple[OwnerRef, ...] = (),
        virtual: bool = False,
        being_deleted: bool = False,
        deleting_dependents: bool = False,
    ) -> None:
        self.identity = identity
        self.owners = owners
        self.dependents: set[Node] | frozenset[Node] = _NO_DEPENDENTS  # a set once it has one
        self.virtual = virtual
        self.being_deleted = being_deleted
        self.deleting_dependents = deleting_dependents

    def add_dependent(self, dependent: Node) -> None:
        if isinstance(self.dependents, set):
            self.dependents.add(dependent)
        else:
            self.dependents = {dependent}

    def remove_dependent(self, dependent: Node) -> None:
        if isinstance(self.dependents, set):
            self.dependents.discard(dependent)
            if not self.dependents:
                self.dependents = _NO_DEPENDENTS

    @property
    def observed(self) -> bool:
        return not self.virtual

    def blocking_dependents(self) -> list[Node]:
        """Dependents whose reference to this node has blockOwnerDeletion=true."""
        uid = self.identity.uid
        return [
            dep
            for dep in self.dependents
            if any(ref.uid == uid and ref.blocking for ref in dep.owners)
        ]

    def unblocked_owner_refs(self) -> list[OwnerRef]:
        return [replace(ref, block_owner_deletion=False) for ref in self.owners if ref.blocking]

    def __repr__(self) -> str:
        return f"Node({self.identity}, virtual={self.virtual})"


class AbsentOwnerCache:
    """Owners the API server said do not exist (upstream's LRU ``ReferenceCache``)."""

    def __init__(self, size: int = ABSENT_OWNER_CACHE_SIZE) -> None:
        self._size = size
        self._items: OrderedDict[Identity, None] = OrderedDict()

    def add(self, identity: Identity) -> None:
        self._items[identity] = None
        self._items.move_to_end(identity)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def __contains__(self, identity: object) -> bool:
        if identity in self._items:
            assert isinstance(identity, Identity)
            self._items.move_to_end(identity)
            return True
        return False


def matches(ref: OwnerRef, identity: Identity) -> bool:
    """upstream's ``ownerReferenceMatchesCoordinates``: same uid, name, kind and apiVersion."""
    return (
        ref.uid == identity.uid
        and ref.name == identity.name
        and ref.kind == identity.kind
        and ref.api_version == identity.api_version
    )


def partition_dependents(
    dependents: Iterable[Node], identity: Identity
) -> tuple[list[Node], list[Node]]:
    """Dependents that reference ``identity`` by the same coordinates (and from a namespace
    where it could live), and the rest."""
    matching: list[Node] = []
    others: list[Node] = []
    namespaced = bool(identity.namespace)
    for dep in dependents:
        found = False
        for ref in dep.owners:
            if ref.uid != identity.uid:
                continue
            found = True
            if not matches(ref, identity) or (
                namespaced and dep.identity.namespace != identity.namespace
            ):
                others.append(dep)
            else:
                matching.append(dep)
            break
        if not found:
            others.append(dep)
    return matching, others
