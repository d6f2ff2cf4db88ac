"""CustomResourceDefinitions: serving the resources they define.

Upstream's apiextensions-apiserver watches CRDs and serves ``/apis/<group>/<version>/<plural>``
for each served version. Here the work is level-triggered and synchronous: the API server syncs
every stored CRD when it starts, and :class:`CRDRegistry` syncs a CRD after every write to it.
A sync registers one catalog entry per served version (all versions share one storage prefix,
``/registry/<group>/<plural>/``, and objects are served as stored with their apiVersion set to
the version asked for: no conversion), and marks the CRD NamesAccepted and Established. A
version's ``subresources.scale`` paths go to its registry, which checks the replica counts on
every write and serves them as a Scale (``subresources/customscale.py``).
Deleting a CRD removes its resources and every custom object first (the effect of upstream's
``customresourcecleanup.apiextensions.k8s.io`` finalizer), then the CRD.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pocketkube.api import status
from pocketkube.api.status import StatusError
from pocketkube.apiserver import crdschema
from pocketkube.apiserver.objectmeta import rfc3339
from pocketkube.apiserver.registry import DeleteOptions, ResourceInfo, ResourceRegistry
from pocketkube.apiserver.resources import GroupVersionResource, Resource, Subresource
from pocketkube.storage.errors import NotFound, StorageError
from pocketkube.storage.interface import ListOptions, Obj, ObjectList, Storage

if TYPE_CHECKING:
    from pocketkube.apiserver.app import APIServer

PRESERVE = crdschema.PRESERVE
CRUD_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
SUBRESOURCE_VERBS = ("get", "patch", "update")


def is_custom(registry: ResourceRegistry | None) -> bool:
    return isinstance(registry, CustomResourceRegistry)


class CustomResourceRegistry(ResourceRegistry):
    """One served version of a custom resource: schema validation and pruning on writes, the
    requested apiVersion on reads."""

    def __init__(
        self,
        *,
        info: ResourceInfo,
        storage: Storage,
        schema: Mapping[str, Any] | None,
        printer_columns: list[Mapping[str, Any]],
        has_status: bool = False,
        scale: crdschema.ScalePaths | None = None,
    ) -> None:
        super().__init__(info=info, storage=storage)
        self.schema = schema
        self.printer_columns = printer_columns
        self.has_status = has_status
        self.scale = scale  # the version's scale subresource, if it has one

    async def create(self, namespace: str, obj: Obj, *, dry_run: bool = False) -> Obj:
        if self.has_status:  # status is written through /status only
            obj = {k: v for k, v in obj.items() if k != "status"}
        return self._served(await super().create(namespace, obj, dry_run=dry_run))

    def _validate(self, obj: Obj, old: Obj | None = None) -> None:
        if self.schema is not None:
            crdschema.prune_and_default(obj, self.schema)
        super()._validate(obj, old)
        errors = crdschema.validate(obj, self.schema) if self.schema is not None else []
        if self.scale is not None:
            errors += crdschema.validate_scale(obj, self.scale)
        if errors:
            name = str(obj["metadata"].get("name", ""))
            raise StatusError(status.invalid(self.info.kind, name, errors, self.info.group))

    def _served(self, obj: Obj) -> Obj:
        if obj.get("apiVersion") == self.info.api_version:
            return obj
        return {**obj, "apiVersion": self.info.api_version}

    async def get(self, namespace: str, name: str, *, resource_version: str = "") -> Obj:
        return self._served(await super().get(namespace, name, resource_version=resource_version))

    async def list(self, namespace: str, opts: ListOptions) -> ObjectList:
        result = await super().list(namespace, dataclasses.replace(opts, raw_items_only=False))
        items = [self._served(o) for o in result.items]
        return dataclasses.replace(result, items=items, raw_items=None)


class CRDRegistry(ResourceRegistry):
    """The CustomResourceDefinitions registry: each write is followed by a sync of the CRD."""

    def __init__(self, *, info: ResourceInfo, storage: Storage) -> None:
        super().__init__(info=info, storage=storage)
        self.crds: CRDServer | None = None

    async def create(self, namespace: str, obj: Obj, *, dry_run: bool = False) -> Obj:
        created = await super().create(namespace, obj, dry_run=dry_run)
        if dry_run or self.crds is None:
            return created
        return await self.crds.sync(created)

    async def update(
        self, namespace: str, name: str, mutate: Callable[[Obj], Awaitable[Obj]], *, dry_run: bool
    ) -> Obj:
        updated = await super().update(namespace, name, mutate, dry_run=dry_run)
        if dry_run or self.crds is None:
            return updated
        return await self.crds.sync(updated)

    async def delete(
        self, namespace: str, name: str, options: DeleteOptions | None = None
    ) -> tuple[Obj, bool]:
        if self.crds is not None and not (options and options.dry_run):
            try:
                current = await self.storage.get(self.key("", name))
            except StorageError as err:
                raise self._fail(err, name) from None
            await self.crds.remove(current)
        return await super().delete(namespace, name, options)


class CRDServer:
    """Keeps the catalog and the registries in step with the stored CRDs."""

    def __init__(self, server: APIServer) -> None:
        self.server = server
        self._owned: dict[str, list[GroupVersionResource]] = {}

    def schema_of(self, resource: Resource) -> Mapping[str, Any] | None:
        """The openAPIV3Schema a served custom resource version has (None: not custom)."""
        registry = self.server.registries.get(resource.gvr)
        if isinstance(registry, CustomResourceRegistry):
            return registry.schema or {"type": "object", PRESERVE: True}
        return None

    @property
    def registry(self) -> CRDRegistry:
        registry = self.server.registries[
            ("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        ]
        assert isinstance(registry, CRDRegistry)
        return registry

    async def start(self) -> None:
        registry = self.registry
        registry.crds = self
        listed = await registry.list("", ListOptions())
        for crd in listed.items:
            await self.sync(crd)

    async def sync(self, crd: Obj) -> Obj:
        """Serve what ``crd`` defines (or nothing, once it is being deleted); the CRD as stored."""
        name = crd["metadata"]["name"]
        if crd["metadata"].get("deletionTimestamp"):
            await self.remove(crd)
            return crd
        spec = crd.get("spec") or {}
        group, names = spec.get("group", ""), spec.get("names") or {}
        kind, plural = names.get("kind", ""), names.get("plural", "")
        if not (group and kind and plural):
            return crd
        prefix = f"/registry/{group}/{plural}/"
        storage = await self.server.hub.cache(prefix)
        wanted: list[GroupVersionResource] = []
        for version in spec.get("versions") or ():
            if not version.get("served", True):
                continue
            resource = _resource(spec, version)
            info = ResourceInfo(
                group=group,
                version=resource.version,
                kind=kind,
                plural=plural,
                namespaced=resource.namespaced,
                storage_prefix=prefix,
            )
            schema = (version.get("schema") or {}).get("openAPIV3Schema")
            scale = (version.get("subresources") or {}).get("scale")
            self.server.catalog.register(resource)
            self.server.registries[resource.gvr] = CustomResourceRegistry(
                info=info,
                storage=storage,
                schema=schema if isinstance(schema, Mapping) else None,
                printer_columns=list(version.get("additionalPrinterColumns") or ()),
                has_status=resource.subresource("status") is not None,
                scale=crdschema.ScalePaths.from_crd(scale) if isinstance(scale, Mapping) else None,
            )
            wanted.append(resource.gvr)
        for gone in set(self._owned.get(name, ())) - set(wanted):
            self._unregister(gone)
        self._owned[name] = wanted
        return await self._establish(crd)

    async def remove(self, crd: Obj) -> None:
        """Stop serving the CRD's resources and delete every custom object of it."""
        name = crd["metadata"]["name"]
        for gvr in self._owned.pop(name, []):
            self._unregister(gvr)
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        group, plural = spec.get("group", ""), names.get("plural", "")
        if not (group and plural):
            return
        storage = self.server.hub.storage
        prefix = f"/registry/{group}/{plural}/"
        listed = await storage.get_list(prefix, ListOptions())
        for obj in listed.items:
            meta = obj["metadata"]
            namespace = meta.get("namespace", "")
            key = f"{prefix}{namespace}/{meta['name']}" if namespace else f"{prefix}{meta['name']}"
            try:
                await storage.delete(key)
            except NotFound:
                continue

    def _unregister(self, gvr: GroupVersionResource) -> None:
        self.server.catalog.unregister(*gvr)
        self.server.registries.pop(gvr, None)

    async def _establish(self, crd: Obj) -> Obj:
        """Write the status a CRD whose names were accepted has (only when it differs)."""
        spec = crd.get("spec") or {}
        wanted = _status(spec, crd.get("status") or {})
        if crd.get("status") == wanted:
            return crd
        registry = self.registry

        async def write(current: Obj | None) -> Obj:
            if current is None:
                raise NotFound(crd["metadata"]["name"])
            current["status"] = _status(current.get("spec") or {}, current.get("status") or {})
            return current

        try:
            return await registry.storage.guaranteed_update(
                registry.key("", crd["metadata"]["name"]), write
            )
        except NotFound:
            return crd


def _resource(spec: Mapping[str, Any], version: Mapping[str, Any]) -> Resource:
    group, names = spec["group"], spec["names"]
    kind, plural, v = names["kind"], names["plural"], version["name"]
    subresources = version.get("subresources") or {}
    subs: list[Subresource] = []
    if "status" in subresources:
        subs.append(Subresource("status", kind, group, v, SUBRESOURCE_VERBS))
    if "scale" in subresources:
        subs.append(Subresource("scale", "Scale", "autoscaling", "v1", SUBRESOURCE_VERBS))
    return Resource(
        group=group,
        version=v,
        kind=kind,
        plural=plural,
        singular=names.get("singular") or kind.lower(),
        namespaced=spec.get("scope", "Namespaced") == "Namespaced",
        verbs=CRUD_VERBS,
        short_names=tuple(names.get("shortNames") or ()),
        categories=tuple(names.get("categories") or ()),
        subresources=tuple(subs),
        etcd_path=f"{group}/{plural}",
    )


def _condition(type_: str, reason: str, message: str, previous: Mapping[str, Any]) -> Obj:
    old = next(
        (c for c in previous.get("conditions") or () if c.get("type") == type_),
        None,
    )
    same = old is not None and old.get("status") == "True" and old.get("reason") == reason
    return {
        "type": type_,
        "status": "True",
        "lastTransitionTime": (
            old["lastTransitionTime"] if same and old else rfc3339(datetime.now(UTC))
        ),
        "reason": reason,
        "message": message,
    }


def _status(spec: Mapping[str, Any], previous: Mapping[str, Any]) -> Obj:
    storage = [v["name"] for v in spec.get("versions") or () if v.get("storage")]
    stored = list(previous.get("storedVersions") or ())
    for version in storage:
        if version not in stored:
            stored.append(version)
    return {
        "conditions": [
            _condition("NamesAccepted", "NoConflicts", "no conflicts found", previous),
            _condition(
                "Established",
                "InitialNamesAccepted",
                "the initial names have been accepted",
                previous,
            ),
        ],
        "acceptedNames": copy.deepcopy(dict(spec.get("names") or {})),
        "storedVersions": stored,
    }
