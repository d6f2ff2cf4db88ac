"""The kubelet server over the real process runtime: logs, exec and port-forward end to end
(client → kubelet :TLS → the runtime's streaming server → the container)."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from pocketkube.apiserver.pki import ensure_pki, issue_client_cert
from pocketkube.kubelet import podutil
from pocketkube.kubelet.server import Host, KubeletServer, TLSFiles
from pocketkube.kubelet.server.proxy import upgrade_proxy
from pocketkube.runtime.process.runtime import ProcessRuntime
from tests.integration.runtime.process_support import (
    container_config,
    process_runtime,
    run_container,
    sandbox_config,
)

UID = "uid-pod"
LABELS = {podutil.POD_UID_LABEL: UID}
POD = {
    "metadata": {"name": "pod", "namespace": "default", "uid": UID},
    "spec": {"containers": [{"name": "c"}, {"name": "short"}]},
}


class Kubelet:
    def __init__(self, url: str, context: ssl.SSLContext, rt: ProcessRuntime) -> None:
        self.url, self.context, self.rt = url, context, rt


@pytest.fixture
async def kubelet(tmp_path: Path) -> AsyncIterator[Kubelet]:
    pki = ensure_pki(tmp_path / "data", host_addresses=[])
    cert = issue_client_cert(pki, "kc", cn="kube-apiserver-kubelet-client", groups=[])
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    context.load_cert_chain(*cert)
    async with process_runtime(tmp_path / "rt") as rt:
        server = KubeletServer(
            host=Host(
                node_name="n1",
                pods=lambda: [POD],
                runtime=rt,
                log_root=tmp_path / "logs",
                proxy=upgrade_proxy,
            ),
            tls=TLSFiles(pki.serving_cert, pki.serving_key, pki.ca_cert),
            address="127.0.0.1",
            port=0,
        )
        await server.start()
        try:
            yield Kubelet(f"https://127.0.0.1:{server.port}", context, rt)
        finally:
            await server.close()
            await rt.aclose()


async def start_pod(k: Kubelet, tmp_path: Path) -> str:
    sid = await k.rt.run_pod_sandbox(
        sandbox_config(
            log_directory=str(tmp_path / "logs" / "pod"), host_network=True, labels=LABELS
        )
    )
    labels = {**LABELS, podutil.CONTAINER_NAME_LABEL: "c"}
    await run_container(
        k.rt, sid, container_config("c", "sh", "-c", "echo ready; sleep 30", labels=labels)
    )
    short = {**LABELS, podutil.CONTAINER_NAME_LABEL: "short"}
    await run_container(
        k.rt, sid, container_config("short", "sh", "-c", "echo a; sleep 1; echo b", labels=short)
    )
    return sid


async def test_logs_and_exec_through_the_kubelet(kubelet: Kubelet, tmp_path: Path) -> None:
    await start_pod(kubelet, tmp_path)
    async with aiohttp.ClientSession() as session:
        url = kubelet.url + "/containerLogs/default/pod/short?follow=true"
        async with session.get(url, ssl=kubelet.context) as response:
            assert response.status == 200
            body = await asyncio.wait_for(response.read(), 20)  # ends when the container exits
        assert body == b"a\nb\n"
        url = kubelet.url.replace("https", "wss") + (
            "/exec/default/pod/c?command=sh&command=-c&command=cat%3B+exit+4"
            "&input=1&output=1&error=1"
        )
        out = bytearray()
        status: dict[str, Any] = {}
        async with session.ws_connect(
            url, ssl=kubelet.context, protocols=("v5.channel.k8s.io",), method="POST"
        ) as ws:
            await ws.send_bytes(b"\x00hello\n")
            await ws.send_bytes(b"\xff\x00")  # v5: close stdin
            async for message in ws:
                if message.type != aiohttp.WSMsgType.BINARY:
                    break
                if message.data[0] == 1:
                    out.extend(message.data[1:])
                elif message.data[0] == 3:
                    status = json.loads(message.data[1:])
        assert bytes(out) == b"hello\n"
        assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "4"}]


async def test_port_forward_through_the_kubelet(kubelet: Kubelet, tmp_path: Path) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"echo " + await reader.readline())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        await start_pod(kubelet, tmp_path)
        url = kubelet.url.replace("https", "wss") + f"/portForward/default/pod?ports={port}"
        got = bytearray()
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(url, ssl=kubelet.context, protocols=("v4.channel.k8s.io",)) as ws,
        ):
            prefix = port.to_bytes(2, "little")
            first = [await ws.receive_bytes(), await ws.receive_bytes()]
            assert sorted(first) == [b"\x00" + prefix, b"\x01" + prefix]
            await ws.send_bytes(b"\x00ping\n")
            async for message in ws:
                if message.type != aiohttp.WSMsgType.BINARY:
                    break
                if message.data[0] == 0:
                    got.extend(message.data[1:])
                if got.endswith(b"\n"):
                    break
        assert bytes(got) == b"echo ping\n"


async def test_missing_container_and_runtime_refusal(kubelet: Kubelet, tmp_path: Path) -> None:
    async with aiohttp.ClientSession() as session:
        url = kubelet.url + "/exec/default/pod/c?command=ls&output=1"
        headers = {"Connection": "Upgrade", "Upgrade": "websocket"}
        async with session.post(url, ssl=kubelet.context, headers=headers) as response:
            assert response.status == 404
            assert await response.text() == 'container not found ("c")'
        async with session.get(
            kubelet.url + "/containerLogs/default/pod/c", ssl=kubelet.context
        ) as response:
            assert response.status == 400
            assert "is waiting to start" in await response.text()
