"""Structural schemas of custom resources: validation, defaulting and pruning.

A CRD version's ``schema.openAPIV3Schema`` describes its objects. As apiextensions-apiserver
does, a write first has its unknown fields pruned (removed, except below
``x-kubernetes-preserve-unknown-fields``), then ``default`` values filled in, then the object is
checked against the schema; problems come back as field errors worded as kube-openapi words them
(``spec.replicas in body must be of type integer: "string"``).

A version with a ``scale`` subresource names where its objects keep their replica counts
(``.spec.replicas``); the path helpers here read and write those fields with the accessor errors
of apimachinery's ``unstructured`` package, and :func:`validate_scale` is the check upstream
adds to every write of such an object.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
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


# -- the scale subresource's JSON paths (apiextensions' customresource ScaleREST) ---------------
INT32_MAX = 2**31 - 1


class PathError(Exception):
    """A value on the path is not what the path needs (unstructured's accessor errors)."""


@dataclass(frozen=True, slots=True)
class ScalePaths:
    """A CRD version's ``subresources.scale``: where its objects keep their replica counts and
    their label selector, as simple paths such as ``.spec.replicas``."""

    spec_replicas: str
    status_replicas: str
    label_selector: str = ""

    @classmethod
    def from_crd(cls, scale: Mapping[str, Any]) -> ScalePaths:
        return cls(
            spec_replicas=str(scale.get("specReplicasPath") or ""),
            status_replicas=str(scale.get("statusReplicasPath") or ""),
            label_selector=str(scale.get("labelSelectorPath") or ""),
        )


def split_path(path: str) -> list[str]:
    """``.spec.replicas`` -> ``["spec", "replicas"]`` (the leading period is optional)."""
    return path.removeprefix(".").split(".")


def _json_path(fields: list[str]) -> str:
    return "." + ".".join(fields)


def _go_type(value: Any) -> str:
    """Go's ``%T`` of a decoded JSON value."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "[]interface {}"
    return "map[string]interface {}"


def _go_value(value: Any) -> str:
    """Go's ``%v`` of a decoded JSON value (scalars; containers only roughly)."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(_go_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go_value(v)}" for k, v in sorted(value.items())) + "]"
    return str(value)


def _wrong_type(fields: list[str], value: Any, expected: str) -> PathError:
    return PathError(
        f"{_json_path(fields)} accessor error: {_go_value(value)} is of the type "
        f"{_go_type(value)}, expected {expected}"
    )


def nested_value(obj: Any, path: str) -> tuple[Any, bool]:
    """The value at ``path`` and whether it is there (a null on the way: not there)."""
    fields = split_path(path)
    value = obj
    for index, key in enumerate(fields):
        if value is None:
            return None, False
        if not isinstance(value, dict):
            raise _wrong_type(fields[: index + 1], value, "map[string]interface{}")
        if key not in value:
            return None, False
        value = value[key]
    return value, True


def nested_int(obj: Any, path: str) -> tuple[int, bool]:
    """The integer at ``path`` (0 when absent); PathError for another type."""
    value, found = nested_value(obj, path)
    if not found:
        return 0, False
    if not isinstance(value, int) or isinstance(value, bool):
        raise _wrong_type(split_path(path), value, "int64")
    return value, True


def nested_string(obj: Any, path: str) -> tuple[str, bool]:
    """The string at ``path`` ("" when absent); PathError for another type."""
    value, found = nested_value(obj, path)
    if not found:
        return "", False
    if not isinstance(value, str):
        raise _wrong_type(split_path(path), value, "string")
    return value, True


def set_nested(obj: dict[str, Any], path: str, value: Any) -> None:
    """Set ``path`` to ``value``, making the maps on the way (a non-map on it: PathError)."""
    fields = split_path(path)
    current = obj
    for index, key in enumerate(fields[:-1]):
        if key not in current:
            current[key] = {}
        elif not isinstance(current[key], dict):
            raise PathError(
                f"value cannot be set because {_json_path(fields[: index + 1])} is not a "
                "map[string]interface{}"
            )
        current = current[key]
    current[fields[-1]] = value


def _replicas_errors(obj: Any, path: str) -> list[FieldError]:
    try:
        replicas, _ = nested_int(obj, path)
    except PathError as err:
        return [invalid(path, 0, str(err))]
    if replicas < 0:
        return [invalid(path, replicas, "should be a non-negative integer")]
    if replicas > INT32_MAX:
        return [invalid(path, replicas, f"should be less than or equal to {INT32_MAX}")]
    return []


def validate_scale(obj: Any, paths: ScalePaths) -> list[FieldError]:
    """What every write of a scalable custom object must satisfy (upstream's ValidateScaleSpec
    and ValidateScaleStatus): replica counts that fit an int32, a string label selector."""
    errors = _replicas_errors(obj, paths.spec_replicas)
    errors += _replicas_errors(obj, paths.status_replicas)
    if paths.label_selector:
        try:
            nested_string(obj, paths.label_selector)
        except PathError as err:
            errors.append(invalid(paths.label_selector, "", str(err)))
    return errors
