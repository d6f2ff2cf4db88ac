"""Generic REST storage for one resource: upstream's ``registry/generic/registry.Store``.

It turns the verbs into storage calls (through the resource's watch cache) with what every
Kubernetes resource shares: server-owned metadata, name validation, graceful deletion by
finalizers (an object with finalizers gets a ``deletionTimestamp`` and goes away when the last
finalizer is removed), dry runs that run everything but the write, and storage errors turned into
the Status a client expects.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pocketkube.api import status
from pocketkube.api.jsoncopy import json_copy
from pocketkube.api.status import StatusError
from pocketkube.api.validation import NameValidator, name_is_dns_subdomain, validate_object_meta
from pocketkube.apiserver.defaults import apply_defaults, validate_kind
from pocketkube.apiserver.errors import status_error_from_storage
from pocketkube.apiserver.objectmeta import prepare_for_create, prepare_for_update, rfc3339
from pocketkube.storage.errors import NotFound, StorageError
from pocketkube.storage.interface import (
    ListOptions,
    Obj,
    ObjectList,
    Preconditions,
    Storage,
    WatchOptions,
    WatchStream,
)
from pocketkube.storage.store import check_preconditions

Mutation = Callable[[Obj], Obj]
# Called with (old or None, new) once a written object is defaulted: the request's managedFields
# bookkeeping (`pocketkube.apiserver.fieldmanager.FieldTracker`). Set by the request handler for
# the duration of one request; internal writes leave managedFields as they are.
FieldTracker = Callable[[Obj | None, Obj], None]
TRACK_FIELDS: ContextVar[FieldTracker | None] = ContextVar("track_fields", default=None)


@dataclass(frozen=True, slots=True)
class ResourceInfo:
    """What the registry needs to know of a resource (a view of the catalog entry)."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    storage_prefix: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


class ResourceRegistry:
    # What a name must look like (upstream: the strategy's ValidateObjectMeta name function).
    name_validator: NameValidator = staticmethod(name_is_dns_subdomain)

    def __init__(self, *, info: ResourceInfo, storage: Storage) -> None:
        self.info = info
        self.storage = storage

    def for_subresource(self, subresource: str) -> ResourceRegistry:
        """The registry writes to ``subresource`` go through; the same one unless the resource
        has rules of its own there (upstream's separate REST storage per subresource)."""
        return self

    def key(self, namespace: str, name: str = "") -> str:
        prefix = self.info.storage_prefix
        if self.info.namespaced and namespace:
            return f"{prefix}{namespace}/{name}" if name else f"{prefix}{namespace}/"
        return f"{prefix}{name}"

    def _fail(self, err: StorageError, name: str = "") -> StatusError:
        return status_error_from_storage(
            err, resource=self.info.plural, name=name, group=self.info.group
        )

    def _validate(self, obj: Obj, old: Obj | None = None) -> None:
        errors = validate_object_meta(
            obj["metadata"], namespaced=self.info.namespaced, name_validator=self.name_validator
        )
        errors += validate_kind(self.info.kind, obj, old)
        if errors:
            name = str(obj["metadata"].get("name", ""))
            raise StatusError(status.invalid(self.info.kind, name, errors, self.info.group))

    # -- reads ---------------------------------------------------------------------------------
    async def get(self, namespace: str, name: str, *, resource_version: str = "") -> Obj:
        try:
            return await self.storage.get(
                self.key(namespace, name), resource_version=resource_version
            )
        except StorageError as err:
            raise self._fail(err, name) from None

    async def list(self, namespace: str, opts: ListOptions) -> ObjectList:
        try:
            return await self.storage.get_list(self.key(namespace), opts)
        except StorageError as err:
            raise self._fail(err) from None

    def watch(self, namespace: str, opts: WatchOptions, *, name: str = "") -> WatchStream:
        key = self.key(namespace, name) if name else self.key(namespace)
        return self.storage.watch(key, opts)

    # -- writes --------------------------------------------------------------------------------
    async def create(self, namespace: str, obj: Obj, *, dry_run: bool = False) -> Obj:
        info = self.info
        prepared = prepare_for_create(
            obj,
            api_version=info.api_version,
            kind=info.kind,
            namespace=namespace,
            namespaced=info.namespaced,
        )
        apply_defaults(info.kind, prepared)
        track = TRACK_FIELDS.get()
        if track is not None:
            track(None, prepared)
        self._validate(prepared)
        name = prepared["metadata"]["name"]
        if dry_run:
            return prepared
        await self.allocate(prepared)
        try:
            return await self.storage.create(self.key(namespace, name), prepared)
        except StorageError as err:
            await self.release(prepared)
            raise self._fail(err, name) from None

    # -- hooks for resources that own more than their object (service addresses) --------------
    async def allocate(self, obj: Obj) -> None:
        """Take what a new object needs besides its key (it is stored next, or released)."""

    async def release(self, obj: Obj) -> None:
        """Give back what ``allocate`` took, once the object is gone."""

    async def update(
        self, namespace: str, name: str, mutate: Callable[[Obj], Awaitable[Obj]], *, dry_run: bool
    ) -> Obj:
        """Apply ``mutate`` (which returns the desired object) to the stored object and write it.

        ``mutate`` may run more than once (on conflicts), always on a fresh copy.
        """
        info = self.info
        result: dict[str, Obj] = {}

        async def update(current: Obj | None) -> Obj:
            if current is None:
                raise NotFound(f"{name} not found")
            desired = await mutate(json_copy(current))
            updated = prepare_for_update(
                desired, current, api_version=info.api_version, kind=info.kind
            )
            apply_defaults(info.kind, updated)
            track = TRACK_FIELDS.get()
            if track is not None:
                track(current, updated)
            self._validate(updated, current)
            if dry_run:
                result["dry"] = updated
                return current
            return updated

        try:
            stored = await self.storage.guaranteed_update(self.key(namespace, name), update)
        except StorageError as err:
            raise self._fail(err, name) from None
        if dry_run:
            return result["dry"]
        return await self._finish_if_finalized(namespace, stored)

    async def _finish_if_finalized(self, namespace: str, obj: Obj) -> Obj:
        """An object being deleted goes away once its last finalizer is removed (objects in
        graceful deletion, with a grace period left, wait for a delete with grace 0)."""
        meta = obj["metadata"]
        if not meta.get("deletionTimestamp") or meta.get("finalizers"):
            return obj
        if meta.get("deletionGracePeriodSeconds", 0) != 0:
            return obj
        try:
            return await self.storage.delete(
                self.key(namespace, meta["name"]),
                preconditions=Preconditions(uid=meta.get("uid")),
            )
        except NotFound:
            return obj
        except StorageError as err:
            raise self._fail(err, meta["name"]) from None

    async def delete(
        self, namespace: str, name: str, options: DeleteOptions | None = None
    ) -> tuple[Obj, bool]:
        """Delete the object; (object, deleted now).

        An object with finalizers (including those the propagation policy adds) or a grace
        period is only marked with a deletionTimestamp; it goes when the finalizers are gone, or
        when its owner (the kubelet, for a pod) deletes it again with grace 0.
        """
        options = options or DeleteOptions()
        key = self.key(namespace, name)
        try:
            current = await self.storage.get(key)
            if options.preconditions is not None:
                check_preconditions(key, current, options.preconditions)
            grace = graceful_period(self.info.kind, current, options.grace_period_seconds)
            finalizers = _with_propagation(
                current, options.propagation_policy, default_orphan=orphans_by_default(self.info)
            )
            if finalizers or grace > 0:
                marked = await self._mark_deleted(namespace, name, finalizers, grace, options)
                return marked, False
            if options.dry_run:
                return current, True
            deleted = await self.storage.delete(key, preconditions=options.preconditions)
            await self.release(deleted)
            return deleted, True
        except StorageError as err:
            raise self._fail(err, name) from None

    async def _mark_deleted(
        self,
        namespace: str,
        name: str,
        finalizers: Sequence[str],
        grace: int,
        options: DeleteOptions,
    ) -> Obj:
        async def mark(obj: Obj | None) -> Obj:
            if obj is None:
                raise NotFound(f"{name} not found")
            meta = obj["metadata"]
            if finalizers:
                meta["finalizers"] = list(finalizers)
            else:
                meta.pop("finalizers", None)  # a propagation finalizer the delete dropped
            previous = meta.get("deletionGracePeriodSeconds")
            if meta.get("deletionTimestamp") and previous is not None and previous <= grace:
                return obj  # a deletion may only be shortened
            meta["deletionTimestamp"] = rfc3339(datetime.now(UTC) + timedelta(seconds=grace))
            meta["deletionGracePeriodSeconds"] = grace
            return obj

        if options.dry_run:
            return await mark(json_copy(await self.storage.get(self.key(namespace, name))))
        marked = await self.storage.guaranteed_update(self.key(namespace, name), mark)
        if grace == 0 and not marked["metadata"].get("finalizers"):
            return await self._finish_if_finalized(namespace, marked)
        return marked


@dataclass(frozen=True, slots=True)
class DeleteOptions:
    """``metav1.DeleteOptions`` as the registry needs them."""

    preconditions: Preconditions | None = None
    grace_period_seconds: int | None = None
    propagation_policy: str | None = None
    dry_run: bool = False


PROPAGATION_FINALIZERS = {"Foreground": "foregroundDeletion", "Orphan": "orphan"}
ORPHAN_FINALIZER, FOREGROUND_FINALIZER = "orphan", "foregroundDeletion"
# Resources whose dependents are orphaned when a delete names no policy (upstream's
# DefaultGarbageCollectionPolicy: OrphanDependents for v1 ReplicationControllers, kept from
# before server-side garbage collection, and for the pre-apps/v1 workload versions).
_ORPHAN_BY_DEFAULT_WORKLOADS = frozenset(
    {"replicasets", "deployments", "daemonsets", "statefulsets", "replicationcontrollers"}
)
_ORPHAN_BY_DEFAULT_VERSIONS = frozenset(
    {("extensions", "v1beta1"), ("apps", "v1beta1"), ("apps", "v1beta2")}
)


def orphans_by_default(info: ResourceInfo) -> bool:
    if info.group == "" and info.plural == "replicationcontrollers":
        return True
    return (
        info.group,
        info.version,
    ) in _ORPHAN_BY_DEFAULT_VERSIONS and info.plural in _ORPHAN_BY_DEFAULT_WORKLOADS


def _with_propagation(obj: Obj, policy: str | None, *, default_orphan: bool = False) -> list[str]:
    """The object's finalizers after a delete with ``policy`` (upstream's
    deletionFinalizersForGarbageCollection): an explicit policy wins (Orphan → ``orphan``,
    Foreground → ``foregroundDeletion``, Background → neither), then a propagation finalizer
    the object already has, then the resource's default."""
    finalizers = list(obj["metadata"].get("finalizers") or [])
    if policy is not None:
        orphan, foreground = policy == "Orphan", policy == "Foreground"
    elif ORPHAN_FINALIZER in finalizers or FOREGROUND_FINALIZER in finalizers:
        first = next(f for f in finalizers if f in (ORPHAN_FINALIZER, FOREGROUND_FINALIZER))
        orphan, foreground = first == ORPHAN_FINALIZER, first == FOREGROUND_FINALIZER
    else:
        orphan, foreground = default_orphan, False
    kept = [f for f in finalizers if f not in (ORPHAN_FINALIZER, FOREGROUND_FINALIZER)]
    if orphan:
        kept.append(ORPHAN_FINALIZER)
    if foreground:
        kept.append(FOREGROUND_FINALIZER)
    return finalizers if set(kept) == set(finalizers) else kept


def graceful_period(kind: str, obj: Obj, requested: int | None) -> int:
    """Seconds the object gets before it is removed; 0 removes it now (upstream's
    CheckGracefulDelete: only pods that a kubelet may be running get a grace period)."""
    if kind != "Pod":
        return 0
    spec, status_ = obj.get("spec", {}), obj.get("status", {})
    if not spec.get("nodeName") or status_.get("phase") in ("Failed", "Succeeded"):
        return 0
    if requested is not None:
        return max(requested, 0)
    default = spec.get("terminationGracePeriodSeconds", 30)
    return default if isinstance(default, int) and default >= 0 else 30
