"""Loopback servers for the probe and hook tests: HTTP, HTTPS (self-signed), gRPC health.

Everything listens on 127.0.0.1 with a port the kernel picks and is closed by its fixture.
The test modules wrap these in their own fixtures; this module has no tests of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import grpc.aio
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pocketkube.kubelet.prober import grpcprobe

HOST = "127.0.0.1"


@dataclass
class HTTPServer:
    port: int
    requests: list[web.Request] = field(default_factory=list)
    ready_status: int = 200  # what /ready answers


def make_app(server: HTTPServer) -> web.Application:
    async def record(request: web.Request) -> None:
        server.requests.append(request)

    async def ok(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(text="ok")

    async def status(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(status=int(request.match_info["code"]), text="status")

    async def ready(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(status=server.ready_status, text="ready?")

    async def redirect(request: web.Request) -> web.Response:
        await record(request)
        targets = {
            "same": "/ok",
            "other": f"http://localhost:{server.port}/ok",
            "loop": "/redirect/loop",
            "fail": "/status/503",
        }
        return web.Response(status=302, headers={"Location": targets[request.match_info["to"]]})

    async def slow(request: web.Request) -> web.Response:
        await record(request)
        await asyncio.sleep(5)
        return web.Response(text="late")

    async def big(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(body=b"y" * (1 << 20))

    app = web.Application()
    app.add_routes(
        [
            web.get("/ok", ok),
            web.get("/hook", ok),
            web.get("/ready", ready),
            web.get("/status/{code}", status),
            web.get("/redirect/{to}", redirect),
            web.get("/slow", slow),
            web.get("/big", big),
        ]
    )
    return app


@contextlib.asynccontextmanager
async def serve_http(ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[HTTPServer]:
    server = HTTPServer(port=0)
    runner = web.AppRunner(make_app(server), shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0, ssl_context=ssl_context)
    await site.start()
    server.port = runner.addresses[0][1]
    try:
        yield server
    finally:
        await runner.cleanup()


def self_signed(tmp_path: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pod.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass
class GRPCServer:
    port: int
    statuses: dict[str, int] = field(default_factory=lambda: {"": 1, "down": 2})
    user_agents: list[str] = field(default_factory=list)


@contextlib.asynccontextmanager
async def serve_grpc(*, with_health: bool = True) -> AsyncIterator[GRPCServer]:
    state = GRPCServer(port=0)

    async def check(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        agent = dict(context.invocation_metadata() or ()).get("user-agent", "")
        state.user_agents.append(str(agent))
        service = grpcprobe.decode_request(request)
        if service == "slow":
            await asyncio.sleep(5)
        if service not in state.statuses:
            await context.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
        return grpcprobe.encode_response(state.statuses[service])

    server = grpc.aio.server()
    if with_health:
        handler = grpc.method_handlers_generic_handler(
            "grpc.health.v1.Health", {"Check": grpc.unary_unary_rpc_method_handler(check)}
        )
        server.add_generic_rpc_handlers((handler,))
    state.port = server.add_insecure_port(f"{HOST}:0")
    await server.start()
    try:
        yield state
    finally:
        await server.stop(grace=None)
