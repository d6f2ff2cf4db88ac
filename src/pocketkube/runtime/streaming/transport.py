"""Byte pipes the protocols run over: a TCP connection, or binary WebSocket messages."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

from pocketkube.runtime.streaming.websocket import OP_BINARY, WebSocket


class ByteChannel(Protocol):
    async def read(self) -> bytes:
        """Some bytes; b"" at EOF."""
        ...

    async def write(self, data: bytes) -> None: ...
    async def close(self) -> None: ...


class TCPChannel:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self) -> bytes:
        try:
            return await self._reader.read(65536)
        except (ConnectionError, OSError):
            return b""

    async def write(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()


class WebSocketChannel:
    """SPDY tunneled in WebSocket (``SPDY/3.1+portforward.k8s.io``): the payloads of binary
    messages, in order, are the byte stream; each write is one message."""

    def __init__(self, ws: WebSocket) -> None:
        self._ws = ws

    async def read(self) -> bytes:
        while True:
            message = await self._ws.receive()
            if message is None:
                return b""
            opcode, payload = message
            if opcode == OP_BINARY and payload:
                return payload

    async def write(self, data: bytes) -> None:
        await self._ws.send(data, OP_BINARY)

    async def close(self) -> None:
        await self._ws.close()
