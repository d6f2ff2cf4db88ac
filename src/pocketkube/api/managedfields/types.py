"""What server-side apply needs to know of a type: how each field merges and is owned.

Upstream derives this (structured-merge-diff's schema) from the OpenAPI schemas: an object with
``properties`` is a *struct*, one with ``additionalProperties`` a *map*; either may be atomic
(``x-kubernetes-map-type: atomic``: owned and replaced as one value). A list is ``atomic`` (the
default), a ``set`` of scalars, or a ``map`` keyed by ``x-kubernetes-list-map-keys``; a list
without a list type but with a patch merge key is keyed by it, as upstream's conversion does.
Anything without a schema (``x-kubernetes-preserve-unknown-fields``, fields a schema does not
know) is *untyped*: objects merge key by key, lists are atomic, as upstream's deduced type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

__all__ = ["UNTYPED", "SchemaTypes", "TypeNode"]

Kind = Literal["scalar", "struct", "map", "list", "untyped"]
ListType = Literal["atomic", "set", "map"]
REF_PREFIX = "#/components/schemas/"
_SCALARS = ("string", "integer", "number", "boolean")


class TypeNode:
    """One type; struct fields and element types are resolved on first use (types recurse)."""

    __slots__ = (
        "_element",
        "_element_schema",
        "_fields",
        "_properties",
        "_types",
        "atomic",
        "key_defaults",
        "keys",
        "kind",
        "list_type",
    )

    def __init__(
        self,
        kind: Kind,
        *,
        atomic: bool = False,
        list_type: ListType = "atomic",
        keys: tuple[str, ...] = (),
        key_defaults: Mapping[str, Any] | None = None,
        properties: Mapping[str, Any] | None = None,
        element_schema: Any = None,
        types: SchemaTypes | None = None,
    ) -> None:
        self.kind = kind
        self.atomic = atomic
        self.list_type = list_type
        self.keys = keys
        self.key_defaults = dict(key_defaults or {})
        self._properties = properties or {}
        self._element_schema = element_schema
        self._types = types
        self._fields: dict[str, TypeNode] = {}
        self._element: TypeNode | None = None

    def has_field(self, name: str) -> bool:
        return self.kind == "struct" and name in self._properties

    def field(self, name: str) -> TypeNode:
        """The type of field (or map value) ``name``; UNTYPED when unknown."""
        if self.kind == "map":
            return self.element()
        if self.kind != "struct" or self._types is None:
            return UNTYPED
        node = self._fields.get(name)
        if node is None:
            prop = self._properties.get(name)
            node = UNTYPED if prop is None else self._types.node(prop)
            self._fields[name] = node
        return node

    def property_default(self, name: str) -> Any:
        """The schema's ``default`` of struct field ``name`` (None if none)."""
        prop = self._properties.get(name)
        return prop.get("default") if isinstance(prop, Mapping) else None

    def element(self) -> TypeNode:
        """The type of a list element or map value."""
        if self._element is None:
            if self._element_schema is None or self._types is None:
                self._element = UNTYPED
            else:
                self._element = self._types.node(self._element_schema)
        return self._element


UNTYPED = TypeNode("untyped")
SCALAR = TypeNode("scalar")


class SchemaTypes:
    """Builds `TypeNode`s from OpenAPI v3 schemas with ``$ref`` into ``definitions``.

    ``atomic_definitions`` names structs upstream marks ``+structType=atomic`` and
    ``property_facts`` adds extensions to single properties (``(definition, property)`` →
    extension keys): facts our schema table does not carry.
    """

    def __init__(
        self,
        definitions: Mapping[str, Mapping[str, Any]],
        *,
        atomic_definitions: frozenset[str] = frozenset(),
        property_facts: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
    ) -> None:
        self._definitions = definitions
        self._atomic = atomic_definitions
        self._facts = property_facts or {}
        self._by_name: dict[str, TypeNode] = {}

    def definition(self, name: str) -> TypeNode:
        node = self._by_name.get(name)
        if node is None:
            schema = self._definitions.get(name)
            node = UNTYPED if schema is None else self._build(schema, name)
            self._by_name[name] = node
        return node

    def node(self, schema: Any) -> TypeNode:
        if not isinstance(schema, Mapping):
            return UNTYPED
        ref = _ref_of(schema)
        if ref is not None:
            return self.definition(ref)
        return self._build(schema, None)

    def _properties(self, schema: Mapping[str, Any], name: str | None) -> dict[str, Any]:
        props = dict(schema.get("properties") or {})
        if name is not None:
            for prop, value in props.items():
                facts = self._facts.get((name, prop))
                if facts:
                    props[prop] = {**value, **facts}
        return props

    def _build(self, schema: Mapping[str, Any], name: str | None) -> TypeNode:
        kind = schema.get("type")
        if schema.get("x-kubernetes-int-or-string") or kind in _SCALARS:
            return SCALAR
        if kind == "array":
            return self._list(schema)
        if "properties" in schema:
            atomic = schema.get("x-kubernetes-map-type") == "atomic" or name in self._atomic
            return TypeNode(
                "struct", atomic=atomic, properties=self._properties(schema, name), types=self
            )
        extra = schema.get("additionalProperties")
        if isinstance(extra, Mapping):
            return TypeNode(
                "map",
                atomic=schema.get("x-kubernetes-map-type") == "atomic",
                element_schema=extra,
                types=self,
            )
        return UNTYPED

    def _list(self, schema: Mapping[str, Any]) -> TypeNode:
        items = schema.get("items")
        list_type = schema.get("x-kubernetes-list-type")
        keys = tuple(schema.get("x-kubernetes-list-map-keys") or ())
        merges = "merge" in str(schema.get("x-kubernetes-patch-strategy", "")).split(",")
        merge_key = schema.get("x-kubernetes-patch-merge-key")
        if list_type is None and merges:
            list_type = "map" if merge_key else "set"
        if list_type == "map" and not keys:
            keys = (merge_key,) if merge_key else ()
        if list_type not in ("set", "map") or (list_type == "map" and not keys):
            return TypeNode("list", list_type="atomic", element_schema=items, types=self)
        defaults: dict[str, Any] = {}
        if list_type == "map":
            item = self.node(items)
            for key in keys:
                default = item.property_default(key)
                if default is not None:
                    defaults[key] = default
        return TypeNode(
            "list",
            list_type=list_type,
            keys=keys,
            key_defaults=defaults,
            element_schema=items,
            types=self,
        )


def _ref_of(schema: Mapping[str, Any]) -> str | None:
    ref = schema.get("$ref")
    if ref is None:
        all_of = schema.get("allOf")
        if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], Mapping):
            ref = all_of[0].get("$ref")
    if isinstance(ref, str):
        return ref.removeprefix(REF_PREFIX)
    return None
