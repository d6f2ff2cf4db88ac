"""HTTP GET for probes and lifecycle hooks, as upstream's pkg/probe/http does it.

The request: ``scheme://host:port/path`` with the host defaulting to the pod's IP, the port a
number or a named container port, the probe's ``httpHeaders`` (a ``Host`` header sets the
request's host), ``User-Agent: kube-probe/<major.minor>`` (``kube-lifecycle/...`` for hooks) and
``Accept: */*`` unless given (an empty ``Accept`` removes it). HTTPS is not verified: pods serve
self-signed certificates and the kubelet has no CA for them.

Redirects are followed only while they stay on the original host name, and as in Go's client
the tenth is refused (``stopped after 10 redirects``, a failure); a redirect elsewhere is
returned as the response, which the probe reports as success with a ``ProbeWarning``. At most
10 KiB of the body is read. Every exchange opens a fresh connection (upstream disables
keep-alives) so that a probe observes the server's ability to accept a connection each time.

Failures carry Go's text, ``Get "http://10.42.0.5:8080/healthz": dial tcp 10.42.0.5:8080:
connect: connection refused``, because that is what users search for.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import aiohttp
import yarl
from multidict import CIMultiDict

from pocketkube.kubelet.prober.goerrors import (
    BODY_TIMEOUT,
    CLIENT_TIMEOUT,
    HTTP_TO_HTTPS,
    dial_error,
    go_quote,
    is_plain_http_reply,
    join_host_port,
    os_error_text,
)
from pocketkube.kubelet.prober.outcome import MAX_OUTPUT, Outcome, ProbeError, ProbeOutput, truncate
from pocketkube.kubelet.prober.spec import resolve_port

KUBE_VERSION = "1.33"  # the Kubernetes minor pocketkube reports (the API server's /version)
MAX_REDIRECTS = 10
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})


def user_agent(purpose: str) -> str:
    return f"kube-{purpose}/{KUBE_VERSION}"


@dataclass(frozen=True)
class HTTPRequest:
    url: str  # as Go prints it in errors
    headers: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class HTTPResponse:
    status: int
    body: bytes  # at most MAX_OUTPUT bytes


class HTTPError(Exception):
    """The exchange failed; ``str()`` is Go's ``url.Error`` text."""

    def __init__(self, message: str, *, plain_http_reply: bool = False) -> None:
        super().__init__(message)
        self.plain_http_reply = plain_http_reply


def build_request(
    http_get: dict[str, Any], container: dict[str, Any], *, pod_ip: str, purpose: str
) -> HTTPRequest:
    """upstream NewRequestForHTTPGetAction; ``ProbeError`` when the port or host is unusable."""
    scheme = str(http_get.get("scheme") or "HTTP").lower()
    host = str(http_get.get("host") or pod_ip)
    if not host:
        raise ProbeError("the pod has no IP address yet")
    port = resolve_port(http_get.get("port"), container)
    path = str(http_get.get("path") or "")
    if path and not path.startswith("/"):
        path = "/" + path
    headers: list[tuple[str, str]] = []
    for header in http_get.get("httpHeaders") or []:
        headers.append((str(header.get("name", "")), str(header.get("value", ""))))
    names = {name.lower() for name, _ in headers}
    if "user-agent" not in names:
        headers.append(("User-Agent", user_agent(purpose)))
    if "accept" not in names:
        headers.append(("Accept", "*/*"))
    else:
        headers = [(n, v) for n, v in headers if n.lower() != "accept" or v]
    url = f"{scheme}://{join_host_port(host, port)}{path}"
    try:
        yarl.URL(url)
    except ValueError as err:
        raise ProbeError(f"parse {go_quote(url)}: {err}") from None
    return HTTPRequest(url=url, headers=tuple(headers))


async def http_get(request: HTTPRequest, *, timeout_seconds: float | None) -> HTTPResponse:
    """GET ``request`` (following same-host redirects) within ``timeout_seconds`` overall
    (``None``: no limit)."""
    url = yarl.URL(request.url)
    headers = CIMultiDict(request.headers)
    got_headers = False
    try:
        async with asyncio.timeout(timeout_seconds):
            connector = aiohttp.TCPConnector(ssl=False, force_close=True)
            async with aiohttp.ClientSession(
                connector=connector, skip_auto_headers=("Accept", "User-Agent")
            ) as session:
                for _ in range(MAX_REDIRECTS):  # Go: the 10th redirect is not followed
                    got_headers = False
                    async with session.get(url, headers=headers, allow_redirects=False) as resp:
                        got_headers = True
                        target = _redirect_target(url, resp)
                        if target is None or target.host != yarl.URL(request.url).host:
                            return HTTPResponse(resp.status, await _read_capped(resp))
                    url = target
                raise HTTPError(f"Get {go_quote(str(url))}: stopped after 10 redirects")
    except TimeoutError:
        reason = BODY_TIMEOUT if got_headers else CLIENT_TIMEOUT
        raise HTTPError(f"Get {go_quote(str(url))}: {reason}") from None
    except aiohttp.ClientError as err:
        plain = _plain_http_reply(err)
        reason = HTTP_TO_HTTPS if plain else _client_error_text(url, err)
        raise HTTPError(f"Get {go_quote(str(url))}: {reason}", plain_http_reply=plain) from None


def _redirect_target(url: yarl.URL, resp: aiohttp.ClientResponse) -> yarl.URL | None:
    location = resp.headers.get("Location")
    if resp.status not in REDIRECT_CODES or not location:
        return None
    return url.join(yarl.URL(location))


async def _read_capped(resp: aiohttp.ClientResponse) -> bytes:
    body = bytearray()
    while len(body) < MAX_OUTPUT:
        chunk = await resp.content.read(MAX_OUTPUT - len(body))
        if not chunk:
            break
        body += chunk
    return bytes(body)


def _plain_http_reply(err: aiohttp.ClientError) -> bool:
    if isinstance(err, aiohttp.ClientConnectorSSLError):
        return is_plain_http_reply(err.os_error)
    return is_plain_http_reply(err) or is_plain_http_reply(err.__cause__ or err)


def _client_error_text(url: yarl.URL, err: aiohttp.ClientError) -> str:
    addr = join_host_port(url.host or "", url.port or 0)
    if isinstance(err, aiohttp.ClientConnectorSSLError | aiohttp.ClientConnectorCertificateError):
        return f"tls: {err}"
    if isinstance(err, aiohttp.ClientConnectorError):
        return dial_error(addr, err.os_error)
    if isinstance(err, aiohttp.ServerDisconnectedError):
        return "EOF"
    if isinstance(err, aiohttp.ClientOSError) and err.errno is not None:
        return f"read tcp {addr}: {os_error_text(err)}"
    return str(err) or type(err).__name__


async def http_probe(request: HTTPRequest, *, timeout_seconds: float) -> ProbeOutput:
    """upstream DoHTTPProbe: 2xx success, 3xx success with a warning, anything else failure."""
    try:
        response = await http_get(request, timeout_seconds=timeout_seconds)
    except HTTPError as err:
        return ProbeOutput(Outcome.FAILURE, str(err))
    body = truncate(response.body)
    if 200 <= response.status < 300:
        return ProbeOutput(Outcome.SUCCESS, body)
    if 300 <= response.status < 400:
        return ProbeOutput(Outcome.WARNING, f"Probe terminated redirects, Response body: {body}")
    return ProbeOutput(Outcome.FAILURE, f"HTTP probe failed with statuscode: {response.status}")
