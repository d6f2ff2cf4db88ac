"""Kubernetes strategic merge patch (``application/strategic-merge-patch+json``).

JSON merge patch plus knowledge of the type: a list tagged ``patchStrategy:"merge"`` merges its
elements by ``patchMergeKey`` (containers by name, ports by containerPort) or, for primitives, as an
ordered set; any other list is replaced. Client-side ``kubectl apply`` relies on the directives:

- ``$patch: replace | delete | merge`` in a map, and ``{"$patch": "replace"}`` or
  ``{"<key>": v, "$patch": "delete"}`` as list elements;
- ``$retainKeys: [...]``: drop every key of the live map not listed (volume sources, strategy);
- ``$setElementOrder/<list>``: the final order of a merged list, live-only elements interleaved;
- ``$deleteFromPrimitiveList/<list>``: values to remove from a primitive merge list.

The algorithm follows k8s.io/apimachinery/pkg/util/strategicpatch (``mergeMap``/``mergeSlice``),
including its element ordering: patch elements keep the patch's order, live-only elements keep the
live order, and the two are interleaved by their live positions. Inputs are deep-copied first, so
the merge below may work in place.
"""

from __future__ import annotations

from typing import Any

from pocketkube.api.jsoncopy import json_copy
from pocketkube.api.patch.errors import PatchError
from pocketkube.api.patch.json_patch import json_equal
from pocketkube.api.patch.schema import FieldSchema

__all__ = ["apply_strategic_merge_patch"]

_PATCH = "$patch"
_RETAIN_KEYS = "$retainKeys"
_SET_ORDER = "$setElementOrder"
_DELETE_FROM = "$deleteFromPrimitiveList"
_DROP: Any = object()  # a value whose own `$patch: delete` removes it


def apply_strategic_merge_patch(
    doc: dict[str, Any], patch: dict[str, Any], schema: FieldSchema | None
) -> dict[str, Any]:
    """Return ``doc`` with the strategic merge ``patch`` applied; neither input is modified."""
    if not isinstance(patch, dict):
        raise PatchError("strategic merge patch must be a JSON object", bad_request=True)
    if not isinstance(doc, dict):
        raise PatchError("strategic merge patch applies to a JSON object only")
    result: dict[str, Any] = _merge_map(json_copy(doc), json_copy(patch), schema)
    return result


def _merge_map(original: dict[str, Any], patch: dict[str, Any], schema: FieldSchema | None) -> Any:
    if _PATCH in patch:
        directive = patch.pop(_PATCH)
        if directive == "delete":
            return {}
        if directive == "replace":
            return _merge_map({}, patch, schema)
        if directive != "merge":
            raise PatchError(f"unknown patch type: {directive} in map: {patch}")
    _retain_keys(original, patch)
    _check_keys(patch, schema)

    for key in [k for k in patch if k.startswith(_SET_ORDER)]:
        name = _list_name(key, _SET_ORDER, "setElementOrder list")
        _set_element_order(original, patch, name, patch.pop(key), _child(schema, name))

    deletions: dict[str, Any] = {}
    for key, value in patch.items():
        if key.startswith(_DELETE_FROM):
            deletions[_list_name(key, _DELETE_FROM, "primitive list")] = value
        elif value is None:
            original.pop(key, None)
        else:
            _merge_field(original, key, value, _child(schema, key))

    for name, values in deletions.items():
        if not isinstance(values, list):
            raise PatchError("invalid patch format of primitive list")
        current = original.get(name)
        if isinstance(current, list):
            original[name] = [v for v in current if not any(json_equal(v, d) for d in values)]
    return original


def _merge_field(
    original: dict[str, Any], key: str, value: Any, schema: FieldSchema | None
) -> None:
    current = original.get(key)
    if isinstance(current, dict) and isinstance(value, dict):
        if schema is not None and schema.replaces:
            merged = _fresh(value, schema)
        else:
            merged = _merge_map(current, value, schema)
    elif isinstance(current, list) and isinstance(value, list):
        merged = _merge_list(current, value, schema)
    else:  # absent, or a different type: the patch value wins, minus its directives
        merged = _fresh(value, schema)
    if merged is _DROP:
        original.pop(key, None)
    else:
        original[key] = merged


def _fresh(value: Any, schema: FieldSchema | None) -> Any:
    """A patch value with nothing to merge into: resolve its directives, drop its nulls."""
    if isinstance(value, dict):
        if value.get(_PATCH) == "delete":
            return _DROP
        return _merge_map({}, value, schema)
    if isinstance(value, list):
        return _merge_list([], value, schema)
    return value


def _merge_list(original: list[Any], patch: list[Any], schema: FieldSchema | None) -> list[Any]:
    return _merge_list_and_live_order(original, patch, schema)[0]


def _merge_list_and_live_order(
    original: list[Any], patch: list[Any], schema: FieldSchema | None
) -> tuple[list[Any], list[Any]]:
    """The merged list, and the live order a following ``$setElementOrder`` pass should use.

    Upstream deletes and appends in the live slice's backing array, so its ``$setElementOrder``
    pass sees the survivors followed by as many additions as there were deletions. We reproduce
    that order on purpose: it decides where live-only elements land (upstream's own test
    "add map and delete map from merging list" depends on it).
    """
    items = schema.items if schema is not None else None
    if schema is None or not schema.merges:
        # Replaced wholesale; like upstream's removeDirectives, directive elements vanish.
        fresh = [_fresh(v, items) for v in patch if not (isinstance(v, dict) and _PATCH in v)]
        return [v for v in fresh if v is not _DROP], original
    if not original and not patch:
        return original, original
    if _element_kind(original + patch) != "map":
        merged = _dedupe(original + patch)
        return _ordered(merged, patch, original, None), original
    key = schema.merge_key
    if not key:
        raise PatchError("cannot merge lists without merge key")
    replaced = any(isinstance(e, dict) and e.get(_PATCH) == "replace" for e in patch)
    survivors, patch = _special_elements(original, patch, key, items)
    deleted = 0 if replaced else len(original) - len(survivors)
    live = list(survivors)
    added: list[Any] = []
    for element in patch:
        index = _find(survivors, key, element[key])
        if index is None:
            fresh = _fresh(element, items)
            if fresh is not _DROP:
                survivors.append(fresh)
                added.append(fresh)
        else:
            survivors[index] = _merge_map(survivors[index], element, items)
    return _ordered(survivors, patch, live, key), live + added[:deleted]


def _special_elements(
    original: list[Any], patch: list[Any], key: str, items: FieldSchema | None
) -> tuple[list[Any], list[Any]]:
    """Apply ``$patch`` elements: deletions by key, and a whole-list replace."""
    plain: list[Any] = []
    replace = False
    for element in patch:
        if not isinstance(element, dict):
            raise PatchError(f"expected a map in a list merged by {key}, but received {element}")
        directive = element.get(_PATCH)
        if directive is None:
            _require_key(element, key)
            plain.append(element)
        elif directive == "delete":
            _require_key(element, key)
            original = [o for o in original if not _same_key(o, element, key)]
        elif directive == "replace":
            replace = True
        elif directive == "merge":  # the default made explicit; upstream rejects it
            if key in element:
                plain.append({k: v for k, v in element.items() if k != _PATCH})
        else:
            raise PatchError(f"unknown patch type: {directive} in map: {element}")
    if replace:
        fresh = [_fresh(e, items) for e in plain]
        return [e for e in fresh if e is not _DROP], []
    return original, plain


def _set_element_order(
    original: dict[str, Any],
    patch: dict[str, Any],
    name: str,
    order: Any,
    schema: FieldSchema | None,
) -> None:
    if not isinstance(order, list):
        raise PatchError("invalid patch format of setElementOrder list")
    key = schema.merge_key if schema is not None else None
    live = original.get(name)
    if name in patch:
        value = patch.pop(name)
        if not isinstance(value, list):
            raise PatchError(f"expected a list for {name}, but received {type(value).__name__}")
        _validate_order(value, order, key)
        if not isinstance(live, list):
            merged = _fresh(value, schema)
        else:
            merged, live = _merge_list_and_live_order(live, value, schema)
    elif isinstance(live, list):
        merged = live
    else:
        return
    original[name] = _ordered(merged, order, live if isinstance(live, list) else [], key)


def _validate_order(patch: list[Any], order: list[Any], key: str | None) -> None:
    """Patch elements must appear in ``order``, in the same relative order (upstream check)."""
    position = 0
    for element in patch:
        if isinstance(element, dict) and _PATCH in element:
            continue
        while position < len(order) and not _matches(element, order[position], key):
            position += 1
        if position == len(order):
            raise PatchError(
                f"The order in patch list:\n{patch}\n doesn't match {_SET_ORDER} list:\n{order}\n"
            )
        position += 1


def _ordered(
    merged: list[Any], patch_order: list[Any], live_order: list[Any], key: str | None
) -> list[Any]:
    """Patch elements in patch order, live-only elements in live order, interleaved."""

    def rank(element: Any, within: list[Any]) -> int | None:
        return next((i for i, o in enumerate(within) if _matches(element, o, key)), None)

    from_patch = [m for m in merged if rank(m, patch_order) is not None]
    from_patch.sort(key=lambda m: rank(m, patch_order) or 0)
    live_only = [m for m in merged if rank(m, patch_order) is None]
    live_only.sort(key=lambda m: _or_end(rank(m, live_order), len(live_order)))
    result: list[Any] = []
    i = j = 0
    while i < len(live_only) or j < len(from_patch):
        if j == len(from_patch):
            result.append(live_only[i])
            i += 1
            continue
        if i < len(live_only):
            left, right = rank(live_only[i], live_order), rank(from_patch[j], live_order)
            if left is not None and right is not None and left < right:
                result.append(live_only[i])
                i += 1
                continue
        result.append(from_patch[j])
        j += 1
    return result


def _or_end(index: int | None, end: int) -> int:
    return end if index is None else index


def _matches(element: Any, other: Any, key: str | None) -> bool:
    if key is None:
        return json_equal(element, other)
    return (
        isinstance(element, dict)
        and isinstance(other, dict)
        and key in element
        and key in other
        and json_equal(element[key], other[key])
    )


def _same_key(element: Any, other: dict[str, Any], key: str) -> bool:
    if not isinstance(element, dict):
        raise PatchError(f"value for key {key} is not a map")
    return key in element and json_equal(element[key], other[key])


def _find(elements: list[Any], key: str, value: Any) -> int | None:
    for i, element in enumerate(elements):
        if isinstance(element, dict) and key in element and json_equal(element[key], value):
            return i
    return None


def _require_key(element: dict[str, Any], key: str) -> None:
    if key not in element:
        raise PatchError(f"map: {element} does not contain declared merge key: {key}")


def _element_kind(elements: list[Any]) -> str:
    kinds = {
        "map" if isinstance(e, dict) else "list" if isinstance(e, list) else "scalar"
        for e in elements
        if e is not None
    }
    if "list" in kinds:
        raise PatchError("lists of lists are not supported")
    if len(kinds) > 1:
        raise PatchError("cannot merge a list that mixes objects and scalars")
    return kinds.pop() if kinds else "scalar"


def _dedupe(values: list[Any]) -> list[Any]:
    result: list[Any] = []
    for value in values:
        if not any(json_equal(value, seen) for seen in result):
            result.append(value)
    return result


def _retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> None:
    if _RETAIN_KEYS not in patch:
        return
    keep = patch.pop(_RETAIN_KEYS)
    if not isinstance(keep, list):
        raise PatchError("invalid patch format of retainKeys")
    for key, value in patch.items():
        if value is None or key.startswith((_DELETE_FROM, _SET_ORDER)):
            continue
        if key not in keep:
            raise PatchError("invalid patch format of retainKeys")
    for key in [k for k in original if k not in keep]:
        del original[key]


def _check_keys(patch: dict[str, Any], schema: FieldSchema | None) -> None:
    """Reject directives we do not know; ``$`` keys under an unknown schema stay plain data."""
    if schema is None:
        return
    for key in patch:
        if not key.startswith("$") or key.startswith((_SET_ORDER + "/", _DELETE_FROM + "/")):
            continue
        if schema.kind == "map" or key not in schema.fields:
            raise PatchError(f"unknown strategic merge patch directive: {key!r}")


def _list_name(key: str, prefix: str, what: str) -> str:
    head, sep, name = key.partition("/")
    if head != prefix or not sep or not name:
        raise PatchError(f"invalid patch format of {what}")
    return name


def _child(schema: FieldSchema | None, name: str) -> FieldSchema | None:
    return schema.child(name) if schema is not None else None
