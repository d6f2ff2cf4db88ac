"""Field sets, comparison, merge and removal of JSON values along a `TypeNode`.

These follow structured-merge-diff's walkers (``typed/tofieldset.go``, ``compare.go``,
``merge.go``): which paths a value sets, which paths changed between two values, how an applied
configuration merges into a live object (associative lists by key, set lists by value, atomic
values replaced whole, list order interleaved as upstream), and removing fields an applier gave
up. Values are plain JSON (dicts, lists, scalars); inputs are never modified.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import orjson

from pocketkube.api.managedfields.fieldset import (
    MEMBER,
    FieldSet,
    key_element,
    sorted_elements,
    value_element,
)
from pocketkube.api.managedfields.types import TypeNode

__all__ = ["Comparison", "added_fields", "compare", "field_set", "merge", "remove_unowned"]

Path = tuple[str, ...]
MISSING: Any = object()


def _shape(node: TypeNode, value: Any) -> str:
    """How to walk ``value``: "leaf" (owned and replaced whole), "fields" or "items"."""
    if isinstance(value, dict):
        if node.atomic or node.kind in ("scalar", "list"):
            return "leaf"
        return "fields"
    if isinstance(value, list):
        if node.kind != "list" or node.list_type == "atomic":
            return "leaf"
        return "items"
    return "leaf"


def item_element(node: TypeNode, item: Any, index: int) -> str:
    """The path element of list item ``item`` (at ``index``) of a granular list ``node``."""
    if node.list_type == "set":
        return value_element(item)
    if node.list_type == "map" and isinstance(item, dict):
        # A key field that is missing and has no default is left out of the key, as upstream;
        # an item with none of its key fields (upstream refuses it) is known by its index.
        keys: dict[str, Any] = {}
        for key in node.keys:
            if key in item:
                keys[key] = item[key]
            elif key in node.key_defaults:
                keys[key] = node.key_defaults[key]
        if keys:
            return key_element(keys)
    return f"i:{index}"


def _indexed(node: TypeNode, items: list[Any]) -> tuple[list[str], dict[str, list[Any]]]:
    """Distinct path elements in order, and every item under its element."""
    order: list[str] = []
    found: dict[str, list[Any]] = {}
    for index, item in enumerate(items):
        element = item_element(node, item, index)
        if element not in found:
            order.append(element)
            found[element] = []
        found[element].append(item)
    return order, found


# -- field sets ----------------------------------------------------------------------------------
def field_set(value: Any, node: TypeNode) -> FieldSet:
    """The paths ``value`` sets: what an applier of ``value`` owns."""
    out = FieldSet()
    _collect(value, node, (), out)
    return out


def _collect(value: Any, node: TypeNode, path: Path, out: FieldSet) -> None:
    shape = _shape(node, value)
    if shape == "leaf":
        if path:
            out.insert(path)
    elif shape == "fields":
        for key, child in value.items():
            child_path = (*path, "f:" + key)
            _collect(child, node.field(key), child_path, out)
            if child is None or child == {} or not node.has_field(key):
                out.insert(child_path)
    else:
        element_type = node.element()
        order, found = _indexed(node, value)
        for element in order:
            child_path = (*path, element)
            if len(found[element]) == 1:
                _collect(found[element][0], element_type, child_path, out)
            out.insert(child_path)


# -- comparison ----------------------------------------------------------------------------------
@dataclass
class Comparison:
    added: FieldSet = field(default_factory=FieldSet)
    modified: FieldSet = field(default_factory=FieldSet)
    removed: FieldSet = field(default_factory=FieldSet)

    def changed(self) -> FieldSet:
        """Added or modified paths: what the writer takes from other managers."""
        return self.added.union(self.modified)

    def without(self, ignored: FieldSet) -> Comparison:
        return Comparison(
            self.added.recursive_difference(ignored),
            self.modified.recursive_difference(ignored),
            self.removed.recursive_difference(ignored),
        )


def compare(old: Any, new: Any, node: TypeNode) -> Comparison:
    """Paths added, modified and removed from ``old`` to ``new`` (MISSING for no object)."""
    result = Comparison()
    _compare(old, new, node, (), result)
    return result


def json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values as upstream's ``value.Equals``: numbers by value (``1 == 1.0``),
    but a boolean is never a number."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and a.keys() == b.keys()
            and all(json_equal(v, b[k]) for k, v in a.items())
        )
    if isinstance(a, list):
        return (
            isinstance(b, list)
            and len(a) == len(b)
            and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
        )
    return type(a) is type(b) and a == b


def _view(node: TypeNode, value: Any) -> str:
    """How the comparison sees ``value``: as upstream, null is an empty map (or list) where the
    type has one; "fields", "items" or "leaf"."""
    if node.atomic or node.kind == "scalar":
        return "leaf"
    if node.kind == "list":
        granular = node.list_type != "atomic"
        return "items" if granular and (value is None or isinstance(value, list)) else "leaf"
    return "fields" if value is None or isinstance(value, dict) else "leaf"


def _is_empty(value: Any) -> bool:
    return value is None or value == {} or value == []


def _same(old: Any, new: Any) -> bool:
    """A fast, conservative `json_equal`: Python's ``==`` in C, then the encodings to tell a
    nested ``true`` from ``1`` (which ``==`` does not); False sends the caller the long way."""
    if type(old) is not type(new) or old != new:
        return False
    if isinstance(old, dict | list):
        return orjson.dumps(old) == orjson.dumps(new)
    return True


def _member() -> FieldSet:
    out = FieldSet()
    out.member = True
    return out


def _whole(value: Any, node: TypeNode) -> FieldSet:
    """What comparing ``value`` with nothing finds below its path (all of it), built at once:
    the path itself and, for a map or granular list with content, everything in it."""
    out = _member()
    view = _view(node, value)
    if view == "leaf" or _is_empty(value):
        return out
    if view == "items":
        element_type = node.element()
        order, found = _indexed(node, value)
        for element in order:
            items = found[element]
            if len(items) == 1:
                out.children[element] = _whole(items[0], element_type)
            else:
                out.children[element] = _member()  # duplicates: the item's marker only
    else:
        for key, child in value.items():
            out.children["f:" + key] = _whole(child, node.field(key))
    return out


def added_fields(value: Any, node: TypeNode, drop: FieldSet | None) -> dict[str, Any]:
    """The FieldsV1 of ``_whole(value, node)``'s children, written directly (creates are the
    hot path), leaving out every path that is a member of ``drop`` and all below it."""
    view = _view(node, value)
    if view == "leaf" or _is_empty(value):
        return {}
    out: dict[str, Any] = {}
    if view == "items":
        element_type = node.element()
        order, found = _indexed(node, value)
        for element in sorted_elements(order):
            below = drop.children.get(element) if drop is not None else None
            if below is not None and below.member:
                continue
            items = found[element]
            encoded = added_fields(items[0], element_type, below) if len(items) == 1 else {}
            out[element] = _marked(encoded)
        return out
    for key in sorted(value):
        element = "f:" + key
        below = drop.children.get(element) if drop is not None else None
        if below is not None and below.member:
            continue
        out[element] = _marked(added_fields(value[key], node.field(key), below))
    return out


def _marked(encoded: dict[str, Any]) -> dict[str, Any]:
    """A member node's FieldsV1: ``{}`` for a leaf, ``"."`` first when it has children."""
    if not encoded:
        return encoded
    marked: dict[str, Any] = {MEMBER: {}}
    marked.update(encoded)
    return marked


def _compare(old: Any, new: Any, node: TypeNode, path: Path, out: Comparison) -> None:
    if old is MISSING or new is MISSING:
        whole = _whole(new if old is MISSING else old, node)
        (out.added if old is MISSING else out.removed).graft(path, whole)
        return
    if _same(old, new):
        return  # nothing below it changed: the common case on updates
    old_view, new_view = _view(node, old), _view(node, new)
    if old_view == new_view:
        if old_view == "leaf" or (_is_empty(old) and _is_empty(new)):
            if path and not json_equal(old, new):
                out.modified.insert(path)
        else:
            _compare_children(old, new, node, old_view, path, out)
        return
    # A value that changed shape (a map that became a string, say): as upstream, each side is
    # walked on its own, so the fields of the old shape are removed (and those of the new one
    # added), and the value itself is modified.
    if path:
        out.modified.insert(path)
    if old_view != "leaf" and not _is_empty(old):
        _compare_children(old, MISSING, node, old_view, path, out)
    if new_view != "leaf" and not _is_empty(new):
        _compare_children(MISSING, new, node, new_view, path, out)


def _compare_children(
    old: Any, new: Any, node: TypeNode, view: str, path: Path, out: Comparison
) -> None:
    if view == "items":
        _compare_items(old, new, node, path, out)
        return
    olds = old if isinstance(old, dict) else {}
    news = new if isinstance(new, dict) else {}
    for key in olds.keys() | news.keys():
        _compare(
            olds.get(key, MISSING),
            news.get(key, MISSING),
            node.field(key),
            (*path, "f:" + key),
            out,
        )


def _compare_items(old: Any, new: Any, node: TypeNode, path: Path, out: Comparison) -> None:
    old_order, olds = _indexed(node, old if isinstance(old, list) else [])
    new_order, news = _indexed(node, new if isinstance(new, list) else [])
    element_type = node.element()
    for element in old_order + [e for e in new_order if e not in olds]:
        before, after = olds.get(element, []), news.get(element, [])
        child = (*path, element)
        if len(before) <= 1 and len(after) <= 1:
            _compare(
                before[0] if before else MISSING,
                after[0] if after else MISSING,
                element_type,
                child,
                out,
            )
        elif len(before) >= 2 and len(after) >= 2:
            if not json_equal(before, after):
                out.modified.insert(child)
        elif len(before) >= 2:
            # Duplicates that became one item (or none): the duplicate marker goes, the item's
            # own fields arrive.
            if after:
                _compare(MISSING, after[0], element_type, child, out)
            out.removed.insert(child)
        else:
            if before:
                _compare(before[0], MISSING, element_type, child, out)
            out.added.insert(child)


# -- merge ---------------------------------------------------------------------------------------
def merge(live: Any, config: Any, node: TypeNode) -> Any:
    """``config`` applied onto ``live`` (MISSING for none); a new value.

    An applied null is not stored: it removes a value that is replaced whole (a scalar, an
    atomic value) and leaves a granular map or list as it is, as upstream's merge treats null
    as an empty map or list there (the applier owns the field either way)."""
    if config is MISSING:
        return copy.deepcopy(live)
    if live is MISSING:
        return _without_nulls(config)
    live_shape, config_shape = _shape(node, live), _shape(node, config)
    if live_shape != config_shape or config_shape == "leaf":
        return _without_nulls(config)
    if config_shape == "fields":
        out: dict[str, Any] = {}
        for key, value in live.items():
            if key not in config:
                out[key] = copy.deepcopy(value)
            elif config[key] is not None:
                out[key] = merge(value, config[key], node.field(key))
            elif _view(node.field(key), value) != "leaf" and not _is_empty(value):
                out[key] = copy.deepcopy(value)
        for key, value in config.items():
            if key not in live and value is not None:
                out[key] = _without_nulls(value)
        return out
    return _merge_items(live, config, node)


def _without_nulls(value: Any) -> Any:
    """A copy of applied ``value`` without its null fields."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _merge_items(live: list[Any], config: list[Any], node: TypeNode) -> list[Any]:
    """structured-merge-diff's list order: shared elements in the applied order, live-only ones
    kept near their live neighbours (each duplicate at its own place), new ones where the
    configuration puts them."""
    element_type = node.element()
    live_elements = [item_element(node, item, index) for index, item in enumerate(live)]
    lives: dict[str, list[Any]] = {}
    for element, item in zip(live_elements, live, strict=True):
        lives.setdefault(element, []).append(item)
    config_order, configs = _indexed(node, config)
    shared = [e for e in config_order if e in lives]
    next_shared = shared.pop(0) if shared else None
    merged_config: set[str] = set()
    out: list[Any] = []

    def merged(element: str) -> Any:
        before = lives.get(element, [])
        after = configs[element][0]
        return merge(before[0] if len(before) == 1 else MISSING, after, element_type)

    li = ci = 0
    while li < len(live_elements) or ci < len(config_order):
        if li < len(live_elements) and ci < len(config_order):
            element = live_elements[li]
            if element == config_order[ci]:
                merged_config.add(element)
                out.append(merged(element))
                li += 1
                ci += 1
                next_shared = shared.pop(0) if shared else None
                continue
            if element in configs and next_shared is not None and next_shared != element:
                li += 1
                continue
        if li < len(live_elements):
            element = live_elements[li]
            if element not in configs:
                out.append(copy.deepcopy(live[li]))
                li += 1
                continue
            if element in merged_config:
                li += 1
        if ci < len(config_order):
            element = config_order[ci]
            merged_config.add(element)
            out.append(merged(element))
            ci += 1
            if next_shared is not None and next_shared == element:
                next_shared = shared.pop(0) if shared else None
    return out


# -- removal -------------------------------------------------------------------------------------
def remove_unowned(
    value: Any,
    node: TypeNode,
    remove: FieldSet,
    owned: FieldSet,
    kept: FieldSet | None = None,
) -> Any:
    """``value`` without the paths of ``remove`` (what an applier gave up), as upstream prunes:
    a list item or map entry in ``remove`` goes whole, but a struct field stays while a path
    below it is in ``owned`` (its removed parts go). A container the removal empties goes
    too, unless it is a member of ``kept`` (another manager owns it)."""
    out, _ = _remove(copy.deepcopy(value), node, remove, owned, kept or FieldSet())
    return out


_NOTHING = FieldSet()


def _remove(
    value: Any, node: TypeNode, remove: FieldSet, owned: FieldSet, kept: FieldSet
) -> tuple[Any, bool]:
    """(value after removal, whether anything was removed)."""
    shape = _shape(node, value)
    removed = False
    if shape == "fields":
        for element, below in remove.children.items():
            key = element[2:]
            if not element.startswith("f:") or key not in value:
                continue
            mine = owned.children.get(element, _NOTHING)
            if below.member and not mine.member and (mine.empty() or not node.has_field(key)):
                del value[key]
                removed = True
                continue
            keep = kept.children.get(element, _NOTHING)
            new, changed = _remove(value[key], node.field(key), below, mine, keep)
            if changed:
                removed = True
                if _is_empty(new) and not keep.member:
                    del value[key]
                else:
                    value[key] = new
        return value, removed
    if shape == "items":
        element_type = node.element()
        kept_items = []
        for index, item in enumerate(value):
            element = item_element(node, item, index)
            found = remove.children.get(element)
            if found is None:
                kept_items.append(item)
                continue
            mine = owned.children.get(element, _NOTHING)
            if found.member and not mine.member:
                removed = True
                continue
            below = found
            if isinstance(item, dict) and node.list_type == "map":
                below = below.without("f:" + key for key in node.keys)  # keys stay
            keep = kept.children.get(element, _NOTHING)
            new, changed = _remove(item, element_type, below, mine, keep)
            removed = removed or changed
            kept_items.append(new)
        return kept_items, removed
    return value, False
