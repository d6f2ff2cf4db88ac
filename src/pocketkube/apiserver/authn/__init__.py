"""Authentication: who a request comes from, by a chain of authenticators.

Each authenticator looks at the request and answers an :class:`Identity`, or None when the
request carries nothing it understands (the next one is asked). A request no authenticator
recognises is anonymous, which only the public paths accept (401 elsewhere). Bearer-token
authenticators raise :class:`Unauthenticated` for a token that is present but invalid: a bad
credential is refused, never treated as anonymous.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

from pocketkube.apiserver.identity import Identity
from pocketkube.apiserver.pki import client_identity

Authenticate = Callable[[web.Request], Awaitable[Identity | None]]


class Unauthenticated(Exception):
    """Credentials were presented and are not valid."""


# The certificate of a TLS connection cannot change, so its identity is read once per connection
# (keyed weakly by the connection's SSL object: an entry goes with its connection).
_CERTIFICATE_IDENTITIES: weakref.WeakKeyDictionary[object, Identity | None] = (
    weakref.WeakKeyDictionary()
)


async def client_certificate(request: web.Request) -> Identity | None:
    """x509: CN is the user, every O a group (verified against the cluster CA by TLS)."""
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is None:
        return None
    try:
        return _CERTIFICATE_IDENTITIES[ssl_object]
    except KeyError:
        pass
    found = client_identity(ssl_object.getpeercert())
    identity = None
    if found:
        user, groups = found
        # Every authenticated user is in system:authenticated (upstream's group adder).
        authenticated = "system:authenticated"
        identity = Identity(user, (*groups, *(() if authenticated in groups else (authenticated,))))
    _CERTIFICATE_IDENTITIES[ssl_object] = identity
    return identity


class AuthenticatorChain:
    def __init__(self, authenticators: Sequence[Authenticate]) -> None:
        self.authenticators = list(authenticators)

    async def authenticate(self, request: web.Request) -> Identity | None:
        for authenticate in self.authenticators:
            identity = await authenticate(request)
            if identity is not None:
                return identity
        return None
