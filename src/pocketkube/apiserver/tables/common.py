"""What every printer shares: columns, time formatting as upstream's ``duration.HumanDuration``
and ``translateTimestampSince``, small cell formatters, and the assembly of the Table itself
(metadata, rows, and the per-row object chosen by ``includeObject``).

The apiserver always prints the wide form (upstream's TableConvertor passes ``Wide: true``):
every cell is sent and kubectl hides the columns whose priority is above 0 unless ``-o wide``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from pocketkube.api.labels import SelectorError, selector_from_label_selector
from pocketkube.apiserver.tables.descriptions import DESCRIPTIONS

Obj = Mapping[str, Any]
Cells = list[Any]

INCLUDE_OBJECT_VALUES = ("None", "Metadata", "Object")


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str
    description: str
    priority: int = 0
    format: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        }


@dataclass(frozen=True, slots=True)
class Printer:
    """A kind's column set and the function that turns one object into its cells; ``conditions``
    gives the row's conditions (only pods have any: Completed for Succeeded/Failed)."""

    columns: tuple[Column, ...]
    cells: Callable[[Obj, datetime], Cells]
    conditions: Callable[[Obj], list[dict[str, str]]] | None = None
    # ``cells`` in two steps, for printers whose work is worth keeping: ``fixed`` computes what
    # the object's version fixes (kept with the row, see build_table), ``finish`` the cells from
    # it at a given time (AGE and the like).
    fixed: Callable[[Obj], Any] | None = None
    finish: Callable[[Any, Obj, datetime], Cells] | None = None


def doc(key: str) -> str:
    return DESCRIPTIONS[key]


NAME = Column("Name", "string", doc("ObjectMeta.name"), format="name")
AGE = Column("Age", "string", doc("ObjectMeta.creationTimestamp"))
CONTAINERS = Column("Containers", "string", "Names of each container in the template.", 1)
IMAGES = Column("Images", "string", "Images referenced by each container in the template.", 1)


# -- time -----------------------------------------------------------------------------------------
_NS_PER_SECOND = 1_000_000_000
_NS_PER_MINUTE = 60 * _NS_PER_SECOND
_NS_PER_HOUR = 60 * _NS_PER_MINUTE


def human_duration(d: timedelta) -> str:
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration: ~2-3 significant figures."""
    ns = (d // timedelta(microseconds=1)) * 1000
    seconds = math.trunc(ns / _NS_PER_SECOND)
    # upstream tolerates up to 2s (excluded) of clock skew as "now"
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 60 * 2:
        return f"{seconds}s"
    minutes = ns // _NS_PER_MINUTE
    if minutes < 10:
        s = (ns // _NS_PER_SECOND) % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = ns // _NS_PER_HOUR
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


def parse_time(value: Any) -> datetime | None:
    """A metav1.Time / MicroTime in RFC 3339; None when missing or unparsable (a zero time)."""
    if not isinstance(value, str) or not value:
        return None
    return _parse_time(value)


@functools.lru_cache(maxsize=4096)  # a list's timestamps repeat: objects come in bursts
def _parse_time(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def since(value: Any, now: datetime) -> str:
    """translateTimestampSince: "<unknown>" for a missing timestamp."""
    if not isinstance(value, str) or not value:
        return "<unknown>"
    return _since(value, now)


@functools.lru_cache(maxsize=1024)  # one ``now`` per Table, and its rows share timestamps
def _since(value: str, now: datetime) -> str:
    when = _parse_time(value)
    if when is None:
        return "<unknown>"
    return human_duration(now - when)


def rfc3339(value: Any) -> str:
    """A timestamp as Go's ``Time.UTC().Format(time.RFC3339)``; the zero time when missing."""
    when = parse_time(value)
    if when is None:
        return "0001-01-01T00:00:00Z"
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- field access and formatting ------------------------------------------------------------------
def get(obj: Any, *path: str | int) -> Any:
    """obj[path...] or None; tolerant of missing and null fields at every step."""
    for step in path:
        if type(obj) is dict:  # the common case, without the ABC check (JSON keys are str)
            obj = obj.get(step)
        elif isinstance(step, int):
            if not isinstance(obj, list) or not -len(obj) <= step < len(obj):
                return None
            obj = obj[step]
        elif isinstance(obj, Mapping):
            obj = obj.get(step)
        else:
            return None
    return obj


def as_int(value: Any, default: int = 0) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    return default


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_map(value: Any) -> Mapping[str, Any]:
    return value if type(value) is dict or isinstance(value, Mapping) else {}


def name_of(obj: Obj) -> str:
    return str(get(obj, "metadata", "name") or "")


def age_of(obj: Obj, now: datetime) -> str:
    return since(get(obj, "metadata", "creationTimestamp"), now)


def format_labels(labels: Any) -> str:
    """labels.FormatLabels: sorted k=v pairs, "<none>" when empty."""
    pairs = as_map(labels)
    if not pairs:
        return "<none>"
    return ",".join(f"{k}={pairs[k]}" for k in sorted(pairs))


def selector_string(selector: Any, *, empty: str) -> str:
    """A metav1.LabelSelector as its selector string, ``empty`` for one that says nothing and
    "<invalid>" for one that cannot be converted."""
    try:
        text = str(
            selector_from_label_selector(selector if isinstance(selector, Mapping) else None)
        )
    except SelectorError:
        return "<invalid>"
    return text or empty


def format_label_selector(selector: Any) -> str:
    """metav1.FormatLabelSelector ("<error>" for an invalid selector, "<none>" for an empty one)."""
    text = selector_string(selector, empty="<none>")
    return "<error>" if text == "<invalid>" else text


def container_cells(containers: Any) -> tuple[str, str]:
    """layoutContainerCells: the names and the images, each comma-joined."""
    items = [as_map(c) for c in as_list(containers)]
    names = ",".join(str(c.get("name", "")) for c in items)
    images = ",".join(str(c.get("image", "")) for c in items)
    return names, images


def bool_ptr(value: Any) -> str:
    """printBoolPtr: "True"/"False", "<unset>" for nil."""
    if value is None:
        return "<unset>"
    return "True" if value else "False"


def list_with_more(items: list[str], count: int, limit: int = 3) -> str:
    """listWithMoreString: the first ``limit`` items and "+ N more...", "<unset>" when empty."""
    text = ",".join(items[:limit])
    if count > limit:
        return f"{text} + {count - limit} more..."
    return text or "<unset>"


# -- the Table ------------------------------------------------------------------------------------
def partial_object_metadata(obj: Obj) -> dict[str, Any]:
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": dict(as_map(obj.get("metadata"))),
    }


def encoded_partial_object_metadata(obj: Obj) -> orjson.Fragment:
    """:func:`partial_object_metadata` as JSON already encoded (orjson splices it in)."""
    return orjson.Fragment(orjson.dumps(partial_object_metadata(obj)))


# What a row keeps of an object, by (printer, uid, resourceVersion), which fix the object's
# content: [the printer's ``fixed`` facts, the row's conditions, the encoded PartialObjectMetadata
# (most of a Table's bytes, managedFields included)]. Filled as requests need each, bounded,
# oldest out. Only the time-relative cells are computed again on the next `kubectl get`.
CACHED_ROWS = 16_384
_rows: dict[tuple[str, str, str], list[Any]] = {}


def _row_facts(
    key: tuple[str, Any, Any] | None,
    obj: Obj,
    fixed: Callable[[Obj], Any] | None,
    conditions: Callable[[Obj], list[dict[str, str]]] | None,
) -> list[Any]:
    facts = [fixed(obj) if fixed else None, (conditions(obj) or None) if conditions else None, None]
    if key is not None and isinstance(key[1], str) and key[1] and isinstance(key[2], str):
        if len(_rows) >= CACHED_ROWS:
            del _rows[next(iter(_rows))]
        _rows[key] = facts
    return facts


def table_metadata(list_meta: Mapping[str, Any]) -> dict[str, Any]:
    """The Table's ListMeta: resourceVersion, continue and remainingItemCount, each omitted
    when empty, as Go's ``omitempty`` does."""
    meta: dict[str, Any] = {}
    for key in ("resourceVersion", "continue"):
        if list_meta.get(key):
            meta[key] = list_meta[key]
    if list_meta.get("remainingItemCount") is not None:
        meta["remainingItemCount"] = list_meta["remainingItemCount"]
    return meta


def check_include_object(include_object: str) -> None:
    if include_object not in INCLUDE_OBJECT_VALUES:
        raise ValueError(
            f'includeObject: Unsupported value: "{include_object}": supported values: '
            + ", ".join(f'"{v}"' for v in INCLUDE_OBJECT_VALUES)
        )


def build_table(
    columns: Iterable[Column],
    objects: Iterable[Obj],
    cells: Callable[[Obj], Cells],
    *,
    list_meta: Mapping[str, Any],
    include_object: str,
    conditions: Callable[[Obj], list[dict[str, str]]] | None = None,
    fixed: Callable[[Obj], Any] | None = None,
    finish: Callable[[Any, Obj], Cells] | None = None,
    printer: str = "",
) -> dict[str, Any]:
    """The Table of ``objects``: each row's ``cells`` (or, with ``fixed`` and ``finish``, the
    kept ``fixed`` facts finished), its ``conditions`` and the object ``include_object`` asks
    for. ``printer`` names the printer in the row cache's keys."""
    check_include_object(include_object)
    rows: list[dict[str, Any]] = []
    append = rows.append  # one row per object: this loop is a 10,000-pod `kubectl get`'s cost
    metadata = include_object == "Metadata"
    whole = include_object == "Object"
    kept = _rows
    for obj in objects:
        meta = obj.get("metadata")
        key = (
            (printer, meta.get("uid"), meta.get("resourceVersion")) if type(meta) is dict else None
        )
        facts = kept.get(key) if key is not None else None  # type: ignore[arg-type]
        if facts is None:
            facts = _row_facts(key, obj, fixed, conditions)
        row: dict[str, Any] = {"cells": cells(obj) if finish is None else finish(facts[0], obj)}
        if facts[1]:
            row["conditions"] = facts[1]
        if metadata:
            fragment = facts[2]
            if fragment is None:
                fragment = facts[2] = encoded_partial_object_metadata(obj)
            row["object"] = fragment
        elif whole:
            row["object"] = obj
        append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": table_metadata(list_meta),
        "columnDefinitions": [c.as_dict() for c in columns],
        "rows": rows,
    }
