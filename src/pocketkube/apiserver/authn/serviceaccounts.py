"""Service-account tokens: issued by the TokenRequest API, accepted as bearer tokens.

A token is an RS256 JWT signed with the cluster's service-account key (``tls/sa.key``) carrying
upstream's claims: ``iss``, ``sub`` = ``system:serviceaccount:<ns>:<name>``, ``aud``, ``exp``,
``iat``, ``nbf``, ``jti``, and under ``kubernetes.io`` the namespace, the service account's name
and uid and the pod or secret the token is bound to. A token is only as good as those objects:
every use re-reads them, so deleting (or recreating) the service account or the bound pod revokes
its tokens at once, as upstream's validator does.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from pocketkube.apiserver.authn import Unauthenticated, jwt
from pocketkube.apiserver.authn.bearer import TokenResult, with_authenticated
from pocketkube.apiserver.identity import Identity
from pocketkube.storage.interface import Obj

ISSUER = "https://kubernetes.default.svc.cluster.local"
API_AUDIENCES = (ISSUER,)
CLAIMS_KEY = "kubernetes.io"
USER_PREFIX = "system:serviceaccount:"
ALL_GROUP = "system:serviceaccounts"

# (core/v1 plural, namespace, name) -> the stored object, or None when there is none.
Lookup = Callable[[str, str, str], Awaitable[Obj | None]]
KeySource = Callable[[], rsa.RSAPrivateKey]


def username(namespace: str, name: str) -> str:
    return f"{USER_PREFIX}{namespace}:{name}"


def identity(namespace: str, name: str) -> Identity:
    groups = (ALL_GROUP, f"{ALL_GROUP}:{namespace}")
    return Identity(username(namespace, name), with_authenticated(groups))


@dataclass(frozen=True)
class BoundObject:
    """The object a token lives no longer than: a Pod or a Secret in the token's namespace."""

    kind: str
    name: str
    uid: str


class ServiceAccountTokens:
    """Issues tokens (``issue``) and authenticates them (a token authenticator)."""

    def __init__(
        self,
        *,
        signing_key: KeySource,
        lookup: Lookup,
        issuer: str = ISSUER,
        api_audiences: Sequence[str] = API_AUDIENCES,
        clock: jwt.Clock = time.time,
    ) -> None:
        self._signing_key = signing_key
        self._lookup = lookup
        self.issuer = issuer
        self.api_audiences = tuple(api_audiences)
        self._clock = clock

    def issue(
        self,
        *,
        namespace: str,
        name: str,
        uid: str,
        audiences: Sequence[str] = (),
        expiration_seconds: int = 3600,
        bound: BoundObject | None = None,
    ) -> tuple[str, int]:
        """A signed token and its ``exp`` (Unix seconds)."""
        now = int(self._clock())
        private: dict[str, Any] = {
            "namespace": namespace,
            "serviceaccount": {"name": name, "uid": uid},
        }
        if bound is not None:
            private[bound.kind.lower()] = {"name": bound.name, "uid": bound.uid}
        claims = {
            "aud": list(audiences or self.api_audiences),
            "exp": now + expiration_seconds,
            "iat": now,
            "iss": self.issuer,
            "jti": str(uuid.uuid4()),
            CLAIMS_KEY: private,
            "nbf": now,
            "sub": username(namespace, name),
        }
        return jwt.sign(claims, self._signing_key()), now + expiration_seconds

    async def authenticate_token(
        self, token: str, *, audiences: Sequence[str] = ()
    ) -> TokenResult | None:
        try:
            unverified = jwt.unverified_claims(token)
        except jwt.InvalidToken:
            return None  # not a JWT: some other authenticator's token
        if unverified.get("iss") != self.issuer:
            return None
        try:
            claims = jwt.verify(token, self._signing_key().public_key(), clock=self._clock)
        except jwt.InvalidToken as err:
            raise Unauthenticated(str(err)) from None
        token_audiences = jwt.audiences(claims) or list(self.api_audiences)
        wanted = list(audiences or self.api_audiences)
        matched = tuple(a for a in token_audiences if a in wanted)
        if not matched:
            raise Unauthenticated(
                f"token audiences {_go_quoted(token_audiences)} is invalid for the target "
                f"audiences {_go_quoted(wanted)}"
            )
        namespace, name = await self._validate(claims)
        return TokenResult(identity(namespace, name), matched)

    async def _validate(self, claims: dict[str, Any]) -> tuple[str, str]:
        """The token's service account, after checking it and its bound objects still exist."""
        private = claims.get(CLAIMS_KEY)
        if not isinstance(private, dict):
            raise Unauthenticated("service account token claims are missing")
        namespace = private.get("namespace")
        account = private.get("serviceaccount")
        if not isinstance(namespace, str) or not namespace or not isinstance(account, dict):
            raise Unauthenticated("service account token claims are missing")
        name, uid = str(account.get("name", "")), str(account.get("uid", ""))
        if claims.get("sub") != username(namespace, name):
            raise Unauthenticated("service account token subject does not match its claims")
        stored = await self._lookup("serviceaccounts", namespace, name)
        if stored is None:
            raise Unauthenticated(f'serviceaccounts "{name}" not found')
        await self._check_live(stored, "service account", namespace, name, uid)
        for kind, plural in (("pod", "pods"), ("secret", "secrets")):
            ref = private.get(kind)
            if isinstance(ref, dict):
                ref_name, ref_uid = str(ref.get("name", "")), str(ref.get("uid", ""))
                bound = await self._lookup(plural, namespace, ref_name)
                await self._check_live(bound, kind, namespace, ref_name, ref_uid)
        return namespace, name

    @staticmethod
    async def _check_live(obj: Obj | None, what: str, namespace: str, name: str, uid: str) -> None:
        meta = obj.get("metadata", {}) if obj is not None else {}
        if obj is None or meta.get("deletionTimestamp"):
            raise Unauthenticated(f"{what} {namespace}/{name} has been deleted")
        if meta.get("uid") != uid:
            raise Unauthenticated(
                f"{what} UID ({meta.get('uid', '')}) does not match claim ({uid})"
            )


def _go_quoted(values: Sequence[str]) -> str:
    """A string slice as Go's ``%q`` prints it: ``["a" "b"]``."""
    return "[" + " ".join(f'"{v}"' for v in values) + "]"
