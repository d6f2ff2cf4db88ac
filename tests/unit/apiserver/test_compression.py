"""gzip of large API responses (upstream's APIResponseCompression): when, and what is sent."""

from __future__ import annotations

import asyncio
import gzip
import os

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from pocketkube.apiserver.compression import (
    THRESHOLD_BYTES,
    Handler,
    accepts_gzip,
    gzip_middleware,
    write_parts,
)

ITEMS = (b'{"n":%d,"pad":"%s"}' % (i, b"x" * 40) for i in range(8000))
BIG = b'{"items":[' + b",".join(ITEMS) + b"]}"
SMALL = b'{"kind":"Status"}'


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip", True),
        ("gzip, deflate", True),
        ("deflate, gzip", True),
        ("deflate,  gzip ,br", True),
        ("", False),
        ("deflate", False),
        ("identity", False),
        ("gzip;q=0.5", False),  # upstream compares whole tokens
        ("x-gzip", False),
    ],
)
def test_accepts_gzip_matches_whole_tokens(header: str, expected: bool) -> None:
    assert accepts_gzip(header) is expected


async def _client(body: bytes) -> TestClient[web.Request, web.Application]:
    async def respond(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json", headers={"X-Kept": "1"})

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(body)
        return response

    app = web.Application(middlewares=[gzip_middleware])
    app.router.add_get("/api/v1/pods", respond)
    app.router.add_get("/api/v1/watch", stream)
    app.router.add_get("/openapi/v3/api/v1", respond)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def _get(
    client: TestClient[web.Request, web.Application], path: str, encoding: str
) -> tuple[dict[str, str], bytes]:
    async with client.get(path, headers={"Accept-Encoding": encoding}, auto_decompress=False) as r:
        assert r.status == 200
        return dict(r.headers), await r.read()


async def test_large_api_responses_are_gzipped_for_clients_that_ask() -> None:
    assert len(BIG) > THRESHOLD_BYTES
    client = await _client(BIG)
    try:
        headers, body = await _get(client, "/api/v1/pods", "gzip")
        assert headers["Content-Encoding"] == "gzip"
        assert headers["Vary"] == "Accept-Encoding"
        assert headers["Content-Type"] == "application/json"
        assert headers["X-Kept"] == "1"
        assert "Content-Length" not in headers  # streamed, chunked
        assert len(body) < len(BIG) // 5
        assert gzip.decompress(body) == BIG

        headers, body = await _get(client, "/api/v1/pods", "identity")
        assert "Content-Encoding" not in headers
        assert body == BIG
    finally:
        await client.close()


async def test_small_streamed_and_non_api_responses_are_left_alone() -> None:
    client = await _client(BIG)
    small = await _client(SMALL)
    try:
        headers, body = await _get(client, "/api/v1/watch", "gzip")
        assert "Content-Encoding" not in headers
        assert body == BIG
        headers, body = await _get(client, "/openapi/v3/api/v1", "gzip")
        assert "Content-Encoding" not in headers
        headers, body = await _get(small, "/api/v1/pods", "gzip")
        assert "Content-Encoding" not in headers
        assert body == SMALL
    finally:
        await client.close()
        await small.close()


async def test_a_client_leaving_mid_answer_is_not_an_error() -> None:
    failures: list[BaseException] = []

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except BaseException as err:
            failures.append(err)
            raise

    body = os.urandom(8 * 1024 * 1024)  # incompressible: more than the socket buffers hold

    async def respond(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application(middlewares=[record, gzip_middleware])
    app.router.add_get("/api/v1/pods", respond)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        response = await client.get("/api/v1/pods", headers={"Accept-Encoding": "gzip"})
        assert response.headers["Content-Encoding"] == "gzip"
        await response.content.readany()
        response.close()  # drop the connection with most of the answer unread
        for _ in range(100):
            await asyncio.sleep(0.02)
        # the test server cancels a handler whose client left; nothing else may escape
        assert [f for f in failures if not isinstance(f, asyncio.CancelledError)] == []
    finally:
        await client.close()


async def _parts_client(parts: list[bytes]) -> TestClient[web.Request, web.Application]:
    async def respond(request: web.Request) -> web.StreamResponse:
        return await write_parts(request, iter(parts))

    app = web.Application(middlewares=[gzip_middleware])
    app.router.add_get("/api/v1/pods", respond)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_a_body_in_parts_is_streamed_and_gzipped_when_its_first_part_is_large() -> None:
    parts = [BIG[:200_000], BIG[200_000:300_000], BIG[300_000:]]
    client = await _parts_client(parts)
    try:
        headers, body = await _get(client, "/api/v1/pods", "gzip")
        assert headers["Content-Encoding"] == "gzip"
        assert headers["Transfer-Encoding"] == "chunked"
        assert gzip.decompress(body) == BIG
        headers, body = await _get(client, "/api/v1/pods", "identity")
        assert "Content-Encoding" not in headers
        assert headers["Transfer-Encoding"] == "chunked"
        assert body == BIG
    finally:
        await client.close()


async def test_a_body_in_parts_with_a_small_first_part_is_sent_whole() -> None:
    small = await _parts_client([SMALL[:5], SMALL[5:]])
    grown = await _parts_client([BIG[:1000], BIG[1000:]])  # whole, then the middleware's gzip
    try:
        headers, body = await _get(small, "/api/v1/pods", "gzip")
        assert (body, headers["Content-Length"]) == (SMALL, str(len(SMALL)))
        headers, body = await _get(grown, "/api/v1/pods", "gzip")
        assert headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(body) == BIG
    finally:
        await small.close()
        await grown.close()
