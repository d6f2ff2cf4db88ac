"""A real API server in the test's event loop, on a free loopback port, over SQLite."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import pytest

from pocketkube.apiserver.app import APIServer


@dataclass
class Client:
    """An admin client of the test server (client certificate), or an anonymous one."""

    session: aiohttp.ClientSession
    base: str

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> tuple[int, Any]:
        data = raw if raw is not None else (orjson.dumps(body) if body is not None else None)
        all_headers = {"Content-Type": content_type, **(headers or {})}
        async with self.session.request(
            method, self.base + path, data=data, headers=all_headers
        ) as response:
            text = await response.read()
            try:
                return response.status, orjson.loads(text)
            except orjson.JSONDecodeError:
                return response.status, text.decode(errors="replace")


def _context(server: APIServer, *, with_cert: bool) -> ssl.SSLContext:
    assert server.pki is not None
    context = ssl.create_default_context(cafile=str(server.pki.ca_cert))
    if with_cert:
        context.load_cert_chain(str(server.pki.admin_cert), str(server.pki.admin_key))
    return context


@pytest.fixture
async def admin(apiserver: APIServer) -> AsyncIterator[Client]:
    connector = aiohttp.TCPConnector(ssl=_context(apiserver, with_cert=True))
    async with aiohttp.ClientSession(connector=connector) as session:
        yield Client(session, apiserver.url)


@pytest.fixture
async def anonymous(apiserver: APIServer) -> AsyncIterator[Client]:
    connector = aiohttp.TCPConnector(ssl=_context(apiserver, with_cert=False))
    async with aiohttp.ClientSession(connector=connector) as session:
        yield Client(session, apiserver.url)
