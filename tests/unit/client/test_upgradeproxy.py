"""The upgrade-aware proxy against a local backend: streamed bodies, redirects relayed, upgrades
pumped both ways, refusals relayed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from pocketkube.client.upgradeproxy import ProxyError, parse_head, proxy


@pytest.fixture
async def front() -> AsyncIterator[str]:
    async def backend_chunks(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for i in range(3):
            await response.write(f"{i}{request.headers.get('Authorization', '-')}\n".encode())
        await response.write_eof()
        return response

    async def backend_redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound("/chunks")

    async def backend_ws(request: web.Request) -> web.StreamResponse:
        if request.query.get("refuse"):
            return web.Response(status=403, text="no")
        ws = web.WebSocketResponse(protocols=("v5.channel.k8s.io",))
        await ws.prepare(request)
        async for message in ws:
            await ws.send_bytes(message.data[::-1])
        return ws

    backend = web.Application()
    backend.router.add_get("/chunks", backend_chunks)
    backend.router.add_get("/redirect", backend_redirect)
    backend.router.add_get("/ws", backend_ws)
    back_runner = web.AppRunner(backend)
    await back_runner.setup()
    await web.TCPSite(back_runner, "127.0.0.1", 0).start()
    back = f"http://127.0.0.1:{back_runner.addresses[0][1]}"

    async with aiohttp.ClientSession() as session:

        async def forward(request: web.Request) -> web.StreamResponse:
            target = request.match_info["rest"]
            try:
                return await proxy(
                    request, f"{back}/{target}?{request.query_string}", session=session
                )
            except ProxyError as err:
                return web.Response(status=502, text=str(err))

        app = web.Application()
        app.router.add_route("*", "/{rest:.*}", forward)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        try:
            yield f"http://127.0.0.1:{runner.addresses[0][1]}"
        finally:
            await runner.cleanup()
            await back_runner.cleanup()


async def test_plain_is_streamed_without_the_clients_credentials(front: str) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{front}/chunks", headers={"Authorization": "Bearer x"}) as response,
    ):
        assert await response.text() == "0-\n1-\n2-\n"


async def test_redirects_are_relayed_not_followed(front: str) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{front}/redirect", allow_redirects=False) as response,
    ):
        assert response.status == 302
        assert response.headers["Location"] == "/chunks"


async def test_upgrade_pumps_both_ways(front: str) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{front}/ws", protocols=("v5.channel.k8s.io",)) as ws,
    ):
        assert ws.protocol == "v5.channel.k8s.io"
        for data in (b"abc", b"x" * 200_000):
            await ws.send_bytes(data)
            assert (await ws.receive()).data == data[::-1]


async def test_refused_upgrade_is_relayed(front: str) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
            await session.ws_connect(f"{front}/ws?refuse=1")
        assert caught.value.status == 403


async def test_unreachable_backend_is_a_proxy_error() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        async with aiohttp.ClientSession() as session:
            return await proxy(request, "http://127.0.0.1:1/x", session=session)

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{runner.addresses[0][1]}/") as response,
        ):
            assert response.status == 500
    finally:
        await runner.cleanup()


def test_parse_head() -> None:
    assert parse_head(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket") == (
        101,
        "Switching Protocols",
        [("Upgrade", "websocket")],
    )
    with pytest.raises(ProxyError):
        parse_head(b"garbage")
