"""tokencleaner: deletes bootstrap-token Secrets once their ``expiration`` has passed.

Upstream's ``pkg/controller/bootstrap/tokencleaner.go``. It watches the Secrets of type
``bootstrap.kubernetes.io/token`` in kube-system; a Secret already past its expiration (or
with one that cannot be read) is deleted with a UID precondition, so a Secret recreated under
the same name meanwhile is not touched; a Secret still valid is looked at again when it
expires (``add_after``). A Secret without ``expiration`` lives until someone deletes it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from pocketkube.api.timestamps import utcnow
from pocketkube.client import resources
from pocketkube.client.clock import Clock
from pocketkube.client.informer import Informer
from pocketkube.client.rest import ApiError
from pocketkube.client.store import split_key
from pocketkube.controllers.base import ApiClient, Controller
from pocketkube.controllers.bootstrap import expiration_of, is_token_secret

log = logging.getLogger(__name__)

NAME = "tokencleaner"


class TokenCleaner(Controller):
    name = NAME

    def __init__(
        self,
        *,
        client: ApiClient,
        secret_informer: Informer,
        clock: Clock | None = None,
        now: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        super().__init__(informers=[secret_informer], workers=1, clock=clock)
        self._client = client
        self._secrets = secret_informer.store
        self._now = now
        secret_informer.add_handler(on_add=self.enqueue, on_update=self.enqueue_update)

    async def sync(self, key: str) -> None:
        secret = self._secrets.get(key)
        if secret is None or not is_token_secret(secret):
            return
        left, expired = expiration_of(secret, self._now())
        if not expired:
            if left is not None:
                self.queue.add_after(key, left.total_seconds())
            return
        namespace, name = split_key(key)
        log.info("deleting expired bootstrap token Secret %s", key)
        body: dict[str, object] = {"apiVersion": "v1", "kind": "DeleteOptions"}
        uid = (secret.get("metadata") or {}).get("uid")
        if uid:
            body["preconditions"] = {"uid": uid}
        try:
            await self._client.delete(
                resources.SECRETS.path(namespace=namespace, name=name), body=body
            )
        except ApiError as err:
            # Gone already, or the UID precondition failed (a new Secret by that name): done.
            if not (err.not_found or err.status == 409):
                raise
