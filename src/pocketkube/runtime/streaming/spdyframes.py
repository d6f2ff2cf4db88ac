"""SPDY/3.1 frames as upstream's clients (moby/spdystream) write them.

Wire facts (draft-mbelshe-httpbis-spdy-00, SPDY/3): an 8-byte header; a control frame has the top
bit set, the version (3) and a type; a data frame carries a 31-bit stream id. Both end with 8 bits
of flags and a 24-bit length. Header blocks are ``count, (len name, len value)*`` with 32-bit
lengths, lowercase names, several values joined by NUL, compressed with one zlib stream per
direction for the whole connection, seeded with SPDY/3's dictionary and sync-flushed per frame.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

VERSION = 3
SYN_STREAM = 1
SYN_REPLY = 2
RST_STREAM = 3
SETTINGS = 4
PING = 6
GOAWAY = 7
HEADERS = 8
WINDOW_UPDATE = 9

FLAG_FIN = 0x01
FLAG_UNIDIRECTIONAL = 0x02

RST_PROTOCOL_ERROR = 1
RST_INVALID_STREAM = 2
RST_REFUSED_STREAM = 3
RST_CANCEL = 5
RST_INTERNAL_ERROR = 6

MAX_DATA = (1 << 24) - 1

_WORD_TEXT = (
    "options head post put delete trace accept accept-charset accept-encoding accept-language "
    "accept-ranges age allow authorization cache-control connection content-base "
    "content-encoding content-language content-length content-location content-md5 "
    "content-range content-type date etag expect expires from host if-match if-modified-since "
    "if-none-match if-range if-unmodified-since last-modified location max-forwards pragma "
    "proxy-authenticate proxy-authorization range referer retry-after server te trailer "
    "transfer-encoding upgrade user-agent vary via warning www-authenticate method get status"
)
_WORDS = [
    *_WORD_TEXT.split(),
    *("200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin"),
]
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
    "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
    "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 "
    "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _WORDS) + _TAIL.encode()

Headers = dict[str, list[str]]


class ProtocolError(Exception):
    pass


@dataclass
class ControlFrame:
    type: int
    flags: int = 0
    stream_id: int = 0
    associated_id: int = 0
    headers: Headers = field(default_factory=dict)
    status: int = 0  # RST_STREAM, GOAWAY
    ping_id: int = 0
    delta: int = 0  # WINDOW_UPDATE


@dataclass
class DataFrame:
    stream_id: int
    data: bytes
    flags: int = 0


Frame = ControlFrame | DataFrame


def encode_header_block(headers: Headers) -> bytes:
    parts = [struct.pack(">I", len(headers))]
    for name, values in headers.items():
        raw_name = name.lower().encode()
        raw_value = "\x00".join(values).encode()
        parts += [struct.pack(">I", len(raw_name)), raw_name]
        parts += [struct.pack(">I", len(raw_value)), raw_value]
    return b"".join(parts)


def decode_header_block(block: bytes) -> Headers:
    try:
        (count,) = struct.unpack_from(">I", block, 0)
        pos = 4
        headers: Headers = {}
        for _ in range(count):
            (n,) = struct.unpack_from(">I", block, pos)
            name = block[pos + 4 : pos + 4 + n].decode()
            pos += 4 + n
            (n,) = struct.unpack_from(">I", block, pos)
            value = block[pos + 4 : pos + 4 + n].decode()
            pos += 4 + n
            headers.setdefault(name.lower(), []).extend(value.split("\x00"))
    except (struct.error, UnicodeDecodeError) as e:
        raise ProtocolError(f"bad header block: {e}") from None
    return headers


class Framer:
    """Encodes frames to bytes and decodes bytes to frames; owns both zlib streams."""

    def __init__(self) -> None:
        self._deflate = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zdict=DICTIONARY)
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self._buffer = bytearray()

    def _compress(self, headers: Headers) -> bytes:
        block = encode_header_block(headers)
        return self._deflate.compress(block) + self._deflate.flush(zlib.Z_SYNC_FLUSH)

    def encode(self, frame: Frame) -> bytes:
        if isinstance(frame, DataFrame):
            if len(frame.data) > MAX_DATA:
                raise ValueError("data frame too large")
            head = struct.pack(
                ">II", frame.stream_id & 0x7FFFFFFF, (frame.flags << 24) | len(frame.data)
            )
            return head + frame.data
        t = frame.type
        if t == SYN_STREAM:
            body = struct.pack(">IIBB", frame.stream_id, frame.associated_id, 0, 0)
            body += self._compress(frame.headers)
        elif t in (SYN_REPLY, HEADERS):
            body = struct.pack(">I", frame.stream_id) + self._compress(frame.headers)
        elif t == RST_STREAM:
            body = struct.pack(">II", frame.stream_id, frame.status)
        elif t == PING:
            body = struct.pack(">I", frame.ping_id)
        elif t == GOAWAY:
            body = struct.pack(">II", frame.stream_id, frame.status)
        elif t == WINDOW_UPDATE:
            body = struct.pack(">II", frame.stream_id, frame.delta)
        elif t == SETTINGS:
            body = struct.pack(">I", 0)
        else:
            raise ValueError(f"unknown control frame type {t}")
        head = struct.pack(">HHI", 0x8000 | VERSION, t, (frame.flags << 24) | len(body))
        return head + body

    def feed(self, data: bytes) -> list[Frame]:
        """Add received bytes; return the frames now complete."""
        self._buffer += data
        frames: list[Frame] = []
        while len(self._buffer) >= 8:
            (word,) = struct.unpack_from(">I", self._buffer, 0)
            (flags_len,) = struct.unpack_from(">I", self._buffer, 4)
            length = flags_len & 0xFFFFFF
            if len(self._buffer) < 8 + length:
                break
            body = bytes(self._buffer[8 : 8 + length])
            del self._buffer[: 8 + length]
            flags = flags_len >> 24
            if word & 0x80000000:
                frame = self._decode_control(word, flags, body)
                if frame is not None:
                    frames.append(frame)
            else:
                frames.append(DataFrame(word & 0x7FFFFFFF, body, flags))
        return frames

    def _decode_control(self, word: int, flags: int, body: bytes) -> ControlFrame | None:
        version = (word >> 16) & 0x7FFF
        t = word & 0xFFFF
        if version != VERSION:
            raise ProtocolError(f"unsupported SPDY version {version}")
        try:
            if t == SYN_STREAM:
                sid, assoc = struct.unpack_from(">II", body, 0)
                headers = self._decompress(body[10:])
                return ControlFrame(t, flags, sid & 0x7FFFFFFF, assoc & 0x7FFFFFFF, headers)
            if t in (SYN_REPLY, HEADERS):
                (sid,) = struct.unpack_from(">I", body, 0)
                return ControlFrame(t, flags, sid & 0x7FFFFFFF, headers=self._decompress(body[4:]))
            if t in (RST_STREAM, GOAWAY):
                sid, status = struct.unpack_from(">II", body, 0)
                return ControlFrame(t, flags, sid & 0x7FFFFFFF, status=status)
            if t == PING:
                return ControlFrame(t, flags, ping_id=struct.unpack_from(">I", body, 0)[0])
            if t == WINDOW_UPDATE:
                sid, delta = struct.unpack_from(">II", body, 0)
                return ControlFrame(t, flags, sid & 0x7FFFFFFF, delta=delta & 0x7FFFFFFF)
        except struct.error:
            raise ProtocolError(f"short control frame of type {t}") from None
        return ControlFrame(t, flags) if t == SETTINGS else None

    def _decompress(self, data: bytes) -> Headers:
        try:
            block = self._inflate.decompress(data)
        except zlib.error as e:
            raise ProtocolError(f"bad compressed headers: {e}") from None
        return decode_header_block(block)
