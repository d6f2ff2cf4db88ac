"""The REST client: JSON requests, Kubernetes ``Status`` errors, and watch streams.

One ``Client`` owns up to 64 keep-alive TLS connections for requests (``http1.Pool``) and an
``aiohttp.ClientSession`` for watches and upgraded streams, shared by every informer, controller
and recorder of a process, as a client-go ``rest.Config`` shares one transport. It is an async
context manager so that the session and its connections are closed by whoever opened them
(structured concurrency, no global client).

Errors have one type, ``ApiError``, so that callers branch on ``status`` and ``reason`` the way
client-go callers use ``errors.IsNotFound``: every non-2xx answer carries the server's ``Status``
(``reason``, ``message``, ``code``), and a request that never got an answer (connection refused or
reset, timeout, a broken stream) is a ``TransportError``, an ``ApiError`` with status 0, so that
retry loops that catch ``ApiError`` also cover the network.

A watch is a GET with ``watch=1`` whose body is newline-delimited JSON events; it has no total
timeout (the server ends it after ``timeoutSeconds``) and an ``ERROR`` event is raised as the
``ApiError`` its ``Status`` describes (410 means "relist").
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncGenerator, AsyncIterator, Collection, Mapping
from dataclasses import dataclass
from os import PathLike
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import quote, urlencode

import aiohttp
import orjson

from pocketkube.client import http1
from pocketkube.client.config import ClientConfig, load_kubeconfig

Obj = dict[str, Any]
Params = Mapping[str, str | int | bool]
PatchType = Literal["merge", "strategic", "json", "apply"]

PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
    "apply": "application/apply-patch+yaml",  # JSON is YAML; the server wants fieldManager
}
CONNECTION_LIMIT = 64
REQUEST_TIMEOUT = 30.0
# A watch is quiet for at most its timeoutSeconds (bookmarks come every few seconds anyway); a
# socket silent for longer than this is dead rather than idle.
WATCH_READ_MARGIN = 60.0
WATCH_DEFAULT_READ_TIMEOUT = 3600.0
# What metadata-only clients (upstream's metadata informers) ask for: list items and watch
# objects are PartialObjectMetadata (apiVersion meta.k8s.io/v1, only ``metadata``).
PARTIAL_OBJECT_METADATA_LIST = (
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,"
    "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
)


class ApiError(Exception):
    """A request the API server refused (its ``Status``), or, as ``TransportError``, could not
    be made."""

    def __init__(self, status: int, reason: str, message: str, body: Obj | None = None) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.body: Obj = body if body is not None else {}

    @classmethod
    def from_status(cls, body: Any, *, http_status: int) -> ApiError:
        """Read a ``Status`` body; anything else (a proxy's HTML page) keeps the HTTP status."""
        if isinstance(body, dict) and body.get("kind") == "Status":
            code = body.get("code")
            return cls(
                int(code) if isinstance(code, int) and code else http_status,
                str(body.get("reason", "")),
                str(body.get("message", "")),
                body,
            )
        return cls(http_status, "", str(body)[:512], body if isinstance(body, dict) else None)

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def already_exists(self) -> bool:
        return self.status == 409 and self.reason == "AlreadyExists"

    @property
    def conflict(self) -> bool:
        return self.status == 409 and self.reason == "Conflict"

    @property
    def gone(self) -> bool:
        """The resourceVersion (or continue token) is older than the server keeps: relist."""
        return self.status == 410


class TransportError(ApiError):
    """No answer from the server: connection refused or reset, timeout, a stream cut short."""

    def __init__(self, message: str) -> None:
        super().__init__(0, "TransportError", message)


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """``ADDED``, ``MODIFIED``, ``DELETED`` or ``BOOKMARK`` and its object."""

    type: str
    object: Obj


class Client:
    """A connection pool to one API server; use ``async with Client(config=...) as client``."""

    def __init__(
        self,
        *,
        config: ClientConfig,
        connection_limit: int = CONNECTION_LIMIT,
        timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        self.config = config
        self._connection_limit = connection_limit
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._shared: Client | None = None  # a view's client, whose connections it uses
        self._headers: dict[str, str] = {}
        self._pool: http1.Pool | None = None  # requests; the session serves watches
        self._header_lines: tuple[str, ...] | None = None

    def with_user_agent(self, user_agent: str) -> Client:
        """A view of this client that sends another User-Agent over the same connections (as
        kube-controller-manager gives each controller a client named after it); it is usable
        while this client is open and needs no closing of its own."""
        view = Client(config=self.config, connection_limit=self._connection_limit)
        view._timeout = self._timeout
        view._shared = self._shared or self
        view._headers = {"User-Agent": user_agent}
        return view

    @classmethod
    def from_kubeconfig(
        cls, path: str | PathLike[str], *, user_agent: str | None = None, **kwargs: Any
    ) -> Client:
        if user_agent is None:
            return cls(config=load_kubeconfig(path), **kwargs)
        return cls(config=load_kubeconfig(path, user_agent=user_agent), **kwargs)

    async def __aenter__(self) -> Self:
        # A session binds to the running loop, so it is made here rather than in __init__; the
        # TLS context reads and writes key files, so it is built off the loop.
        context = await asyncio.to_thread(self.config.ssl_context)
        self._pool = http1.Pool(
            base_url=self.config.server,
            ssl_context=context,
            server_hostname=self.config.tls_server_name,
            limit=self._connection_limit,
        )
        connector = aiohttp.TCPConnector(ssl=context or False, limit=self._connection_limit)
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers=self.config.headers(),
            timeout=self._timeout,
            # The Kubernetes API sets no cookies: skip the per-request cookie-jar work.
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session, self._session = self._session, None
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()
        if session is not None:
            await session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._shared is not None:
            return self._shared.session
        if self._session is None:
            raise RuntimeError("Client is not open: use `async with Client(...)`")
        return self._session

    @property
    def pool(self) -> http1.Pool:
        if self._shared is not None:
            return self._shared.pool
        if self._pool is None:
            raise RuntimeError("Client is not open: use `async with Client(...)`")
        return self._pool

    def _lines(self) -> tuple[str, ...]:
        """The headers every request of this client sends (identity, credentials, gzip)."""
        if self._header_lines is None:
            headers = {**self.config.headers(), **self._headers, "Accept-Encoding": "gzip"}
            self._header_lines = tuple(f"{name}: {value}\r\n" for name, value in headers.items())
        return self._header_lines

    # -- requests ------------------------------------------------------------------------------
    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        body: Any = None,
        content_type: str = "application/json",
        ok: Collection[int] = (200, 201, 202),
        accept: str = "application/json",
    ) -> Obj:
        """Send ``body`` (JSON-encoded unless already ``bytes``/``str``) and return the decoded
        JSON answer; a status outside ``ok`` raises the ``ApiError`` its ``Status`` describes.
        ``accept`` may ask for another form (``PARTIAL_OBJECT_METADATA_LIST``)."""
        lines = [*self._lines(), f"Accept: {accept}\r\n"]
        data: bytes | None = None
        if body is not None:
            lines.append(f"Content-Type: {content_type}\r\n")
            data = body.encode() if isinstance(body, str) else _encode(body)
        pool = self.pool
        target = pool.target(path, urlencode(_query(params), quote_via=quote, safe=""))
        try:
            async with asyncio.timeout(self._timeout.total):
                status, raw = await pool.request(method, target, lines, data)
        except (OSError, http1.ProtocolError, TimeoutError) as err:
            raise TransportError(f"{method} {path}: {err!r}") from err
        decoded = _decode(raw)
        if status not in ok:
            raise ApiError.from_status(decoded, http_status=status)
        if not isinstance(decoded, dict):
            raise ApiError(status, "", f"{method} {path}: expected a JSON object", None)
        return decoded

    async def get(self, path: str, *, params: Params | None = None) -> Obj:
        return await self.request("GET", path, params=params)

    async def list(
        self, path: str, *, params: Params | None = None, accept: str = "application/json"
    ) -> Obj:
        return await self.request("GET", path, params=params, accept=accept)

    async def create(self, path: str, obj: Obj, *, params: Params | None = None) -> Obj:
        return await self.request("POST", path, params=params, body=obj)

    async def update(self, path: str, obj: Obj, *, params: Params | None = None) -> Obj:
        return await self.request("PUT", path, params=params, body=obj)

    async def patch(
        self,
        path: str,
        patch: Obj | builtins.list[Obj],
        *,
        patch_type: PatchType = "merge",
        params: Params | None = None,
    ) -> Obj:
        """PATCH with one of the four patch formats; ``apply`` needs ``fieldManager`` in params."""
        return await self.request(
            "PATCH", path, params=params, body=patch, content_type=PATCH_CONTENT_TYPES[patch_type]
        )

    async def delete(
        self, path: str, *, body: Obj | None = None, params: Params | None = None
    ) -> Obj:
        """DELETE; the answer is the object (while finalizers hold it) or a success Status."""
        return await self.request("DELETE", path, params=params, body=body)

    # -- watch ---------------------------------------------------------------------------------
    async def watch(
        self, path: str, *, params: Params | None = None, accept: str = "application/json"
    ) -> AsyncGenerator[WatchEvent, None]:
        """Stream the events of a watch on a collection until the server ends it.

        An ``ERROR`` event raises its ``ApiError`` (410 Gone: the resourceVersion is too old,
        relist); a connection that breaks raises ``TransportError``. A caller that stops early
        should close the generator (``contextlib.aclosing``) so the connection is released now.
        """
        query = {**_query(params), "watch": "1"}
        timeout_seconds = query.get("timeoutSeconds")
        read_timeout = (
            float(timeout_seconds) + WATCH_READ_MARGIN
            if timeout_seconds
            else WATCH_DEFAULT_READ_TIMEOUT
        )
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self._timeout.total, sock_read=read_timeout
        )
        try:
            async with self.session.get(
                self.config.server + path,
                params=query,
                headers={"Accept": accept, **self._headers},
                timeout=timeout,
                server_hostname=self.config.tls_server_name,
            ) as response:
                if response.status != 200:
                    raise ApiError.from_status(
                        _decode(await response.read()), http_status=response.status
                    )
                async for line in _lines(response.content):
                    yield _watch_event(line)
        except (aiohttp.ClientError, TimeoutError) as err:
            raise TransportError(f"watch {path}: {err!r}") from err


async def _lines(content: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    """Split the stream at newlines ourselves: aiohttp's ``readline`` refuses lines longer than
    its buffer (128 KiB), and one event may hold a ConfigMap of 1 MiB."""
    pending = bytearray()
    async for chunk in content.iter_any():
        pending += chunk
        start = 0
        while (end := pending.find(b"\n", start)) >= 0:
            if end > start:
                yield bytes(pending[start:end])
            start = end + 1
        del pending[:start]
    if pending.strip():
        yield bytes(pending)


def _watch_event(line: bytes) -> WatchEvent:
    try:
        event = orjson.loads(line)
        kind, obj = event["type"], event["object"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as err:
        raise TransportError(f"malformed watch event: {line[:200]!r}") from err
    if kind == "ERROR":
        code = obj.get("code") if isinstance(obj, dict) else None
        raise ApiError.from_status(obj, http_status=code if isinstance(code, int) else 500)
    if not isinstance(obj, dict):
        raise TransportError(f"malformed watch event: {line[:200]!r}")
    return WatchEvent(str(kind), obj)


def _query(params: Params | None) -> dict[str, str]:
    if not params:
        return {}
    return {
        key: ("true" if value else "false") if isinstance(value, bool) else str(value)
        for key, value in params.items()
    }


def _encode(body: Any) -> bytes:
    return body if isinstance(body, bytes) else orjson.dumps(body)


def _decode(raw: bytes) -> Any:
    if not raw:
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode(errors="replace")
