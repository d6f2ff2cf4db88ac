"""Plain HTTP/1.1 request/response calls over a pool of keep-alive connections.

``rest.Client.request`` sends every create, update, patch, delete, get and list through this
pool rather than through aiohttp: a component such as the scheduler makes two small requests per
pod (its binding and its event), and aiohttp's request machinery (URL objects, header
multidicts, a timer context and a body-writing task per request) cost it more CPU than the TLS
and the JSON did. Here a request is one ``bytes`` write and one parse of the answer in
``data_received``. Watches and upgraded streams stay on aiohttp, which owns their long-lived
connections.

As in Go's and aiohttp's transports: at most ``limit`` connections at once; an idle connection
is reused last-in first-out and closed once it has idled ``KEEPALIVE`` seconds (well under the
API server's own keep-alive timeout); a request that finds its reused connection already closed
by the server, before any answer, is sent once more on a new connection when its method is
idempotent. Answers may come with ``Content-Length``, chunked, or until the connection closes,
and gzip-compressed (asked for with ``Accept-Encoding``: the API server compresses large lists).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Iterable
from urllib.parse import quote, urlsplit

from isal import isal_zlib

KEEPALIVE = 15.0  # seconds an idle connection is kept (aiohttp's connector default)
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
GZIP_WBITS = 16 + 15
MAX_HEADER = 64 * 1024
PATH_SAFE = "/:@!$&'()*+,;=-._~%"


class ProtocolError(Exception):
    """The server's answer is not HTTP/1.1 we understand."""


class ConnectionLost(ConnectionError):
    """The connection closed before the whole answer came; ``answered``: whether any of it did."""

    def __init__(self, message: str, *, answered: bool) -> None:
        super().__init__(message)
        self.answered = answered


class _Connection(asyncio.Protocol):
    """One connection; it carries one request at a time and parses the answer as it arrives."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.keep_alive = True
        self.idle_since = 0.0
        self._buffer = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self._head: tuple[int, dict[bytes, bytes]] | None = None
        self._body_start = 0
        self._chunks: list[bytes] = []
        self._chunk_pos = 0  # where the next chunk's size line starts in _buffer
        self._head_only = False

    # -- asyncio.Protocol ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            self.keep_alive = False  # bytes nobody asked for: the connection is out of step
            return
        self._buffer += data
        try:
            answer = self._parse()
        except ProtocolError as err:
            self.keep_alive = False
            self._waiter.set_exception(err)
            return
        if answer is not None:
            # An idle connection keeps no copy of a large answer (a list of 10,000 pods).
            self._buffer = bytearray()
            self._chunks = []
            self._waiter.set_result(answer)

    def eof_received(self) -> bool | None:
        self._lost()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost(exc)

    def _lost(self, exc: Exception | None = None) -> None:
        self.closed = True
        self.keep_alive = False
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._head is not None and not self._framed():
            # The answer's end is the connection's end.
            status, headers = self._head
            body = bytes(self._buffer[self._body_start :])
            try:
                waiter.set_result(_decoded(status, headers, body))
            except ProtocolError as err:
                waiter.set_exception(err)
            return
        answered = bool(self._buffer)
        waiter.set_exception(
            ConnectionLost(f"connection closed before the answer ended: {exc!r}", answered=answered)
        )

    # -- one exchange --------------------------------------------------------------------------
    async def exchange(self, request: bytes, *, head_only: bool) -> tuple[int, bytes]:
        if self.closed or self.transport is None:
            raise ConnectionLost("connection already closed", answered=False)
        self._buffer.clear()
        self._head = None
        self._chunks = []
        self._head_only = head_only
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        try:
            return await self._waiter
        finally:
            self._waiter = None

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _framed(self) -> bool:
        """Whether the answer says where it ends (else it runs until the connection closes)."""
        assert self._head is not None
        headers = self._head[1]
        return b"content-length" in headers or b"chunked" in headers.get(b"transfer-encoding", b"")

    def _parse(self) -> tuple[int, bytes] | None:
        buffer = self._buffer
        while self._head is None:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEADER:
                    raise ProtocolError("answer header too long")
                return None
            status, headers = _parse_head(bytes(buffer[:end]))
            if 100 <= status < 200:  # 100 Continue and the like: the real answer follows
                del buffer[: end + 4]
                continue
            self._head = (status, headers)
            self._body_start = end + 4
            self._chunk_pos = end + 4
            if headers.get(b"connection", b"").lower() == b"close":
                self.keep_alive = False
        status, headers = self._head
        if self._head_only or status in (204, 304):
            return status, b""
        if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
            body = self._parse_chunks()
        elif (length := headers.get(b"content-length")) is not None:
            try:
                size = int(length)
            except ValueError as err:
                raise ProtocolError(f"bad Content-Length {length!r}") from err
            if len(buffer) - self._body_start < size:
                return None
            body = bytes(buffer[self._body_start : self._body_start + size])
        else:
            self.keep_alive = False
            return None  # until the connection closes (_lost)
        if body is None:
            return None
        return _decoded(status, headers, body)

    def _parse_chunks(self) -> bytes | None:
        buffer = self._buffer
        while True:
            line_end = buffer.find(b"\r\n", self._chunk_pos)
            if line_end < 0:
                return None
            size_field = bytes(buffer[self._chunk_pos : line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_field, 16)
            except ValueError as err:
                raise ProtocolError(f"bad chunk size {size_field!r}") from err
            if size == 0:
                # Trailers (none expected) end with an empty line.
                end = buffer.find(b"\r\n\r\n", line_end)
                if end < 0 and buffer[line_end : line_end + 4] != b"\r\n\r\n":
                    return None
                return b"".join(self._chunks)
            start = line_end + 2
            if len(buffer) < start + size + 2:
                return None
            self._chunks.append(bytes(buffer[start : start + size]))
            self._chunk_pos = start + size + 2


def _decoded(status: int, headers: dict[bytes, bytes], body: bytes) -> tuple[int, bytes]:
    if headers.get(b"content-encoding", b"").lower() == b"gzip":
        try:
            body = isal_zlib.decompress(body, wbits=GZIP_WBITS)
        except Exception as err:  # isal_zlib.error, untyped in its stubs
            raise ProtocolError(f"bad gzip body: {err}") from err
    return status, body


def _parse_head(head: bytes) -> tuple[int, dict[bytes, bytes]]:
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise ProtocolError(f"not an HTTP/1.x answer: {lines[0][:100]!r}")
    try:
        status = int(parts[1])
    except ValueError as err:
        raise ProtocolError(f"bad status line {lines[0][:100]!r}") from err
    headers: dict[bytes, bytes] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            raise ProtocolError(f"bad header line {line[:100]!r}")
        key = name.strip().lower()
        value = value.strip()
        headers[key] = headers[key] + b", " + value if key in headers else value
    return status, headers


class Pool:
    """Keep-alive connections to the server of ``base_url`` (``http://`` or ``https://``)."""

    def __init__(
        self,
        *,
        base_url: str,
        ssl_context: ssl.SSLContext | None,
        server_hostname: str | None,
        limit: int,
    ) -> None:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"unsupported server URL {base_url!r}")
        self._tls = url.scheme == "https"
        self._host = url.hostname
        self._port = url.port or (443 if self._tls else 80)
        self._prefix = url.path.rstrip("/")
        self._ssl = ssl_context if self._tls else None
        if self._tls and self._ssl is None:
            self._ssl = ssl.create_default_context()
        self._server_hostname = (server_hostname or None) if self._tls else None
        default_port = 443 if self._tls else 80
        host = f"[{self._host}]" if ":" in self._host else self._host
        self.host_header = host if self._port == default_port else f"{host}:{self._port}"
        self._slots = asyncio.Semaphore(limit)
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()

    def target(self, path: str, query: str) -> str:
        """The request target: the server URL's own path, ``path`` (quoted where it must be),
        and the query."""
        path, _, inline = path.partition("?")
        target = self._prefix + quote(path, safe=PATH_SAFE)
        if inline and query:
            return f"{target}?{inline}&{query}"
        if inline or query:
            return f"{target}?{inline or query}"
        return target

    async def request(
        self, method: str, target: str, header_lines: Iterable[str], body: bytes | None
    ) -> tuple[int, bytes]:
        """Send one request and return its status and (decoded) body. Raises ``OSError``
        (``ConnectionLost`` among them), ``ssl.SSLError`` or ``ProtocolError``; cancel it (a
        timeout) and its connection is closed."""
        head = [f"{method} {target} HTTP/1.1\r\nHost: {self.host_header}\r\n"]
        head.extend(header_lines)
        if body is not None:
            head.append(f"Content-Length: {len(body)}\r\n")
        elif method in ("POST", "PUT", "PATCH"):
            head.append("Content-Length: 0\r\n")
        head.append("\r\n")
        request = "".join(head).encode("latin-1")
        if body:
            request += body
        async with self._slots:
            for attempt in range(2):
                connection, reused = await self._connection()
                try:
                    answer = await connection.exchange(request, head_only=method == "HEAD")
                except ConnectionLost as err:
                    self._discard(connection)
                    if reused and not err.answered and method in IDEMPOTENT and attempt == 0:
                        continue  # the server had closed it while idle: once more, anew
                    raise
                except BaseException:
                    self._discard(connection)
                    raise
                if connection.keep_alive and not connection.closed:
                    connection.idle_since = time.monotonic()
                    self._idle.append(connection)
                else:
                    self._discard(connection)
                return answer
        raise AssertionError("unreachable")

    async def _connection(self) -> tuple[_Connection, bool]:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed and now - connection.idle_since < KEEPALIVE:
                return connection, True
            self._discard(connection)
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(
            _Connection,
            self._host,
            self._port,
            ssl=self._ssl,
            server_hostname=self._server_hostname,
        )
        self._open.add(connection)
        return connection, False

    def _discard(self, connection: _Connection) -> None:
        connection.close()
        self._open.discard(connection)

    async def close(self) -> None:
        """Close every connection, idle or not."""
        self._idle.clear()
        connections, self._open = self._open, set()
        for connection in connections:
            connection.close()
        # Let the transports run their closing callbacks before the loop goes away.
        await asyncio.sleep(0)
