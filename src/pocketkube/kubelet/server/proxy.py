"""Proxying a client's upgrade request to the runtime's streaming URL, byte for byte.

Upstream's kubelet hands ``/exec``, ``/attach`` and ``/portForward`` to an UpgradeAwareHandler
with ``upgradeRequired``: a request that does not ask for an upgrade gets 400 ``Upgrade request
required``; otherwise the request line (the runtime URL's path and query) and the client's
headers go to the streaming server (plain HTTP on 127.0.0.1), and its answer comes back. A 101
is written to the client as it came and bytes are then pumped both ways until either side is
done (a client's end of input is passed on as a half-close); any other answer is relayed and
the connection stays HTTP. Redirects are never followed.

This is the kubelet's own small proxy (the backend is always a local plain-HTTP server); the API
server's (``client/upgradeproxy``) also speaks TLS to the kubelet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from pocketkube.kubelet.server.handlers import text_error

log = logging.getLogger(__name__)

READ_SIZE = 65536
HEAD_LIMIT = 65536
_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "proxy-connection"}
)


def is_upgrade(request: web.Request) -> bool:
    tokens = {t.strip().lower() for t in request.headers.get("Connection", "").split(",")}
    return "upgrade" in tokens and bool(request.headers.get("Upgrade"))


def request_head(request: web.Request, target: URL) -> bytes:
    lines = [f"{request.method} {target.raw_path_qs} HTTP/1.1", f"Host: {target.raw_authority}"]
    for name, value in request.headers.items():
        if name.lower() in ("host", "content-length", "transfer-encoding"):
            continue
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def parse_head(head: bytes) -> tuple[int, str, list[tuple[str, str]]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise ValueError(f"bad status line {lines[0]!r}")
    headers = []
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    return int(parts[1]), parts[2] if len(parts) > 2 else "", headers


class _Feed:
    """What aiohttp's protocol feeds the bytes after the 101 into (its ``set_parser`` hook);
    reading from the client pauses while too much waits for the backend."""

    HIGH, LOW = 64, 8

    def __init__(self, transport: asyncio.BaseTransport) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._transport = transport
        self._paused = False

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.queue.put_nowait(bytes(data))
        transport = self._transport
        if self.queue.qsize() > self.HIGH and not self._paused:
            self._paused = isinstance(transport, asyncio.ReadTransport)
            if isinstance(transport, asyncio.ReadTransport):
                transport.pause_reading()
        return False, b""

    async def get(self) -> bytes:
        data = await self.queue.get()
        if self._paused and self.queue.qsize() < self.LOW:
            self._paused = False
            if (
                isinstance(self._transport, asyncio.ReadTransport)
                and not self._transport.is_closing()
            ):
                self._transport.resume_reading()
        return data

    def feed_eof(self) -> None:
        self.queue.put_nowait(b"")

    def set_exception(self, exc: BaseException, cause: BaseException | None = None) -> None:
        self.queue.put_nowait(b"")


class _Upgraded(web.StreamResponse):
    """A response already written by hand: aiohttp must write nothing more."""

    async def prepare(self, request: web.BaseRequest) -> None:
        return None

    async def write_eof(self, data: bytes = b"") -> None:
        return None


async def upgrade_proxy(request: web.Request, url: str) -> web.StreamResponse:
    if not is_upgrade(request):
        return text_error(400, "Upgrade request required")
    target = URL(url)
    try:
        reader, writer = await asyncio.open_connection(target.host, target.port)
    except OSError as err:
        return text_error(500, f"error dialing backend: {err}")
    try:
        writer.write(request_head(request, target))
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status, reason, headers = parse_head(head[:-4])
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as err:
        writer.close()
        return text_error(500, f"error proxying to the streaming server: {err}")
    if status != 101:
        try:
            body = await _error_body(reader, headers)
        finally:
            writer.close()
        kept = CIMultiDict((n, v) for n, v in headers if n.lower() not in _HOP)
        kept.popall("Content-Length", None)
        return web.Response(status=status, reason=reason or None, headers=kept, body=body)
    transport = request.transport
    if transport is None:
        writer.close()
        return _Upgraded()
    feed = _Feed(transport)
    transport.write(head)
    request.protocol.set_parser(feed)  # type: ignore[arg-type]
    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(_to_backend(feed, writer, transport))
            group.create_task(_to_client(reader, transport))
    except* (OSError, ConnectionError) as errors:
        log.debug("stream proxy ended: %s", errors.exceptions)
    finally:
        writer.close()
        transport.close()
    return _Upgraded()


async def _error_body(reader: asyncio.StreamReader, headers: Sequence[tuple[str, str]]) -> bytes:
    length = next((v for n, v in headers if n.lower() == "content-length"), None)
    with contextlib.suppress(asyncio.IncompleteReadError, ValueError):
        if length is not None:
            return await asyncio.wait_for(reader.readexactly(int(length)), 10)
    return b""


async def _to_backend(
    feed: _Feed, writer: asyncio.StreamWriter, transport: asyncio.BaseTransport
) -> None:
    while data := await feed.get():
        writer.write(data)
        await writer.drain()
    if transport.is_closing():  # the client is gone: so is the stream
        writer.close()
    elif writer.can_write_eof():
        writer.write_eof()  # the client's end of input, passed on


async def _to_client(reader: asyncio.StreamReader, transport: asyncio.BaseTransport) -> None:
    assert isinstance(transport, asyncio.WriteTransport)
    while data := await reader.read(READ_SIZE):
        transport.write(data)
        while transport.get_write_buffer_size() > 4 * READ_SIZE and not transport.is_closing():  # noqa: ASYNC110 -- aiohttp's drain is private
            await asyncio.sleep(0.001)
    transport.close()
