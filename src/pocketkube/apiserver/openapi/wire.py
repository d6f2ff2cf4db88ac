"""The protobuf wire format, written: the counterpart of ``protobuf.wire``'s reader.

Just what the gnostic document needs: varints (unsigned; negative int64 values as ten-byte two's
complement, as Go writes them), keys, and length-delimited records. A message is the
concatenation of its records, so encoders return ``bytes`` and callers join them.
"""

from __future__ import annotations

from functools import cache

from pocketkube.apiserver.protobuf.wire import FIXED32, FIXED64, LENGTH_DELIMITED, VARINT

__all__ = [
    "FIXED32",
    "FIXED64",
    "LENGTH_DELIMITED",
    "VARINT",
    "encode_varint",
    "length_delimited",
    "tag",
]

_MASK64 = (1 << 64) - 1
_SMALL = [bytes([i]) for i in range(0x80)]


def encode_varint(value: int) -> bytes:
    """``value`` as a base-128 varint, seven bits a byte, least significant first."""
    value &= _MASK64
    if value < 0x80:
        return _SMALL[value]
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


@cache
def tag(number: int, wire_type: int) -> bytes:
    """The key that starts a record: field number and wire type."""
    return encode_varint(number << 3 | wire_type)


def length_delimited(number: int, payload: bytes) -> bytes:
    """A length-delimited record: a string, bytes, or an embedded message."""
    return tag(number, LENGTH_DELIMITED) + encode_varint(len(payload)) + payload
