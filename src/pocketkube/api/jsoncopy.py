"""Deep copies of JSON-shaped values (decoded objects, patches)."""

from __future__ import annotations

import copy
from typing import Any, TypeVar

import orjson

T = TypeVar("T")


def json_copy(value: T) -> T:
    """A deep copy of a JSON-shaped value: an orjson round trip is ~10x cheaper than deepcopy,
    which remains for anything JSON cannot carry (so the caller's errors stay the same)."""
    try:
        copied: Any = orjson.loads(orjson.dumps(value))
    except (TypeError, orjson.JSONEncodeError):
        return copy.deepcopy(value)
    return copied  # type: ignore[no-any-return]
