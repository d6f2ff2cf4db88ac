"""Bootstrap tokens: ``<id>.<secret>`` backed by a Secret ``bootstrap-token-<id>`` in kube-system.

kubeadm-style joins authenticate with these before a node has a certificate. As upstream, a token
whose Secret is missing, of the wrong type, not marked for authentication, being deleted, past its
``expiration`` or with a different secret part is simply not recognised (the bearer wrapper then
refuses it as an invalid bearer token); only a token of the right shape is looked up at all.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from pocketkube.api import bootstraptoken as bt
from pocketkube.apiserver.authn import jwt
from pocketkube.apiserver.authn.bearer import TokenResult, with_authenticated
from pocketkube.apiserver.authn.serviceaccounts import Lookup
from pocketkube.apiserver.identity import Identity


class BootstrapTokens:
    """A token authenticator over the bootstrap-token Secrets."""

    def __init__(self, *, lookup: Lookup, clock: jwt.Clock = time.time) -> None:
        self._lookup = lookup
        self._clock = clock

    async def authenticate_token(
        self, token: str, *, audiences: Sequence[str] = ()
    ) -> TokenResult | None:
        parsed = bt.parse_token(token)
        if parsed is None:
            return None
        token_id, token_secret = parsed
        secret = await self._lookup("secrets", bt.NAMESPACE, bt.secret_name(token_id))
        if secret is None or secret.get("metadata", {}).get("deletionTimestamp"):
            return None
        if secret.get("type") != bt.SECRET_TYPE:
            return None
        data = bt.decoded_data(secret)
        if data.get(bt.TOKEN_ID_KEY) != token_id or not hmac.compare_digest(
            data.get(bt.TOKEN_SECRET_KEY, "").encode(), token_secret.encode()
        ):
            return None
        if data.get(bt.USAGE_AUTHENTICATION_KEY) != "true":
            return None
        now = datetime.fromtimestamp(self._clock(), UTC)
        if bt.is_expired(data.get(bt.EXPIRATION_KEY, ""), now):
            return None
        extra = [g.strip() for g in data.get(bt.EXTRA_GROUPS_KEY, "").split(",") if g.strip()]
        if any(not bt.EXTRA_GROUP.fullmatch(g) for g in extra):
            return None
        group = bt.DEFAULT_GROUP
        groups = with_authenticated([group, *(g for g in extra if g != group)])
        return TokenResult(Identity(bt.USER_PREFIX + token_id, groups))
