"""RELIABILITY.md B3 and B6 against the real API server in this process.

B3: a YAML billion laughs and 10,000-deep nesting (JSON and YAML), sent as POST and PATCH bodies in
every content type the server accepts, are refused with a 400 Status within 1 s, and the process
(which is the server) grows by less than 50 MB meanwhile.

B6: 200 slowloris connections (half stuck in the TLS handshake, half dribbling HTTP request
headers after it) do not keep an admin from being served within 1 s, on its kept-alive
connection or on a new one; and the server closes such connections at its bounds (a TLS
handshake timeout, and a limit on how long a connection may take to send a request's header).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import ssl
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from pocketkube.apiserver.app import APIServer, APIServerConfig
from pocketkube.storage.sqlite import SQLiteBackend
from tests.integration.apiserver.conftest import Client

CMS = "/api/v1/namespaces/default/configmaps"
TARGET = "target"
MB = 1024 * 1024
NESTING = 10_000

# -- B3 ------------------------------------------------------------------------------------------

JSON = "application/json"
YAML = "application/yaml"
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"

# (method, content type, path, a valid body for the route)
ROUTES: dict[str, tuple[str, str, str, bytes]] = {
    "post-json": (
        "POST",
        JSON,
        CMS,
        b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ok-json"}}',
    ),
    "post-yaml": (
        "POST",
        YAML,
        CMS,
        b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok-yaml}\n",
    ),
    "patch-merge": ("PATCH", MERGE, f"{CMS}/{TARGET}", b'{"data": {"merge": "1"}}'),
    "patch-strategic": ("PATCH", STRATEGIC, f"{CMS}/{TARGET}", b'{"data": {"strategic": "1"}}'),
    "patch-json": (
        "PATCH",
        JSON_PATCH,
        f"{CMS}/{TARGET}",
        b'[{"op": "add", "path": "/data/json", "value": "1"}]',
    ),
    "patch-apply": (
        "PATCH",
        APPLY,
        f"{CMS}/{TARGET}?fieldManager=b3",
        f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {TARGET}}}\n".encode()
        + b"data: {apply: '1'}\n",
    ),
}


def _object(value: str) -> str:
    """A ConfigMap holding ``value`` (for the content types that take an object)."""
    return (
        f'{{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {{"name": "{TARGET}"}}, '
        f'"data": {{"x": {value}}}}}'
    )


def _operations(value: str) -> str:
    """A JSON patch adding ``value``."""
    return f'[{{"op": "add", "path": "/data/x", "value": {value}}}]'


def billion_laughs_lists(content_type: str) -> bytes:
    """Ten levels of ten aliases: 10^10 "lol" once expanded (a JSON decoder just refuses it)."""
    lines = ["apiVersion: v1", "kind: ConfigMap", f"metadata: {{name: {TARGET}}}", "laughs:"]
    lines.append("  l0: &l0 [" + ", ".join(["lol"] * 10) + "]")
    lines += [f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 10)]
    lines.append("data: {x: *l9}")
    return "\n".join(lines).encode() + b"\n"


def billion_laughs_maps(content_type: str) -> bytes:
    """The same with block mappings (and merge keys), and the bomb inside a JSON patch."""
    lines = ["- op: add", "  path: /data/x", "  laughs:", "    m0: &m0 {a: lol, b: lol, c: lol}"]
    for i in range(1, 20):
        lines += [f"    m{i}: &m{i}", f"      <<: *m{i - 1}"]
        lines += [f"      {key}: *m{i - 1}" for key in "abc"]
    lines.append("  value: *m19")
    return "\n".join(lines).encode() + b"\n"


def deep_arrays(content_type: str) -> bytes:
    nest = "[" * NESTING + "]" * NESTING
    return (_operations(nest) if content_type == JSON_PATCH else _object(nest)).encode()


def deep_objects(content_type: str) -> bytes:
    nest = '{"a": ' * NESTING + "1" + "}" * NESTING
    return (_operations(nest) if content_type == JSON_PATCH else _object(nest)).encode()


def deep_block_yaml(content_type: str) -> bytes:
    """Block sequences nested on one line (``- - - x``): 2 bytes a level, YAML only."""
    nest = "- " * NESTING + "x"
    if content_type == JSON_PATCH:
        return f"- op: add\n  path: /data/x\n  value:\n    {nest}\n".encode()
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {TARGET}}}\nx:\n  {nest}\n".encode()


def unclosed_flow(content_type: str) -> bytes:
    """10,000 opening brackets and nothing else: refused as deep before it is found truncated."""
    return b"[" * NESTING


# Each bomb, and what a YAML body of it is refused for (JSON decoders refuse them as malformed,
# or as nested beyond their own limit).
BOMBS: dict[str, tuple[Callable[[str], bytes], str]] = {
    "billion-laughs-lists": (billion_laughs_lists, "YAML aliases are not supported"),
    "billion-laughs-maps": (billion_laughs_maps, "YAML aliases are not supported"),
    "deep-arrays": (deep_arrays, "nested too deeply"),
    "deep-objects": (deep_objects, "nested too deeply"),
    "deep-block-yaml": (deep_block_yaml, "nested too deeply"),
    "unclosed-flow": (unclosed_flow, "nested too deeply"),
}


def rss() -> int:
    """This process's resident set size in bytes (the server runs in it)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def reset_peak_rss() -> bool:
    """Reset VmHWM (Linux ≥ 4.0) so that the next reading is the peak since now."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def peak_rss() -> int:
    with open("/proc/self/status") as status:
        match = re.search(r"^VmHWM:\s+(\d+) kB", status.read(), re.MULTILINE)
    assert match is not None
    return int(match.group(1)) * 1024


def assert_status(body: Any, code: int, reason: str) -> None:
    assert isinstance(body, dict), body
    assert (body["kind"], body["apiVersion"], body["status"]) == ("Status", "v1", "Failure"), body
    assert (body["code"], body["reason"]) == (code, reason), body
    assert isinstance(body["message"], str)
    assert body["message"], body


@pytest.mark.parametrize("bomb", list(BOMBS))
@pytest.mark.parametrize("route", list(ROUTES))
async def test_bombs_are_refused_quickly_in_bounded_memory(
    admin: Client, route: str, bomb: str
) -> None:
    method, content_type, path, valid = ROUTES[route]
    code, target = await admin.request(
        "POST", CMS, {"metadata": {"name": TARGET}, "data": {"a": "1"}}
    )
    assert code == 201, target
    # The route takes a valid body (and whatever it loads lazily is loaded before measuring).
    code, body = await admin.request(method, path, raw=valid, content_type=content_type)
    assert code in (200, 201), body
    code, before = await admin.request("GET", CMS)
    assert code == 200

    make, yaml_reason = BOMBS[bomb]
    raw = make(content_type)
    assert len(raw) < 100 * 1024  # small bodies: the harm is in the parsing
    rss_before = rss()
    peak_known = reset_peak_rss()
    started = time.perf_counter()
    code, body = await admin.request(method, path, raw=raw, content_type=content_type)
    elapsed = time.perf_counter() - started
    growth = (peak_rss() if peak_known else rss()) - rss_before

    assert code == 400, body
    assert_status(body, 400, "BadRequest")
    if content_type in (YAML, APPLY):
        assert yaml_reason in body["message"], body["message"]
    assert elapsed < 1.0, f"{route} {bomb}: refused after {elapsed:.2f} s"
    assert growth < 50 * MB, f"{route} {bomb}: grew by {growth / MB:.1f} MB"
    code, after = await admin.request("GET", CMS)
    assert code == 200
    assert after["items"] == before["items"]  # nothing written, nothing changed


# -- B6 ------------------------------------------------------------------------------------------

SLOWLORIS = 200
HEADER_START = b"GET /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\nX-Slow: "


def client_hello() -> bytes:
    """A real ClientHello, of which a slowloris sends a byte a second."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    hello = outgoing.read()
    assert hello[:1] == b"\x16"  # a handshake record
    return hello


class Slowloris:
    """One stuck connection: sends ``data`` a byte a second and notes when the server closes it."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.opened_at = 0.0  # when the server has it: after connect, or after the handshake
        self.closed_at: float | None = None
        self.writer: asyncio.StreamWriter | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def open(self, port: int, tls: ssl.SSLContext | None) -> None:
        reader, self.writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=tls, server_hostname="localhost" if tls else None
        )
        self.opened_at = time.monotonic()
        self._tasks = [
            asyncio.create_task(self._dribble(self.writer)),
            asyncio.create_task(self._watch(reader)),
        ]

    async def _dribble(self, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ssl.SSLError, RuntimeError):
            for i in range(len(self.data)):
                if self.closed_at is not None:
                    return
                writer.write(self.data[i : i + 1])
                await writer.drain()
                await asyncio.sleep(1.0)

    async def _watch(self, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(OSError, ssl.SSLError):
            while await reader.read(4096):
                pass  # anything the server says (it says nothing) until it closes
        self.closed_at = time.monotonic()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self.writer is not None:
            self.writer.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def open_slowloris(port: int, tls: ssl.SSLContext) -> list[Slowloris]:
    hello = client_hello()
    half = SLOWLORIS // 2
    loris = [Slowloris(hello) for _ in range(half)]
    loris += [Slowloris(HEADER_START + b"a" * 4000) for _ in range(SLOWLORIS - half)]
    for start in range(0, len(loris), 50):  # batches, so the listen backlog never overflows
        batch = loris[start : start + 50]
        await asyncio.gather(*(one.open(port, None if one.data is hello else tls) for one in batch))
    return loris


def anonymous_tls(server: APIServer) -> ssl.SSLContext:
    assert server.pki is not None
    return ssl.create_default_context(cafile=str(server.pki.ca_cert))


def admin_tls(server: APIServer) -> ssl.SSLContext:
    assert server.pki is not None
    context = anonymous_tls(server)
    context.load_cert_chain(str(server.pki.admin_cert), str(server.pki.admin_key))
    return context


async def timed(client: Client, method: str, path: str, body: Any = None) -> tuple[int, float]:
    started = time.perf_counter()
    code, _ = await client.request(method, path, body)
    return code, time.perf_counter() - started


async def test_slowloris_connections_do_not_stop_authenticated_requests(
    apiserver: APIServer, admin: Client
) -> None:
    code, _ = await admin.request("POST", CMS, {"metadata": {"name": "seen"}})
    assert code == 201
    loris = await open_slowloris(apiserver.port, anonymous_tls(apiserver))
    try:
        # A new admin connection per round too: the stuck ones must not keep new clients out.
        fresh = aiohttp.TCPConnector(ssl=admin_tls(apiserver), force_close=True)
        async with aiohttp.ClientSession(connector=fresh) as session:
            newcomer = Client(session, apiserver.url)
            latencies: dict[str, list[float]] = {}
            for i in range(5):
                for name, client, method, path, body in (
                    ("get", admin, "GET", f"{CMS}/seen", None),
                    ("list", admin, "GET", CMS, None),
                    ("post", admin, "POST", CMS, {"metadata": {"name": f"during-{i}"}}),
                    ("get-new-connection", newcomer, "GET", f"{CMS}/seen", None),
                    ("post-new-connection", newcomer, "POST", CMS, {"metadata": {"name": f"n{i}"}}),
                ):
                    code, elapsed = await timed(client, method, path, body)
                    assert code in (200, 201), (name, code)
                    latencies.setdefault(name, []).append(elapsed)
                await asyncio.sleep(1.0)
        done_at = time.monotonic()
        # Every slowloris was still open while the admin was being served.
        assert all(one.closed_at is None or one.closed_at > done_at for one in loris)
        worst = {name: max(values) for name, values in latencies.items()}
        assert all(value < 1.0 for value in worst.values()), worst
        code, listed = await admin.request("GET", CMS)
        assert len(listed["items"]) == 11
    finally:
        await asyncio.gather(*(one.close() for one in loris))


HANDSHAKE_TIMEOUT = 1.0
HEADER_TIMEOUT = 2.0


@pytest.fixture
async def strict_apiserver(tmp_path: Path) -> AsyncIterator[APIServer]:
    """An API server with short connection bounds, so that the test sees them at work."""
    backend = SQLiteBackend(tmp_path / "state.db")
    await backend.start()
    config = APIServerConfig(
        data_dir=tmp_path / "data",
        port=0,
        tls_handshake_timeout=HANDSHAKE_TIMEOUT,
        header_timeout=HEADER_TIMEOUT,
    )
    server = APIServer(config=config, backend=backend)
    await server.start()
    try:
        yield server
    finally:
        await server.close()
        await backend.close()


def test_default_connection_bounds_are_upstreams() -> None:
    config = APIServerConfig(data_dir=Path("unused"))
    assert config.header_timeout == 32.0  # kube-apiserver's ReadHeaderTimeout
    assert 0 < config.tls_handshake_timeout <= 32.0


async def test_slowloris_connections_are_closed_at_the_servers_bounds(
    strict_apiserver: APIServer,
) -> None:
    loris = await open_slowloris(strict_apiserver.port, anonymous_tls(strict_apiserver))
    connector = aiohttp.TCPConnector(ssl=admin_tls(strict_apiserver))
    try:
        async with aiohttp.ClientSession(connector=connector) as session:
            admin = Client(session, strict_apiserver.url)
            async with asyncio.timeout(HEADER_TIMEOUT + 8):
                while any(one.closed_at is None for one in loris):
                    code, elapsed = await timed(admin, "GET", CMS)
                    assert (code, elapsed < 1.0) == (200, True)
                    await asyncio.sleep(0.2)
    finally:
        await asyncio.gather(*(one.close() for one in loris))
    lived = [one.closed_at - one.opened_at for one in loris if one.closed_at is not None]
    handshakes, headers = lived[: SLOWLORIS // 2], lived[SLOWLORIS // 2 :]
    # Closed at the bound (+ the loop's slack), not before: a slow client gets its full time.
    assert HANDSHAKE_TIMEOUT - 0.1 < min(handshakes) <= max(handshakes) < HANDSHAKE_TIMEOUT + 2
    assert HEADER_TIMEOUT - 0.1 < min(headers) <= max(headers) < HEADER_TIMEOUT + 2
