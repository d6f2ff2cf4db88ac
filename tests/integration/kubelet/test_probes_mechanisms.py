"""Each probe mechanism against real loopback servers: results and Go-worded outputs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pocketkube.kubelet.prober.grpcprobe import grpc_probe
from pocketkube.kubelet.prober.httpprobe import build_request, http_probe
from pocketkube.kubelet.prober.outcome import Outcome, ProbeOutput
from pocketkube.kubelet.prober.tcpprobe import tcp_probe
from tests.integration.kubelet.test_probes_servers import (
    HOST,
    GRPCServer,
    HTTPServer,
    free_port,
    self_signed,
    serve_grpc,
    serve_http,
)

CONTAINER = {"name": "app", "ports": [{"name": "web", "containerPort": 1}]}


@pytest.fixture
def closed_port() -> int:
    return free_port()


@pytest.fixture
async def grpc_server() -> AsyncIterator[GRPCServer]:
    async with serve_grpc() as server:
        yield server


@pytest.fixture
async def grpc_server_without_health() -> AsyncIterator[GRPCServer]:
    async with serve_grpc(with_health=False) as server:
        yield server


@pytest.fixture
async def http_server() -> AsyncIterator[HTTPServer]:
    async with serve_http() as server:
        yield server


@pytest.fixture
async def https_server(tmp_path: Path) -> AsyncIterator[HTTPServer]:
    async with serve_http(self_signed(tmp_path)) as server:
        yield server


async def probe_http(port: int, path: str, seconds: float = 2, **fields: Any) -> ProbeOutput:
    request = build_request(
        {"port": port, "path": path, **fields}, CONTAINER, pod_ip=HOST, purpose="probe"
    )
    return await http_probe(request, timeout_seconds=seconds)


@pytest.mark.parametrize(
    ("path", "outcome", "output"),
    [
        ("/ok", Outcome.SUCCESS, "ok"),
        ("/status/204", Outcome.SUCCESS, ""),
        ("/status/500", Outcome.FAILURE, "HTTP probe failed with statuscode: 500"),
        ("/status/404", Outcome.FAILURE, "HTTP probe failed with statuscode: 404"),
        ("/redirect/same", Outcome.SUCCESS, "ok"),
        ("/redirect/fail", Outcome.FAILURE, "HTTP probe failed with statuscode: 503"),
        ("/redirect/other", Outcome.WARNING, "Probe terminated redirects, Response body: "),
        ("/status/301", Outcome.WARNING, "Probe terminated redirects, Response body: status"),
    ],
)
async def test_http(http_server: HTTPServer, path: str, outcome: Outcome, output: str) -> None:
    result = await probe_http(http_server.port, path)
    assert (result.outcome, result.output) == (outcome, output)


async def test_http_redirect_loop(http_server: HTTPServer) -> None:
    result = await probe_http(http_server.port, "/redirect/loop")
    url = f"http://{HOST}:{http_server.port}/redirect/loop"
    assert (result.outcome, result.output) == (
        Outcome.FAILURE,
        f'Get "{url}": stopped after 10 redirects',
    )
    assert len(http_server.requests) == 10  # as Go's client: the 10th redirect is refused


async def test_http_refused(closed_port: int) -> None:
    result = await probe_http(closed_port, "/healthz")
    addr = f"{HOST}:{closed_port}"
    assert result.outcome is Outcome.FAILURE
    assert result.output == (
        f'Get "http://{addr}/healthz": dial tcp {addr}: connect: connection refused'
    )


async def test_http_timeout(http_server: HTTPServer) -> None:
    result = await probe_http(http_server.port, "/slow", seconds=0.3)
    assert result.outcome is Outcome.FAILURE
    assert result.output == (
        f'Get "http://{HOST}:{http_server.port}/slow": context deadline exceeded '
        "(Client.Timeout exceeded while awaiting headers)"
    )


async def test_http_reads_at_most_10_kib(http_server: HTTPServer) -> None:
    result = await probe_http(http_server.port, "/big")
    assert (result.outcome, len(result.output)) == (Outcome.SUCCESS, 10 * 1024)


async def test_http_headers(http_server: HTTPServer) -> None:
    headers = [{"name": "X-Probe", "value": "1"}, {"name": "Host", "value": "app.test"}]
    result = await probe_http(http_server.port, "/ok", httpHeaders=headers)
    assert result.outcome is Outcome.SUCCESS
    request = http_server.requests[-1]
    assert request.headers["User-Agent"] == "kube-probe/1.33"
    assert request.headers["Accept"] == "*/*"
    assert request.headers["X-Probe"] == "1"
    assert request.headers["Host"] == "app.test"


async def test_https_without_verification(https_server: HTTPServer) -> None:
    result = await probe_http(https_server.port, "/ok", scheme="HTTPS")
    assert (result.outcome, result.output) == (Outcome.SUCCESS, "ok")


async def test_https_against_plain_http(http_server: HTTPServer) -> None:
    result = await probe_http(http_server.port, "/ok", scheme="HTTPS")
    assert result.outcome is Outcome.FAILURE
    assert result.output.endswith("http: server gave HTTP response to HTTPS client")


async def test_tcp(http_server: HTTPServer, closed_port: int) -> None:
    opened = await tcp_probe(host=HOST, port=http_server.port, timeout_seconds=1)
    assert (opened.outcome, opened.output) == (Outcome.SUCCESS, "")
    refused = await tcp_probe(host=HOST, port=closed_port, timeout_seconds=1)
    assert (refused.outcome, refused.output) == (
        Outcome.FAILURE,
        f"dial tcp {HOST}:{closed_port}: connect: connection refused",
    )


async def probe_grpc(port: int, service: str = "", seconds: float = 2) -> ProbeOutput:
    return await grpc_probe(
        host=HOST, port=port, service=service, timeout_seconds=seconds, user_agent="kube-probe/1.33"
    )


@pytest.mark.parametrize(
    ("service", "outcome", "output"),
    [
        ("", Outcome.SUCCESS, "service healthy"),
        ("down", Outcome.FAILURE, 'service unhealthy (responded with "NOT_SERVING")'),
        (
            "nope",
            Outcome.FAILURE,
            "error: health rpc probe failed: rpc error: code = NotFound desc = unknown service",
        ),
    ],
)
async def test_grpc(grpc_server: GRPCServer, service: str, outcome: Outcome, output: str) -> None:
    result = await probe_grpc(grpc_server.port, service)
    assert (result.outcome, result.output) == (outcome, output)
    assert grpc_server.user_agents[-1].startswith("kube-probe/1.33")


async def test_grpc_unimplemented(grpc_server_without_health: GRPCServer) -> None:
    result = await probe_grpc(grpc_server_without_health.port)
    assert result.outcome is Outcome.FAILURE
    assert result.output.startswith(
        "error: this server does not implement the grpc health protocol (grpc.health.v1.Health)"
    )


async def test_grpc_rpc_timeout(grpc_server: GRPCServer) -> None:
    result = await probe_grpc(grpc_server.port, "slow", seconds=0.5)
    assert (result.outcome, result.output) == (
        Outcome.FAILURE,
        "timeout: health rpc did not complete within 500ms",
    )


async def test_grpc_nothing_listening(closed_port: int) -> None:
    result = await probe_grpc(closed_port, seconds=0.5)
    assert (result.outcome, result.output) == (
        Outcome.FAILURE,
        f'timeout: failed to connect service "{HOST}:{closed_port}" within 500ms: '
        "context deadline exceeded",
    )
