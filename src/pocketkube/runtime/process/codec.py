"""CRI messages to JSON and back, for the runtime's state files.

The process runtime keeps each sandbox's and container's CRI configuration on disk, so that a
runtime started after a crash knows everything the first one was told. The CRI messages are
frozen dataclasses of a few shapes (scalars, enums, tuples, ``dict[str, str]``, optional nested
messages), so one generic converter driven by their type hints covers them all, and a field added
to ``cri.py`` later needs no change here. Unknown keys are ignored and missing ones take the
field's default, so state files written by another version still load.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")


def to_json(value: Any) -> Any:
    """A dataclass (or anything inside one) as plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    return value


def from_json(cls: type[T], data: Any) -> T:
    """The dataclass ``cls`` from what ``to_json`` made of one."""
    result: T = _decode(cls, data)
    return result


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _decode(tp: Any, data: Any) -> Any:
    if data is None:
        return None
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        return _decode(options[0], data)
    if origin is tuple:
        item = typing.get_args(tp)[0]
        return tuple(_decode(item, v) for v in data)
    if origin is list:
        item = typing.get_args(tp)[0]
        return [_decode(item, v) for v in data]
    if origin is dict:
        _, item = typing.get_args(tp)
        return {str(k): _decode(item, v) for k, v in data.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = _hints(tp)
        known = {f.name for f in dataclasses.fields(tp) if f.init}
        kwargs = {k: _decode(hints[k], v) for k, v in data.items() if k in known}
        return tp(**kwargs)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(data)
    return data
