"""Proxying a client's upgrade request to the runtime's streaming URL (byte for byte)."""

from __future__ import annotations

from aiohttp import web

from pocketkube.kubelet.server.handlers import text_error


async def upgrade_proxy(request: web.Request, url: str) -> web.StreamResponse:
    return text_error(501, f"streaming proxy not available yet ({url})")
