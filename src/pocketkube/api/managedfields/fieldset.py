"""Sets of field paths, the unit of ownership in server-side apply (upstream's ``fieldpath.Set``).

A path is a sequence of path elements, each kept in its ``FieldsV1`` spelling, which is also how
managedFields store them: ``f:<field>`` (a field of an object or a key of a map),
``k:<json object>`` (an element of an associative list, by its key fields), ``v:<json value>``
(an element of a set-like list), ``i:<index>`` (an element of any other list). A set is a trie: a
node is a *member* when the path ending there is in the set, and may also have children. In
FieldsV1 a member node with children carries a ``"."`` entry; a member leaf is ``{}``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any

import orjson

__all__ = [
    "FieldSet",
    "FieldsV1Error",
    "element_order",
    "key_element",
    "path_string",
    "value_element",
]

MEMBER = "."
_INDEX = re.compile(r"[+-]?[0-9]+")


class FieldsV1Error(ValueError):
    """A managedFields entry whose ``fieldsV1`` is not a valid field set."""


def _canonical(value: Any) -> Any:
    """``value`` with integral floats as integers: upstream compares JSON numbers by value and
    prints ``2.0`` as ``2``, so ``k:{"page":2}`` is one element whichever way it was written."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def key_element(keys: dict[str, Any]) -> str:
    """The path element of an associative-list item with these key fields."""
    return "k:" + orjson.dumps(_canonical(keys), option=orjson.OPT_SORT_KEYS).decode()


def value_element(value: Any) -> str:
    """The path element of a set-list item with this value."""
    return "v:" + orjson.dumps(_canonical(value), option=orjson.OPT_SORT_KEYS).decode()


def _value_order(value: Any) -> tuple[Any, ...]:
    """Sort key of a JSON value as upstream's ``value.Compare``: numbers, strings, booleans,
    lists, maps, then null."""
    if isinstance(value, bool):
        return (2, value)
    if isinstance(value, int | float):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    if isinstance(value, list):
        return (3, tuple(_value_order(v) for v in value))
    if isinstance(value, dict):
        return (4, tuple((k, _value_order(value[k])) for k in sorted(value)))
    return (5,)


@lru_cache(maxsize=8192)
def element_order(element: str) -> tuple[Any, ...]:
    """Sort key of a path element as upstream's ``PathElement.Compare``: fields by name, then
    keys, values and indexes, each by value (``[port=80]`` before ``[port=443]``)."""
    tag, text = element[:2], element[2:]
    if tag == "f:":
        return (0, text)
    try:
        if tag == "k:":
            keys = orjson.loads(text)
            return (1, tuple((k, _value_order(keys[k])) for k in sorted(keys)))
        if tag == "v:":
            return (2, _value_order(orjson.loads(text)))
        if tag == "i:":
            return (3, int(text))
    except (orjson.JSONDecodeError, ValueError, TypeError):
        pass
    return (4, element)


def sorted_elements(elements: Iterable[str]) -> list[str]:
    """Path elements in upstream's order (`element_order`)."""
    names = sorted(elements)
    # "f:" sorts before "i:", "k:" and "v:": when the last is a field, all are, and fields go
    # by name (the usual case); anything else needs element_order.
    if not names or names[-1].startswith("f:"):
        return names
    return sorted(names, key=element_order)


@lru_cache(maxsize=8192)
def _parse_element(element: str) -> str | None:
    """The canonical spelling of a FieldsV1 path element (upstream's DeserializePathElement and
    back); None for an element of an unknown type, which upstream ignores."""
    if len(element) < 2 or element[1] != ":":
        raise FieldsV1Error(f"invalid path element {element!r} in fieldsV1")
    tag, text = element[0], element[2:]
    if tag == "f":
        return element
    if tag == "i":
        if not _INDEX.fullmatch(text):
            raise FieldsV1Error(f"invalid index in path element {element!r} in fieldsV1")
        return f"i:{int(text)}"
    if tag in ("k", "v"):
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise FieldsV1Error(f"invalid JSON in path element {element!r} in fieldsV1") from None
        if tag == "v":
            return value_element(parsed)
        if not isinstance(parsed, dict):
            raise FieldsV1Error(f"key path element {element!r} in fieldsV1 is not an object")
        return key_element(parsed)
    return None


def _element_string(element: str) -> str:
    """One element as upstream prints paths in conflict messages (``.spec``, ``[name="x"]``)."""
    tag, text = element[:2], element[2:]
    if tag == "f:":
        return "." + text
    if tag == "i:":
        return f"[{text}]"
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        return f"[{text}]"
    if tag == "v:":
        return "[=" + orjson.dumps(parsed).decode() + "]"
    if isinstance(parsed, dict):
        fields = ",".join(f"{k}={orjson.dumps(v).decode()}" for k, v in sorted(parsed.items()))
        return f"[{fields}]"
    return f"[{text}]"


def path_string(path: tuple[str, ...]) -> str:
    return "".join(_element_string(e) for e in path)


class FieldSet:
    """A trie of path elements; see the module docstring."""

    __slots__ = ("children", "member")

    def __init__(self) -> None:
        self.member = False
        self.children: dict[str, FieldSet] = {}

    # -- building ------------------------------------------------------------------------------
    def child(self, element: str) -> FieldSet:
        node = self.children.get(element)
        if node is None:
            node = self.children[element] = FieldSet()
        return node

    def insert(self, path: tuple[str, ...]) -> None:
        node = self
        for element in path:
            node = node.child(element)
        node.member = True

    # -- queries -------------------------------------------------------------------------------
    def empty(self) -> bool:
        return not self.member and all(c.empty() for c in self.children.values())

    def has(self, path: tuple[str, ...]) -> bool:
        node: FieldSet | None = self
        for element in path:
            node = node.children.get(element) if node is not None else None
        return node is not None and node.member

    def paths(self, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
        """Every member path in upstream's ``Set.Iterate`` order: the members among a node's
        children first, then what lies below each child; both in `element_order`."""
        if self.member:
            yield prefix
        yield from self._below(prefix)

    def _below(self, prefix: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        elements = sorted_elements(self.children)
        for element in elements:
            if self.children[element].member:
                yield (*prefix, element)
        for element in elements:
            yield from self.children[element]._below((*prefix, element))

    def leaves(self, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
        """Member paths with no member below them."""
        below = False
        for element in sorted_elements(self.children):
            for path in self.children[element].leaves((*prefix, element)):
                below = True
                yield path
        if self.member and not below:
            yield prefix

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FieldSet):
            return NotImplemented
        return self.to_fields() == other.to_fields()

    def __repr__(self) -> str:
        return f"FieldSet({[path_string(p) for p in self.paths()]})"

    # -- set algebra ---------------------------------------------------------------------------
    # Sets are not changed once built (`insert` and `child` only build fresh ones), so the
    # results below share unchanged subtrees with their operands instead of copying them.
    def without(self, elements: Iterable[str]) -> FieldSet:
        """This set without the given children (and what lies below them)."""
        out = FieldSet()
        out.member = self.member
        out.children = dict(self.children)
        for element in elements:
            out.children.pop(element, None)
        return out

    def graft(self, path: tuple[str, ...], subtree: FieldSet) -> None:
        """While building: add ``subtree`` at ``path`` (at the root: its children only)."""
        if not path:
            for element, node in subtree.children.items():
                known = self.children.get(element)
                self.children[element] = node if known is None else known.union(node)
            return
        parent = self
        for element in path[:-1]:
            parent = parent.child(element)
        known = parent.children.get(path[-1])
        parent.children[path[-1]] = subtree if known is None else known.union(subtree)

    # Each operation returns ``self`` itself when the result equals it, so a set no operation
    # changed keeps its identity (the managed fields encoder reuses its encoding then).
    def union(self, other: FieldSet) -> FieldSet:
        if not other.children and other.member <= self.member:
            return self
        if not self.children and self.member <= other.member:
            return other
        member = self.member or other.member
        changed = member != self.member
        children = dict(self.children)
        for element, theirs in other.children.items():
            mine = children.get(element)
            node = theirs if mine is None else mine.union(theirs)
            if node is not mine:
                children[element] = node
                changed = True
        return self._changed(member, children) if changed else self

    def difference(self, other: FieldSet) -> FieldSet:
        """Members of ``self`` that are not members of ``other`` (path by path)."""
        if not other.children and not (other.member and self.member):
            return self
        member = self.member and not other.member
        changed = member != self.member
        children: dict[str, FieldSet] = {}
        for element, mine in self.children.items():
            theirs = other.children.get(element)
            node = mine if theirs is None else mine.difference(theirs)
            changed = changed or node is not mine
            if not node.empty():
                children[element] = node
            else:
                changed = True
        return self._changed(member, children) if changed else self

    def recursive_difference(self, other: FieldSet) -> FieldSet:
        """``self`` without any path that is, or lies under, a member of ``other``."""
        if other.member:
            return FieldSet()
        if not other.children:
            return self
        changed = False
        children: dict[str, FieldSet] = {}
        for element, mine in self.children.items():
            theirs = other.children.get(element)
            node = mine if theirs is None else mine.recursive_difference(theirs)
            changed = changed or node is not mine
            if not node.empty():
                children[element] = node
            else:
                changed = True
        return self._changed(self.member, children) if changed else self

    @staticmethod
    def _changed(member: bool, children: dict[str, FieldSet]) -> FieldSet:
        out = FieldSet()
        out.member = member
        out.children = children
        return out

    def intersection(self, other: FieldSet) -> FieldSet:
        out = FieldSet()
        out.member = self.member and other.member
        for element, mine in self.children.items():
            theirs = other.children.get(element)
            if theirs is not None:
                node = mine.intersection(theirs)
                if not node.empty():
                    out.children[element] = node
        return out

    # -- FieldsV1 ------------------------------------------------------------------------------
    def to_fields(self) -> dict[str, Any]:
        """The FieldsV1 JSON object of this set (the root's own membership is not encoded), its
        entries in `element_order` as upstream writes them."""
        out: dict[str, Any] = {}
        for element in sorted_elements(self.children):
            node = self.children[element]
            encoded = node.to_fields()
            if node.member and encoded:
                encoded = {MEMBER: {}, **encoded}
            elif not node.member and not encoded:
                continue  # an empty node: nothing to write
            out[element] = encoded
        return out

    @classmethod
    def from_fields(cls, fields: Any) -> FieldSet:
        """The set a FieldsV1 object describes, read as upstream's ``Set.FromJSON``: elements
        are brought to their canonical spelling, elements of unknown types are ignored, a node
        is a member when it has ``"."`` or nothing else, and null counts as ``{}``."""
        if fields is None:
            return cls()
        if not isinstance(fields, dict):
            raise FieldsV1Error("fieldsV1 must be a JSON object")
        out = cls()
        for element, value in fields.items():
            if element == MEMBER:
                out.member = True
                continue
            canonical = _parse_element(element)
            if canonical is None:
                continue
            if value is not None and not isinstance(value, dict):
                raise FieldsV1Error(f"the value of {element!r} in fieldsV1 must be an object")
            node = cls.from_fields(value)
            if not node.children:
                node.member = True
            known = out.children.get(canonical)
            out.children[canonical] = node if known is None else known.union(node)
        return out
