"""serviceaccount: a ``default`` ServiceAccount in every namespace (upstream's
``pkg/controller/serviceaccount/serviceaccounts_controller.go``).

Keys are namespace names. A namespace is synced when it is added or updated and when one of its
ServiceAccounts is deleted; the sync creates each ServiceAccount to ensure (just ``default``)
that the informer does not hold. Namespaces that are not Active are skipped, and a create
refused because the namespace is gone or terminating is not retried.
"""

from __future__ import annotations

import logging

from pocketkube.client import resources
from pocketkube.client.clock import Clock
from pocketkube.client.informer import Informer
from pocketkube.client.rest import ApiError, Obj
from pocketkube.controllers.base import ApiClient, Controller
from pocketkube.controllers.context import Context

log = logging.getLogger(__name__)

NAME = "serviceaccount"
SERVICE_ACCOUNTS_TO_ENSURE = ("default",)
NAMESPACE_TERMINATING_CAUSE = "NamespaceTerminating"


def is_active(namespace: Obj | None) -> bool:
    if namespace is None or (namespace.get("metadata") or {}).get("deletionTimestamp"):
        return False
    return bool((namespace.get("status") or {}).get("phase", "Active") == "Active")


def namespace_gone_or_terminating(err: ApiError) -> bool:
    """A create refused because the namespace no longer takes new content: nothing to retry."""
    if err.not_found:
        return True
    causes = ((err.body or {}).get("details") or {}).get("causes") or []
    return err.status == 403 and any(c.get("reason") == NAMESPACE_TERMINATING_CAUSE for c in causes)


class ServiceAccountsController(Controller):
    name = NAME

    def __init__(
        self,
        *,
        client: ApiClient,
        namespace_informer: Informer,
        service_account_informer: Informer,
        workers: int = 1,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(
            informers=[namespace_informer, service_account_informer], workers=workers, clock=clock
        )
        self._client = client
        self._namespaces = namespace_informer.store
        self._service_accounts = service_account_informer.store
        namespace_informer.add_handler(on_add=self.enqueue, on_update=self.enqueue_update)
        service_account_informer.add_handler(on_delete=self._service_account_deleted)

    def _service_account_deleted(self, service_account: Obj) -> None:
        meta = service_account.get("metadata") or {}
        if meta.get("namespace"):
            self.queue.add(str(meta["namespace"]))

    async def sync(self, key: str) -> None:
        if not is_active(self._namespaces.get(key)):
            return
        for name in SERVICE_ACCOUNTS_TO_ENSURE:
            if f"{key}/{name}" in self._service_accounts:
                continue
            body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}
            try:
                await self._client.create(resources.SERVICE_ACCOUNTS.path(namespace=key), body)
            except ApiError as err:
                if err.already_exists or namespace_gone_or_terminating(err):
                    continue
                raise
            log.info("created ServiceAccount %s/%s", key, name)


def build(ctx: Context) -> Controller:
    return ServiceAccountsController(
        client=ctx.client,
        namespace_informer=ctx.informers.informer(resources.NAMESPACES),
        service_account_informer=ctx.informers.informer(resources.SERVICE_ACCOUNTS),
        workers=ctx.options.concurrent_serviceaccount_syncs,
        clock=ctx.clock,
    )
