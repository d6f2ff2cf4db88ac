"""The OpenAPI v3 documents: one per group-version, plus the index that lists them.

Each document has a path item per endpoint of every resource the catalog serves in that
group-version, with the operations its verbs allow. kubectl reads two things from the operations:
the ``x-kubernetes-group-version-kind`` of a PATCH with a ``fieldValidation`` parameter tells it
the server validates fields itself (then it sends ``fieldValidation=Strict`` instead of checking
client-side), and ``components.schemas`` carries the schemas ``explain`` prints and client-side
``apply`` takes its strategic-merge keys from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pocketkube.apiserver.openapi.table import REF_PREFIX, closure, name_for_kind, schemas
from pocketkube.apiserver.resources import Catalog, GroupVersionResource, Resource

META = "io.k8s.apimachinery.pkg.apis.meta.v1."
STATUS = META + "Status"
DELETE_OPTIONS = META + "DeleteOptions"
PATCH = META + "Patch"
PATCH_SCHEMA = {
    "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH "
    "request body.",
    "type": "object",
}
PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)

# Custom resources take no strategic merge patch; kubectl apply reads that from here.
CR_PATCH_TYPES = tuple(t for t in PATCH_TYPES if "strategic" not in t)


def _query(name: str, description: str, type_: str = "string") -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "description": description,
        "schema": {"type": type_, "uniqueItems": True},
    }


def _path(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "description": description,
        "required": True,
        "schema": {"type": "string", "uniqueItems": True},
    }


PRETTY = _query("pretty", "If 'true', then the output is pretty printed.")
DRY_RUN = _query(
    "dryRun",
    "When present, indicates that modifications should not be persisted. The only valid value "
    "is All.",
)
FIELD_MANAGER = _query(
    "fieldManager", "fieldManager is a name associated with the actor or entity making changes."
)
FIELD_VALIDATION = _query(
    "fieldValidation",
    "fieldValidation instructs the server on how to handle objects in the request containing "
    "unknown or duplicate fields. Valid values are: Ignore, Warn (the default) and Strict.",
)
FORCE = _query("force", 'Force is going to "force" Apply requests.', "boolean")
WRITE_PARAMS = [DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION]
LIST_PARAMS = [
    _query("continue", "The continue option should be set when retrieving more results."),
    _query("fieldSelector", "A selector to restrict the list of returned objects by fields."),
    _query("labelSelector", "A selector to restrict the list of returned objects by labels."),
    _query("limit", "limit is a maximum number of responses to return.", "integer"),
    _query("resourceVersion", "resourceVersion sets a constraint on what resource versions."),
    _query("timeoutSeconds", "Timeout for the list/watch call.", "integer"),
    _query("watch", "Watch for changes to the described resources.", "boolean"),
]
NAMESPACE = _path("namespace", "object name and auth scope, such as for teams and projects")


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": REF_PREFIX + name}


def _json_body(name: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": _ref(name)}}}


def _operation(
    *,
    op_id: str,
    action: str,
    gvk: dict[str, str],
    response: str,
    params: list[dict[str, Any]],
    body: dict[str, Any] | None = None,
    codes: tuple[str, ...] = ("200",),
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": op_id,
        "description": f"{action} {gvk['kind']}",
        "parameters": params,
        "responses": {code: {"description": "OK", **_json_body(response)} for code in codes}
        | {"401": {"description": "Unauthorized"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk,
    }
    if body is not None:
        op["requestBody"] = body
    return op


def _resource_paths(
    resource: Resource,
    schema: str,
    list_schema: str | None,
    patch_types: tuple[str, ...] = PATCH_TYPES,
) -> dict[str, Any]:
    """Path items of one resource (and its status, approval and scale subresources)."""
    root = f"/apis/{resource.group}/{resource.version}" if resource.group else "/api/v1"
    collection = (
        f"{root}/namespaces/{{namespace}}/{resource.plural}"
        if resource.namespaced
        else f"{root}/{resource.plural}"
    )
    scope = [NAMESPACE] if resource.namespaced else []
    gvk = {"group": resource.group, "version": resource.version, "kind": resource.kind}
    op = resource.kind
    verbs = set(resource.verbs)
    paths: dict[str, Any] = {}
    item: dict[str, Any] = {"parameters": [*scope, PRETTY]}
    if "create" in verbs:
        item["post"] = _operation(
            op_id=f"create{op}",
            action="post",
            gvk=gvk,
            response=schema,
            params=list(WRITE_PARAMS),
            body=_json_body(schema),
            codes=("200", "201", "202"),
        )
    if "list" in verbs and list_schema is not None:
        item["get"] = _operation(
            op_id=f"list{op}", action="list", gvk=gvk, response=list_schema, params=LIST_PARAMS
        )
    if "deletecollection" in verbs:
        item["delete"] = _operation(
            op_id=f"deletecollection{op}",
            action="deletecollection",
            gvk=gvk,
            response=STATUS,
            params=[DRY_RUN, *LIST_PARAMS[:4]],
            body=_json_body(DELETE_OPTIONS),
        )
    paths[collection] = item
    if resource.namespaced and "list" in verbs and list_schema is not None:
        paths[f"{root}/{resource.plural}"] = {
            "parameters": [PRETTY],
            "get": _operation(
                op_id=f"list{op}ForAllNamespaces",
                action="list",
                gvk=gvk,
                response=list_schema,
                params=LIST_PARAMS,
            ),
        }
    if "get" in verbs:
        named = f"{collection}/{{name}}"
        paths[named] = _object_item(op, gvk, schema, scope, verbs, patch_types)
        for sub in resource.subresources:
            if sub.name in ("status", "approval"):  # both take the parent's whole object
                paths[f"{named}/{sub.name}"] = _object_item(
                    f"{op}{sub.name.capitalize()}", gvk, schema, scope, set(sub.verbs), patch_types
                )
            if sub.name == "scale" and (scale := name_for_kind(sub.group, sub.version, sub.kind)):
                sub_gvk = {"group": sub.group, "version": sub.version, "kind": sub.kind}
                paths[f"{named}/scale"] = _object_item(
                    f"{op}Scale", sub_gvk, scale, scope, set(sub.verbs)
                )
    return paths


def _object_item(
    op: str,
    gvk: dict[str, str],
    schema: str,
    scope: list[dict[str, Any]],
    verbs: set[str],
    patch_types: tuple[str, ...] = PATCH_TYPES,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "parameters": [_path("name", f"name of the {gvk['kind']}"), *scope, PRETTY]
    }
    if "get" in verbs:
        item["get"] = _operation(
            op_id=f"read{op}", action="get", gvk=gvk, response=schema, params=[]
        )
    if "update" in verbs:
        item["put"] = _operation(
            op_id=f"replace{op}",
            action="put",
            gvk=gvk,
            response=schema,
            params=list(WRITE_PARAMS),
            body=_json_body(schema),
            codes=("200", "201"),
        )
    if "patch" in verbs:
        patch_body = {"content": {t: {"schema": _ref(PATCH)} for t in patch_types}}
        item["patch"] = _operation(
            op_id=f"patch{op}",
            action="patch",
            gvk=gvk,
            response=schema,
            params=[*WRITE_PARAMS, FORCE],
            body=patch_body,
            codes=("200", "201"),
        )
    if "delete" in verbs:
        item["delete"] = _operation(
            op_id=f"delete{op}",
            action="delete",
            gvk=gvk,
            response=schema,
            params=[DRY_RUN, _query("gracePeriodSeconds", "seconds before deletion", "integer")],
            body=_json_body(DELETE_OPTIONS),
            codes=("200", "202"),
        )
    return item


# A custom resource's openAPIV3Schema (from its CRD), or None for built-in resources.
CustomSchema = Callable[[Resource], Mapping[str, Any] | None]


CatalogSignature = tuple[tuple[GroupVersionResource, int], ...]


def catalog_signature(catalog: Catalog, custom: CustomSchema | None) -> CatalogSignature:
    """What the documents depend on: the served resources and the identity of each custom
    resource's schema (a CRD's update swaps the schema object), compared on every request."""
    return tuple((r.gvr, id(custom(r)) if custom is not None else 0) for r in catalog)


def _custom_schemas(resource: Resource, schema: Mapping[str, Any]) -> dict[str, Any]:
    """The schemas of a custom resource and its list, named as upstream names them
    (``com.example.stable.v1.CronTab``), with the standard fields added."""
    name = ".".join([*reversed(resource.group.split(".")), resource.version, resource.kind])
    gvk = [{"group": resource.group, "version": resource.version, "kind": resource.kind}]
    properties = {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        **dict(schema.get("properties") or {}),
        "metadata": _ref(META + "ObjectMeta"),
    }
    list_gvk = [{**gvk[0], "kind": resource.kind + "List"}]
    return {
        name: {**schema, "properties": properties, "x-kubernetes-group-version-kind": gvk},
        name + "List": {
            "type": "object",
            "required": ["items"],
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "items": {"type": "array", "items": _ref(name)},
                "metadata": _ref(META + "ListMeta"),
            },
            "x-kubernetes-group-version-kind": list_gvk,
        },
    }


def group_version_document(
    catalog: Catalog, group: str, version: str, custom: CustomSchema | None = None
) -> dict[str, Any] | None:
    """The document of ``/openapi/v3/apis/<group>/<version>`` (``api/v1`` for the core group)."""
    resources = catalog.resources(group, version)
    if not resources:
        return None
    paths: dict[str, Any] = {}
    roots = [STATUS, DELETE_OPTIONS]
    extra: dict[str, Any] = {}
    for resource in resources:
        schema = name_for_kind(resource.group, resource.version, resource.kind)
        if schema is None:  # a custom resource: its schema lives in its CRD
            crd_schema = custom(resource) if custom is not None else None
            if crd_schema is not None:
                found = _custom_schemas(resource, crd_schema)
                extra.update(found)
                custom_name = next(iter(found))
                paths.update(
                    _resource_paths(resource, custom_name, custom_name + "List", CR_PATCH_TYPES)
                )
                roots.extend((META + "ObjectMeta", META + "ListMeta"))
            continue
        list_schema = name_for_kind(resource.group, resource.version, resource.kind + "List")
        paths.update(_resource_paths(resource, schema, list_schema))
        roots.extend(n for n in (schema, list_schema) if n is not None)
        for sub in resource.subresources:
            if sub.name == "scale" and (scale := name_for_kind(sub.group, sub.version, sub.kind)):
                roots.append(scale)
    table = schemas()
    components = {name: table[name] for name in closure(roots)} | extra
    components[PATCH] = PATCH_SCHEMA
    title = "Kubernetes"
    return {
        "openapi": "3.0.0",
        "info": {"title": title, "version": "v1.33.0"},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": dict(sorted(components.items()))},
    }


def document_key(group: str, version: str) -> str:
    """The index key of a group-version: ``api/v1``, ``apis/apps/v1``."""
    return f"apis/{group}/{version}" if group else f"api/{version}"
