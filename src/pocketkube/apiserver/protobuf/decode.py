"""From a ``k8s\\x00`` + ``runtime.Unknown`` body to the object's JSON form.

Decoding follows the message tables of :mod:`schema`; records for field numbers a table does not
list are skipped, as any protobuf reader must. A handful of apimachinery messages have a JSON form
of their own (timestamps, durations, int-or-string, quantities, raw JSON) and are converted here.
"""

from __future__ import annotations

import base64
import struct
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from pocketkube.apiserver.protobuf import wire
from pocketkube.apiserver.protobuf.schema import KINDS, MESSAGES, SCALARS, Field

MAGIC = b"k8s\x00"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_DEPTH = 100


class MalformedProtobuf(wire.WireError):
    """The body is not a valid protobuf encoding of the object (a 400)."""


class UnsupportedProtobufKind(Exception):
    """A well-formed envelope around a kind we have no tables for (a 415)."""


def decode_kubernetes_protobuf(
    raw: bytes, *, expected: tuple[str, str] | None = None
) -> dict[str, Any]:
    """The JSON object of a Kubernetes protobuf body.

    ``expected`` (apiVersion, kind) stands in when the envelope's typeMeta is empty.
    """
    if not raw.startswith(MAGIC):
        raise MalformedProtobuf("the body does not start with the Kubernetes protobuf prefix")
    try:
        type_meta, body, encoding = _envelope(raw[len(MAGIC) :])
        api_version = type_meta.get("apiVersion") or (expected[0] if expected else "")
        kind = type_meta.get("kind") or (expected[1] if expected else "")
        if encoding:
            raise UnsupportedProtobufKind(f"unsupported content encoding {encoding!r}")
        table = KINDS.get((api_version, kind))
        if table is None:
            raise UnsupportedProtobufKind(f"no protobuf decoding for {api_version}, Kind={kind}")
        obj = _decode(body, MESSAGES[table], depth=0)
    except wire.WireError as err:
        raise MalformedProtobuf(f"error decoding protobuf body: {err}") from None
    return {"apiVersion": api_version, "kind": kind, **obj}


_TYPE_META = {1: Field("apiVersion", "string"), 2: Field("kind", "string")}


def _envelope(data: bytes) -> tuple[dict[str, Any], bytes, str]:
    """runtime.Unknown: typeMeta (1), raw (2), contentEncoding (3), contentType (4)."""
    type_meta: dict[str, Any] = {}
    body = b""
    encoding = ""
    for number, wire_type, value in wire.iter_fields(data):
        if number == 1:
            type_meta = _decode(_bytes(_ENVELOPE_FIELD, wire_type, value), _TYPE_META, depth=0)
        elif number == 2:
            body = _bytes(_ENVELOPE_FIELD, wire_type, value)
        elif number == 3:
            encoding = _string(_bytes(_ENVELOPE_FIELD, wire_type, value))
    return type_meta, body, encoding


_ENVELOPE_FIELD = Field("Unknown", "Unknown")


def _table(kind: str) -> dict[int, Field]:
    return MESSAGES[kind]


def _decode(buf: bytes, table: dict[int, Field], *, depth: int) -> dict[str, Any]:
    if depth > _MAX_DEPTH:
        raise wire.WireError("message nested too deeply")
    out: dict[str, Any] = {}
    for number, wire_type, value in wire.iter_fields(buf):
        field = table.get(number)
        if field is None:
            continue
        if field.is_map:
            key, item = _map_entry(field, wire_type, value, depth)
            out.setdefault(field.json_name, {})[key] = item
        elif field.repeated:
            out.setdefault(field.json_name, []).extend(_items(field, wire_type, value, depth))
        elif field.inline:
            out.update(
                _decode(_bytes(field, wire_type, value), _table(field.kind), depth=depth + 1)
            )
        else:
            converted = _value(field, wire_type, value, depth)
            if converted is None or (not field.keep_zero and _is_zero(field, converted)):
                out.pop(field.json_name, None)
            elif isinstance(converted, dict) and isinstance(out.get(field.json_name), dict):
                out[field.json_name].update(converted)  # a repeated message field merges
            else:
                out[field.json_name] = converted
    return out


def _is_zero(field: Field, value: Any) -> bool:
    if field.kind in SCALARS or field.kind == "IntOrString":
        return value in ("", 0, False)
    return False


def _items(field: Field, wire_type: int, value: wire.FieldValue, depth: int) -> list[Any]:
    if field.kind in ("int", "bool") and wire_type == wire.LENGTH_DELIMITED:
        assert isinstance(value, bytes)
        return [_scalar(field.kind, int_value) for int_value in wire.iter_packed_varints(value)]
    return [_value(field, wire_type, value, depth)]


def _map_entry(field: Field, wire_type: int, value: wire.FieldValue, depth: int) -> tuple[str, Any]:
    key: str = ""
    item: Any = None
    value_field = Field("value", field.kind)
    for number, entry_type, entry_value in wire.iter_fields(_bytes(field, wire_type, value)):
        if number == 1:
            key = _string(_bytes(field, entry_type, entry_value))
        elif number == 2:
            item = _value(value_field, entry_type, entry_value, depth)
    if item is None:
        item = _zero(field.kind)
    return key, item


def _zero(kind: str) -> Any:
    return {"string": "", "bytes": "", "int": 0, "bool": False, "float": 0.0}.get(kind, {})


def _value(field: Field, wire_type: int, value: wire.FieldValue, depth: int) -> Any:
    kind = field.kind
    if kind in ("int", "bool"):
        if wire_type != wire.VARINT:
            raise wire.WireError(f"{field.json_name}: expected a varint")
        assert isinstance(value, int)
        return _scalar(kind, value)
    if kind == "float":
        if wire_type == wire.FIXED64:
            assert isinstance(value, int)
            return struct.unpack("<d", value.to_bytes(8, "little"))[0]
        raise wire.WireError(f"{field.json_name}: expected a 64-bit value")
    data = _bytes(field, wire_type, value)
    if kind == "string":
        return _string(data)
    if kind == "bytes":
        return base64.b64encode(data).decode("ascii")
    special = _SPECIALS.get(kind)
    if special is not None:
        return special(data)
    return _decode(data, _table(kind), depth=depth + 1)


def _scalar(kind: str, value: int) -> int | bool:
    return bool(value) if kind == "bool" else wire.to_signed64(value)


def _bytes(field: Field, wire_type: int, value: wire.FieldValue) -> bytes:
    if wire_type != wire.LENGTH_DELIMITED or not isinstance(value, bytes):
        raise wire.WireError(f"{field.json_name or field.kind}: expected length-delimited data")
    return value


def _string(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise wire.WireError(f"invalid UTF-8 in a string field: {err}") from None


def _ints(data: bytes) -> dict[int, int]:
    """The varint fields of a small message of numbers, last value winning."""
    return {
        number: wire.to_signed64(value)
        for number, wire_type, value in wire.iter_fields(data)
        if wire_type == wire.VARINT and isinstance(value, int)
    }


def _timestamp(data: bytes, *, micro: bool) -> str | None:
    if not data:
        return None  # Go writes a zero time as an empty message; its JSON is null
    fields = _ints(data)
    try:
        moment = _EPOCH + timedelta(seconds=fields.get(1, 0), microseconds=fields.get(2, 0) // 1000)
    except OverflowError:
        raise wire.WireError("timestamp out of range") from None
    if micro:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _time(data: bytes) -> str | None:
    return _timestamp(data, micro=False)


def _micro_time(data: bytes) -> str | None:
    return _timestamp(data, micro=True)


def _duration(data: bytes) -> str:
    return go_duration(_ints(data).get(1, 0))


def go_duration(nanos: int) -> str:
    """Go's ``time.Duration.String``: ``1h2m3.5s``, ``1.5ms``, ``0s``."""
    if nanos == 0:
        return "0s"
    sign = "-" if nanos < 0 else ""
    nanos = abs(nanos)
    if nanos < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if nanos >= size:
                return sign + _decimal(nanos, size) + unit
    hours, rest = divmod(nanos, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = _decimal(rest, 1_000_000_000) + "s"
    if hours or minutes:
        text = f"{minutes}m" + text
    if hours:
        text = f"{hours}h" + text
    return sign + text


def _decimal(value: int, unit: int) -> str:
    whole, fraction = divmod(value, unit)
    if not fraction:
        return str(whole)
    digits = str(fraction).rjust(len(str(unit)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"


def _int_or_string(data: bytes) -> int | str:
    is_string = False
    int_value = 0
    str_value = ""
    for number, wire_type, value in wire.iter_fields(data):
        if number == 1 and isinstance(value, int):
            is_string = value == 1
        elif number == 2 and isinstance(value, int):
            int_value = wire.to_signed64(value)
        elif number == 3 and wire_type == wire.LENGTH_DELIMITED and isinstance(value, bytes):
            str_value = _string(value)
    return str_value if is_string else int_value


def _quantity(data: bytes) -> str:
    text = ""
    for number, wire_type, value in wire.iter_fields(data):
        if number == 1 and wire_type == wire.LENGTH_DELIMITED and isinstance(value, bytes):
            text = _string(value)
    return text


def _raw_json(data: bytes) -> Any:
    raw = b""
    for number, wire_type, value in wire.iter_fields(data):
        if number == 1 and wire_type == wire.LENGTH_DELIMITED and isinstance(value, bytes):
            raw = value
    if not raw:
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise wire.WireError(f"embedded JSON is invalid: {err}") from None


_SPECIALS = {
    "Time": _time,
    "MicroTime": _micro_time,
    "Duration": _duration,
    "IntOrString": _int_or_string,
    "Quantity": _quantity,
    "FieldsV1": _raw_json,
    "RawExtension": _raw_json,
}
