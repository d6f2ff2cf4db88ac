"""The protobuf wire format, read generically: a message is a run of (field number, wire type,
value) records, and nothing in the bytes says what a field means — the schema tables do that.

Only what Kubernetes' proto2 messages use is read: varints, 64- and 32-bit fixed values and
length-delimited bytes. Groups (wire types 3 and 4) are long deprecated and refused. Every
truncation or impossible record raises :class:`WireError`, so a hostile body cannot make us loop
or read past its end.
"""

from __future__ import annotations

from collections.abc import Iterator

VARINT = 0
FIXED64 = 1
LENGTH_DELIMITED = 2
FIXED32 = 5

_MAX_VARINT_BYTES = 10
_MAX_FIELD_NUMBER = (1 << 29) - 1

FieldValue = int | bytes


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


def read_varint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    """The unsigned varint at ``pos`` and the position after it."""
    result = 0
    for shift in range(0, 7 * _MAX_VARINT_BYTES, 7):
        if pos >= len(buf):
            raise WireError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result & 0xFFFF_FFFF_FFFF_FFFF, pos
    raise WireError("varint longer than 10 bytes")


def to_signed64(value: int) -> int:
    """int32/int64 values travel as two's complement in 64 bits (negatives take 10 bytes)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def iter_fields(buf: bytes | memoryview) -> Iterator[tuple[int, int, FieldValue]]:
    """Each record of ``buf`` as (field number, wire type, int or bytes)."""
    view = memoryview(buf)
    pos = 0
    end = len(view)
    while pos < end:
        key, pos = read_varint(view, pos)
        number, wire_type = key >> 3, key & 0x7
        if number == 0 or number > _MAX_FIELD_NUMBER:
            raise WireError(f"invalid field number {number}")
        value: FieldValue
        if wire_type == VARINT:
            value, pos = read_varint(view, pos)
        elif wire_type == FIXED64:
            value, pos = _fixed(view, pos, 8)
        elif wire_type == FIXED32:
            value, pos = _fixed(view, pos, 4)
        elif wire_type == LENGTH_DELIMITED:
            length, pos = read_varint(view, pos)
            if length > end - pos:
                raise WireError(f"field {number}: length {length} runs past the end of the data")
            value = bytes(view[pos : pos + length])
            pos += length
        else:
            raise WireError(f"field {number}: unsupported wire type {wire_type}")
        yield number, wire_type, value


def iter_packed_varints(data: bytes) -> Iterator[int]:
    """The values of a packed repeated varint field."""
    pos = 0
    while pos < len(data):
        value, pos = read_varint(data, pos)
        yield value


def _fixed(view: memoryview, pos: int, size: int) -> tuple[int, int]:
    if size > len(view) - pos:
        raise WireError(f"truncated {size * 8}-bit value")
    return int.from_bytes(view[pos : pos + size], "little"), pos + size
