"""How HTTP probe requests are built, the hand-made gRPC health messages, and Go's wording."""

from __future__ import annotations

import errno
from typing import Any

import grpc
import pytest

from pocketkube.kubelet.prober import grpcprobe
from pocketkube.kubelet.prober.goerrors import dial_error, go_duration, go_quote
from pocketkube.kubelet.prober.httpprobe import build_request
from pocketkube.kubelet.prober.outcome import ProbeError

CONTAINER = {"name": "web", "ports": [{"name": "http", "containerPort": 8080}]}


@pytest.mark.parametrize(
    ("http_get", "url"),
    [
        ({"port": 80}, "http://10.42.0.5:80"),
        ({"port": "http", "path": "/healthz"}, "http://10.42.0.5:8080/healthz"),
        ({"port": 80, "path": "ready?full=1"}, "http://10.42.0.5:80/ready?full=1"),
        ({"port": 443, "scheme": "HTTPS", "host": "127.0.0.1"}, "https://127.0.0.1:443"),
        ({"port": 80, "host": "::1"}, "http://[::1]:80"),
    ],
)
def test_url(http_get: dict[str, Any], url: str) -> None:
    assert build_request(http_get, CONTAINER, pod_ip="10.42.0.5", purpose="probe").url == url


def test_default_headers() -> None:
    request = build_request({"port": 80}, CONTAINER, pod_ip="10.0.0.1", purpose="probe")
    assert request.headers == (("User-Agent", "kube-probe/1.33"), ("Accept", "*/*"))
    request = build_request({"port": 80}, CONTAINER, pod_ip="10.0.0.1", purpose="lifecycle")
    assert ("User-Agent", "kube-lifecycle/1.33") in request.headers


def test_given_headers_win_and_empty_accept_removes_it() -> None:
    headers = [
        {"name": "User-Agent", "value": "mine"},
        {"name": "Accept", "value": ""},
        {"name": "X-Custom", "value": "a"},
        {"name": "X-Custom", "value": "b"},
        {"name": "Host", "value": "example.test"},
    ]
    request = build_request(
        {"port": 80, "httpHeaders": headers}, CONTAINER, pod_ip="10.0.0.1", purpose="probe"
    )
    assert request.headers == (
        ("User-Agent", "mine"),
        ("X-Custom", "a"),
        ("X-Custom", "b"),
        ("Host", "example.test"),
    )


def test_no_host_and_no_pod_ip_is_an_error() -> None:
    with pytest.raises(ProbeError, match="no IP"):
        build_request({"port": 80}, CONTAINER, pod_ip="", purpose="probe")


@pytest.mark.parametrize("service", ["", "a", "grpc.health.v1.Health", "x" * 300])
def test_health_request_round_trip(service: str) -> None:
    assert grpcprobe.decode_request(grpcprobe.encode_request(service)) == service


@pytest.mark.parametrize("status", [0, 1, 2, 3, 300])
def test_health_response_round_trip(status: int) -> None:
    assert grpcprobe.decode_status(grpcprobe.encode_response(status)) == status


def test_health_response_skips_unknown_fields() -> None:
    message = b"\x12\x03abc" + b"\x08\x02" + b"\x1d\x00\x00\x00\x00"
    assert grpcprobe.decode_status(message) == 2


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (grpc.StatusCode.NOT_FOUND, "NotFound"),
        (grpc.StatusCode.UNAVAILABLE, "Unavailable"),
        (grpc.StatusCode.CANCELLED, "Canceled"),
        (grpc.StatusCode.DEADLINE_EXCEEDED, "DeadlineExceeded"),
    ],
)
def test_go_code_names(code: grpc.StatusCode, name: str) -> None:
    assert grpcprobe.go_code(code) == name


def test_go_words() -> None:
    refused = ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed")
    assert dial_error("1.2.3.4:80", refused) == "dial tcp 1.2.3.4:80: connect: connection refused"
    assert dial_error("1.2.3.4:80", TimeoutError()) == "dial tcp 1.2.3.4:80: i/o timeout"
    assert [go_duration(s) for s in (1, 1.5, 0.5, 30)] == ["1s", "1.5s", "500ms", "30s"]
    assert go_quote('a "b"') == '"a \\"b\\""'
