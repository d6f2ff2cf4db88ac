"""Structural schemas of custom resources: validation, defaulting and pruning.

A CRD version's ``schema.openAPIV3Schema`` describes its objects. As apiextensions-apiserver
does, a write first has its unknown fields pruned (removed, except below
``x-kubernetes-preserve-unknown-fields``), then ``default`` values filled in, then the object is
checked against the schema; problems come back as field errors worded as kube-openapi words them
(``spec.replicas in body must be of type integer: "string"``).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from pocketkube.api.validation import ErrorType, FieldError, invalid, required

Schema = Mapping[str, Any]
ROOT_FIELDS = ("apiVersion", "kind", "metadata")
PRESERVE = "x-kubernetes-preserve-unknown-fields"
INT_OR_STRING = "x-kubernetes-int-or-string"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def prune_and_default(obj: Any, schema: Schema, *, root: bool = True) -> None:
    """Remove the fields ``schema`` does not know and fill in its defaults, in place."""
    if isinstance(obj, dict):
        properties: Mapping[str, Any] = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        for key in list(obj):
            if root and key in ROOT_FIELDS:
                continue
            if key in properties:
                prune_and_default(obj[key], properties[key], root=False)
            elif isinstance(additional, Mapping):
                prune_and_default(obj[key], additional, root=False)
            elif not (schema.get(PRESERVE) or additional is True):
                del obj[key]
        for key, sub in properties.items():
            if key not in obj and isinstance(sub, Mapping) and "default" in sub:
                obj[key] = copy.deepcopy(sub["default"])
                prune_and_default(obj[key], sub, root=False)
    elif isinstance(obj, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            for item in obj:
                prune_and_default(item, items, root=False)


def _type_ok(value: Any, type_: str) -> bool:
    if type_ == "object":
        return isinstance(value, dict)
    if type_ == "array":
        return isinstance(value, list)
    if type_ == "string":
        return isinstance(value, str)
    if type_ == "boolean":
        return isinstance(value, bool)
    if type_ == "integer":
        if isinstance(value, float):
            return value.is_integer()
        return isinstance(value, int) and not isinstance(value, bool)
    if type_ == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return True


def validate(obj: Any, schema: Schema, path: str = "") -> list[FieldError]:
    """What is wrong with ``obj`` according to ``schema`` (the object root has path "")."""
    errors: list[FieldError] = []
    if obj is None and schema.get("nullable"):
        return errors
    shown = path or "body"
    type_ = schema.get("type")
    if schema.get(INT_OR_STRING):
        if not (_type_ok(obj, "integer") or isinstance(obj, str)):
            detail = f"{shown} in body must be of type integer,string: {_go(obj)}"
            return [invalid(path, obj, detail)]
    elif isinstance(type_, str) and not _type_ok(obj, type_):
        return [invalid(path, obj, f"{shown} in body must be of type {type_}: {_go(obj)}")]
    enum = schema.get("enum")
    if isinstance(enum, list) and obj not in enum:
        supported = ", ".join(_go(v) for v in enum)
        errors.append(
            FieldError(ErrorType.NOT_SUPPORTED, path, obj, f"supported values: {supported}")
        )
    if isinstance(obj, int | float) and not isinstance(obj, bool):
        minimum, maximum = schema.get("minimum"), schema.get("maximum")
        if minimum is not None and obj < minimum:
            detail = f"{shown} in body should be greater than or equal to {minimum}"
            errors.append(invalid(path, obj, detail))
        if maximum is not None and obj > maximum:
            detail = f"{shown} in body should be less than or equal to {maximum}"
            errors.append(invalid(path, obj, detail))
    if isinstance(obj, str):
        max_length, min_length = schema.get("maxLength"), schema.get("minLength")
        if max_length is not None and len(obj) > max_length:
            errors.append(
                invalid(path, obj, f"{shown} in body should be at most {max_length} chars long")
            )
        if min_length is not None and len(obj) < min_length:
            errors.append(
                invalid(path, obj, f"{shown} in body should be at least {min_length} chars long")
            )
        pattern = schema.get("pattern")
        if isinstance(pattern, str) and re.search(pattern, obj) is None:
            errors.append(invalid(path, obj, f"{shown} in body should match '{pattern}'"))
    if isinstance(obj, dict):
        properties: Mapping[str, Any] = schema.get("properties") or {}
        for name in schema.get("required") or ():
            if name not in obj:
                errors.append(required(_join(path, name)))
        additional = schema.get("additionalProperties")
        for key, value in obj.items():
            if not path and key in ROOT_FIELDS:
                continue
            if key in properties:
                errors += validate(value, properties[key], _join(path, key))
            elif isinstance(additional, Mapping):
                errors += validate(value, additional, _join(path, key))
    if isinstance(obj, list):
        items = schema.get("items")
        min_items, max_items = schema.get("minItems"), schema.get("maxItems")
        if min_items is not None and len(obj) < min_items:
            errors.append(
                invalid(path, obj, f"{shown} in body should have at least {min_items} items")
            )
        if max_items is not None and len(obj) > max_items:
            errors.append(
                invalid(path, obj, f"{shown} in body should have at most {max_items} items")
            )
        if isinstance(items, Mapping):
            for index, item in enumerate(obj):
                errors += validate(item, items, f"{path}[{index}]")
    return errors


def _go(value: Any) -> str:
    """A value as Go's %#v-ish quoting in these messages: strings quoted, the rest as JSON."""
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict | list):
        return type(value).__name__
    return str(value)
