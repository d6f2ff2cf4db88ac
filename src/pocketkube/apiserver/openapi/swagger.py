"""The Swagger 2.0 document of ``/openapi/v2``: everything served, in one document.

Upstream serves the same API twice, as OpenAPI v3 (one document per group-version) and as this
merged v2 document; kubectl reads the v2 one through client-go's ``OpenAPISchema()`` to
validate the items of a ``kind: List`` client-side, looking each item's model up by the
``x-kubernetes-group-version-kind`` of its definition (kube-openapi refuses the whole document
if any ``$ref`` dangles). We derive it from our v3 documents rather than generate it a second
time, and translate what differs between the two versions:

- schemas: ``#/components/schemas/`` refs become ``#/definitions/``; a ``$ref`` wrapped in a
  one-element ``allOf`` (v3's way to give a reference siblings) becomes a plain ``$ref`` beside
  its description and extensions, as upstream's v2 has it; ``default`` values are pruned (as
  upstream's aggregated v2 spec prunes them) and keywords v2 lacks (``nullable``, ``oneOf``,
  ``anyOf``, ``not``) are dropped. Custom resources get the further rewrites of upstream's
  ``ToStructuralOpenAPIV2`` (untyped nullable and preserve-unknown-fields nodes, a bare
  ``type: object`` for a kind that keeps unknown fields at its root) so kubectl neither rejects
  what the server accepts nor chokes on an array without items;
- operations: the request body becomes a ``body`` parameter, parameters carry ``type`` instead
  of ``schema``, responses a ``schema`` instead of ``content``; ``consumes``, ``produces``,
  ``schemes``, ``tags`` and the ``operationId`` are spelled as upstream's route builder spells
  them (``patchAppsV1NamespacedDeployment``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pocketkube.apiserver.discovery import KUBERNETES_VERSION
from pocketkube.apiserver.openapi.documents import CustomSchema, group_version_document
from pocketkube.apiserver.openapi.table import name_for_kind, ref_name, schemas
from pocketkube.apiserver.resources import Catalog

DEFINITIONS = "#/definitions/"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch")
PRODUCES = ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"]
WATCH_PRODUCES = [
    "application/json;stream=watch",
    "application/vnd.kubernetes.protobuf;stream=watch",
]
CUSTOM_PRODUCES = ["application/json", "application/yaml"]
RESPONSE_DESCRIPTIONS = {"200": "OK", "201": "Created", "202": "Accepted", "401": "Unauthorized"}
SECURITY_DEFINITIONS = {
    "BearerToken": {
        "description": "Bearer Token authentication",
        "in": "header",
        "name": "authorization",
        "type": "apiKey",
    }
}
PRESERVE = "x-kubernetes-preserve-unknown-fields"
GVK = "x-kubernetes-group-version-kind"

# Swagger 2.0's schema keywords; anything else that is not an ``x-`` extension is v3-only.
# ``default`` is left out on purpose: upstream prunes defaults from the v2 document.
SCHEMA_KEYWORDS = frozenset(
    {
        "$ref",
        "format",
        "title",
        "description",
        "multipleOf",
        "maximum",
        "exclusiveMaximum",
        "minimum",
        "exclusiveMinimum",
        "maxLength",
        "minLength",
        "pattern",
        "maxItems",
        "minItems",
        "uniqueItems",
        "maxProperties",
        "minProperties",
        "required",
        "enum",
        "additionalProperties",
        "type",
        "items",
        "properties",
        "readOnly",
        "externalDocs",
        "example",
    }
)


def swagger_document(
    catalog: Catalog, custom: CustomSchema | None = None, *, version: str = KUBERNETES_VERSION
) -> dict[str, Any]:
    """The Swagger 2.0 document of every group-version the catalog serves."""
    paths: dict[str, Any] = {}
    components: dict[str, Any] = {}
    for gv in catalog.group_versions():
        doc = group_version_document(catalog, gv.group, gv.version, custom)
        if doc is None:
            continue
        for path, item in doc["paths"].items():
            paths[path] = _path_item(path, item)
        components.update(doc["components"]["schemas"])
    builtin = schemas()
    definitions = {
        name: v2_schema(schema) if name in builtin else _custom_definition(schema)
        for name, schema in sorted(components.items())
    }
    return {
        "swagger": "2.0",
        # Upstream's info.version is the server's gitVersion up to any "-" suffix.
        "info": {"title": "Kubernetes", "version": version.split("-")[0]},
        "paths": dict(sorted(paths.items())),
        "definitions": definitions,
        "security": [{name: []} for name in SECURITY_DEFINITIONS],
        "securityDefinitions": SECURITY_DEFINITIONS,
    }


# --- schemas ------------------------------------------------------------------------------------


def v2_schema(node: Any) -> Any:
    """A v3 schema fragment in Swagger 2.0 terms."""
    if not isinstance(node, Mapping):
        return node  # additionalProperties: true/false
    all_of = node.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and "$ref" in all_of[0]:
        node = {**{k: v for k, v in node.items() if k != "allOf"}, "$ref": all_of[0]["$ref"]}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-"):
            out[key] = value
        elif key not in SCHEMA_KEYWORDS:
            continue
        elif key == "$ref":
            out[key] = DEFINITIONS + ref_name(value)
        elif key == "properties" and isinstance(value, Mapping):
            out[key] = {name: v2_schema(prop) for name, prop in value.items()}
        elif key == "items" and isinstance(value, list):
            out[key] = [v2_schema(v) for v in value]
        elif key in ("items", "additionalProperties"):
            out[key] = v2_schema(value)
        else:
            out[key] = value
    if "$ref" in out:  # kube-openapi refuses a reference with a type or properties
        out.pop("type", None)
        out.pop("properties", None)
    return out


def _custom_definition(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A custom resource's definition (or its list's): upstream's v2 builder keeps only the
    type and the kind's GVK when the root keeps unknown fields, as kubectl would otherwise
    reject every field the schema does not list."""
    if schema.get(PRESERVE) is True:
        return {"type": "object", GVK: schema.get(GVK, [])}
    return dict(v2_schema(_structural_v2(schema)))


def _structural_v2(node: Any) -> Any:
    """Upstream's ``ToStructuralOpenAPIV2`` on a custom resource's schema: junctors dropped, a
    nullable node loses its type, items and properties, so does one that keeps unknown fields,
    an array left without items loses its type, and nullable properties stop being required."""
    if not isinstance(node, Mapping):
        return node
    out = {k: v for k, v in node.items() if k not in ("allOf", "oneOf", "anyOf", "not")}
    if out.pop("nullable", False):
        for key in ("type", "items", "properties"):
            out.pop(key, None)
    preserve = out.get(PRESERVE) is True
    if preserve:
        out.pop("items", None)
        out.pop("properties", None)
    if out.get("type") == "array" and "items" not in out:
        del out["type"]
    if preserve and out.get("type") == "object":
        del out["type"]
    properties = out.get("properties")
    if isinstance(properties, Mapping):
        nullable = {name for name, prop in properties.items() if _nullable(prop)}
        if nullable and isinstance(out.get("required"), list):
            out["required"] = [name for name in out["required"] if name not in nullable]
            if not out["required"]:
                del out["required"]
        out["properties"] = {name: _structural_v2(prop) for name, prop in properties.items()}
    additional = out.get("additionalProperties")
    if isinstance(additional, Mapping):
        if _nullable(additional):
            out.pop("required", None)
        out["additionalProperties"] = _structural_v2(additional)
    if isinstance(out.get("items"), Mapping):
        out["items"] = _structural_v2(out["items"])
    return out


def _nullable(node: Any) -> bool:
    return isinstance(node, Mapping) and node.get("nullable") is True


# --- paths --------------------------------------------------------------------------------------


def _path_item(path: str, item: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in item.items():
        if key == "parameters":
            out[key] = [_parameter(p) for p in value]
        elif key in METHODS:
            out[key] = _operation(path, value)
        elif key.startswith("x-"):
            out[key] = value
    return out


def _parameter(parameter: Mapping[str, Any]) -> dict[str, Any]:
    """A v3 parameter in v2 shape: the schema's ``type`` (and friends) beside ``name``/``in``."""
    out = {k: v for k, v in parameter.items() if k != "schema"}
    out.update(v2_schema(parameter.get("schema", {})))
    return out


def _operation(path: str, op: Mapping[str, Any]) -> dict[str, Any]:
    action = op.get("x-kubernetes-action", "")
    gvk = op.get(GVK) or {}
    custom = name_for_kind(gvk.get("group", ""), gvk["version"], gvk["kind"]) is None
    parameters: list[dict[str, Any]] = []
    consumes = ["*/*"]
    content = (op.get("requestBody") or {}).get("content") or {}
    if content:
        body: dict[str, Any] = {"in": "body", "name": "body"}
        if action not in ("delete", "deletecollection"):  # their DeleteOptions are optional
            body["required"] = True
        body["schema"] = v2_schema(next(iter(content.values()))["schema"])
        parameters.append(body)
        if action == "patch":
            consumes = list(content)
    parameters.extend(_parameter(p) for p in op.get("parameters", ()))
    produces = list(CUSTOM_PRODUCES if custom else PRODUCES)
    if action == "list" and not custom:
        produces += WATCH_PRODUCES
    out: dict[str, Any] = {
        "consumes": consumes,
        "description": op.get("description", ""),
        "operationId": _operation_id(op.get("operationId", ""), path),
    }
    if parameters:
        out["parameters"] = parameters
    out |= {
        "produces": produces,
        "responses": {code: _response(code, r) for code, r in op.get("responses", {}).items()},
        "schemes": ["https"],
        "tags": [_tag(path)],
    }
    out |= {k: v for k, v in op.items() if k.startswith("x-")}
    return out


def _response(code: str, response: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"description": RESPONSE_DESCRIPTIONS.get(code, response["description"])}
    for media in (response.get("content") or {}).values():
        out["schema"] = v2_schema(media["schema"])
        break
    return out


# --- names as upstream's route builder makes them -----------------------------------------------

# Upstream finds the verb as the shortest known prefix, so "deletecollection" reads as
# "delete" + "Collection...": deleteCoreV1CollectionNamespacedPod.
_VERBS = ("create", "read", "replace", "patch", "delete", "list", "get", "watch", "connect")


def _group_version(path: str) -> tuple[str, str]:
    parts = path.strip("/").split("/")
    if parts[0] == "api":
        return "core", parts[1] if len(parts) > 1 else ""
    group = parts[1].removesuffix(".k8s.io") if len(parts) > 1 else ""
    return group, parts[2] if len(parts) > 2 else ""


def _identifier(text: str, capitalize: bool) -> str:
    """kube-openapi's ToValidOperationID: letters (and later digits) kept, anything else
    dropped and the next letter capitalised."""
    out = []
    upper = capitalize
    for i, char in enumerate(text):
        if char.isalpha() or char == "_" or (i != 0 and char.isdigit()):
            out.append(char.upper() if upper else char)
            upper = False
        else:
            upper = True
    return "".join(out)


def _operation_id(op_id: str, path: str) -> str:
    verb = next((v for v in _VERBS if op_id.startswith(v)), None)
    if verb is None:
        return op_id
    group, version = _group_version(path)
    rest = op_id[len(verb) :]
    collection = rest.startswith("collection")
    if collection:
        rest = rest[len("collection") :]
    namespaced = "Namespaced" if "{namespace}" in path else ""
    return (
        verb
        + _identifier(group, True)
        + _identifier(version, True)
        + ("Collection" if collection else "")
        + namespaced
        + rest
    )


def _tag(path: str) -> str:
    group, version = _group_version(path)
    return f"{_identifier(group, False)}_{_identifier(version, False)}"
