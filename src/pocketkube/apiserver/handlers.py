"""The resource endpoints: ``/api/v1/...`` and ``/apis/<group>/<version>/...`` for every verb.

One handler reads the request (``requestinfo``), finds the resource in the catalog, and calls the
resource's registry; everything that differs between resources lives in the catalog entry and the
registry, not here. Responses are plain JSON objects and lists, ``Table`` when asked for (kubectl
always asks), ``PartialObjectMetadata`` for metadata-only clients, and watch streams.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from pocketkube.api import status
from pocketkube.api.jsoncopy import json_copy
from pocketkube.api.patch import (
    PatchError,
    UnsupportedPatchTypeError,
    apply_json_patch,
    apply_merge_patch,
    apply_strategic_merge_patch,
    strategic_schema_for,
)
from pocketkube.api.status import OPTIMISTIC_LOCK_MESSAGE, StatusError
from pocketkube.apiserver import body as bodies
from pocketkube.apiserver import crds, extensions, fieldmanager, fieldvalidation, protobuf
from pocketkube.apiserver.compression import write_parts
from pocketkube.apiserver.identity import ANONYMOUS, REQUEST_USER, USER
from pocketkube.apiserver.negotiation import Wanted, negotiate
from pocketkube.apiserver.query import delete_options, dry_run, list_options, watch_options
from pocketkube.apiserver.registry import TRACK_FIELDS, DeleteOptions, ResourceRegistry
from pocketkube.apiserver.requestinfo import RequestInfo, request_info
from pocketkube.apiserver.resources import Catalog, Resource
from pocketkube.apiserver.tables import crd_table, to_table
from pocketkube.apiserver.watch import serve_watch
from pocketkube.storage.interface import Event, EventType, Obj, ObjectList

MAX_JSON_PATCH_OPERATIONS = 10_000
TRUE_VALUES = ("1", "t", "T", "TRUE", "true", "True")  # Go's strconv.ParseBool
TABLE_BATCH = 1_000  # rows a long Table is built, encoded and sent at a time


# The registry serving a resource, or None when it is not served yet.
RegistryFor = Callable[[Resource], ResourceRegistry | None]
# Admission of a create: (resource, namespace, object), changing the object in place or raising.
AdmitCreate = Callable[[Resource, str, Obj], Awaitable[None]]
# (resource, namespace, desired object, stored object, subresource): admission on an update,
# changing the desired object in place or refusing it.
AdmitUpdate = Callable[[Resource, str, Obj, Obj, str], Awaitable[None]]


def _json(obj: Any, code: int = 200) -> web.Response:
    return web.Response(status=code, body=orjson.dumps(obj), content_type="application/json")


def _not_found_path() -> StatusError:
    return StatusError(
        status.make_status(
            code=404, reason="NotFound", message="the server could not find the requested resource"
        )
    )


class ResourceHandler:
    def __init__(
        self,
        *,
        catalog: Catalog,
        registry_for: RegistryFor,
        admit_create: AdmitCreate,
        admit_update: AdmitUpdate | None = None,
    ) -> None:
        self._catalog = catalog
        self._registry_for = registry_for
        self._admit_create = admit_create
        self._admit_update = admit_update

    async def handle(self, request: web.Request) -> web.StreamResponse:
        token = REQUEST_USER.set(request.get(USER, ANONYMOUS))
        try:
            return await self._handle(request)
        finally:
            REQUEST_USER.reset(token)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        info = request_info(request)
        if not info.is_resource_request:
            raise _not_found_path()
        entry = self._catalog.get(info.group, info.version, info.resource)
        if entry is None or (
            info.namespace and not entry.namespaced and info.resource != "namespaces"
        ):
            raise _not_found_path()
        if info.subresource and entry.subresource(info.subresource) is None:
            raise _not_found_path()
        registry = self._registry_for(entry)
        if info.subresource and info.subresource != "status":
            special = extensions.SUBRESOURCES.get(info.subresource)
            if special is None:
                raise StatusError(
                    status.method_not_supported(
                        f"{info.resource}/{info.subresource}", info.verb, entry.group
                    )
                )
            if request.method in ("GET", "HEAD"):
                return await special(self._special(request, info, entry, registry))
            with _tracking(request, info, entry, registry):
                return await special(self._special(request, info, entry, registry))
        if not info.subresource and info.verb not in entry.verbs:
            raise StatusError(status.method_not_supported(info.resource, info.verb, entry.group))
        if registry is None:
            virtual = extensions.VIRTUAL.get(entry.gvr)
            if virtual is None:
                raise _not_found_path()
            return await virtual(self._special(request, info, entry, registry))
        if info.subresource:
            registry = registry.for_subresource(info.subresource)
        call = _Call(request, info, entry, registry, self._admit_create, self._admit_update)
        return await call.run()

    def _special(
        self,
        request: web.Request,
        info: RequestInfo,
        entry: Resource,
        registry: ResourceRegistry | None,
    ) -> extensions.SpecialRequest:
        return extensions.SpecialRequest(
            request=request,
            info=info,
            resource=entry,
            registry=registry,
            registry_for=self._registry_for,
            user=request.get(USER, ANONYMOUS),
        )


def _writer(
    request: web.Request, info: RequestInfo, entry: Resource, registry: ResourceRegistry | None
) -> fieldmanager.Writer:
    schema = registry.schema if isinstance(registry, crds.CustomResourceRegistry) else None
    return fieldmanager.writer_for(
        entry,
        custom_schema=schema,
        query=request.query,
        user_agent=request.headers.get("User-Agent", ""),
        subresource=info.subresource,
    )


@contextlib.contextmanager
def _tracking(
    request: web.Request, info: RequestInfo, entry: Resource, registry: ResourceRegistry | None
) -> Iterator[None]:
    """Record the writes of this request in the objects' managedFields (Update operations)."""
    token = TRACK_FIELDS.set(fieldmanager.FieldTracker(_writer(request, info, entry, registry)))
    try:
        yield
    finally:
        TRACK_FIELDS.reset(token)


class _Call:
    """One resource request, dispatched by verb."""

    def __init__(
        self,
        request: web.Request,
        info: RequestInfo,
        entry: Resource,
        registry: ResourceRegistry,
        admit_create: AdmitCreate,
        admit_update: AdmitUpdate | None = None,
    ) -> None:
        self.admit_create = admit_create
        self.admit_update = admit_update
        self.request = request
        self.info = info
        self.entry = entry
        self.registry = registry
        self.query = request.query
        self.wanted: Wanted = negotiate(request.headers.get("Accept", ""))
        self.namespace = info.namespace if entry.namespaced else ""
        self.qualified = f"{entry.plural}.{entry.group}" if entry.group else entry.plural

    async def run(self) -> web.StreamResponse:
        verb = self.info.verb
        if verb == "get":
            return self._object(
                await self.registry.get(
                    self.namespace,
                    self.info.name,
                    resource_version=self.query.get("resourceVersion", ""),
                )
            )
        if verb == "list":
            opts = list_options(self.query, self.qualified)
            if not (self.wanted.table or self.wanted.partial_metadata):
                opts = dataclasses.replace(opts, raw_items_only=True)  # JSON: joined encodings
            return await self._list(await self.registry.list(self.namespace, opts))
        if verb == "watch":
            return await self._watch()
        if verb == "create":
            return await self._create()
        if verb == "update":
            return await self._update()
        if verb == "patch":
            return await self._patch()
        if verb == "delete":
            return await self._delete()
        if verb == "deletecollection":
            return await self._delete_collection()
        raise StatusError(status.method_not_supported(self.info.resource, verb, self.entry.group))

    # -- encoding --------------------------------------------------------------------------------
    def _encode(self, obj: Obj) -> Any:
        if self.wanted.partial_metadata:
            return {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            }
        return obj

    def _object(self, obj: Obj, code: int = 200) -> web.Response:
        if self.wanted.table:
            meta = {"resourceVersion": obj["metadata"].get("resourceVersion", "")}
            return _json(
                self._table([obj], meta),
                code,
            )
        return _json(self._encode(obj), code)

    def _table(self, objects: list[Obj], meta: dict[str, Any], now: datetime | None = None) -> Any:
        include = self._include()
        if isinstance(self.registry, crds.CustomResourceRegistry):
            columns = self.registry.printer_columns
            return crd_table(objects, columns, list_meta=meta, include_object=include, now=now)
        return to_table(self.entry.kind, objects, list_meta=meta, include_object=include, now=now)

    def _table_parts(self, objects: list[Obj], meta: dict[str, Any]) -> Iterator[bytes]:
        """The Table of ``objects`` as JSON, TABLE_BATCH rows at a time (rows come last)."""
        now = datetime.now(UTC)
        table = self._table(objects[:TABLE_BATCH], meta, now)
        rows = orjson.dumps(table.pop("rows"))
        head = orjson.dumps(table)
        yield b"".join((head[:-1], b',"rows":', rows[:-1]))
        for start in range(TABLE_BATCH, len(objects), TABLE_BATCH):
            rows = orjson.dumps(
                self._table(objects[start : start + TABLE_BATCH], meta, now)["rows"]
            )
            yield b"," + rows[1:-1]
        yield b"]}"

    def _include(self) -> str:
        return self.query.get("includeObject", "") or "Metadata"

    async def _list(self, result: ObjectList) -> web.StreamResponse:
        meta: dict[str, Any] = {"resourceVersion": result.resource_version}
        if result.continue_token:
            meta["continue"] = result.continue_token
        if result.remaining_item_count is not None:
            meta["remainingItemCount"] = result.remaining_item_count
        if self.wanted.table:
            return await write_parts(self.request, self._table_parts(result.items, meta))
        if self.wanted.partial_metadata:
            return _json(
                {
                    "kind": "PartialObjectMetadataList",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": meta,
                    "items": [self._encode(o) for o in result.items],
                }
            )
        api_version = self.entry.api_version
        head = orjson.dumps(
            {"kind": f"{self.entry.kind}List", "apiVersion": api_version, "metadata": meta}
        )
        raw = (
            result.raw_items
            if result.raw_items is not None
            else [orjson.dumps(o) for o in result.items]
        )
        body = b"".join((head[:-1], b',"items":[', b",".join(raw), b"]}"))
        return web.Response(body=body, content_type="application/json")

    async def _watch(self) -> web.StreamResponse:
        opts, timeout = watch_options(self.query, self.qualified)
        stream = self.registry.watch(self.namespace, opts, name=self.info.name)
        api_version = self.entry.api_version

        def encode(event: Event) -> Any:
            if event.type is EventType.BOOKMARK:
                return {"kind": self.entry.kind, "apiVersion": api_version, **event.object}
            if self.wanted.table:
                meta = {"resourceVersion": event.object["metadata"].get("resourceVersion", "")}
                return self._table([event.object], meta)
            return self._encode(event.object)

        return await serve_watch(self.request, stream, encode=encode, timeout_seconds=timeout)

    # -- writes ----------------------------------------------------------------------------------
    async def _read_object(self) -> Obj:
        kind = bodies.media_type(self.request)
        if kind == bodies.PROTOBUF:
            expected = (self.entry.api_version, self.entry.kind)
            raw = await bodies.read_body(self.request)
            try:
                return protobuf.decode_kubernetes_protobuf(raw, expected=expected)
            except protobuf.UnsupportedProtobufKind:
                raise StatusError(status.unsupported_media_type(bodies.OBJECT_TYPES)) from None
            except protobuf.MalformedProtobuf as err:
                raise StatusError(status.bad_request(str(err))) from None
        if kind not in bodies.OBJECT_TYPES:
            raise StatusError(status.unsupported_media_type(bodies.OBJECT_TYPES))
        return bodies.parse_object(await bodies.read_body(self.request), kind)

    async def _create(self) -> web.Response:
        fieldmanager.validate_manager(self.query, "CreateOptions")
        obj = await self._read_object()
        self._check_type(obj)
        warnings = fieldvalidation.validate(obj, query=self.query, resource=self.entry)
        await self.admit_create(self.entry, self.namespace, obj)
        with self._tracking():
            created = await self.registry.create(self.namespace, obj, dry_run=dry_run(self.query))
        return fieldvalidation.with_warnings(self._object(created, 201), warnings)

    async def _admitted(self, desired: Obj, current: Obj) -> Obj:
        """``desired`` after update admission (which may change it in place, or refuse it)."""
        if self.admit_update is not None:
            await self.admit_update(
                self.entry, self.namespace, desired, current, self.info.subresource
            )
        return desired

    # -- managedFields ---------------------------------------------------------------------------
    def _writer(self) -> fieldmanager.Writer:
        return _writer(self.request, self.info, self.entry, self.registry)

    def _tracking(self) -> contextlib.AbstractContextManager[None]:
        return _tracking(self.request, self.info, self.entry, self.registry)

    def _check_type(self, obj: Obj) -> None:
        api_version = self.entry.api_version
        given_version, given_kind = obj.get("apiVersion"), obj.get("kind")
        if given_version and given_version != api_version:
            raise StatusError(
                status.bad_request(
                    f"the API version in the data ({given_version}) does not match the expected "
                    "API "
                    f"version ({api_version})"
                )
            )
        if given_kind and given_kind != self.entry.kind:
            raise StatusError(
                status.bad_request(
                    f"the kind in the data ({given_kind}) does not match the expected kind "
                    f"({self.entry.kind})"
                )
            )

    def _keep_status_split(self, desired: Obj, current: Obj) -> Obj:
        """A write to the main resource cannot change status, nor a write to /status the rest."""
        if self.entry.subresource("status") is None:
            return desired
        if self.info.subresource == "status":
            merged = json_copy(current)
            if "status" in desired:
                merged["status"] = desired["status"]
            else:
                merged.pop("status", None)
            managed = (desired.get("metadata") or {}).get("managedFields")
            if managed is not None:  # an apply to /status brings its bookkeeping along
                merged["metadata"]["managedFields"] = managed
            return merged
        if "status" in current:
            desired["status"] = current["status"]
        else:
            desired.pop("status", None)
        return desired

    async def _update(self) -> web.Response:
        fieldmanager.validate_manager(self.query, "UpdateOptions")
        obj = await self._read_object()
        self._check_type(obj)
        warnings = fieldvalidation.validate(obj, query=self.query, resource=self.entry)
        name = obj.get("metadata", {}).get("name")
        if name and name != self.info.name:
            raise StatusError(
                status.bad_request(
                    f"the name of the object ({name}) does not match the name on the URL "
                    f"({self.info.name})"
                )
            )
        wanted_rv = obj.get("metadata", {}).get("resourceVersion")

        async def mutate(current: Obj) -> Obj:
            if wanted_rv and wanted_rv != current["metadata"].get("resourceVersion"):
                raise StatusError(
                    status.conflict(
                        self.qualified.split(".")[0],
                        self.info.name,
                        OPTIMISTIC_LOCK_MESSAGE,
                        self.entry.group,
                    )
                )
            return await self._admitted(self._keep_status_split(json_copy(obj), current), current)

        with self._tracking():
            updated = await self.registry.update(
                self.namespace, self.info.name, mutate, dry_run=dry_run(self.query)
            )
        return fieldvalidation.with_warnings(self._object(updated), warnings)

    async def _patch(self) -> web.Response:
        kind = bodies.media_type(self.request)
        warnings: list[str] = []
        if kind not in bodies.PATCH_TYPES:
            raise StatusError(status.unsupported_media_type(bodies.PATCH_TYPES))
        fieldmanager.validate_patch_options(self.query, apply_patch=kind == bodies.APPLY_PATCH)
        if kind == bodies.APPLY_PATCH:
            return await self._apply()
        patch = bodies.parse_document(await bodies.read_body(self.request), kind)
        if kind == bodies.JSON_PATCH:
            if not isinstance(patch, list):
                raise StatusError(
                    status.bad_request("json patch must be a JSON array of operations")
                )
            if len(patch) > MAX_JSON_PATCH_OPERATIONS:
                raise StatusError(
                    status.request_entity_too_large(
                        "The allowed maximum operations in a JSON patch is "
                        f"{MAX_JSON_PATCH_OPERATIONS}, "
                        f"got {len(patch)}"
                    )
                )
        elif not isinstance(patch, dict):
            raise StatusError(status.bad_request("the patch must be a JSON object"))

        async def mutate(current: Obj) -> Obj:
            try:
                if kind == bodies.JSON_PATCH:
                    patched = apply_json_patch(current, patch)
                elif kind == bodies.MERGE_PATCH:
                    patched = apply_merge_patch(current, patch)
                else:
                    schema = strategic_schema_for(
                        self.entry.kind, custom_resource=crds.is_custom(self.registry)
                    )
                    patched = apply_strategic_merge_patch(current, patch, schema)
            except PatchError as err:
                code = 400 if err.bad_request else 422
                reason = "BadRequest" if code == 400 else "Invalid"
                if isinstance(err, UnsupportedPatchTypeError):
                    code, reason = err.code, err.reason
                raise StatusError(
                    status.make_status(
                        code=code,
                        reason=reason,
                        message=str(err),
                    )
                ) from None
            if not isinstance(patched, dict):
                raise StatusError(status.bad_request("the patched object is not a JSON object"))
            self._check_type(patched)
            warnings[:] = fieldvalidation.validate(patched, query=self.query, resource=self.entry)
            return await self._admitted(self._keep_status_split(patched, current), current)

        with self._tracking():
            updated = await self.registry.update(
                self.namespace, self.info.name, mutate, dry_run=dry_run(self.query)
            )
        return fieldvalidation.with_warnings(self._object(updated), warnings)

    async def _apply(self) -> web.Response:
        """Server-side apply: merge the configuration into the object (creating it if
        missing), with managedFields and conflict detection."""
        config = bodies.parse_document(await bodies.read_body(self.request), bodies.APPLY_PATCH)
        fieldmanager.check_apply_config(
            config,
            api_version=self.entry.api_version,
            kind=self.entry.kind,
            name=self.info.name,
            namespace=self.namespace,
        )
        warnings = fieldvalidation.validate(config, query=self.query, resource=self.entry)
        wanted_rv = (config.get("metadata") or {}).get("resourceVersion")
        writer = self._writer()  # fieldManager is given: validate_patch_options insists
        force = self.query.get("force", "") in TRUE_VALUES

        async def mutate(current: Obj) -> Obj:
            if wanted_rv and wanted_rv != current["metadata"].get("resourceVersion"):
                raise StatusError(
                    status.conflict(
                        self.qualified.split(".")[0],
                        self.info.name,
                        OPTIMISTIC_LOCK_MESSAGE,
                        self.entry.group,
                    )
                )
            merged = fieldmanager.apply(current, config, writer, force=force)
            return await self._admitted(self._keep_status_split(merged, current), current)

        for _ in range(2):  # a create losing a race to another create applies again
            try:
                updated = await self.registry.update(
                    self.namespace, self.info.name, mutate, dry_run=dry_run(self.query)
                )
                return fieldvalidation.with_warnings(self._object(updated), warnings)
            except StatusError as err:
                if err.code != 404 or self.info.subresource or wanted_rv:
                    raise
            created = fieldmanager.apply(None, config, writer, force=force)
            created.setdefault("metadata", {}).setdefault("name", self.info.name)
            await self.admit_create(self.entry, self.namespace, created)
            try:
                obj = await self.registry.create(
                    self.namespace, created, dry_run=dry_run(self.query)
                )
            except StatusError as err:
                if err.code == 409 and err.status.get("reason") == "AlreadyExists":
                    continue
                raise
            return fieldvalidation.with_warnings(self._object(obj, 201), warnings)
        raise StatusError(status.conflict(self.qualified, self.info.name, "please retry"))

    async def _delete_options(self) -> tuple[DeleteOptions, bool]:
        raw = await bodies.read_body(self.request)
        body: dict[str, Any] = bodies.parse_object(raw, bodies.JSON) if raw.strip() else {}
        return delete_options(self.query, body)

    async def _delete(self) -> web.Response:
        options, accepted = await self._delete_options()
        obj, deleted_now = await self.registry.delete(self.namespace, self.info.name, options)
        # Upstream answers 202 only to an explicit orphanDependents=false that did not delete.
        return self._object(obj, 202 if accepted and not deleted_now else 200)

    async def _delete_collection(self) -> web.StreamResponse:
        options, _ = await self._delete_options()
        listed = await self.registry.list(self.namespace, list_options(self.query, self.qualified))
        deleted = []
        for obj in listed.items:
            meta = obj["metadata"]
            try:
                gone, _ = await self.registry.delete(
                    meta.get("namespace", ""), meta["name"], options
                )
            except StatusError as err:
                if err.code == 404:
                    continue
                raise
            deleted.append(gone)
        return await self._list(ObjectList(items=deleted, resource_version=listed.resource_version))
