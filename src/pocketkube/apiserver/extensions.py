"""Seams for what is not plain REST on a stored object: subresources such as ``scale`` or
``token``, and create-only virtual resources such as the self-reviews.

Each lives in its own module and registers a handler here by name; the resource handler looks
them up, so adding one touches neither the handler nor the other extensions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from pocketkube.apiserver.identity import Identity
from pocketkube.apiserver.registry import ResourceRegistry
from pocketkube.apiserver.requestinfo import RequestInfo
from pocketkube.apiserver.resources import Resource


@dataclass(frozen=True)
class SpecialRequest:
    """What an extension gets: the request, what it addresses, and the way to the registries."""

    request: web.Request
    info: RequestInfo
    resource: Resource
    registry: ResourceRegistry | None
    registry_for: Callable[[Resource], ResourceRegistry | None]
    user: Identity


SpecialHandler = Callable[[SpecialRequest], Awaitable[web.StreamResponse]]

# Subresource name ("scale", "token", "eviction", ...) -> handler; "status" is built in.
SUBRESOURCES: dict[str, SpecialHandler] = {}
# (group, version, plural) of a create-only resource -> handler.
VIRTUAL: dict[tuple[str, str, str], SpecialHandler] = {}
