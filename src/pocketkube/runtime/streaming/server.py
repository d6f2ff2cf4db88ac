"""The streaming server: one-time URLs for CRI Exec/Attach/PortForward, and the upgrades.

It reads the HTTP request head itself (the kubelet proxies the client's upgrade request here
byte for byte) and answers with the protocol the client asked for:
``Upgrade: websocket`` with a channel.k8s.io subprotocol (or ``SPDY/3.1+portforward.k8s.io``
for SPDY inside WebSocket), or ``Upgrade: SPDY/3.1`` with ``X-Stream-Protocol-Version``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from pocketkube.runtime import cri
from pocketkube.runtime.streaming import portforward, remotecommand
from pocketkube.runtime.streaming.provider import Provider
from pocketkube.runtime.streaming.spdyconn import SpdyConnection
from pocketkube.runtime.streaming.tokens import RequestCache
from pocketkube.runtime.streaming.transport import TCPChannel, WebSocketChannel
from pocketkube.runtime.streaming.websocket import WebSocket, accept_key

log = logging.getLogger(__name__)

HEAD_LIMIT = 64 * 1024
HEAD_TIMEOUT = 30.0
_REASONS = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed"}


@dataclass
class HttpRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, list[str]]

    def header(self, name: str) -> str:
        return ", ".join(self.headers.get(name.lower(), []))

    def tokens(self, name: str) -> list[str]:
        """A header's comma-separated values over all its lines."""
        return [t.strip() for v in self.headers.get(name.lower(), []) for t in v.split(",") if t]


def parse_head(head: bytes) -> HttpRequest:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise ValueError("malformed request line")
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError("malformed header")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    url = urlsplit(parts[1])
    return HttpRequest(parts[0], url.path, parse_qs(url.query), headers)


def response_head(code: int, reason: str, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {code} {reason}"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class StreamingServer:
    def __init__(self, provider: Provider, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._provider = provider
        self._host = host
        self._port = port
        self._cache = RequestCache()
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._closing = False

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("streaming server not started")
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._connection, self._host, self._port, limit=HEAD_LIMIT
        )

    async def close(self) -> None:
        self._closing = True
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.wait(self._connections)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def _url(self, kind: str, request: cri.StreamRequest) -> cri.StreamResponse:
        return cri.StreamResponse(f"{self.base_url}/{kind}/{self._cache.insert(kind, request)}")

    def exec_url(self, request: cri.StreamRequest) -> cri.StreamResponse:
        return self._url("exec", request)

    def attach_url(self, request: cri.StreamRequest) -> cri.StreamResponse:
        return self._url("attach", request)

    def port_forward_url(self, request: cri.StreamRequest) -> cri.StreamResponse:
        return self._url("portforward", request)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            try:
                await self._serve(reader, writer)
            finally:
                writer.close()
                with contextlib.suppress(ConnectionError, OSError):
                    await writer.wait_closed()
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            if not self._closing:
                raise
            # close() ended this session; asyncio's server callback must not see the
            # cancellation as the connection's failure
        except Exception:
            log.exception("streaming connection failed")
        finally:
            self._connections.discard(task)

    async def _error(
        self,
        writer: asyncio.StreamWriter,
        code: int,
        message: str,
        extra: dict[str, str] | None = None,
    ) -> None:
        body = (message + "\n").encode()
        headers = {
            **(extra or {}),
            "Content-Type": "text/plain; charset=utf-8",
            "X-Content-Type-Options": "nosniff",
            "Content-Length": str(len(body)),
            "Connection": "close",
        }
        writer.write(response_head(code, _REASONS.get(code, "Error"), headers) + body)
        await writer.drain()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT)
            request = parse_head(head[:-4])
        except (asyncio.LimitOverrunError, ValueError, TimeoutError):
            await self._error(writer, 400, "malformed request")
            return
        parts = request.path.strip("/").split("/")
        if len(parts) != 2 or parts[0] not in ("exec", "attach", "portforward"):
            await self._error(writer, 404, "404 page not found")
            return
        if request.method not in ("GET", "POST"):
            await self._error(writer, 405, "Method Not Allowed")
            return
        pending = self._cache.consume(parts[1])
        if pending is None:
            await self._error(writer, 404, "404 page not found")
            return
        if pending.kind != parts[0]:
            await self._error(writer, 400, "Tried to access token from wrong endpoint")
            return
        upgrade = request.header("upgrade").lower()
        if "websocket" in upgrade:
            await self._websocket(request, pending.kind, pending.request, reader, writer)
        elif "spdy/3.1" in upgrade:
            await self._spdy(request, pending.kind, pending.request, reader, writer)
        else:
            await self._error(writer, 400, "unable to upgrade: missing upgrade headers in request")

    async def _spdy(
        self,
        request: HttpRequest,
        kind: str,
        stream_request: cri.StreamRequest,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        offered = request.tokens("X-Stream-Protocol-Version")
        supported = (
            (portforward.SPDY_PROTOCOL,) if kind == "portforward" else remotecommand.SPDY_PROTOCOLS
        )
        chosen = next((p for p in offered if p in supported), None)
        if chosen is None:
            await self._error(
                writer,
                403,
                f"unable to upgrade: unable to negotiate protocol: client supports "
                f"[{' '.join(offered)}], server supports [{' '.join(supported)}]",
                {"X-Accepted-Stream-Protocol-Versions": ", ".join(supported)},
            )
            return
        writer.write(
            response_head(
                101,
                "Switching Protocols",
                {
                    "Connection": "Upgrade",
                    "Upgrade": "SPDY/3.1",
                    "X-Stream-Protocol-Version": chosen,
                },
            )
        )
        await writer.drain()
        conn = SpdyConnection(TCPChannel(reader, writer))
        if kind == "portforward":
            await portforward.serve_spdy(conn, self._provider, stream_request.pod_sandbox_id)
        else:
            await remotecommand.serve_spdy(conn, chosen, self._provider, kind, stream_request)

    async def _websocket(
        self,
        request: HttpRequest,
        kind: str,
        stream_request: cri.StreamRequest,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        key = request.header("sec-websocket-key")
        if not key:
            await self._error(writer, 400, "missing Sec-WebSocket-Key")
            return
        offered = request.tokens("sec-websocket-protocol")
        ports: list[int] = []
        if kind == "portforward":
            supported: tuple[str, ...] = (
                portforward.TUNNELING_PROTOCOL,
                *portforward.WEBSOCKET_PROTOCOLS,
            )
            if portforward.TUNNELING_PROTOCOL not in offered:
                try:
                    ports = _ports(request, stream_request)
                except ValueError as e:
                    await self._error(writer, 400, str(e))
                    return
        else:
            supported = remotecommand.WEBSOCKET_PROTOCOLS
        chosen = next((p for p in offered if p in supported), None)
        if offered and chosen is None:
            await self._error(
                writer,
                400,
                f"unable to upgrade: unable to negotiate protocol: client supports "
                f"{offered}, server supports {list(supported)}",
            )
            return
        headers = {
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Accept": accept_key(key),
        }
        if chosen is not None:
            headers["Sec-WebSocket-Protocol"] = chosen
        writer.write(response_head(101, "Switching Protocols", headers))
        await writer.drain()
        ws = WebSocket(reader, writer)
        protocol = chosen or "channel.k8s.io"
        if protocol == portforward.TUNNELING_PROTOCOL:
            conn = SpdyConnection(WebSocketChannel(ws))
            await portforward.serve_spdy(conn, self._provider, stream_request.pod_sandbox_id)
        elif kind == "portforward":
            await portforward.serve_websocket(
                ws, protocol, self._provider, stream_request.pod_sandbox_id, ports
            )
        else:
            await remotecommand.serve_websocket(ws, protocol, self._provider, kind, stream_request)


def _ports(request: HttpRequest, stream_request: cri.StreamRequest) -> list[int]:
    """Ports for the WebSocket port-forward: the query's ``port`` (what the kubelet gets from
    the API server) or ``ports``, else those of the CRI request."""
    raw = [p for key in ("port", "ports") for v in request.query.get(key, []) for p in v.split(",")]
    ports = [portforward.parse_port(p.strip()) for p in raw if p.strip()]
    if not ports:
        ports = list(stream_request.ports)
    if not ports:
        raise ValueError('query parameter "port" is required')
    return ports
