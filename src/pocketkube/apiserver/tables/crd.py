"""Tables for custom resources, as apiextensions-apiserver's tableconvertor builds them from a
CRD version's ``additionalPrinterColumns``: Name first, then one column per printer column,
each cell the first JSONPath result converted to the column's type. A version without printer
columns gets the single default column Age (a date, rendered as an age like every date cell).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pocketkube.apiserver.tables import jsonpath
from pocketkube.apiserver.tables.common import (
    NAME,
    Column,
    Obj,
    build_table,
    doc,
    get,
    human_duration,
    name_of,
)

DEFAULT_COLUMNS: tuple[Mapping[str, Any], ...] = (
    {
        "name": "Age",
        "type": "date",
        "description": doc("ObjectMeta.creationTimestamp"),
        "jsonPath": ".metadata.creationTimestamp",
    },
)


def _columns(printer_columns: Sequence[Mapping[str, Any]]) -> list[Column]:
    columns = [NAME]
    for col in printer_columns or DEFAULT_COLUMNS:
        path = str(col.get("jsonPath", ""))
        description = col.get("description") or (
            f"Custom resource definition column (in JSONPath format): {path}"
        )
        columns.append(
            Column(
                name=str(col.get("name", "")),
                type=str(col.get("type", "")),
                description=str(description),
                priority=int(col.get("priority") or 0),
                format=str(col.get("format") or ""),
            )
        )
    return columns


def crd_column_definitions(printer_columns: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [c.as_dict() for c in _columns(printer_columns)]


def go_float(value: float) -> str:
    """A float64 as Go's ``fmt.Sprint`` prints it (shortest digits, %e from exponent 6 on)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1, value) < 0 else "0"
    sign, digit_tuple, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple))
    point = len(digits) + exponent  # digits before the decimal point
    exp = point - 1
    minus = "-" if sign else ""
    if exp < -4 or exp >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{minus}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return f"{minus}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{minus}{digits}{'0' * (point - len(digits))}"
    return f"{minus}{digits[:point]}.{digits[point:]}"


def _text(value: Any) -> str:
    """How client-go's JSONPath prints one result: JSON for maps and lists, else fmt.Sprint."""
    if isinstance(value, Mapping | list):
        return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_float(value)
    return str(value)


def _date_cell(value: str, now: datetime) -> str:
    if value in ("", "null"):
        return "<unknown>"
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return "<invalid>"
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return human_duration(now - when)


def cell_for_json_value(column_type: str, value: Any, now: datetime) -> Any:
    """cellForJSONValue: a value of the wrong JSON type for its column gives an empty cell."""
    if value is None or (isinstance(value, bool) and column_type in ("integer", "number")):
        return None
    if column_type == "integer" and isinstance(value, int | float):
        return int(value)
    if column_type == "number" and isinstance(value, int | float):
        return float(value)
    if column_type == "boolean" and isinstance(value, bool):
        return value
    if column_type == "string" and isinstance(value, str):
        return value
    if column_type == "date" and isinstance(value, str):
        return _date_cell(value, now)
    return None


def crd_cells(
    obj: Obj, columns: Sequence[tuple[Column, list[jsonpath.Step]]], now: datetime
) -> list[Any]:
    cells: list[Any] = [name_of(obj)]
    for column, steps in columns:
        results = jsonpath.evaluate(steps, obj)
        if not results or results[0] is None:
            cells.append(None)
        elif column.type == "string":
            cells.append(_text(results[0]))
        else:
            cells.append(cell_for_json_value(column.type, results[0], now))
    return cells


def crd_table(
    objects: Iterable[Obj],
    additional_printer_columns: Sequence[Mapping[str, Any]],
    *,
    list_meta: Mapping[str, Any],
    include_object: str = "Metadata",
    now: datetime | None = None,
) -> dict[str, Any]:
    """The Table for custom resources of a CRD version with these additionalPrinterColumns.
    Raises JSONPathError for a column whose path cannot be parsed."""
    at = now or datetime.now(UTC)
    columns = _columns(additional_printer_columns)
    specs = additional_printer_columns or DEFAULT_COLUMNS
    paths = [jsonpath.parse(str(get(col, "jsonPath") or "")) for col in specs]
    with_paths = list(zip(columns[1:], paths, strict=True))
    return build_table(
        columns,
        objects,
        lambda obj: crd_cells(obj, with_paths, at),
        list_meta=list_meta,
        include_object=include_object,
    )
