"""Who is making a request, as authentication found it (upstream's ``user.Info``)."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from aiohttp import web


@dataclass(frozen=True)
class Identity:
    user: str
    groups: tuple[str, ...]


ANONYMOUS = Identity("system:anonymous", ("system:unauthenticated",))
# Who made the request (anonymous only on the public paths).
USER = web.RequestKey("user", Identity)
# The same, for code below the handler that upstream gives the request context (a strategy
# recording who created an object); set by the resource handler for the length of one request.
REQUEST_USER: ContextVar[Identity | None] = ContextVar("request_user", default=None)
