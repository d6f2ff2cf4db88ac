"""bootstrapsigner: signs the ``cluster-info`` ConfigMap with every bootstrap token that may sign.

Upstream's ``pkg/controller/bootstrap/bootstrapsigner.go``. A node that joins with only a
bootstrap token downloads ``kube-public/cluster-info`` anonymously; it trusts the
``kubeconfig`` in it (the API server's address and CA) because the ConfigMap also carries
``jws-kubeconfig-<token-id>``, a detached JWS of that kubeconfig made with the token's secret,
which only holders of the token can make and check. This controller keeps one such signature
per token Secret in kube-system that is well-formed (name, ``token-id`` and ``token-secret``
agree), not expired and has ``usage-bootstrap-signing: "true"``, and removes the signatures of
tokens that are gone; it writes the ConfigMap only when the signatures change. Everything
funnels into one key (the ConfigMap's): a sync recomputes the whole set. A token's expiry
schedules a sync, so its signature goes as soon as the token stops being valid.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
from collections.abc import Callable

from pocketkube.api import bootstraptoken as bt
from pocketkube.api.timestamps import utcnow
from pocketkube.client import resources
from pocketkube.client.clock import Clock
from pocketkube.client.informer import Informer
from pocketkube.client.rest import Obj
from pocketkube.controllers.base import ApiClient, Controller
from pocketkube.controllers.bootstrap import expiration_of, is_token_secret

log = logging.getLogger(__name__)

NAME = "bootstrapsigner"
KEY = f"{bt.CLUSTER_INFO_NAMESPACE}/{bt.CLUSTER_INFO_NAME}"


def signing_token(secret: Obj, now: dt.datetime) -> tuple[str, str] | None:
    """(id, secret) of a token Secret that may sign now (upstream's
    ``validateSecretForSigning``), else None."""
    name = str((secret.get("metadata") or {}).get("name", ""))
    name_id = name.removeprefix(bt.SECRET_PREFIX)
    if name == name_id or not bt.TOKEN_ID.fullmatch(name_id):
        return None
    data = bt.decoded_data(secret)
    token_id = data.get(bt.TOKEN_ID_KEY, "")
    token_secret = data.get(bt.TOKEN_SECRET_KEY, "")
    if token_id != name_id or not token_secret:
        return None
    if expiration_of(secret, now)[1]:
        return None
    if data.get(bt.USAGE_SIGNING_KEY) != "true":
        return None
    return token_id, token_secret


def signed_data(data: dict[str, str], tokens: dict[str, str]) -> dict[str, str]:
    """``data`` with exactly one ``jws-kubeconfig-<id>`` per token, over its ``kubeconfig``."""
    content = data[bt.KUBECONFIG_KEY]
    out = {k: v for k, v in data.items() if not k.startswith(bt.JWS_KEY_PREFIX)}
    for token_id, token_secret in sorted(tokens.items()):
        out[bt.JWS_KEY_PREFIX + token_id] = bt.detached_signature(content, token_id, token_secret)
    return out


class BootstrapSigner(Controller):
    name = NAME

    def __init__(
        self,
        *,
        client: ApiClient,
        configmap_informer: Informer,
        secret_informer: Informer,
        clock: Clock | None = None,
        now: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        super().__init__(informers=[configmap_informer, secret_informer], workers=1, clock=clock)
        self._client = client
        self._configmaps = configmap_informer.store
        self._secrets = secret_informer.store
        self._now = now
        configmap_informer.add_handler(on_add=self._poke_configmap, on_update=self._poke_update)
        secret_informer.add_handler(
            on_add=self._poke_secret,
            on_update=lambda _old, new: self._poke_secret(new),
            on_delete=self._poke_secret,
        )

    def _poke_configmap(self, obj: Obj) -> None:
        meta = obj.get("metadata") or {}
        if (meta.get("namespace"), meta.get("name")) == (
            bt.CLUSTER_INFO_NAMESPACE,
            bt.CLUSTER_INFO_NAME,
        ):
            self.queue.add(KEY)

    def _poke_update(self, old: Obj, new: Obj) -> None:
        self._poke_configmap(new)

    def _poke_secret(self, obj: Obj) -> None:
        if is_token_secret(obj):
            self.queue.add(KEY)

    def tokens(self, now: dt.datetime) -> dict[str, str]:
        """The tokens that may sign now, by id."""
        found = {}
        for secret in self._secrets.list():
            if not is_token_secret(secret):
                continue
            token = signing_token(secret, now)
            if token is not None:
                found[token[0]] = token[1]
            left, _ = expiration_of(secret, now)
            if token is not None and left is not None:
                self.queue.add_after(KEY, left.total_seconds())
        return found

    async def sync(self, key: str) -> None:
        found = self._configmaps.get(KEY)
        if found is None:
            return
        data = found.get("data") or {}
        if not data.get(bt.KUBECONFIG_KEY):
            log.info("no %s key in ConfigMap %s", bt.KUBECONFIG_KEY, KEY)
            return
        new_data = signed_data(dict(data), self.tokens(self._now()))
        if new_data == data:
            return
        configmap = copy.deepcopy(found)
        configmap["data"] = new_data
        await self._client.update(
            resources.CONFIGMAPS.path(
                namespace=bt.CLUSTER_INFO_NAMESPACE, name=bt.CLUSTER_INFO_NAME
            ),
            configmap,
        )
