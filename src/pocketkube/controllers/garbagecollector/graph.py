"""The ownership graph: one node per object uid, its owners and its dependents.

Upstream's ``graph.go`` and ``graph_builder.go``. Every informer event (add, update, delete)
goes through ``Graph.process``, which keeps the nodes current and decides what needs a look:

- a dependent naming an owner uid never observed gets a **virtual** owner node (identity from
  the ownerReference, namespace from the dependent), sent to *attemptToDelete*, which asks the
  API server whether that owner exists and answers with a virtual delete event when it does not;
- an observed owner in another namespace than its dependent (or a namespaced owner of a
  cluster-scoped dependent) is reported with an ``OwnerRefInvalidNamespace`` event and the
  dependent is sent to *attemptToDelete* (where the owner counts as absent);
- an object that starts being deleted with the ``orphan`` finalizer goes to *attemptToOrphan*;
  one with ``foregroundDeletion`` is marked *deletingDependents*, and it and its dependents go
  to *attemptToDelete*;
- a dependent that stops blocking (its blocking ownerReference removed or unblocked) sends the
  owner to *attemptToDelete*; an object deleted sends its dependents there (they may be
  garbage now) and its owners that are deleting dependents (one fewer to wait for).

Upstream feeds the events through a single-threaded queue; here the informers' handlers run on
the event loop one at a time, so they call ``process`` directly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from pocketkube.controllers.garbagecollector.nodes import (
    ABSENT_OWNER_CACHE_SIZE,
    FOREGROUND_FINALIZER,
    ORPHAN_FINALIZER,
    AbsentOwnerCache,
    EventType,
    Identity,
    Node,
    OwnerRef,
    being_deleted,
    has_finalizer,
    matches,
    owner_refs,
    partition_dependents,
)

__all__ = [
    "ABSENT_OWNER_CACHE_SIZE",
    "FOREGROUND_FINALIZER",
    "ORPHAN_FINALIZER",
    "AbsentOwnerCache",
    "EventType",
    "Graph",
    "Identity",
    "Node",
    "OwnerRef",
    "being_deleted",
    "has_finalizer",
    "owner_refs",
    "partition_dependents",
    "references_diffs",
]

log = logging.getLogger(__name__)


def _alternate_identity(dependents: Iterable[Node], verified_absent: Identity) -> Identity | None:
    """An identity the dependents name this uid by, other than the one verified absent
    (upstream's ``getAlternateOwnerIdentity``, first in a stable order)."""
    candidates = []
    for dep in dependents:
        for ref in dep.owners:
            if ref.uid != verified_absent.uid:
                continue
            candidate = ref.identity(dep.identity.namespace)
            if candidate != verified_absent:
                candidates.append(candidate)
    if not candidates:
        return None
    return min(candidates, key=lambda i: (i.namespace, i.api_version, i.kind, i.name))


class Graph:
    """uid → node, kept current from informer events; enqueues through the callbacks."""

    def __init__(
        self,
        *,
        attempt_to_delete: Callable[[Node], None],
        attempt_to_orphan: Callable[[Node], None],
        attempt_to_delete_later: Callable[[Node], None] | None = None,
        report_invalid_namespace: Callable[[Node, OwnerRef], None] | None = None,
        absent_owners: AbsentOwnerCache | None = None,
    ) -> None:
        self.nodes: dict[str, Node] = {}
        self.absent_owners = absent_owners if absent_owners is not None else AbsentOwnerCache()
        self._delete = attempt_to_delete
        self._delete_later = attempt_to_delete_later or attempt_to_delete
        self._orphan = attempt_to_orphan
        self._report = report_invalid_namespace or (lambda node, ref: None)

    def get(self, uid: str) -> Node | None:
        return self.nodes.get(uid)

    def __len__(self) -> int:
        return len(self.nodes)

    # -- events ----------------------------------------------------------------------------------
    def process(
        self,
        event: EventType,
        api_version: str,
        kind: str,
        meta: Mapping[str, Any],
        old_meta: Mapping[str, Any] | None = None,
        *,
        virtual: bool = False,
    ) -> None:
        """One informer event (or, with ``virtual``, a delete the collector verified)."""
        uid = str(meta.get("uid") or "")
        if not uid:
            return
        identity = Identity(
            api_version, kind, str(meta.get("name", "")), uid, str(meta.get("namespace") or "")
        )
        existing = self.nodes.get(uid)
        if existing is not None and not virtual and existing.virtual:
            existing = self._observe(existing, identity)
        if event in ("add", "update"):
            if existing is None:
                node = Node(
                    identity,
                    owners=owner_refs(meta),
                    being_deleted=being_deleted(meta),
                    deleting_dependents=being_deleted(meta)
                    and has_finalizer(meta, FOREGROUND_FINALIZER),
                )
                self.nodes[uid] = node
                self._add_dependent_to_owners(node, node.owners)
                self._transitions(old_meta, meta, node)
            else:
                self._update(existing, identity, meta, old_meta, virtual=virtual)
        elif existing is not None:
            self._deleted(existing, identity, virtual=virtual)

    def _observe(self, node: Node, observed: Identity) -> Node:
        """A virtual node's object has now been seen by an informer."""
        if observed != node.identity:
            _, suspicious = partition_dependents(node.dependents, observed)
            for dep in suspicious:
                if observed.namespace and dep.identity.namespace != observed.namespace:
                    self._report_invalid(dep, observed.uid)
                self._delete(dep)
            node.identity = observed
        node.virtual = False
        return node

    def _update(
        self,
        node: Node,
        identity: Identity,
        meta: Mapping[str, Any],
        old_meta: Mapping[str, Any] | None,
        *,
        virtual: bool,
    ) -> None:
        if not virtual and (
            node.identity.api_version != identity.api_version or node.identity.kind != identity.kind
        ):
            node.identity = replace(
                node.identity, api_version=identity.api_version, kind=identity.kind
            )
        new_owners = owner_refs(meta)
        added, removed, changed = references_diffs(node.owners, new_owners)
        if added or removed or changed:
            self._unblocked_owners(removed, changed)
            node.owners = new_owners
            self._add_dependent_to_owners(node, added)
            self._remove_dependent_from_owners(node, removed)
        if being_deleted(meta):
            node.being_deleted = True
        self._transitions(old_meta, meta, node)

    def _deleted(self, node: Node, deleted: Identity, *, virtual: bool) -> None:
        remove = True
        if virtual:
            if node.virtual:
                matching, others = partition_dependents(node.dependents, deleted)
                if others:
                    remove = False
                    if matching:
                        self.absent_owners.add(deleted)
                        for dep in matching:
                            self._delete(dep)
                    if node.identity == deleted:
                        alternate = _alternate_identity(others, deleted)
                        if alternate is not None:
                            node.identity = alternate
                            self._delete_later(node)
            elif node.identity != deleted:
                remove = False
                matching, _ = partition_dependents(node.dependents, deleted)
                if matching:
                    self.absent_owners.add(deleted)
                    for dep in matching:
                        self._delete(dep)
        if not remove:
            return
        self.nodes.pop(node.identity.uid, None)
        self._remove_dependent_from_owners(node, node.owners)
        if node.dependents:
            self.absent_owners.add(deleted)
        for dep in list(node.dependents):
            self._delete(dep)
        for ref in node.owners:
            owner = self.nodes.get(ref.uid)
            if owner is not None and owner.deleting_dependents:
                self._delete(owner)

    # -- helpers -------------------------------------------------------------------------------
    def _add_dependent_to_owners(self, node: Node, owners: Iterable[OwnerRef]) -> None:
        suspicious = False
        for ref in owners:
            owner = self.nodes.get(ref.uid)
            if owner is None:
                owner = Node(ref.identity(node.identity.namespace), virtual=True)
                self.nodes[ref.uid] = owner
                owner.add_dependent(node)
                self._delete(owner)
                continue
            owner.add_dependent(node)
            if suspicious:
                continue
            owner_namespaced = bool(owner.identity.namespace)
            if owner_namespaced and owner.identity.namespace != node.identity.namespace:
                if owner.observed:
                    self._report_invalid(node, ref.uid)
                suspicious = True
            elif not matches(ref, owner.identity) or (
                not owner_namespaced
                and owner.identity.namespace != node.identity.namespace
                and owner.virtual
            ):
                suspicious = True
        if suspicious:
            self._delete(node)

    def _remove_dependent_from_owners(self, node: Node, owners: Iterable[OwnerRef]) -> None:
        for ref in owners:
            owner = self.nodes.get(ref.uid)
            if owner is not None:
                owner.remove_dependent(node)

    def _unblocked_owners(
        self, removed: Iterable[OwnerRef], changed: Iterable[tuple[OwnerRef, OwnerRef]]
    ) -> None:
        uids = [ref.uid for ref in removed if ref.blocking]
        uids += [new.uid for old, new in changed if old.blocking and not new.blocking]
        for uid in uids:
            owner = self.nodes.get(uid)
            if owner is not None:
                self._delete(owner)

    def _transitions(
        self, old_meta: Mapping[str, Any] | None, meta: Mapping[str, Any], node: Node
    ) -> None:
        if _starts_deletion_with(old_meta, meta, ORPHAN_FINALIZER):
            self._orphan(node)
            return
        if _starts_deletion_with(old_meta, meta, FOREGROUND_FINALIZER):
            node.deleting_dependents = True
            for dep in list(node.dependents):
                self._delete(dep)
            self._delete(node)

    def _report_invalid(self, node: Node, owner_uid: str) -> None:
        for ref in node.owners:
            if ref.uid == owner_uid:
                self._report(node, ref)
                return


def _starts_deletion_with(
    old: Mapping[str, Any] | None, new: Mapping[str, Any], finalizer: str
) -> bool:
    if not being_deleted(new) or not has_finalizer(new, finalizer):
        return False
    if old is None:
        return True
    return not being_deleted(old) or not has_finalizer(old, finalizer)


def references_diffs(
    old: Iterable[OwnerRef], new: Iterable[OwnerRef]
) -> tuple[list[OwnerRef], list[OwnerRef], list[tuple[OwnerRef, OwnerRef]]]:
    """(added, removed, changed) between two ownerReference lists, matched by uid."""
    old_by_uid = {ref.uid: ref for ref in old}
    added: list[OwnerRef] = []
    changed: list[tuple[OwnerRef, OwnerRef]] = []
    for ref in new:
        previous = old_by_uid.pop(ref.uid, None)
        if previous is None:
            added.append(ref)
        elif previous != ref:
            changed.append((previous, ref))
    return added, list(old_by_uid.values()), changed
