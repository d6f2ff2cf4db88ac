"""The kubelet server over TLS: client-certificate authentication, authorization, endpoints."""

from __future__ import annotations

import os
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from pocketkube.apiserver.pki import PKI, ensure_pki, issue_client_cert
from pocketkube.kubelet import podutil
from pocketkube.kubelet.server import Host, KubeletServer, TLSFiles
from pocketkube.kubelet.server.auth import WebhookAuthorizer
from pocketkube.runtime import cri

POD_UID = "uid-1"


def pod(name: str = "p", containers: tuple[str, ...] = ("c",)) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "uid": POD_UID},
        "spec": {"containers": [{"name": c} for c in containers]},
        "status": {"phase": "Running"},
    }


@dataclass
class FakeRuntime:
    log_path: str
    streams: list[tuple[str, cri.StreamRequest]] = field(default_factory=list)
    containers: list[cri.Container] = field(default_factory=list)

    async def list_containers(
        self, filter: cri.ContainerFilter | None = None
    ) -> list[cri.Container]:
        labels = filter.label_selector if filter else {}
        return [c for c in self.containers if all(c.labels.get(k) == v for k, v in labels.items())]

    async def container_status(self, container_id: str) -> cri.ContainerStatus:
        c = next(c for c in self.containers if c.id == container_id)
        return cri.ContainerStatus(
            id=c.id,
            metadata=c.metadata,
            state=c.state,
            created_at=c.created_at,
            log_path=self.log_path,
        )

    async def list_pod_sandbox(
        self, filter: cri.PodSandboxFilter | None = None
    ) -> list[cri.PodSandbox]:
        return [
            cri.PodSandbox(
                id="sb1",
                metadata=cri.PodSandboxMetadata(name="p", uid=POD_UID, namespace="ns"),
                state=cri.SandboxState.READY,
                created_at=1,
            )
        ]

    async def exec(self, request: cri.StreamRequest) -> cri.StreamResponse:
        self.streams.append(("exec", request))
        return cri.StreamResponse(url="http://127.0.0.1:1/exec/token")

    async def attach(self, request: cri.StreamRequest) -> cri.StreamResponse:
        self.streams.append(("attach", request))
        return cri.StreamResponse(url="http://127.0.0.1:1/attach/token")

    async def port_forward(self, request: cri.StreamRequest) -> cri.StreamResponse:
        self.streams.append(("portforward", request))
        return cri.StreamResponse(url="http://127.0.0.1:1/portforward/token")


def container(cid: str, created: int, state: cri.ContainerState) -> cri.Container:
    return cri.Container(
        id=cid,
        pod_sandbox_id="sb1",
        metadata=cri.ContainerMetadata(name="c", attempt=0),
        image=cri.ImageSpec("busybox"),
        image_ref="busybox",
        state=state,
        created_at=created,
        labels={podutil.POD_UID_LABEL: POD_UID, podutil.CONTAINER_NAME_LABEL: "c"},
    )


@dataclass
class Setup:
    url: str
    pki: PKI
    runtime: FakeRuntime
    proxied: list[str]
    client_cert: tuple[Path, Path]

    def context(self, *, cert: bool = True) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        if cert:
            context.load_cert_chain(*self.client_cert)
        return context

    async def get(self, path: str, *, cert: bool = True, method: str = "GET") -> tuple[int, str]:
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, self.url + path, ssl=self.context(cert=cert)) as response,
        ):
            return response.status, await response.text()


async def start(tmp_path: Path, authorizer: Any = None) -> AsyncIterator[Setup]:
    pki = ensure_pki(tmp_path / "data", host_addresses=[])
    client_cert = issue_client_cert(
        pki,
        "apiserver-kubelet-client",
        cn="kube-apiserver-kubelet-client",
        groups=["system:masters"],
    )
    log_root = tmp_path / "logs"
    log_dir = log_root / "ns_p_uid-1" / "c"
    log_dir.mkdir(parents=True)
    (log_dir / "0.log").write_text("2026-01-01T00:00:01Z stdout F hello\n")
    runtime = FakeRuntime(log_path=str(log_dir / "0.log"))
    runtime.containers = [
        container("old", 1, cri.ContainerState.EXITED),
        container("new", 2, cri.ContainerState.RUNNING),
    ]
    proxied: list[str] = []

    async def proxy(request: web.Request, url: str) -> web.StreamResponse:
        proxied.append(url)
        return web.Response(text="proxied")

    server = KubeletServer(
        host=Host(
            node_name="n1",
            pods=lambda: [pod()],
            runtime=runtime,
            log_root=log_root,
            proxy=proxy,
            metrics=lambda: "kubelet_running_pods 1\n",
        ),
        tls=TLSFiles(pki.serving_cert, pki.serving_key, pki.ca_cert),
        address="127.0.0.1",
        port=0,
        authorizer=authorizer,
    )
    await server.start()
    try:
        yield Setup(f"https://127.0.0.1:{server.port}", pki, runtime, proxied, client_cert)
    finally:
        await server.close()


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    async for s in start(tmp_path):
        yield s


async def test_anonymous_is_unauthorized(setup: Setup) -> None:
    assert await setup.get("/healthz", cert=False) == (401, "Unauthorized")
    assert await setup.get("/containerLogs/ns/p/c", cert=False) == (401, "Unauthorized")


async def test_healthz_pods_metrics(setup: Setup) -> None:
    assert await setup.get("/healthz") == (200, "ok")
    status, body = await setup.get("/pods")
    assert status == 200
    assert '"kind": "PodList"' in body
    assert '"uid-1"' in body
    assert await setup.get("/metrics") == (200, "kubelet_running_pods 1\n")


async def test_container_logs(setup: Setup) -> None:
    assert await setup.get("/containerLogs/ns/p/c") == (200, "hello\n")
    assert await setup.get("/containerLogs/ns/p/c?timestamps=true") == (
        200,
        "2026-01-01T00:00:01Z hello\n",
    )
    assert await setup.get("/containerLogs/ns/nope/c") == (404, 'pod "nope" does not exist')
    assert await setup.get("/containerLogs/ns/p/x") == (
        404,
        'container "x" not found in pod "p"',
    )
    assert (await setup.get("/containerLogs/ns/p/c?tailLines=-1"))[0] == 400


async def test_log_paths_confined(setup: Setup, tmp_path: Path) -> None:
    status, _ = await setup.get("/containerLogs/ns/p/%2E%2E")
    assert status in (400, 404)
    outside = tmp_path / "secret.log"
    outside.write_text("2026-01-01T00:00:01Z stdout F secret\n")
    setup.runtime.log_path = str(outside)
    status, body = await setup.get("/containerLogs/ns/p/c")
    assert status == 403
    assert "secret" not in body
    # a symlink inside the log directory pointing outside is refused too
    link = tmp_path / "logs" / "ns_p_uid-1" / "c" / "1.log"
    os.symlink(outside, link)
    setup.runtime.log_path = str(link)
    status, body = await setup.get("/containerLogs/ns/p/c")
    assert status == 403
    assert "secret" not in body


async def test_exec_attach_port_forward_proxy_the_runtime_url(setup: Setup) -> None:
    path = "/exec/ns/p/c?command=ls&command=-l&output=1&error=1"
    assert await setup.get(path, method="POST") == (200, "proxied")
    kind, request = setup.runtime.streams[-1]
    assert kind == "exec"
    assert request.container_id == "new"
    assert request.cmd == ("ls", "-l")
    assert request.stdout
    assert request.stderr
    assert not request.stdin
    assert await setup.get("/attach/ns/p/uid-1/c?input=1&output=1&tty=1") == (200, "proxied")
    kind, request = setup.runtime.streams[-1]
    assert kind == "attach"
    assert request.tty
    assert request.stdin
    assert not request.stderr
    assert await setup.get("/portForward/ns/p?port=80") == (200, "proxied")
    kind, request = setup.runtime.streams[-1]
    assert kind == "portforward"
    assert request.pod_sandbox_id == "sb1"
    assert request.ports == (80,)
    assert setup.proxied == [
        "http://127.0.0.1:1/exec/token",
        "http://127.0.0.1:1/attach/token",
        "http://127.0.0.1:1/portforward/token",
    ]


async def test_streaming_errors(setup: Setup) -> None:
    assert await setup.get("/exec/ns/nope/c?command=ls&output=1") == (404, "pod does not exist")
    assert await setup.get("/exec/ns/p/x?command=ls&output=1") == (
        404,
        'container not found ("x")',
    )
    assert (await setup.get("/exec/ns/p/c?command=ls"))[0] == 400
    assert await setup.get("/portForward/ns/p/other-uid") == (404, "pod not found")
    assert (await setup.get("/portForward/ns/p?port=http"))[0] == 400
    assert setup.proxied == []


async def test_webhook_authorization(tmp_path: Path) -> None:
    reviews: list[dict[str, Any]] = []

    async def send(review: dict[str, Any]) -> dict[str, Any]:
        reviews.append(review)
        sub = review["spec"]["resourceAttributes"]["subresource"]
        return {"status": {"allowed": sub != "proxy"}}

    async for setup in start(tmp_path, WebhookAuthorizer(send)):
        assert await setup.get("/metrics") == (200, "kubelet_running_pods 1\n")
        assert await setup.get("/metrics") == (200, "kubelet_running_pods 1\n")
        assert len(reviews) == 1  # cached
        spec = reviews[0]["spec"]
        assert spec["user"] == "kube-apiserver-kubelet-client"
        assert spec["groups"] == ["system:masters"]
        assert spec["resourceAttributes"] == {
            "verb": "get",
            "resource": "nodes",
            "subresource": "metrics",
            "name": "n1",
        }
        status, body = await setup.get("/exec/ns/p/c?command=ls&output=1", method="POST")
        assert status == 403
        assert body == (
            "Forbidden (user=kube-apiserver-kubelet-client, verb=create, resource=nodes, "
            "subresource=proxy)"
        )


async def test_taken_port_falls_back_to_a_free_one(setup: Setup, tmp_path: Path) -> None:
    taken = int(setup.url.rsplit(":", 1)[1])
    server = KubeletServer(
        host=Host(
            node_name="n1",
            pods=list,
            runtime=setup.runtime,
            log_root=tmp_path,
            proxy=lambda request, url: None,  # type: ignore[arg-type,return-value]
        ),
        tls=TLSFiles(setup.pki.serving_cert, setup.pki.serving_key, setup.pki.ca_cert),
        address="127.0.0.1",
        port=taken,
    )
    await server.start()
    try:
        assert server.port not in (0, taken)
    finally:
        await server.close()
