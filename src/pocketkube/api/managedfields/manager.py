"""managedFields: who owns which fields of an object, kept on every write.

As upstream's field manager (k8s.io/apimachinery/pkg/util/managedfields and
structured-merge-diff's ``merge.Updater``):

- an *Update* (create, PUT, non-apply PATCH) gives its manager the fields it added or changed,
  takes them from every other manager, and drops removed fields from everyone;
- an *Apply* (``application/apply-patch+yaml``) merges the configuration into the live object;
  its manager owns exactly the configuration's fields; fields it applied before and no longer
  applies are removed unless another manager owns them; changing a field another manager owns is
  a conflict (409) unless forced, when the other manager loses it.

Entries are keyed like upstream's manager identifiers: (manager, operation, subresource, and the
apiVersion for updates); they are encoded sorted as upstream sorts them.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import orjson

from pocketkube.api.managedfields.fieldset import MEMBER, FieldSet, FieldsV1Error, path_string
from pocketkube.api.managedfields.typed import (
    MISSING,
    added_fields,
    compare,
    field_set,
    json_equal,
    merge,
    remove_unowned,
)
from pocketkube.api.managedfields.types import TypeNode

__all__ = [
    "APPLY",
    "UPDATE",
    "ApplyConflict",
    "Entry",
    "ManagedFields",
    "ManagedFieldsError",
]

APPLY = "Apply"
UPDATE = "Update"
BEFORE_FIRST_APPLY = "before-first-apply"

# Paths nobody owns (upstream's stripMetaManager); a plain difference: labels etc. stay owned.
STRIPPED = FieldSet()
for _path in (
    ("f:apiVersion",),
    ("f:kind",),
    ("f:metadata",),
    *(
        ("f:metadata", "f:" + name)
        for name in (
            "name",
            "namespace",
            "creationTimestamp",
            "selfLink",
            "uid",
            "clusterName",
            "generation",
            "managedFields",
            "resourceVersion",
        )
    ),
):
    STRIPPED.insert(_path)
# STRIPPED as paths dropped whole: all but metadata are scalars, so only metadata's own mark
# differs (created_fields removes it).
_STRIPPED_WHOLE = STRIPPED.without(["f:metadata"])
_STRIPPED_WHOLE.children["f:metadata"] = STRIPPED.children["f:metadata"].without([])
_STRIPPED_WHOLE.children["f:metadata"].member = False


DECODED_CACHE_SIZE = 512
# fieldsV1 encoding -> (its set, whether the encoding is canonical). Sets are never changed once
# built, so objects with the same managed fields (the pods of one ReplicaSet) share one.
_decoded: OrderedDict[bytes, tuple[FieldSet, bool]] = OrderedDict()


def _decode_fields(raw: Any) -> tuple[FieldSet, bool]:
    try:
        key = orjson.dumps(raw)
    except TypeError:
        return FieldSet.from_fields(raw), False
    hit = _decoded.get(key)
    if hit is not None:
        _decoded.move_to_end(key)
        return hit
    fields = FieldSet.from_fields(raw)
    found = (fields, orjson.dumps(fields.to_fields()) == key)
    _decoded[key] = found
    if len(_decoded) > DECODED_CACHE_SIZE:
        _decoded.popitem(last=False)
    return found


def created_fields(
    new: Any,
    node: TypeNode,
    *,
    manager: str,
    api_version: str,
    subresource: str,
    now: str,
    ignored: FieldSet,
) -> list[dict[str, Any]] | None:
    """The managedFields of a create that brings none: what
    ``ManagedFields().update(MISSING, new, ...)`` then ``encode()`` give, written directly."""
    fields = added_fields(new, node, ignored.union(_STRIPPED_WHOLE))
    meta = fields.get("f:metadata")
    if meta is not None:  # metadata itself is stripped, what is in it stays
        meta.pop(MEMBER, None)
        if not meta:
            del fields["f:metadata"]
    if not fields:
        return None
    entry = Entry(manager, UPDATE, api_version, FieldSet(), subresource, time=now)
    encoded = entry.to_json()
    encoded["fieldsV1"] = fields
    return [encoded]


def _rfc3339(value: Any) -> str | None:
    """An entry's time as upstream writes it (``2026-01-02T03:04:05Z``): clients may send other
    RFC 3339 spellings (the Python client writes ``+00:00``), which upstream re-encodes."""
    if not isinstance(value, str) or value.endswith("Z"):
        return value if isinstance(value, str) else None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ManagedFieldsError(ValueError):
    """metadata.managedFields that cannot be decoded."""


@dataclass
class Entry:
    manager: str
    operation: str
    api_version: str
    fields: FieldSet
    subresource: str = ""
    time: str | None = None
    # The fieldsV1 this entry was decoded from, when it is already in our canonical spelling:
    # encoded again as it is while ``fields`` is still the very set decoded from it.
    raw_fields: Any = field(default=None, repr=False, compare=False)
    decoded: FieldSet | None = field(default=None, repr=False, compare=False)

    @property
    def identity(self) -> tuple[str, str, str, str]:
        version = "" if self.operation == APPLY else self.api_version
        return (self.manager, self.operation, self.subresource, version)

    def identifier(self) -> str:
        """Upstream's manager identifier (BuildManagerIdentifier): the entry without its time
        and fields (and without the apiVersion of an Apply), as Go's encoding/json writes it;
        conflict messages list managers sorted by it."""
        parts = [("manager", self.manager), ("operation", self.operation)]
        if self.operation != APPLY:
            parts.append(("apiVersion", self.api_version))
        parts.append(("subresource", self.subresource))
        return "{" + ",".join(f'"{k}":{_go_json_string(v)}' for k, v in parts if v != "") + "}"

    def describe(self) -> str:
        """As upstream's printManager: ``"kubectl" with subresource "status" using v1``."""
        text = _go_quote(self.manager)
        if self.subresource:
            text += f" with subresource {_go_quote(self.subresource)}"
        if self.operation == UPDATE:
            text += f" using {self.api_version}"
        return text

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
        }
        if self.time is not None:
            out["time"] = self.time
        out["fieldsType"] = "FieldsV1"
        unchanged = self.raw_fields is not None and self.fields is self.decoded
        out["fieldsV1"] = self.raw_fields if unchanged else self.fields.to_fields()
        if self.subresource:
            out["subresource"] = self.subresource
        return out


_GO_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    '"': '\\"',
    "\\": "\\\\",
}


def _go_quote(text: str) -> str:
    """Go's ``%q`` (strconv.Quote), as upstream's printManager quotes a manager."""
    out: list[str] = []
    for ch in text:
        code = ord(ch)
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


def _go_json_string(text: str) -> str:
    """A JSON string as Go's encoding/json writes it (``<``, ``>``, ``&``, U+2028 and U+2029
    escaped)."""
    encoded = json.dumps(text, ensure_ascii=False)
    for ch in "<>&\u2028\u2029":
        encoded = encoded.replace(ch, f"\\u{ord(ch):04x}")
    return encoded


@dataclass
class Conflict:
    entry: Entry
    path: tuple[str, ...]


class ApplyConflict(Exception):
    """An apply would change fields other managers own; upstream's 409 wording."""

    def __init__(self, conflicts: list[Conflict]) -> None:
        self.conflicts = conflicts
        super().__init__(self.message)

    @property
    def message(self) -> str:
        if len(self.conflicts) == 1:
            only = self.conflicts[0]
            return (
                f"Apply failed with 1 conflict: conflict with {only.entry.describe()}: "
                f"{path_string(only.path)}"
            )
        # Grouped by manager, the managers sorted by their identifiers (as upstream), each
        # manager's paths in the order found.
        lines: list[str] = []
        by_manager: dict[str, tuple[Entry, list[str]]] = {}
        for conflict in self.conflicts:
            key = conflict.entry.identifier()
            by_manager.setdefault(key, (conflict.entry, []))[1].append(path_string(conflict.path))
        for key in sorted(by_manager):
            entry, paths = by_manager[key]
            lines.append(f"conflicts with {entry.describe()}:")
            lines.extend(f"- {p}" for p in paths)
        return f"Apply failed with {len(self.conflicts)} conflicts: " + "\n".join(lines)

    def causes(self) -> list[dict[str, str]]:
        return [
            {
                "reason": "FieldManagerConflict",
                "message": f"conflict with {c.entry.describe()}",
                "field": path_string(c.path),
            }
            for c in self.conflicts
        ]


@dataclass
class ManagedFields:
    """The decoded managedFields of one object."""

    entries: dict[tuple[str, str, str, str], Entry] = field(default_factory=dict)

    @classmethod
    def decode(cls, encoded: Any) -> ManagedFields:
        """From ``metadata.managedFields`` (None or missing: no entries)."""
        out = cls()
        if encoded is None:
            return out
        if not isinstance(encoded, list):
            raise ManagedFieldsError("managedFields must be a list")
        for index, raw in enumerate(encoded):
            if not isinstance(raw, dict):
                raise ManagedFieldsError(f"managed fields entry {index} must be an object")
            operation = raw.get("operation")
            if operation not in (APPLY, UPDATE):
                raise ManagedFieldsError("operation must be `Apply` or `Update`")
            if not raw.get("apiVersion"):
                raise ManagedFieldsError("apiVersion must not be empty")
            fields_type = raw.get("fieldsType", "")
            if fields_type == "":
                raise ManagedFieldsError(f"missing fieldsType in managed fields entry {index}")
            if fields_type != "FieldsV1":
                raise ManagedFieldsError(
                    f'invalid fieldsType "{fields_type}" in managed fields entry {index}'
                )
            try:
                fields, canonical = _decode_fields(raw.get("fieldsV1"))
            except FieldsV1Error as err:
                raise ManagedFieldsError(f"error decoding set: {err}") from None
            entry = Entry(
                manager=str(raw.get("manager", "")),
                operation=operation,
                api_version=str(raw["apiVersion"]),
                fields=fields,
                subresource=str(raw.get("subresource", "")),
                time=_rfc3339(raw.get("time")),
                raw_fields=raw.get("fieldsV1") if canonical else None,
                decoded=fields,
            )
            out.entries[entry.identity] = entry
        return out

    def encode(self) -> list[dict[str, Any]] | None:
        """The wire list, sorted as upstream; None when nobody owns anything."""
        entries = [e for e in self.entries.values() if not e.fields.empty()]
        if not entries:
            return None
        entries.sort(
            key=lambda e: (e.operation, e.time or "", e.manager, e.api_version, e.subresource)
        )
        return [e.to_json() for e in entries]

    def owned(self) -> FieldSet:
        union = FieldSet()
        for entry in self.entries.values():
            union = union.union(entry.fields)
        return union

    def _drop_empty(self) -> None:
        for identity in [i for i, e in self.entries.items() if e.fields.empty()]:
            del self.entries[identity]

    # -- operations -------------------------------------------------------------------------
    def update(
        self,
        old: Any,
        new: Any,
        node: TypeNode,
        *,
        manager: str,
        api_version: str,
        subresource: str,
        now: str,
        ignored: FieldSet,
    ) -> None:
        """Record an Update from ``old`` (MISSING on create) to ``new``."""
        diff = compare(old, new, node).without(ignored)
        changed = diff.changed().difference(STRIPPED)
        me = Entry(manager, UPDATE, api_version, FieldSet(), subresource)
        for identity, entry in self.entries.items():
            if identity != me.identity:
                entry.fields = entry.fields.difference(changed).difference(diff.removed)
        mine = self.entries.get(me.identity)
        if mine is not None:
            mine.fields = mine.fields.difference(diff.removed)
        if not changed.empty():
            if mine is None:
                mine = self.entries[me.identity] = me
            mine.fields = mine.fields.union(changed)
            mine.time = now
        self._drop_empty()

    def apply(
        self,
        live: Any,
        config: dict[str, Any],
        node: TypeNode,
        *,
        manager: str,
        api_version: str,
        subresource: str,
        now: str,
        force: bool,
        ignored: FieldSet,
    ) -> Any:
        """Merge ``config`` into ``live`` (MISSING on create); the new object, or raises
        `ApplyConflict` (and leaves the entries as they were). Fields of the configuration in
        ``ignored`` are neither applied nor owned (status on the main resource, say)."""
        saved = {identity: replace(entry) for identity, entry in self.entries.items()}
        if live is not MISSING and not self.entries:
            # As upstream, the fields of an object nobody manages yet belong to a stand-in
            # Update manager (with the apply's version and subresource).
            self.update(
                MISSING,
                live,
                node,
                manager=BEFORE_FIRST_APPLY,
                api_version=api_version,
                subresource=subresource,
                now=now,
                ignored=ignored,
            )
        me = Entry(manager, APPLY, api_version, FieldSet(), subresource)
        last = self.entries.get(me.identity)
        merged = merge(live, config, node)
        me.fields = field_set(config, node).recursive_difference(ignored).difference(STRIPPED)
        me.time = last.time if last is not None else None
        self.entries[me.identity] = me
        if last is not None and not last.fields.empty():
            owned = self.owned()
            others = FieldSet()
            for identity, entry in self.entries.items():
                if identity != me.identity:
                    others = others.union(entry.fields)
            merged = remove_unowned(merged, node, last.fields.difference(owned), owned, others)
        diff = compare(live, merged, node).without(ignored)
        # An applied null removes the value (see `merge`); upstream sees that as a change of the
        # field (to null), which conflicts with the field's other owners.
        changed = diff.changed().union(diff.removed.intersection(me.fields))
        conflicts: list[Conflict] = []
        for identity, entry in self.entries.items():
            if identity == me.identity:
                continue
            taken = entry.fields.intersection(changed)
            conflicts.extend(Conflict(entry, path) for path in taken.paths())
        if conflicts and not force:
            self.entries = saved
            raise ApplyConflict(conflicts)
        for identity, entry in self.entries.items():
            if identity != me.identity:
                entry.fields = entry.fields.difference(changed).difference(diff.removed)
        # As upstream, the applier's time moves only when the object changes.
        if live is MISSING or not json_equal(merged, live):
            me.time = now
        self._drop_empty()
        return merged
