"""Proxying a client's upgrade request to the runtime's streaming URL, byte for byte.

Upstream's kubelet hands ``/exec``, ``/attach`` and ``/portForward`` to an UpgradeAwareHandler
with ``upgradeRequired``: a request that does not ask for an upgrade gets 400 ``Upgrade request
required``; otherwise the request goes to the streaming server (plain HTTP on 127.0.0.1) and its
answer comes back: a 101 and then bytes both ways, or any other answer relayed. Redirects are
never followed. The proxying itself is the one the API server uses (``client/upgradeproxy``).
"""

from __future__ import annotations

from aiohttp import web
from yarl import URL

from pocketkube.client.upgradeproxy import ProxyError, is_upgrade, proxy_upgrade
from pocketkube.kubelet.server.handlers import text_error


async def upgrade_proxy(request: web.Request, url: str) -> web.StreamResponse:
    if not is_upgrade(request):
        return text_error(400, "Upgrade request required")
    try:
        return await proxy_upgrade(request, URL(url))
    except ProxyError as err:
        return text_error(500, f"error proxying to the streaming server: {err}")
