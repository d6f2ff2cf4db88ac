"""httpGet lifecycle hooks against loopback servers (exec and sleep hooks are unit-tested)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pocketkube.kubelet.lifecycle import HookRunner
from pocketkube.kubelet.prober.fake import FakeExecRuntime, FakeRecorder
from tests.integration.kubelet.test_probes_servers import (
    HOST,
    HTTPServer,
    free_port,
    self_signed,
    serve_http,
)

POD = {"metadata": {"name": "web", "namespace": "default", "uid": "u1"}}
WHERE = 'for Container "app" in Pod "web_default(u1)"'


@pytest.fixture
def closed_port() -> int:
    return free_port()


@pytest.fixture
async def http_server() -> AsyncIterator[HTTPServer]:
    async with serve_http() as server:
        yield server


@pytest.fixture
async def https_server(tmp_path: Path) -> AsyncIterator[HTTPServer]:
    async with serve_http(self_signed(tmp_path)) as server:
        yield server


async def hook(
    port: int, path: str, recorder: FakeRecorder | None = None, **fields: Any
) -> str | None:
    runner = HookRunner(runtime=FakeExecRuntime(), recorder=recorder, http_timeout=5)
    container = {"name": "app", "ports": [{"name": "admin", "containerPort": port}]}
    handler = {"httpGet": {"path": path, "port": "admin", **fields}}
    return await runner.run(handler, pod=POD, container=container, container_id="c1", pod_ip=HOST)


@pytest.mark.parametrize("path", ["/hook", "/status/500", "/redirect/same"])
async def test_any_response_is_success(http_server: HTTPServer, path: str) -> None:
    assert await hook(http_server.port, path) is None
    assert http_server.requests[0].headers["User-Agent"] == "kube-lifecycle/1.33"


async def test_no_response_fails_with_upstream_wording(closed_port: int) -> None:
    addr = f"{HOST}:{closed_port}"
    assert await hook(closed_port, "/hook") == (
        f"HTTP lifecycle hook (/hook) {WHERE} failed - error: "
        f'Get "http://{addr}/hook": dial tcp {addr}: connect: connection refused'
    )


async def test_https_hook(https_server: HTTPServer) -> None:
    assert await hook(https_server.port, "/hook", scheme="HTTPS") is None
    assert len(https_server.requests) == 1


async def test_https_hook_falls_back_to_http(http_server: HTTPServer) -> None:
    recorder = FakeRecorder()
    headers = [{"name": "Authorization", "value": "Bearer x"}]
    assert (
        await hook(http_server.port, "/hook", recorder, scheme="HTTPS", httpHeaders=headers) is None
    )
    assert "Authorization" not in http_server.requests[0].headers
    assert [(e.type, e.reason, e.note) for e in recorder.events] == [
        (
            "Warning",
            "LifecycleHTTPFallback",
            f"request to HTTPS lifecycle hook {HOST}:{http_server.port} got HTTP response, "
            "retry with HTTP succeeded",
        )
    ]
