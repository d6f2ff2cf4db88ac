"""The kubelet's upgrade proxy: a WebSocket through the kubelet server to a local backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from pocketkube.apiserver.pki import ensure_pki, issue_client_cert
from pocketkube.kubelet.server import Host, KubeletServer, TLSFiles
from pocketkube.kubelet.server.proxy import upgrade_proxy
from pocketkube.runtime import cri
from tests.unit.kubelet.server.test_server import FakeRuntime, Setup, container, pod


async def backend_app() -> web.Application:
    async def echo(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(protocols=("v5.channel.k8s.io",))
        await ws.prepare(request)
        async for message in ws:
            if message.type == aiohttp.WSMsgType.BINARY:
                await ws.send_bytes(b"\x01" + message.data + request.path.encode())
        return ws

    async def refused(request: web.Request) -> web.Response:
        return web.Response(status=404, text="token not found")

    app = web.Application()
    app.router.add_get("/exec/{token}", echo)
    app.router.add_get("/attach/{token}", refused)
    return app


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    runner = web.AppRunner(await backend_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    pki = ensure_pki(tmp_path / "data", host_addresses=[])
    client_cert = issue_client_cert(pki, "kc", cn="kube-apiserver-kubelet-client", groups=[])
    runtime = FakeRuntime(log_path="")
    runtime.containers = [container("c1", 1, cri.ContainerState.RUNNING)]

    async def exec_url(request: cri.StreamRequest) -> cri.StreamResponse:
        return cri.StreamResponse(url=f"http://127.0.0.1:{port}/exec/tok")

    async def attach_url(request: cri.StreamRequest) -> cri.StreamResponse:
        return cri.StreamResponse(url=f"http://127.0.0.1:{port}/attach/tok")

    runtime.exec = exec_url  # type: ignore[method-assign]
    runtime.attach = attach_url  # type: ignore[method-assign]
    server = KubeletServer(
        host=Host(
            node_name="n1",
            pods=lambda: [pod()],
            runtime=runtime,
            log_root=tmp_path,
            proxy=upgrade_proxy,
        ),
        tls=TLSFiles(pki.serving_cert, pki.serving_key, pki.ca_cert),
        address="127.0.0.1",
        port=0,
    )
    await server.start()
    try:
        yield Setup(f"https://127.0.0.1:{server.port}", pki, runtime, [], client_cert)
    finally:
        await server.close()
        await runner.cleanup()


async def test_websocket_through_the_kubelet(setup: Setup) -> None:
    url = setup.url.replace("https", "wss") + "/exec/ns/p/c?command=sh&input=1&output=1"
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, ssl=setup.context(), protocols=("v5.channel.k8s.io",)) as ws,
    ):
        assert ws.protocol == "v5.channel.k8s.io"
        for i in range(3):
            await ws.send_bytes(b"\x00hi%d" % i)
            message = await ws.receive()
            assert message.data == b"\x01\x00hi%d/exec/tok" % i


async def test_backend_refusal_is_relayed(setup: Setup) -> None:
    url = setup.url + "/attach/ns/p/c?output=1"
    headers = {"Connection": "Upgrade", "Upgrade": "websocket"}
    async with aiohttp.ClientSession() as session:
        async with session.get(url, ssl=setup.context(), headers=headers) as response:
            assert response.status == 404
            assert await response.text() == "token not found"
        # the connection stays HTTP: a plain request without upgrade is refused as upstream
        async with session.get(url, ssl=setup.context()) as response:
            assert response.status == 400
            assert await response.text() == "Upgrade request required"


async def test_a_large_upload_and_download_pass_whole(setup: Setup) -> None:
    url = setup.url.replace("https", "wss") + "/exec/ns/p/c?command=cat&input=1&output=1"
    chunk = bytes(range(256)) * 1024  # 256 KiB a message
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, ssl=setup.context(), protocols=("v5.channel.k8s.io",)) as ws,
    ):
        for _ in range(20):
            await ws.send_bytes(b"\x00" + chunk)
        for _ in range(20):
            message = await ws.receive()
            assert message.data == b"\x01\x00" + chunk + b"/exec/tok"
