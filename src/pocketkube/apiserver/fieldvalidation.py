"""Server-side field validation: the ``fieldValidation`` query parameter of writes.

Upstream decodes request bodies into Go structs and notices fields the struct lacks. We have no
structs, so we walk the object along the kind's OpenAPI schema (our generated table) instead:
a field the schema does not name is unknown, except below maps (``additionalProperties``) and
free-form values (``x-kubernetes-preserve-unknown-fields``), which take anything.

- ``Strict``: 400 BadRequest ``strict decoding error: unknown field "spec.foo"`` (several joined
  with ", ");
- ``Warn`` (upstream's default for kubectl 1.27+ when it asks; we only warn when asked): the write
  succeeds with one ``Warning: 299 - "unknown field \\"spec.foo\\""`` header per field;
- ``Ignore`` or absent: nothing is checked.

Kinds without a schema in the table (custom resources) are not checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from pocketkube.api import status
from pocketkube.api.status import StatusError
from pocketkube.apiserver.openapi.table import name_for_kind, ref_name, schemas
from pocketkube.apiserver.resources import Resource

STRICT = "Strict"
WARN = "Warn"
IGNORE = "Ignore"
VALID_DIRECTIVES = (STRICT, WARN, IGNORE)


def unknown_fields(obj: Any, kind_schema_name: str) -> list[str]:
    """Paths (``.spec.foo``, ``.spec.containers[0].bar``) of fields the schema does not know."""
    found: list[str] = []
    table = schemas()
    schema = table.get(kind_schema_name)
    if schema is not None:
        _walk(obj, schema, "", found, table)
    return found


# Merged schemas by the id of the schema they were merged from. Every schema walked is part of
# the generated table, which lives as long as the process, so its ids are never reused; the
# schema is kept beside its merge all the same.
_RESOLVED: dict[int, tuple[Mapping[str, Any], dict[str, Any]]] = {}


def _resolve(schema: Mapping[str, Any], table: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A schema with its ``$ref`` / ``allOf`` references merged in (one level of properties)."""
    known = _RESOLVED.get(id(schema))
    if known is not None and known[0] is schema:
        return known[1]
    merged = _merge(schema, table)
    _RESOLVED[id(schema)] = (schema, merged)
    return merged


def _merge(schema: Mapping[str, Any], table: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    parts = [schema]
    while parts:
        part = parts.pop()
        ref = part.get("$ref")
        if isinstance(ref, str):
            target = table.get(ref_name(ref))
            if target is None:  # a reference we cannot follow: accept anything below it
                return {"x-kubernetes-preserve-unknown-fields": True}
            parts.append(target)
        parts.extend(part.get("allOf", ()))
        for key, value in part.items():
            if key not in ("$ref", "allOf"):
                merged.setdefault(key, value)
    return merged


def _walk(
    value: Any,
    schema: Mapping[str, Any],
    path: str,
    found: list[str],
    table: Mapping[str, Mapping[str, Any]],
) -> None:
    """Record the unknown fields of ``value`` (a map or a list; scalars have no fields)."""
    node = _resolve(schema, table)
    if node.get("x-kubernetes-preserve-unknown-fields"):
        return
    if isinstance(value, dict):
        properties = node.get("properties")
        extra = node.get("additionalProperties")
        for key, child in value.items():
            if properties is not None and key in properties:
                if isinstance(child, (dict, list)):
                    _walk(child, properties[key], f"{path}.{key}", found, table)
            elif isinstance(extra, dict):
                if isinstance(child, (dict, list)):
                    _walk(child, extra, f"{path}.{key}", found, table)
            elif extra is not True and (properties is not None or node.get("type") == "object"):
                found.append(f"{path}.{key}")
    elif isinstance(value, list):
        items = node.get("items")
        if isinstance(items, dict):
            for index, child in enumerate(value):
                if isinstance(child, (dict, list)):
                    _walk(child, items, f"{path}[{index}]", found, table)


def directive(query: Mapping[str, str]) -> str:
    """The ``fieldValidation`` directive of a request; 400 for a value upstream rejects."""
    value = query.get("fieldValidation", "")
    if value and value not in VALID_DIRECTIVES:
        raise StatusError(
            status.bad_request(
                f"fieldValidation parameter unsupported: {value}. Valid values are "
                "Ignore, Warn and Strict"
            )
        )
    return value or WARN  # upstream's default since 1.23


def check_fields(obj: Any, *, group: str, version: str, kind: str, mode: str) -> list[str]:
    """Validate ``obj`` as ``kind`` under ``mode``: raise for Strict, return warnings for Warn."""
    if mode == IGNORE:
        return []
    schema = name_for_kind(group, version, kind)
    if schema is None:
        return []
    messages = [f'unknown field "{path.lstrip(".")}"' for path in unknown_fields(obj, schema)]
    if messages and mode == STRICT:
        raise StatusError(status.bad_request("strict decoding error: " + ", ".join(messages)))
    return messages


def warning_header(message: str) -> str:
    """An RFC 7234 ``Warning`` value as upstream writes it: ``299 - "<escaped text>"``."""
    escaped = message.replace("\\", "\\\\").replace('"', '\\"')
    return f'299 - "{escaped}"'


def validate(obj: Any, *, query: Mapping[str, str], resource: Resource) -> list[str]:
    """Check a request's object as its ``fieldValidation`` asks; the warnings to send back."""
    return check_fields(
        obj,
        group=resource.group,
        version=resource.version,
        kind=resource.kind,
        mode=directive(query),
    )


def with_warnings(response: web.Response, messages: list[str]) -> web.Response:
    for message in messages:
        response.headers.add("Warning", warning_header(message))
    return response
