"""Bearer tokens: ``Authorization: Bearer <token>`` handed to a list of token authenticators.

As upstream's ``bearertoken`` wrapper over a union of token authenticators: each authenticator
answers an identity for a token it recognises, None for one that is not its kind (the next is
asked), and raises :class:`Unauthenticated` for one of its kind that is invalid. A token no one
recognises is invalid too — a request that presents a credential is never served as anonymous.
The same authenticators answer TokenReviews.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from pocketkube.apiserver.authn import Authenticate, Unauthenticated
from pocketkube.apiserver.identity import Identity

AUTHENTICATED = "system:authenticated"
INVALID_BEARER_TOKEN = "invalid bearer token"


@dataclass(frozen=True)
class TokenResult:
    identity: Identity
    # The audiences the token is good for among those asked for (empty: no audience notion).
    audiences: tuple[str, ...] = ()


class TokenAuthenticator(Protocol):
    async def authenticate_token(
        self, token: str, *, audiences: Sequence[str] = ()
    ) -> TokenResult | None:
        """``audiences`` empty means the API server's own."""


def with_authenticated(groups: Sequence[str]) -> tuple[str, ...]:
    """Every authenticated user is in ``system:authenticated`` (upstream's group adder)."""
    return tuple(groups) if AUTHENTICATED in groups else (*groups, AUTHENTICATED)


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


async def authenticate_token(
    authenticators: Sequence[TokenAuthenticator], token: str, *, audiences: Sequence[str] = ()
) -> TokenResult:
    for authenticator in authenticators:
        result = await authenticator.authenticate_token(token, audiences=audiences)
        if result is not None:
            return result
    raise Unauthenticated(INVALID_BEARER_TOKEN)


def bearer_authenticator(authenticators: Sequence[TokenAuthenticator]) -> Authenticate:
    """An :data:`Authenticate` for the chain: None without a bearer header."""

    async def authenticate(request: web.Request) -> Identity | None:
        token = bearer_token(request)
        if token is None:
            return None
        return (await authenticate_token(authenticators, token)).identity

    return authenticate
