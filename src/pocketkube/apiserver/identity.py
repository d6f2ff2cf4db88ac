"""Who is making a request, as authentication found it (upstream's ``user.Info``)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web


@dataclass(frozen=True)
class Identity:
    user: str
    groups: tuple[str, ...]


ANONYMOUS = Identity("system:anonymous", ("system:unauthenticated",))
# Who made the request (anonymous only on the public paths).
USER = web.RequestKey("user", Identity)
