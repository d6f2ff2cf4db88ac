"""port-forward over SPDY/3.1 (raw or tunneled in WebSocket) and over WebSocket channels.

SPDY (kubelet portforward/httpstream.go): for each connection the client opens an error stream
and a data stream with the same ``requestID`` and a ``port`` header; once both are there the
server connects to the port in the pod and copies bytes both ways. A failure is written as text
on the error stream (``error forwarding port P to pod S, uid : ...``); both streams are then
half-closed. Many connections share one SPDY connection.

WebSocket channels (portforward/websocket.go, what the Python client uses): the ports come from
the query; port i gets data channel 2i and error channel 2i+1, and each starts with the port as
two little-endian bytes. One connection per port; the WebSocket ends when they all have.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Awaitable, Callable
from typing import Any

from pocketkube.runtime.streaming.provider import Provider
from pocketkube.runtime.streaming.remotecommand import ChannelCodec
from pocketkube.runtime.streaming.spdyconn import SpdyConnection, SpdyStream
from pocketkube.runtime.streaming.websocket import WebSocket

SPDY_PROTOCOL = "portforward.k8s.io"
WEBSOCKET_PROTOCOLS = (
    "v4.channel.k8s.io",
    "v4.base64.channel.k8s.io",
    "channel.k8s.io",
    "base64.channel.k8s.io",
    "portforward.k8s.io",
)
TUNNELING_PROTOCOL = "SPDY/3.1+portforward.k8s.io"
PAIR_TIMEOUT = 30.0


def parse_port(text: str) -> int:
    try:
        port = int(text, 10)
    except ValueError:
        port = -1
    if not 0 < port < 65536:
        raise ValueError(f"unable to parse {text!r} as a port")
    return port


def error_text(port: int, sandbox_id: str, error: BaseException) -> str:
    detail = getattr(error, "message", None) or str(error) or type(error).__name__
    return f"error forwarding port {port} to pod {sandbox_id}, uid : {detail}"


async def _copy_to_pod(read: Callable[[], Awaitable[bytes]], writer: asyncio.StreamWriter) -> None:
    while chunk := await read():
        writer.write(chunk)
        await writer.drain()
    if writer.can_write_eof():
        writer.write_eof()


async def _copy_from_pod(
    reader: asyncio.StreamReader, write: Callable[[bytes], Awaitable[None]]
) -> None:
    while chunk := await reader.read(65536):
        await write(chunk)


async def pipe(
    read: Callable[[], Awaitable[bytes]],
    write: Callable[[bytes], Awaitable[None]],
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    aborted: asyncio.Event | None = None,
) -> None:
    """Copy both ways until the pod's side ends (the client's EOF half-closes the socket) or
    the client abandons the connection (``aborted``: its streams were reset)."""
    try:
        async with asyncio.TaskGroup() as tg:
            up = tg.create_task(_copy_to_pod(read, writer))
            down = tg.create_task(_copy_from_pod(reader, write))
            waiting: set[asyncio.Future[Any]] = {down}
            if aborted is not None:
                waiting.add(tg.create_task(aborted.wait()))
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            for task in (up, down, *waiting):
                task.cancel()
    except* (ConnectionError, OSError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


async def _forward_pair(
    provider: Provider, sandbox_id: str, data: SpdyStream, error: SpdyStream
) -> None:
    port = 0
    try:
        port = parse_port(data.header("port") or error.header("port"))
        reader, writer = await provider.port_forward(sandbox_id, port)
    except Exception as e:
        with contextlib.suppress(ConnectionError, OSError):
            await error.write(error_text(port, sandbox_id, e).encode())
    else:

        async def read() -> bytes:
            if data.reset:
                return b""
            return await data.read()

        await pipe(read, data.write, reader, writer, data.reset_event)
    await data.close()
    await error.close()


async def _pair_timeout(
    pending: dict[str, SpdyStream], request_id: str, stream: SpdyStream
) -> None:
    """Upstream gives a connection's second stream 30 s to arrive; then the first one goes."""
    await asyncio.sleep(PAIR_TIMEOUT)
    if pending.get(request_id) is not stream:
        return
    del pending[request_id]
    with contextlib.suppress(ConnectionError, OSError):
        if stream.header("streamType") == "error":
            await stream.write(f"(request={request_id}) timed out waiting for streams".encode())
        await stream.close()


async def serve_spdy(conn: SpdyConnection, provider: Provider, sandbox_id: str) -> None:
    pending: dict[str, SpdyStream] = {}
    forwards: set[asyncio.Task[None]] = set()
    async with asyncio.TaskGroup() as tg:
        tg.create_task(conn.serve())
        while (stream := await conn.accept()) is not None:
            kind = stream.header("streamType")
            request_id = stream.header("requestID") or str(
                stream.id if kind == "data" else stream.id + 2
            )
            if kind not in ("data", "error"):
                await stream.close()
                continue
            other = pending.pop(request_id, None)
            if other is None or other.header("streamType") == kind:
                pending[request_id] = stream
                timer = tg.create_task(_pair_timeout(pending, request_id, stream))
                forwards.add(timer)
                timer.add_done_callback(forwards.discard)
                continue
            data, error = (stream, other) if kind == "data" else (other, stream)
            task = tg.create_task(_forward_pair(provider, sandbox_id, data, error))
            forwards.add(task)
            task.add_done_callback(forwards.discard)
        for task in forwards:  # the client is gone: so are its connections
            task.cancel()
        await conn.close()


async def serve_websocket(
    ws: WebSocket, protocol: str, provider: Provider, sandbox_id: str, ports: list[int]
) -> None:
    codec = ChannelCodec(protocol)
    inbound: list[asyncio.Queue[bytes]] = [asyncio.Queue() for _ in ports]

    async def send(channel: int, data: bytes) -> None:
        payload, opcode = codec.encode(channel, data)
        await ws.send(payload, opcode)

    async def forward(i: int, port: int) -> None:
        prefix = struct.pack("<H", port)
        await send(2 * i, prefix)
        await send(2 * i + 1, prefix)
        try:
            reader, writer = await provider.port_forward(sandbox_id, port)
        except Exception as e:
            await send(2 * i + 1, error_text(port, sandbox_id, e).encode())
            return

        async def write(chunk: bytes) -> None:
            await send(2 * i, chunk)

        await pipe(inbound[i].get, write, reader, writer)

    async def read_client() -> None:
        while (message := await ws.receive()) is not None:
            decoded = codec.decode(message[1])
            if decoded is None:
                continue
            channel, data = decoded
            if channel % 2 == 0 and channel // 2 < len(ports) and data:
                await inbound[channel // 2].put(data)
        for queue in inbound:
            queue.put_nowait(b"")

    try:
        async with asyncio.TaskGroup() as tg:
            reader = tg.create_task(read_client())
            forwards = [tg.create_task(forward(i, port)) for i, port in enumerate(ports)]
            everything: asyncio.Future[Any] = asyncio.gather(*forwards, return_exceptions=True)
            waiting: set[asyncio.Future[Any]] = {reader, everything}
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if reader.done():  # the client went away: drop its connections
                for task in forwards:
                    task.cancel()
            else:
                reader.cancel()
            await asyncio.wait({everything})
    except* (ConnectionError, OSError):
        pass
    finally:
        await ws.close()
