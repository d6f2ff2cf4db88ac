"""managedFields on every write, and server-side apply: the API server's side of
`pocketkube.api.managedfields`.

- the type of each resource (built-in kinds from our OpenAPI schema table plus the few upstream
  facts the table lacks; custom resources from their CRD's schema);
- who the manager is: the ``fieldManager`` parameter, else the client's user agent up to the
  first ``/`` (``kubectl``, ``OpenAPI-Generator``), as upstream;
- `FieldTracker`, which the registry calls after defaulting on create and update (so defaulted
  fields belong to the writer, as upstream), and `apply`, the Apply operation itself.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson

from pocketkube.api import status, validation
from pocketkube.api.managedfields import (
    MISSING,
    UNTYPED,
    ApplyConflict,
    FieldSet,
    ManagedFields,
    ManagedFieldsError,
    SchemaTypes,
    TypeNode,
    compare,
    created_fields,
    field_set,
)
from pocketkube.api.status import StatusError
from pocketkube.apiserver.objectmeta import now_rfc3339
from pocketkube.apiserver.openapi.table import name_for_kind, schemas
from pocketkube.apiserver.resources import Resource
from pocketkube.storage.interface import Obj

__all__ = [
    "FieldTracker",
    "TypeNode",
    "Writer",
    "apply",
    "manager_name",
    "type_of",
    "validate_patch_options",
]

MAX_MANAGER_LENGTH = 128
_CORE = "io.k8s.api.core.v1."
_META = "io.k8s.apimachinery.pkg.apis.meta.v1."

# Structs upstream marks +structType=atomic (owned and replaced as a whole).
ATOMIC_STRUCTS = frozenset(
    {
        _META + "LabelSelector",
        _META + "OwnerReference",
        *(
            _CORE + name
            for name in (
                "SecretReference",
                "ObjectFieldSelector",
                "ResourceFieldSelector",
                "ConfigMapKeySelector",
                "SecretKeySelector",
                "NodeSelector",
                "NodeSelectorTerm",
                "TopologySelectorTerm",
                "ObjectReference",
                "LocalObjectReference",
                "TypedLocalObjectReference",
                "EndpointAddress",
                "EndpointPort",
                "ScopeSelector",
            )
        ),
    }
)
_ATOMIC_MAP = {"x-kubernetes-map-type": "atomic"}
_PORT_KEYS = {"x-kubernetes-list-type": "map"}
# Properties whose list keys or map type differ from what the schema table says (upstream's
# +listMapKey pairs and +mapType=atomic maps), and key defaults the keys rely on.
PROPERTY_FACTS: dict[tuple[str, str], Mapping[str, Any]] = {
    (_CORE + "PodSpec", "nodeSelector"): _ATOMIC_MAP,
    (_CORE + "ServiceSpec", "selector"): _ATOMIC_MAP,
    (_CORE + "ReplicationControllerSpec", "selector"): _ATOMIC_MAP,
    (_CORE + "Container", "ports"): {
        **_PORT_KEYS,
        "x-kubernetes-list-map-keys": ["containerPort", "protocol"],
    },
    (_CORE + "EphemeralContainer", "ports"): {
        **_PORT_KEYS,
        "x-kubernetes-list-map-keys": ["containerPort", "protocol"],
    },
    (_CORE + "ContainerPort", "protocol"): {"default": "TCP"},
    (_CORE + "ServiceSpec", "ports"): {
        **_PORT_KEYS,
        "x-kubernetes-list-map-keys": ["port", "protocol"],
    },
    (_CORE + "ServicePort", "protocol"): {"default": "TCP"},
    (_CORE + "PodSpec", "topologySpreadConstraints"): {
        **_PORT_KEYS,
        "x-kubernetes-list-map-keys": ["topologyKey", "whenUnsatisfiable"],
    },
}


@cache
def builtin_types() -> SchemaTypes:
    return SchemaTypes(schemas(), atomic_definitions=ATOMIC_STRUCTS, property_facts=PROPERTY_FACTS)


_custom_types: dict[int, tuple[Mapping[str, Any], TypeNode]] = {}


def type_of(resource: Resource, custom_schema: Mapping[str, Any] | None) -> TypeNode:
    """The type of ``resource``'s objects: its CRD schema (with ObjectMeta for metadata), or
    the built-in definition of its kind; UNTYPED when neither is known."""
    types = builtin_types()
    if custom_schema is not None:
        cached = _custom_types.get(id(custom_schema))
        if cached is not None and cached[0] is custom_schema:
            return cached[1]
        properties = dict(custom_schema.get("properties") or {})
        properties["metadata"] = {"$ref": "#/components/schemas/" + _META + "ObjectMeta"}
        node = types.node({**custom_schema, "type": "object", "properties": properties})
        _custom_types[id(custom_schema)] = (custom_schema, node)
        return node
    name = name_for_kind(resource.group, resource.version, resource.kind)
    return UNTYPED if name is None else types.definition(name)


def writer_for(
    resource: Resource,
    *,
    custom_schema: Mapping[str, Any] | None,
    query: Mapping[str, str],
    user_agent: str,
    subresource: str,
) -> Writer:
    return Writer(
        node=type_of(resource, custom_schema),
        manager=manager_name(query, user_agent),
        api_version=resource.api_version,
        kind=resource.kind,
        subresource=subresource,
        ignored=ignored_fields(resource, subresource),
    )


def ignored_fields(resource: Resource, subresource: str) -> FieldSet:
    """What a write through this endpoint may not change (upstream's reset fields)."""
    ignored = FieldSet()
    if resource.subresource("status") is None:
        return ignored
    ignored.insert(("f:spec",) if subresource == "status" else ("f:status",))
    return ignored


def manager_name(query: Mapping[str, str], user_agent: str) -> str:
    given = query.get("fieldManager", "")
    if given:
        return given
    prefix = user_agent.split("/", 1)[0]
    return prefix[:MAX_MANAGER_LENGTH] if prefix else "unknown"


def validate_patch_options(query: Mapping[str, str], *, apply_patch: bool) -> None:
    """422 for PATCH options upstream refuses (``PatchOptions.meta.k8s.io "" is invalid``)."""
    errors = _manager_errors(query)
    if apply_patch and not query.get("fieldManager"):
        errors.append(validation.required("fieldManager", "is required for apply patch"))
    if not apply_patch and "force" in query:
        errors.append(validation.forbidden("force", "may not be specified for non-apply patch"))
    if errors:
        raise StatusError(status.invalid("PatchOptions", "", errors, "meta.k8s.io"))


def validate_manager(query: Mapping[str, str], kind: str) -> None:
    errors = _manager_errors(query)
    if errors:
        raise StatusError(status.invalid(kind, "", errors, "meta.k8s.io"))


def _manager_errors(query: Mapping[str, str]) -> list[validation.FieldError]:
    manager = query.get("fieldManager", "")
    if len(manager) > MAX_MANAGER_LENGTH:
        return [
            validation.too_long("fieldManager", MAX_MANAGER_LENGTH),
        ]
    if any(not ch.isprintable() for ch in manager):
        return [
            validation.invalid("fieldManager", manager, "must only contain printable characters")
        ]
    return []


def _without_managed(obj: Obj) -> Obj:
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or "managedFields" not in meta:
        return obj
    return {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}


def _is_reset(given: Any) -> bool:
    """``[]`` or ``[{}]``: the client clears managedFields (upstream's isResetManagedFields)."""
    return isinstance(given, list) and (given == [] or given == [{}])


def _set_managed(obj: Obj, managed: ManagedFields, live: Obj | None) -> None:
    """Write ``managed`` into ``obj``, where ``live`` keeps it: an unchanged object must
    encode to the same bytes as the stored one, or a no-op write would bump its version."""
    encoded = managed.encode()
    meta = obj.setdefault("metadata", {})
    meta.pop("managedFields", None)
    if encoded is None:
        return
    live_meta = live.get("metadata", {}) if live is not None else {}
    if "managedFields" not in live_meta:
        meta["managedFields"] = encoded
        return
    ordered: dict[str, Any] = {}
    for key in live_meta:
        if key == "managedFields":
            ordered[key] = encoded
        elif key in meta:
            ordered[key] = meta[key]
    ordered.update((k, v) for k, v in meta.items() if k not in ordered)
    obj["metadata"] = ordered


@dataclass(frozen=True)
class Writer:
    """Who writes, through which endpoint, to objects of which type."""

    node: TypeNode
    manager: str
    api_version: str
    kind: str
    subresource: str
    ignored: FieldSet


class FieldTracker:
    """Records an Update operation on the object the registry is about to write."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer

    def __call__(self, old: Obj | None, new: Obj) -> None:
        writer = self.writer
        if new.get("kind") != writer.kind or new.get("apiVersion") != writer.api_version:
            return  # a subresource writing another object (eviction updating a budget)
        given = new.get("metadata", {}).get("managedFields")
        live = None if old is None else old.get("metadata", {}).get("managedFields")
        if _is_reset(given):
            managed = ManagedFields()
        else:
            managed = _decode(given)
            if not managed.entries:
                managed = _decode(live)
        if old is None and not managed.entries:  # a plain create: the fast path
            meta = new.setdefault("metadata", {})
            meta.pop("managedFields", None)
            created = created_fields(
                new,
                writer.node,
                manager=writer.manager,
                api_version=writer.api_version,
                subresource=writer.subresource,
                now=now_rfc3339(),
                ignored=writer.ignored,
            )
            if created is not None:
                meta["managedFields"] = created
            return
        managed.update(
            MISSING if old is None else _without_managed(old),
            _without_managed(new),
            writer.node,
            manager=writer.manager,
            api_version=writer.api_version,
            subresource=writer.subresource,
            now=now_rfc3339(),
            ignored=writer.ignored,
        )
        _set_managed(new, managed, old)


def _decode(encoded: Any) -> ManagedFields:
    """Decoded managedFields; undecodable ones count as none (upstream falls back the same)."""
    try:
        return ManagedFields.decode(encoded)
    except ManagedFieldsError:
        return ManagedFields()


def check_apply_config(
    config: Any, *, api_version: str, kind: str, name: str, namespace: str = ""
) -> None:
    """400 for an apply configuration upstream refuses before merging."""
    if not isinstance(config, dict):
        raise StatusError(status.bad_request("the apply patch must be an object"))
    given_version, given_kind = config.get("apiVersion"), config.get("kind")
    if not given_kind:
        raise StatusError(status.bad_request("invalid object: Object 'Kind' is missing"))
    if given_version != api_version:
        raise StatusError(
            status.bad_request(
                "Incorrect version specified in apply patch. Specified patch version: "
                f"{given_version or ''}, expected: {api_version}"
            )
        )
    if given_kind != kind:
        raise StatusError(
            status.bad_request(
                f"the kind in the data ({given_kind}) does not match the expected kind ({kind})"
            )
        )
    meta = config.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        raise StatusError(status.bad_request("metadata must be an object"))
    meta = meta or {}
    if meta.get("managedFields") is not None:
        raise StatusError(status.bad_request("metadata.managedFields must be nil"))
    if namespace and meta.get("namespace") and meta["namespace"] != namespace:
        raise StatusError(
            status.bad_request(
                "the namespace of the provided object does not match the namespace sent on the "
                "request"
            )
        )
    if meta.get("name") and meta["name"] != name:
        raise StatusError(
            status.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL "
                f"({name})"
            )
        )


LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
KUBECTL = "kubectl"  # the manager kubectl apply --server-side uses by default


def apply(live: Obj | None, config: Obj, writer: Writer, *, force: bool) -> Obj:
    """The object after applying ``config`` over ``live`` (None: a create), with its
    managedFields; 409 listing the conflicting managers unless ``force``.

    As upstream, kubectl's own server-side apply may take over the fields its client-side apply
    set (those still as its last-applied-configuration says), and keeps that annotation current
    so a later client-side apply still works."""
    try:
        merged = _apply_once(live, config, writer, force=force)
    except ApplyConflict as conflict:
        remaining = conflict.conflicts
        if writer.manager == KUBECTL and live is not None:
            allowed = _allowed_by_last_applied(live, writer)
            remaining = [c for c in remaining if not allowed.has(c.path)]
        if remaining:
            left = ApplyConflict(remaining)
            raise StatusError(
                status.make_status(
                    code=409, reason="Conflict", message=left.message, causes=left.causes()
                )
            ) from None
        merged = _apply_once(live, config, writer, force=True)
    annotations = merged.get("metadata", {}).get("annotations")
    if (
        writer.manager == KUBECTL
        and isinstance(annotations, dict)
        and annotations.get(LAST_APPLIED)
    ):
        annotations[LAST_APPLIED] = _last_applied(config)
    return merged


def _apply_once(live: Obj | None, config: Obj, writer: Writer, *, force: bool) -> Obj:
    managed = _decode(None if live is None else live.get("metadata", {}).get("managedFields"))
    merged = managed.apply(
        MISSING if live is None else _without_managed(live),
        copy.deepcopy(config),
        writer.node,
        manager=writer.manager,
        api_version=writer.api_version,
        subresource=writer.subresource,
        now=now_rfc3339(),
        force=force,
        ignored=writer.ignored,
    )
    if not isinstance(merged, dict):
        raise StatusError(status.bad_request("the applied object is not a JSON object"))
    _set_managed(merged, managed, live)
    return merged


def _allowed_by_last_applied(live: Obj, writer: Writer) -> FieldSet:
    """Fields of the last-applied-configuration whose live value is still the applied one."""
    annotations = live.get("metadata", {}).get("annotations") or {}
    try:
        last = orjson.loads(annotations.get(LAST_APPLIED) or "")
    except orjson.JSONDecodeError:
        return FieldSet()
    if not isinstance(last, dict) or last.get("apiVersion") != writer.api_version:
        return FieldSet()
    diff = compare(last, _without_managed(live), writer.node)
    return (
        field_set(last, writer.node)
        .difference(diff.modified)
        .difference(diff.added)
        .difference(diff.removed)
    )


def _last_applied(config: Obj) -> str:
    kept = copy.deepcopy(config)
    annotations = kept.get("metadata", {}).get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(LAST_APPLIED, None)
    return orjson.dumps(kept, option=orjson.OPT_SORT_KEYS).decode() + "\n"
