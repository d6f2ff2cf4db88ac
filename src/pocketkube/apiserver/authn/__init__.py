"""Authentication: who a request comes from, by a chain of authenticators.

Each authenticator looks at the request and answers an :class:`Identity`, or None when the
request carries nothing it understands (the next one is asked). A request no authenticator
recognises is anonymous, which only the public paths accept (401 elsewhere). Bearer-token
authenticators raise :class:`Unauthenticated` for a token that is present but invalid: a bad
credential is refused, never treated as anonymous.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

from pocketkube.apiserver.identity import Identity
from pocketkube.apiserver.pki import client_identity

Authenticate = Callable[[web.Request], Awaitable[Identity | None]]


class Unauthenticated(Exception):
    """Credentials were presented and are not valid."""


async def client_certificate(request: web.Request) -> Identity | None:
    """x509: CN is the user, every O a group (verified against the cluster CA by TLS)."""
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    found = client_identity(ssl_object.getpeercert() if ssl_object is not None else None)
    return Identity(found[0], tuple(found[1])) if found else None


class AuthenticatorChain:
    def __init__(self, authenticators: Sequence[Authenticate]) -> None:
        self.authenticators = list(authenticators)

    async def authenticate(self, request: web.Request) -> Identity | None:
        for authenticate in self.authenticators:
            identity = await authenticate(request)
            if identity is not None:
                return identity
        return None
