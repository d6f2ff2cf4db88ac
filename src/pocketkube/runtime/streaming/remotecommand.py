"""remotecommand (exec, attach) over WebSocket channels and over SPDY/3.1 streams.

WebSocket (apimachinery wsstream, kubelet remotecommand/websocket.go): each message's first
byte is the channel — 0 stdin, 1 stdout, 2 stderr, 3 error (the Status), 4 resize; v5 adds
255 ``[255, channel]`` meaning the client closed that channel (stdin EOF). The base64 variants
send text messages: the channel as an ASCII digit, then base64.

Before v5 the server first sends an empty message on the lowest channel it writes, so the
client knows the stream is up. Upstream sends it on v5 too; we do not. v5's client is
client-go's WebSocket executor, whose demultiplexer (up to kubectl 1.33: kubernetes#131189,
fixed by #131203) starts reading before it has created its streams, so a message arriving that
early is dropped with "Unknown stream id 1, discarding message" on kubectl's stderr: the ready
message, or the command's first output (``kubectl attach`` printing nothing). Nothing the
client sends says its streams exist, but its first message (stdin, stdin's close, a terminal
size) comes after them: on v5 the server sends nothing before that message or before
``V5_STREAMS_GRACE`` passed (the streams take the client microseconds; the grace covers its
being descheduled a while). Every output byte is sent before the Status on channel 3 and
nothing after it (``command.run`` closes the outputs when the command returns); output never
sends an empty message. (For a success, v1 to v3 send an empty message on channel 3; upstream
sends none.)

SPDY (remotecommand/httpstream.go): the client opens one stream per ``streamType`` (error,
stdin, stdout, stderr, resize); the server waits for the ones the request implies, runs the
command, writes the Status on the error stream (JSON from v4, text before) and half-closes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from typing import Any, Protocol

from pocketkube.runtime import cri
from pocketkube.runtime.streaming import command, status
from pocketkube.runtime.streaming.provider import Output, Provider, TerminalSize
from pocketkube.runtime.streaming.spdyconn import SpdyConnection, SpdyStream
from pocketkube.runtime.streaming.websocket import OP_BINARY, OP_TEXT

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255

WEBSOCKET_PROTOCOLS = (
    "v5.channel.k8s.io",
    "v4.channel.k8s.io",
    "v4.base64.channel.k8s.io",
    "channel.k8s.io",
    "base64.channel.k8s.io",
)
SPDY_PROTOCOLS = (
    "v5.channel.k8s.io",
    "v4.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
)
STREAM_CREATION_TIMEOUT = 30.0
STDIN_BUFFER = 16  # chunks: a command not reading its stdin holds the client back
# v5: how long the server's first message waits for the client's, the sign that its streams
# exist (module docstring): with 10 ms, 0 of 1000 `kubectl attach` lost output; 0 ms, 1 in 90
V5_STREAMS_GRACE = 0.02


def parse_resize(buffer: bytearray) -> list[TerminalSize]:
    """Take the complete JSON ``{"Width":..,"Height":..}`` objects off the front of buffer."""
    decoder = json.JSONDecoder()
    sizes: list[TerminalSize] = []
    text = buffer.decode(errors="replace")
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            break
        if isinstance(value, dict):
            width, height = value.get("Width", 0), value.get("Height", 0)
            if isinstance(width, int) and isinstance(height, int):
                sizes.append(TerminalSize(width, height))
    del buffer[: len(text[:pos].encode())]
    return sizes


class ChannelCodec:
    """Frames channel messages for one of the channel.k8s.io subprotocols."""

    def __init__(self, protocol: str) -> None:
        self.base64 = "base64" in protocol
        self.json_status = protocol.startswith(("v4.", "v5."))
        self.close_signal = protocol.startswith("v5.")
        self.ready_message = not self.close_signal

    def encode(self, channel: int, data: bytes) -> tuple[bytes, int]:
        if self.base64:
            return str(channel).encode() + base64.b64encode(data), OP_TEXT
        return bytes([channel]) + data, OP_BINARY

    def decode(self, payload: bytes) -> tuple[int, bytes] | None:
        if not payload:
            return None
        if self.base64:
            try:
                return payload[0] - ord("0"), base64.b64decode(payload[1:])
            except ValueError:
                return None
        return payload[0], payload[1:]


class MessageSocket(Protocol):
    """What the channel protocol needs of a WebSocket (``websocket.WebSocket``)."""

    async def receive(self) -> tuple[int, bytes] | None: ...
    async def send(self, payload: bytes, opcode: int = OP_BINARY) -> None: ...
    async def close(self, code: int = 1000) -> None: ...


async def serve_websocket(
    ws: MessageSocket, protocol: str, provider: Provider, kind: str, request: cri.StreamRequest
) -> None:
    codec = ChannelCodec(protocol)
    streams_up = asyncio.Event()  # the client's streams exist (module docstring)
    if codec.close_signal:
        asyncio.get_running_loop().call_later(V5_STREAMS_GRACE, streams_up.set)
    else:
        streams_up.set()

    async def send(channel: int, data: bytes) -> None:
        await streams_up.wait()
        payload, opcode = codec.encode(channel, data)
        await ws.send(payload, opcode)

    def output(channel: int) -> Output:
        async def write(data: bytes) -> None:
            await send(channel, data)

        return write

    stdin: asyncio.Queue[bytes | None] | None = (
        asyncio.Queue(STDIN_BUFFER) if request.stdin else None
    )
    resize: asyncio.Queue[TerminalSize | None] | None = asyncio.Queue() if request.tty else None
    streams = command.CommandStreams(
        stdin=stdin,
        stdout=output(STDOUT) if request.stdout else None,
        stderr=output(STDERR) if request.stderr and not request.tty else None,
        resize=resize,
    )
    if codec.ready_message:
        await send(
            STDOUT if request.stdout else STDERR if request.stderr and not request.tty else ERROR,
            b"",
        )

    async def read_client() -> None:
        resize_buffer = bytearray()
        while (message := await ws.receive()) is not None:
            streams_up.set()
            decoded = codec.decode(message[1])
            if decoded is None:
                continue
            channel, data = decoded
            if channel == STDIN and stdin is not None and data:
                await stdin.put(data)
            elif channel == RESIZE and resize is not None:
                resize_buffer += data
                for size in parse_resize(resize_buffer):
                    await resize.put(size)
            elif (
                channel == CLOSE
                and codec.close_signal
                and data[:1] == bytes([STDIN])
                and stdin is not None
            ):
                await stdin.put(None)

    async with asyncio.TaskGroup() as tg:
        run = tg.create_task(command.run(provider, kind, request, streams))
        reader = tg.create_task(read_client())
        done, _ = await asyncio.wait({run, reader}, return_when=asyncio.FIRST_COMPLETED)
        if run not in done:  # the client went away: stop the command
            run.cancel()
        else:
            reader.cancel()
            outcome = status.encode(run.result(), json_status=codec.json_status)
            if outcome:  # before v4 a success sends nothing on the error channel, as upstream
                with contextlib.suppress(ConnectionError, OSError):
                    await send(ERROR, outcome)
    await ws.close()


def _expected_streams(request: cri.StreamRequest, protocol: str) -> set[str]:
    expected = {"error"}
    if request.stdin:
        expected.add("stdin")
    if request.stdout:
        expected.add("stdout")
    if request.stderr and not request.tty:
        expected.add("stderr")
    if request.tty and protocol not in ("v2.channel.k8s.io",):
        expected.add("resize")
    return expected


async def _collect_streams(conn: SpdyConnection, expected: set[str]) -> dict[str, SpdyStream]:
    streams: dict[str, SpdyStream] = {}
    while not expected <= streams.keys():
        stream = await conn.accept()
        if stream is None:
            raise ConnectionError("client went away before creating its streams")
        kind = stream.header("streamType")
        if kind in {"error", "stdin", "stdout", "stderr", "resize"}:
            streams[kind] = stream
        else:
            await stream.close()
    return streams


async def serve_spdy(
    conn: SpdyConnection, protocol: str, provider: Provider, kind: str, request: cri.StreamRequest
) -> None:
    async with asyncio.TaskGroup() as tg:
        serving = tg.create_task(conn.serve())
        try:
            try:
                streams = await asyncio.wait_for(
                    _collect_streams(conn, _expected_streams(request, protocol)),
                    STREAM_CREATION_TIMEOUT,
                )
            except (TimeoutError, ConnectionError):
                return
            await _run_spdy(conn, protocol, provider, kind, request, streams, serving)
        finally:
            await conn.close()
            serving.cancel()


async def _run_spdy(
    conn: SpdyConnection,
    protocol: str,
    provider: Provider,
    kind: str,
    request: cri.StreamRequest,
    streams: dict[str, SpdyStream],
    serving: asyncio.Task[None],
) -> None:
    stdin: asyncio.Queue[bytes | None] | None = (
        asyncio.Queue(STDIN_BUFFER) if "stdin" in streams else None
    )
    resize: asyncio.Queue[TerminalSize | None] | None = (
        asyncio.Queue() if "resize" in streams else None
    )

    def output(name: str) -> Output | None:
        stream = streams.get(name)
        return stream.write if stream is not None else None

    async def pump_stdin() -> None:
        assert stdin is not None
        while chunk := await streams["stdin"].read():
            await stdin.put(chunk)
        await stdin.put(None)

    async def pump_resize() -> None:
        assert resize is not None
        buffer = bytearray()
        while chunk := await streams["resize"].read():
            buffer += chunk
            for size in parse_resize(buffer):
                await resize.put(size)
        await resize.put(None)

    cmd_streams = command.CommandStreams(
        stdin=stdin, stdout=output("stdout"), stderr=output("stderr"), resize=resize
    )
    result: dict[str, Any] | None = None
    async with asyncio.TaskGroup() as tg:
        pumps = []
        if stdin is not None:
            pumps.append(tg.create_task(pump_stdin()))
        if resize is not None:
            pumps.append(tg.create_task(pump_resize()))
        run = tg.create_task(command.run(provider, kind, request, cmd_streams))
        await asyncio.wait({run, serving}, return_when=asyncio.FIRST_COMPLETED)
        if run.done():
            result = run.result()
        else:  # the connection ended: stop the command
            run.cancel()
        for pump in pumps:
            pump.cancel()
    if result is None:
        return
    error = streams["error"]
    with contextlib.suppress(ConnectionError, OSError):
        data = status.encode(result, json_status=protocol in SPDY_PROTOCOLS[:2])
        if data:
            await error.write(data)
        for stream in streams.values():
            await stream.close()
