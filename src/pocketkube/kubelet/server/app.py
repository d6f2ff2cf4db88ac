"""The kubelet's HTTPS server (``--port``, 10250 by default): TLS, authentication, routes.

TLS ≥ 1.2 with the kubelet's serving certificate; client certificates are verified against
``--client-ca-file`` and a request without one is answered 401 ``Unauthorized`` before any
handler runs (anonymous auth off, as kubeadm sets it). The authorizer then decides (see
``auth.py``); a denied request gets 403 with upstream's ``Forbidden (user=...)`` text.
"""

from __future__ import annotations

import errno
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from pocketkube.kubelet.server.auth import (
    AlwaysAllow,
    Authorizer,
    attributes_for,
    forbidden_message,
    user_of,
)
from pocketkube.kubelet.server.handlers import Host, add_routes, text_error

log = logging.getLogger(__name__)

DEFAULT_PORT = 10250
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class TLSFiles:
    cert_file: Path
    key_file: Path
    client_ca_file: Path | None


def server_ssl_context(files: TLSFiles) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20")
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    context.load_cert_chain(files.cert_file, files.key_file)
    if files.client_ca_file is not None:
        context.load_verify_locations(cafile=files.client_ca_file)
        context.verify_mode = ssl.CERT_OPTIONAL  # none → 401, not a handshake failure
    return context


def build_app(host: Host, authorizer: Authorizer | None = None) -> web.Application:
    authz = authorizer or AlwaysAllow()

    @web.middleware
    async def authenticate(request: web.Request, handler: _Handler) -> web.StreamResponse:
        transport = request.transport
        ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
        peercert = ssl_object.getpeercert() if ssl_object is not None else None
        user = user_of(peercert)
        if user is None:
            return text_error(401, "Unauthorized")
        attributes = attributes_for(request.method, request.path, host.node_name)
        try:
            allowed, reason = await authz.allowed(user, attributes)
        except Exception as err:  # the API server is unreachable: fail closed, as upstream
            log.warning("authorization of %s failed: %s", user.name, err)
            return text_error(
                500,
                f"Authorization error (user={user.name}, verb={attributes.verb}, "
                f"resource=nodes, subresource={attributes.subresource})",
            )
        if not allowed:
            log.info("denied %s %s to %s: %s", request.method, request.path, user.name, reason)
            return text_error(403, forbidden_message(user, attributes))
        response: web.StreamResponse = await handler(request)
        return response

    app = web.Application(middlewares=[authenticate])
    add_routes(app, host)
    return app


class KubeletServer:
    """The server: ``start()`` binds ``address:port`` (port 0 picks one), ``close()`` stops."""

    def __init__(
        self,
        *,
        host: Host,
        tls: TLSFiles,
        address: str = "0.0.0.0",
        port: int = DEFAULT_PORT,
        authorizer: Authorizer | None = None,
    ) -> None:
        self._app = build_app(host, authorizer)
        self._tls = tls
        self._address = address
        self._port = port
        self._runner: web.AppRunner | None = None
        self._context: ssl.SSLContext | None = None
        self.port = port

    async def start(self) -> None:
        context = self._context = server_ssl_context(self._tls)
        runner = web.AppRunner(self._app, handle_signals=False, access_log=None)
        await runner.setup()
        try:
            try:
                await web.TCPSite(runner, self._address, self._port, ssl_context=context).start()
            except OSError as err:
                if err.errno != errno.EADDRINUSE or self._port == 0:
                    raise
                # Another kubelet on this machine has it: take a free port; the Node's
                # daemonEndpoints tell the API server which (a pocketkube leniency).
                log.warning("port %d is taken (%s): serving on a free port", self._port, err)
                await web.TCPSite(runner, self._address, 0, ssl_context=context).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        for address in runner.addresses:  # the bound port when asked for port 0
            self.port = int(address[1])
            break
        log.info("kubelet server listening on %s:%d", self._address, self.port)

    def reload_certificate(self, cert_file: Path, key_file: Path) -> None:
        """Serve a new certificate from the next handshake on (a rotated serving cert)."""
        if self._context is not None:
            self._context.load_cert_chain(cert_file, key_file)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
