"""Proxying an aiohttp request to a backend URL: streamed, upgrade-aware, never redirected.

This is upstream's ``UpgradeAwareHandler`` (k8s.io/apiserver/pkg/util/proxy) as the API server
uses it for ``pods/log``, ``exec``, ``attach`` and ``portforward``:

- a plain request goes through an aiohttp ``ClientSession``; the backend's answer is relayed as
  it arrives (one chunk written and flushed per chunk read), never buffered whole, so a
  followed log streams;
- an upgrade request (``Connection: Upgrade``) is done at the socket level: the request line and
  the client's headers go to the backend over a TCP (optionally TLS) connection, and the
  backend's response head is read. A 101 is written to the client as it came and bytes are then
  pumped both ways until either side is done (the client's end of input is passed on as a
  half-close where the transport allows it); any other answer is relayed as an HTTP response.

Redirects from the backend are relayed, never followed (upstream's proxies stopped following
them: a kubelet must not be able to point the API server elsewhere).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

log = logging.getLogger(__name__)

READ_SIZE = 65536
HEAD_LIMIT = 65536
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "trailer",
        "proxy-connection",
        "proxy-authorization",
        "upgrade",
        "content-length",
    }
)
# The client's credentials are for the API server, not for the backend.
_NOT_FORWARDED = frozenset({"host", "authorization", "cookie", "impersonate-user"})


# What a backend's refusal becomes when the caller wants its own error (code, first bytes).
ResponseChecker = Callable[[int, bytes], Exception]
ERROR_BODY_LIMIT = 4096


class ProxyError(Exception):
    """The backend could not be reached or did not answer as HTTP."""


def is_upgrade(request: web.Request) -> bool:
    tokens = {t.strip().lower() for t in request.headers.get("Connection", "").split(",")}
    return "upgrade" in tokens and bool(request.headers.get("Upgrade"))


def _forwarded(request: web.Request) -> list[tuple[str, str]]:
    return [
        (name, value)
        for name, value in request.headers.items()
        if name.lower() not in _NOT_FORWARDED and not name.lower().startswith("impersonate-")
    ]


def upgrade_head(request: web.Request, target: URL) -> bytes:
    """The request line and headers of an upgrade request, aimed at ``target``."""
    lines = [f"{request.method} {target.raw_path_qs} HTTP/1.1", f"Host: {target.raw_authority}"]
    for name, value in _forwarded(request):
        if name.lower() in ("content-length", "transfer-encoding"):
            continue
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def parse_head(head: bytes) -> tuple[int, str, list[tuple[str, str]]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ProxyError(f"bad status line {lines[0]!r}")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    return int(parts[1]), parts[2] if len(parts) > 2 else "", headers


async def proxy(
    request: web.Request,
    url: URL | str,
    *,
    session: aiohttp.ClientSession,
    ssl_context: ssl.SSLContext | None = None,
    check: ResponseChecker | None = None,
) -> web.StreamResponse:
    """Send ``request`` to ``url`` and relay the answer (upgrades included); raises
    :class:`ProxyError` when the backend cannot be reached. ``check`` (plain requests only, as
    upstream's ``ResponseChecker``) turns a backend's non-2xx answer into an exception instead
    of relaying it."""
    target = URL(url)
    if is_upgrade(request):
        return await proxy_upgrade(request, target, ssl_context=ssl_context)
    return await proxy_plain(request, target, session=session, ssl_context=ssl_context, check=check)


async def proxy_plain(
    request: web.Request,
    target: URL,
    *,
    session: aiohttp.ClientSession,
    ssl_context: ssl.SSLContext | None = None,
    check: ResponseChecker | None = None,
) -> web.StreamResponse:
    headers = CIMultiDict((n, v) for n, v in _forwarded(request) if n.lower() not in HOP_BY_HOP)
    data = request.content if request.can_read_body else None
    try:
        backend = await session.request(
            request.method,
            target,
            headers=headers,
            data=data,
            allow_redirects=False,
            ssl=ssl_context if ssl_context is not None else True,
            auto_decompress=False,
        )
    except (aiohttp.ClientError, OSError) as err:
        raise ProxyError(str(err)) from err
    async with backend:
        if check is not None and not 200 <= backend.status <= 206:
            try:
                body = await backend.content.read(ERROR_BODY_LIMIT)
            except (aiohttp.ClientError, OSError) as err:
                raise ProxyError(str(err)) from err
            raise check(backend.status, body)
        response = web.StreamResponse(status=backend.status, reason=backend.reason)
        for name, value in backend.headers.items():
            if name.lower() not in HOP_BY_HOP:
                response.headers.add(name, value)
        if backend.content_length is not None:
            response.content_length = backend.content_length
        await response.prepare(request)
        try:
            async for chunk in backend.content.iter_any():
                await response.write(chunk)  # aiohttp writes (flushes) each chunk at once
        except (aiohttp.ClientError, OSError) as err:
            log.debug("proxied body ended early: %s", err)
            if request.transport is not None:
                request.transport.close()
            return response
        await response.write_eof()
    return response


class _Feed:
    """What aiohttp's protocol feeds the client's bytes after the 101 into (its ``set_parser``
    hook); reading from the client pauses while too much waits for the backend."""

    HIGH, LOW = 64, 8

    def __init__(self, transport: asyncio.BaseTransport) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._transport = transport
        self._paused = False

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.queue.put_nowait(bytes(data))
        transport = self._transport
        if (
            self.queue.qsize() > self.HIGH
            and not self._paused
            and isinstance(transport, asyncio.ReadTransport)
        ):
            self._paused = True
            transport.pause_reading()
        return False, b""

    async def get(self) -> bytes:
        data = await self.queue.get()
        if self._paused and self.queue.qsize() < self.LOW:
            self._paused = False
            transport = self._transport
            if isinstance(transport, asyncio.ReadTransport) and not transport.is_closing():
                transport.resume_reading()
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


async def proxy_upgrade(
    request: web.Request, target: URL, *, ssl_context: ssl.SSLContext | None = None
) -> web.StreamResponse:
    secure = target.scheme == "https"
    context = (ssl_context or ssl.create_default_context()) if secure else None
    try:
        reader, writer = await asyncio.open_connection(
            target.host, target.port, ssl=context, limit=HEAD_LIMIT
        )
    except (OSError, ssl.SSLError) as err:
        raise ProxyError(f"error dialing backend: {err}") from err
    try:
        writer.write(upgrade_head(request, target))
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        code, reason, headers = parse_head(head[:-4])
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as err:
        writer.close()
        raise ProxyError(f"error reading the backend's answer: {err}") from err
    except ProxyError:
        writer.close()
        raise
    if code != 101:
        try:
            body = await _error_body(reader, headers)
        finally:
            writer.close()
        kept = CIMultiDict((n, v) for n, v in headers if n.lower() not in HOP_BY_HOP)
        kept.popall("Content-Length", None)  # the body as read sets it
        return web.Response(status=code, reason=reason or None, headers=kept, body=body)
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
    except* (OSError, ConnectionError, ssl.SSLError) as errors:
        log.debug("upgrade proxy ended: %s", errors.exceptions)
    finally:
        writer.close()
        transport.close()
    return _Upgraded()


async def _error_body(reader: asyncio.StreamReader, headers: list[tuple[str, str]]) -> bytes:
    length = next((v for n, v in headers if n.lower() == "content-length"), None)
    with contextlib.suppress(asyncio.IncompleteReadError, ValueError, TimeoutError, OSError):
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
        writer.write_eof()  # the client's end of input, passed on (not over TLS)


async def _to_client(reader: asyncio.StreamReader, transport: asyncio.BaseTransport) -> None:
    assert isinstance(transport, asyncio.WriteTransport)
    while data := await reader.read(READ_SIZE):
        transport.write(data)
        while transport.get_write_buffer_size() > 4 * READ_SIZE and not transport.is_closing():  # noqa: ASYNC110 -- aiohttp's drain is private
            await asyncio.sleep(0.001)
    transport.close()
