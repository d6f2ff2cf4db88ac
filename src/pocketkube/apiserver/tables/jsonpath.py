"""The "simple JSONPath" of CRD additionalPrinterColumns, as client-go's jsonpath evaluates it
with missing keys allowed: ``.spec.replicas``, ``.spec.containers[0].image``,
``.metadata.labels['app.kubernetes.io/name']``, ``.items[*].name``, ``.items[1:3]``,
``..name`` and filters such as ``.status.conditions[?(@.type=="Ready")].status``.
A path that finds nothing yields no results rather than an error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Step = Callable[[Any], list[Any]]


class JSONPathError(ValueError):
    pass


def _field(name: str) -> Step:
    def step(value: Any) -> list[Any]:
        if name == "*":
            if isinstance(value, Mapping):
                return [value[k] for k in sorted(value)]
            return list(value) if isinstance(value, list) else []
        if isinstance(value, Mapping) and name in value:
            return [value[name]]
        return []

    return step


def _recursive(name: str) -> Step:
    def walk(value: Any, out: list[Any]) -> None:
        if isinstance(value, Mapping):
            if name in value:
                out.append(value[name])
            for key in sorted(value):
                walk(value[key], out)
        elif isinstance(value, list):
            for item in value:
                walk(item, out)

    def step(value: Any) -> list[Any]:
        out: list[Any] = []
        walk(value, out)
        return out

    return step


def _index(text: str) -> Step:
    if text == "*":
        return _field("*")
    if ":" in text:
        parts = [p.strip() for p in text.split(":")]
        start = int(parts[0]) if parts[0] else None
        stop = int(parts[1]) if len(parts) > 1 and parts[1] else None
        step_by = int(parts[2]) if len(parts) > 2 and parts[2] else None
        return lambda v: v[start:stop:step_by] if isinstance(v, list) else []
    position = int(text)

    def step(value: Any) -> list[Any]:
        if isinstance(value, list) and -len(value) <= position < len(value):
            return [value[position]]
        return []

    return step


_FILTER = re.compile(r"^@((?:\.[^\s=!<>]+)*)\s*(?:(==|!=|<=|>=|<|>)\s*(.+?))?\s*$")


def _literal(text: str) -> Any:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    try:
        return float(text)
    except ValueError as err:
        raise JSONPathError(f"unrecognized filter value {text!r}") from err


def _compare(left: Any, op: str, right: Any) -> bool:
    if op in ("==", "!="):
        if (
            isinstance(right, float)
            and isinstance(left, int | float)
            and not isinstance(left, bool)
        ):
            equal = float(left) == right
        else:
            equal = left == right
        return equal if op == "==" else not equal
    if isinstance(left, bool) or not isinstance(left, int | float) or not isinstance(right, float):
        return False
    return {"<": left < right, ">": left > right, "<=": left <= right, ">=": left >= right}[op]


def _filter(text: str) -> Step:
    match = _FILTER.match(text)
    if match is None:
        raise JSONPathError(f"unrecognized filter {text!r}")
    inner = parse(match.group(1)) if match.group(1) else []
    op, raw = match.group(2), match.group(3)
    right = _literal(raw) if op else None

    def keep(item: Any) -> bool:
        found = evaluate(inner, item)
        if not op:
            return bool(found)
        return bool(found) and _compare(found[0], op, right)

    def step(value: Any) -> list[Any]:
        items = value if isinstance(value, list) else []
        return [item for item in items if keep(item)]

    return step


def _bracket(text: str) -> Step:
    text = text.strip()
    if text.startswith("?(") and text.endswith(")"):
        return _filter(text[2:-1].strip())
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return _field(text[1:-1])
    try:
        return _index(text)
    except ValueError as err:
        raise JSONPathError(f"unrecognized array index {text!r}") from err


def _read_name(path: str, i: int) -> tuple[str, int]:
    name: list[str] = []
    while i < len(path) and path[i] not in ".[":
        if path[i] == "\\" and i + 1 < len(path):
            i += 1
        name.append(path[i])
        i += 1
    return "".join(name), i


def _closing_bracket(path: str, i: int) -> int:
    quote = ""
    for j in range(i, len(path)):
        ch = path[j]
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "]":
            return j
    raise JSONPathError(f"unterminated [ in {path!r}")


def parse(path: str) -> list[Step]:
    """Parse a JSONPath (with or without its ``{}``) into steps."""
    path = path.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1].strip()
    path = path.removeprefix("$")
    steps: list[Step] = []
    i = 0
    while i < len(path):
        if path.startswith("..", i):
            name, i = _read_name(path, i + 2)
            steps.append(_recursive(name))
        elif path[i] == ".":
            name, i = _read_name(path, i + 1)
            if name:
                steps.append(_field(name))
        elif path[i] == "[":
            end = _closing_bracket(path, i + 1)
            steps.append(_bracket(path[i + 1 : end]))
            i = end + 1
        else:
            raise JSONPathError(f"unrecognized character in {path!r} at {i}")
    return steps


def evaluate(steps: list[Step], data: Any) -> list[Any]:
    values = [data]
    for step in steps:
        values = [found for value in values for found in step(value)]
    return values
