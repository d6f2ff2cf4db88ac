"""Bootstrap tokens: ``<id>.<secret>`` backed by a Secret ``bootstrap-token-<id>`` in kube-system.

kubeadm-style joins authenticate with these before a node has a certificate. As upstream, a token
whose Secret is missing, of the wrong type, not marked for authentication, being deleted, past its
``expiration`` or with a different secret part is simply not recognised (the bearer wrapper then
refuses it as an invalid bearer token); only a token of the right shape is looked up at all.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import time
from collections.abc import Sequence
from datetime import datetime

from pocketkube.apiserver.authn import jwt
from pocketkube.apiserver.authn.bearer import TokenResult, with_authenticated
from pocketkube.apiserver.authn.serviceaccounts import Lookup
from pocketkube.apiserver.identity import Identity
from pocketkube.storage.interface import Obj

NAMESPACE = "kube-system"
SECRET_PREFIX = "bootstrap-token-"
SECRET_TYPE = "bootstrap.kubernetes.io/token"
GROUP = "system:bootstrappers"
USER_PREFIX = "system:bootstrap:"
TOKEN = re.compile(r"([a-z0-9]{6})\.([a-z0-9]{16})")
EXTRA_GROUP = re.compile(r"system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]")


class BootstrapTokens:
    """A token authenticator over the bootstrap-token Secrets."""

    def __init__(self, *, lookup: Lookup, clock: jwt.Clock = time.time) -> None:
        self._lookup = lookup
        self._clock = clock

    async def authenticate_token(
        self, token: str, *, audiences: Sequence[str] = ()
    ) -> TokenResult | None:
        match = TOKEN.fullmatch(token)
        if match is None:
            return None
        token_id, token_secret = match.groups()
        secret = await self._lookup("secrets", NAMESPACE, SECRET_PREFIX + token_id)
        if secret is None or secret.get("metadata", {}).get("deletionTimestamp"):
            return None
        if secret.get("type") != SECRET_TYPE:
            return None
        data = _decoded(secret)
        if data.get("token-id") != token_id or not hmac.compare_digest(
            data.get("token-secret", "").encode(), token_secret.encode()
        ):
            return None
        if data.get("usage-bootstrap-authentication") != "true":
            return None
        if _expired(data.get("expiration", ""), self._clock()):
            return None
        extra = [g.strip() for g in data.get("auth-extra-groups", "").split(",") if g.strip()]
        if any(not EXTRA_GROUP.fullmatch(g) for g in extra):
            return None
        groups = with_authenticated([GROUP, *(g for g in extra if g != GROUP)])
        return TokenResult(Identity(USER_PREFIX + token_id, groups))


def _decoded(secret: Obj) -> dict[str, str]:
    """The Secret's data as text (stringData is folded into data on write)."""
    out: dict[str, str] = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            out[key] = base64.b64decode(str(value), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            continue
    return out


def _expired(expiration: str, now: float) -> bool:
    if not expiration:
        return False
    try:
        moment = datetime.fromisoformat(expiration.replace("Z", "+00:00"))
    except ValueError:
        return True  # upstream refuses a token whose expiration it cannot read
    if moment.tzinfo is None:
        return True
    return moment.timestamp() < now
