"""The server-side WebSocket: fragments reassembled, pings answered, close echoed."""

from __future__ import annotations

import asyncio
import socket
import struct

from pocketkube.runtime.streaming import websocket as ws

MASK = b"\x11\x22\x33\x44"


def client_frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    frame = bytearray(ws.encode_frame(opcode, payload, mask=MASK))
    if not fin:
        frame[0] &= 0x7F
    return bytes(frame)


async def test_fragments_ping_and_close() -> None:
    left, right = socket.socketpair()
    reader, writer = await asyncio.open_connection(sock=left)
    peer_reader, peer_writer = await asyncio.open_connection(sock=right)
    server = ws.WebSocket(reader, writer)
    peer_writer.write(
        client_frame(ws.OP_BINARY, b"\x01hel", fin=False)
        + client_frame(ws.OP_PING, b"p")
        + client_frame(ws.OP_CONT, b"lo")
        + client_frame(ws.OP_CLOSE, struct.pack(">H", 1000))
    )
    await peer_writer.drain()
    assert await server.receive() == (ws.OP_BINARY, b"\x01hello")
    assert await peer_reader.readexactly(3) == b"\x8a\x01p"  # the pong, unmasked
    assert await server.receive() is None
    assert await peer_reader.readexactly(4) == b"\x88\x02\x03\xe8"  # close 1000 echoed
    assert server.closed
    peer_writer.close()


async def test_peer_vanishing_is_a_close() -> None:
    left, right = socket.socketpair()
    reader, writer = await asyncio.open_connection(sock=left)
    server = ws.WebSocket(reader, writer)
    right.close()
    assert await server.receive() is None
    writer.close()
