"""The bootstrap-token controllers: signing cluster-info with tokens, removing expired tokens."""

from __future__ import annotations

import datetime as dt

from pocketkube.api import bootstraptoken as bt
from pocketkube.client.rest import Obj

# The Secrets both controllers watch: bootstrap tokens in kube-system, and nothing else.
SECRETS_FIELD_SELECTOR = f"type={bt.SECRET_TYPE}"


def is_token_secret(secret: Obj) -> bool:
    meta = secret.get("metadata") or {}
    return secret.get("type") == bt.SECRET_TYPE and meta.get("namespace") == bt.NAMESPACE


def expiration_of(secret: Obj, now: dt.datetime) -> tuple[dt.timedelta | None, bool]:
    """(time left, already expired) of a token Secret, as upstream's ``GetExpiration``: no
    ``expiration`` never expires; one that cannot be read counts as expired."""
    value = bt.decoded_data(secret).get(bt.EXPIRATION_KEY, "")
    if not value:
        return None, False
    moment = bt.parse_expiration(value)
    if moment is None or now > moment:
        return None, True
    return moment - now, False
