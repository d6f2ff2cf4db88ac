"""A small server-side WebSocket (RFC 6455) over asyncio streams.

The streaming server reads the upgrade request itself (it must also answer SPDY upgrades on the
same port, and tunnel SPDY in WebSocket), so it frames messages itself too: unmask what the client
sends, answer pings, reassemble fragments, send unmasked frames.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import struct

OP_CONT = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_MESSAGE = 64 << 20


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()


def unmask(payload: bytes, mask: bytes) -> bytes:
    n = len(payload)
    if n == 0:
        return payload
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big")


def encode_frame(opcode: int, payload: bytes, *, mask: bytes | None = None) -> bytes:
    n = len(payload)
    mask_bit = 0x80 if mask is not None else 0
    if n < 126:
        head = struct.pack(">BB", 0x80 | opcode, mask_bit | n)
    elif n < 1 << 16:
        head = struct.pack(">BBH", 0x80 | opcode, mask_bit | 126, n)
    else:
        head = struct.pack(">BBQ", 0x80 | opcode, mask_bit | 127, n)
    if mask is not None:
        return head + mask + unmask(payload, mask)
    return head + payload


class WebSocket:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._lock = asyncio.Lock()
        self.closed = False

    async def _read_frame(self) -> tuple[bool, int, bytes]:
        b0, b1 = await self._reader.readexactly(2)
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack(">H", await self._reader.readexactly(2))
        elif n == 127:
            (n,) = struct.unpack(">Q", await self._reader.readexactly(8))
        if n > MAX_MESSAGE:
            raise ConnectionError("websocket frame too large")
        mask = await self._reader.readexactly(4) if b1 & 0x80 else None
        payload = await self._reader.readexactly(n)
        if mask is not None:
            payload = unmask(payload, mask)
        return bool(b0 & 0x80), b0 & 0x0F, payload

    async def receive(self) -> tuple[int, bytes] | None:
        """The next text or binary message; None when the peer closed or went away."""
        opcode = 0
        parts: list[bytes] = []
        try:
            while True:
                fin, op, payload = await self._read_frame()
                if op == OP_PING:
                    await self.send(payload, OP_PONG)
                    continue
                if op == OP_PONG:
                    continue
                if op == OP_CLOSE:
                    await self.close()
                    return None
                if op != OP_CONT:
                    opcode, parts = op, []
                parts.append(payload)
                if fin:
                    return opcode, b"".join(parts)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            self.closed = True
            return None

    async def send(self, payload: bytes, opcode: int = OP_BINARY) -> None:
        if self.closed:
            raise ConnectionError("websocket closed")
        async with self._lock:
            self._writer.write(encode_frame(opcode, payload))
            await self._writer.drain()

    async def close(self, code: int = 1000) -> None:
        if self.closed:
            return
        with contextlib.suppress(ConnectionError, OSError):
            await self.send(struct.pack(">H", code), OP_CLOSE)
        self.closed = True
        self._writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()
