"""The PKI in use: an aiohttp server on the serving certificate, clients with and without the admin
certificate, a certificate from a foreign CA, old TLS, and real kubectl reading the kubeconfig."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import ssl
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from pocketkube.apiserver.kubeconfig import write_kubeconfig
from pocketkube.apiserver.pki import PKI, client_identity, ensure_pki, server_ssl_context

VERSION = {
    "major": "1",
    "minor": "33",
    "gitVersion": "v1.33.0",
    "gitCommit": "",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.24",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def identity_of(request: web.Request) -> tuple[str, list[str]] | None:
    assert request.transport is not None
    ssl_object = request.transport.get_extra_info("ssl_object")
    return client_identity(ssl_object.getpeercert())


async def whoami(request: web.Request) -> web.Response:
    return web.json_response({"identity": identity_of(request)})


async def version(request: web.Request) -> web.Response:
    request.app[SEEN].append(identity_of(request))
    return web.json_response(VERSION)


SEEN = web.AppKey("seen", list[tuple[str, list[str]] | None])


@pytest.fixture
def pki(tmp_path: Path) -> PKI:
    return ensure_pki(tmp_path / "server", host_addresses=[])


@pytest.fixture
def foreign_pki(tmp_path: Path) -> PKI:
    return ensure_pki(tmp_path / "foreign", host_addresses=[])


@pytest.fixture
async def server(pki: PKI) -> AsyncIterator[tuple[str, web.Application]]:
    app = web.Application()
    app[SEEN] = []
    app.router.add_get("/whoami", whoami)
    app.router.add_get("/version", version)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ssl_context(pki))
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"https://{host}:{port}", app
    finally:
        await runner.cleanup()


def client_context(
    pki: PKI, *, cert: PKI | None = None, version: ssl.TLSVersion | None = None
) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=pki.ca_cert)
    if cert is not None:
        context.load_cert_chain(cert.admin_cert, cert.admin_key)
    if version is not None:
        context.minimum_version = context.maximum_version = version
    return context


async def get_identity(url: str, context: ssl.SSLContext) -> object:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{url}/whoami", ssl=context) as response,
    ):
        assert response.status == 200
        body = await response.json()
        return body["identity"]


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
async def test_admin_certificate_is_the_identity(
    server: tuple[str, web.Application], pki: PKI, version: ssl.TLSVersion
) -> None:
    url, _ = server
    identity = await get_identity(url, client_context(pki, cert=pki, version=version))
    assert identity == ["pocketkube-admin", ["system:masters"]]


async def test_no_client_certificate_connects_anonymously(
    server: tuple[str, web.Application], pki: PKI
) -> None:
    url, _ = server
    assert await get_identity(url, client_context(pki)) is None


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
async def test_certificate_from_another_ca_is_refused(
    server: tuple[str, web.Application], pki: PKI, foreign_pki: PKI, version: ssl.TLSVersion
) -> None:
    url, _ = server
    # With TLS 1.3 the client finishes its handshake before the server's alert arrives, so the
    # refusal surfaces on the first read; either way no request gets through.
    context = client_context(pki, cert=foreign_pki, version=version)
    with pytest.raises(aiohttp.ClientError):
        await get_identity(url, context)


async def test_server_certificate_verifies_by_name(
    server: tuple[str, web.Application], pki: PKI
) -> None:
    url, _ = server
    port = url.rsplit(":", 1)[1]
    context = client_context(pki, cert=pki)
    # "localhost" is a SAN, so a client dialling by name verifies the same certificate.
    assert await get_identity(f"https://localhost:{port}", context) is not None


async def test_tls_1_1_is_refused(server: tuple[str, web.Application], pki: PKI) -> None:
    url, _ = server
    host, port = url.removeprefix("https://").rsplit(":", 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # that is the point
        context = client_context(pki, version=ssl.TLSVersion.TLSv1_1)
    context.set_ciphers("ALL:@SECLEVEL=0")  # let OpenSSL 3 offer TLS 1.1 at all
    with pytest.raises((ssl.SSLError, ConnectionResetError)) as refused:
        await asyncio.open_connection(host, int(port), ssl=context)
    # The server hung up on the hello, rather than the client being unable to send one.
    assert "NO_PROTOCOLS_AVAILABLE" not in str(refused.value)


async def test_weak_tls_1_2_cipher_is_refused(
    server: tuple[str, web.Application], pki: PKI
) -> None:
    url, _ = server
    host, port = url.removeprefix("https://").rsplit(":", 1)
    context = client_context(pki, version=ssl.TLSVersion.TLSv1_2)
    context.set_ciphers("AES128-SHA:AES256-SHA")  # no forward secrecy, CBC
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        await asyncio.open_connection(host, int(port), ssl=context)


async def test_negotiates_a_modern_tls_1_2_cipher(
    server: tuple[str, web.Application], pki: PKI
) -> None:
    url, _ = server
    host, port = url.removeprefix("https://").rsplit(":", 1)
    context = client_context(pki, version=ssl.TLSVersion.TLSv1_2)
    _, writer = await asyncio.open_connection(host, int(port), ssl=context)
    try:
        cipher, protocol, _ = writer.get_extra_info("cipher")
        assert protocol == "TLSv1.2"
        assert cipher.startswith("ECDHE-")
        assert "GCM" in cipher or "CHACHA20" in cipher
    finally:
        writer.close()
        await writer.wait_closed()


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH")
async def test_kubectl_accepts_the_kubeconfig(
    server: tuple[str, web.Application], pki: PKI, tmp_path: Path
) -> None:
    url, app = server
    kubeconfig = tmp_path / "admin.kubeconfig"
    write_kubeconfig(
        kubeconfig,
        server_url=url,
        ca_path=pki.ca_cert,
        cert_path=pki.admin_cert,
        key_path=pki.admin_key,
    )
    env = {**os.environ, "HOME": str(tmp_path)}
    env.pop("KUBECONFIG", None)
    kubectl = await asyncio.create_subprocess_exec(
        "kubectl",
        "--kubeconfig",
        str(kubeconfig),
        "--cache-dir",
        str(tmp_path / "cache"),
        "get",
        "--raw",
        "/version",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        stdout, stderr = await asyncio.wait_for(kubectl.communicate(), timeout=60)
    finally:
        if kubectl.returncode is None:
            kubectl.kill()
            await kubectl.wait()
    assert kubectl.returncode == 0, stderr.decode()
    assert json.loads(stdout) == VERSION
    # kubectl (and the version-probing dispatcher in front of it) presented the admin certificate.
    assert app[SEEN]
    assert all(seen == ("pocketkube-admin", ["system:masters"]) for seen in app[SEEN])
