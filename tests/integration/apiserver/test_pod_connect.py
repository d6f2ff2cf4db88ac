"""pods/log, exec, attach and portforward through the API server to a fake kubelet over TLS:
upstream's checks and messages, the kubelet's paths and query, the client certificate, upgrades
passed through byte for byte."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from pocketkube.apiserver.app import APIServer
from pocketkube.apiserver.pki import server_ssl_context
from tests.integration.apiserver.conftest import Client

BASE = "/api/v1/namespaces/default/pods"


@dataclass
class FakeKubelet:
    port: int = 0
    seen: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path_qs, client CN)


def _cn(request: web.Request) -> str:
    transport = request.transport
    cert = transport.get_extra_info("peercert") if transport is not None else None
    for rdn in (cert or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return ""


@pytest.fixture
async def kubelet(apiserver: APIServer) -> AsyncIterator[FakeKubelet]:
    fake = FakeKubelet()

    async def logs(request: web.Request) -> web.StreamResponse:
        fake.seen.append((request.method, request.path_qs, _cn(request)))
        if request.query.get("previous"):
            text = f'previous terminated container "{request.match_info["c"]}" in pod "p" not found'
            return web.Response(status=400, text=text)
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        for line in (b"one\n", b"two\n"):
            await response.write(line)
        await response.write_eof()
        return response

    async def stream(request: web.Request) -> web.StreamResponse:
        fake.seen.append((request.method, request.path_qs, _cn(request)))
        if request.match_info["pod"] == "gone":
            return web.Response(status=404, text="pod does not exist")
        ws = web.WebSocketResponse(protocols=("v5.channel.k8s.io",))
        await ws.prepare(request)
        async for message in ws:
            if message.type == aiohttp.WSMsgType.BINARY:
                await ws.send_bytes(b"\x01" + message.data)
        return ws

    app = web.Application()
    app.router.add_get("/containerLogs/{ns}/{pod}/{c}", logs)
    for kind in ("exec", "attach"):
        app.router.add_route("*", f"/{kind}/{{ns}}/{{pod}}/{{c}}", stream)
    app.router.add_route("*", "/portForward/{ns}/{pod}", stream)
    assert apiserver.pki is not None
    context = server_ssl_context(apiserver.pki)
    context.verify_mode = ssl.CERT_REQUIRED
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    fake.port = runner.addresses[0][1]
    try:
        yield fake
    finally:
        await runner.cleanup()


@pytest.fixture
async def cluster(admin: Client, kubelet: FakeKubelet) -> Client:
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}
    code, created = await admin.request("POST", "/api/v1/nodes", node)
    assert code == 201, created
    created["status"] = {
        "addresses": [
            {"type": "Hostname", "address": "n1"},
            {"type": "InternalIP", "address": "127.0.0.1"},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet.port}},
    }
    code, body = await admin.request("PUT", "/api/v1/nodes/n1/status", created)
    assert code == 200, body
    for name, node_name in (("p", "n1"), ("pending", ""), ("gone", "n1")):
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {
                "nodeName": node_name,
                "containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "x"}],
            },
        }
        code, body = await admin.request("POST", BASE, pod)
        assert code == 201, body
    return admin


async def test_log_streams_from_the_kubelet(cluster: Client, kubelet: FakeKubelet) -> None:
    code, body = await cluster.request(
        "GET", f"{BASE}/p/log?container=b&tailLines=2&follow=true&timestamps=1"
    )
    assert (code, body) == (200, "one\ntwo\n")
    assert kubelet.seen == [
        (
            "GET",
            "/containerLogs/default/p/b?follow=true&timestamps=true&tailLines=2",
            "kube-apiserver-kubelet-client",
        )
    ]


async def test_log_refusals_as_upstream(cluster: Client, kubelet: FakeKubelet) -> None:
    code, body = await cluster.request("GET", f"{BASE}/p/log")
    assert code == 400
    assert body["message"] == "a container name must be specified for pod p, choose one of: [a b]"
    code, body = await cluster.request("GET", f"{BASE}/p/log?container=c")
    assert (code, body["message"]) == (400, "container c is not valid for pod p")
    code, body = await cluster.request("GET", f"{BASE}/p/log?container=a&tailLines=-1")
    assert code == 422
    assert body["message"] == (
        'PodLogOptions "p" is invalid: tailLines: Invalid value: -1: '
        "must be greater than or equal to 0"
    )
    code, body = await cluster.request("GET", f"{BASE}/missing/log")
    assert (code, body["reason"]) == (404, "NotFound")
    code, body = await cluster.request("GET", f"{BASE}/pending/log?container=a")
    assert (code, body) == (200, "")
    assert kubelet.seen == []


async def test_exec_upgrade_passes_through(cluster: Client, kubelet: FakeKubelet) -> None:
    url = cluster.base + f"{BASE}/p/exec?command=sh&command=-c&container=a&stdin=true&stdout=true"
    async with cluster.session.ws_connect(url, protocols=("v5.channel.k8s.io",)) as ws:
        assert ws.protocol == "v5.channel.k8s.io"
        await ws.send_bytes(b"\x00hello")
        message = await ws.receive()
        assert message.data == b"\x01\x00hello"
    assert kubelet.seen == [
        (
            "GET",
            "/exec/default/p/a?command=sh&command=-c&input=1&output=1",
            "kube-apiserver-kubelet-client",
        )
    ]


async def test_attach_and_portforward_reach_the_kubelet(
    cluster: Client, kubelet: FakeKubelet
) -> None:
    for path in (
        f"{BASE}/p/attach?container=b&stdout=1&tty=true",
        f"{BASE}/p/portforward?ports=80,81",
    ):
        async with cluster.session.ws_connect(
            cluster.base + path, protocols=("v5.channel.k8s.io",)
        ) as ws:
            await ws.send_bytes(b"x")
            assert (await ws.receive()).data == b"\x01x"
    assert [s[1] for s in kubelet.seen] == [
        "/attach/default/p/b?output=1&tty=1",
        "/portForward/default/p?port=80&port=81",
    ]


async def test_stream_refusals(cluster: Client, kubelet: FakeKubelet) -> None:
    code, body = await cluster.request("POST", f"{BASE}/pending/exec?container=a&command=ls")
    assert (code, body["message"]) == (400, "pod pending does not have a host assigned")
    code, body = await cluster.request("POST", f"{BASE}/p/exec?command=ls")
    assert code == 400
    assert body["message"].startswith("a container name must be specified for pod p")
    # The kubelet's refusal of an upgrade is relayed as it came.
    code, body = await cluster.request(
        "POST",
        f"{BASE}/gone/exec?container=a&command=ls&stdout=1",
        headers={"Connection": "Upgrade", "Upgrade": "SPDY/3.1"},
    )
    assert (code, body) == (404, "pod does not exist")


async def test_unreachable_kubelet_is_a_status(cluster: Client, kubelet: FakeKubelet) -> None:
    kubelet.port = 1
    code, node = await cluster.request("GET", "/api/v1/nodes/n1")
    node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] = 1
    code, _ = await cluster.request("PUT", "/api/v1/nodes/n1/status", node)
    assert code == 200
    code, body = await cluster.request("GET", f"{BASE}/p/log?container=a")
    assert code == 500
    assert body["kind"] == "Status"


async def test_a_kubelet_refusing_a_log_is_a_status(cluster: Client) -> None:
    code, body = await cluster.request("GET", f"{BASE}/p/log?container=a&previous=true")
    assert (code, body["reason"]) == (400, "BadRequest")
    assert body["message"] == 'previous terminated container "a" in pod "p" not found'
