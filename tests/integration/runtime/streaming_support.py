"""A fake Provider and a small SPDY/3.1 client for the streaming server's tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

from pocketkube.runtime import cri
from pocketkube.runtime.streaming import spdyframes as f
from pocketkube.runtime.streaming.provider import ExitCode, Output, TerminalSize


class FakeProvider:
    """``echo ARGS``, ``cat`` (stdin to stdout), ``warn`` (to stderr), ``exit N``, ``fail``
    (a runtime error), ``sizes`` (prints each terminal size until one is 100 wide); port 1
    refuses."""

    def __init__(self, echo_port: int) -> None:
        self.echo_port = echo_port
        self.sizes: list[TerminalSize] = []
        self.forwarded: list[asyncio.StreamWriter] = []

    async def exec(
        self,
        container_id: str,
        cmd: Sequence[str],
        *,
        stdin: AsyncIterator[bytes] | None,
        stdout: Output | None,
        stderr: Output | None,
        tty: bool,
        resize: AsyncIterator[TerminalSize] | None,
    ) -> None:
        name, *args = cmd
        if name == "echo" and stdout is not None:
            await stdout((" ".join(args) + "\n").encode())
        elif name == "cat" and stdin is not None and stdout is not None:
            async for chunk in stdin:
                await stdout(chunk)
        elif name == "warn" and stderr is not None:
            await stderr(b"warning\n")
        elif name == "exit":
            raise ExitCode(int(args[0]))
        elif name == "fail":
            raise cri.RuntimeError_("Unknown", "container not running")
        elif name == "sizes" and resize is not None and stdout is not None:
            async for size in resize:
                self.sizes.append(size)
                await stdout(f"{size.width}x{size.height}\n".encode())
                if size.width == 100:
                    return

    async def attach(
        self,
        container_id: str,
        *,
        stdin: AsyncIterator[bytes] | None,
        stdout: Output | None,
        stderr: Output | None,
        tty: bool,
        resize: AsyncIterator[TerminalSize] | None,
    ) -> None:
        if stdout is not None:
            await stdout(f"attached to {container_id}\n".encode())

    async def port_forward(
        self, sandbox_id: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if port == 1:
            raise cri.RuntimeError_("Unknown", "dial tcp4 127.0.0.1:1: connect: connection refused")
        reader, writer = await asyncio.open_connection("127.0.0.1", self.echo_port)
        self.forwarded.append(writer)
        return reader, writer


async def echo_server() -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data.upper())
            await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


class SpdyClient:
    """Opens streams, collects what the server sends on each."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.framer = f.Framer()
        self.next_id = 1
        self.data: dict[int, bytearray] = {}
        self.fin: dict[int, asyncio.Event] = {}
        self.replied: set[int] = set()
        self.control: list[f.ControlFrame] = []
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def connect(
        cls, url: str, protocols: Sequence[str], *, websocket: bool = False
    ) -> tuple[SpdyClient, bytes]:
        rest = url.removeprefix("http://")
        hostport, _, path = rest.partition("/")
        host, _, port = hostport.partition(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        lines = [f"POST /{path} HTTP/1.1", f"Host: {hostport}", "Connection: Upgrade"]
        lines.append("Upgrade: SPDY/3.1")
        lines += [f"X-Stream-Protocol-Version: {p}" for p in protocols]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = await reader.readuntil(b"\r\n\r\n")
        client = cls(reader, writer)
        if head.startswith(b"HTTP/1.1 101"):
            client._task = asyncio.create_task(client._read())
        return client, head

    async def _read(self) -> None:
        while data := await self.reader.read(65536):
            for frame in self.framer.feed(data):
                if isinstance(frame, f.DataFrame):
                    self.data.setdefault(frame.stream_id, bytearray()).extend(frame.data)
                    if frame.flags & f.FLAG_FIN:
                        self.fin.setdefault(frame.stream_id, asyncio.Event()).set()
                elif frame.type == f.SYN_REPLY:
                    self.replied.add(frame.stream_id)
                else:
                    self.control.append(frame)
        for event in self.fin.values():
            event.set()

    def open(self, headers: dict[str, str]) -> int:
        sid = self.next_id
        self.next_id += 2
        self.fin[sid] = asyncio.Event()
        frame = f.ControlFrame(
            f.SYN_STREAM, stream_id=sid, headers={k: [v] for k, v in headers.items()}
        )
        self.writer.write(self.framer.encode(frame))
        return sid

    def send(self, sid: int, data: bytes, *, fin: bool = False) -> None:
        self.writer.write(self.framer.encode(f.DataFrame(sid, data, f.FLAG_FIN if fin else 0)))

    def ping(self, ping_id: int) -> None:
        self.writer.write(self.framer.encode(f.ControlFrame(f.PING, ping_id=ping_id)))

    async def wait_fin(self, sid: int) -> bytes:
        await asyncio.wait_for(self.fin[sid].wait(), 10)
        return bytes(self.data.get(sid, b""))

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError):
                await self._task
