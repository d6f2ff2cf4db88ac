"""The namespace controller: workers that run the deleter on terminating namespaces.

Upstream's ``namespace_controller.go``: only namespaces with a deletionTimestamp are queued
(on add, update and every resync); ``--concurrent-namespace-syncs`` workers each run one
deletion pass. A pass that leaves content behind (pods in their grace period, objects held by
finalizers) requeues the namespace after ``estimate / 2 + 1`` seconds; any other failure is
retried with the queue's backoff.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from pocketkube.api.timestamps import utcnow
from pocketkube.client.clock import Clock, RealClock
from pocketkube.client.informer import Informer
from pocketkube.client.rest import Obj
from pocketkube.client.store import split_key
from pocketkube.controllers.base import ApiClient, Controller
from pocketkube.controllers.namespace.deleter import NamespacedResourcesDeleter, ResourcesRemaining
from pocketkube.controllers.namespace.discovery import CachedDiscovery

log = logging.getLogger(__name__)

NAME = "namespace"


class NamespaceController(Controller):
    name = NAME

    def __init__(
        self,
        *,
        client: ApiClient,
        namespace_informer: Informer,
        workers: int = 10,
        clock: Clock | None = None,
        now: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        super().__init__(informers=[namespace_informer], workers=workers, clock=clock)
        self._namespaces = namespace_informer.store
        monotonic = (clock or RealClock()).now
        self.deleter = NamespacedResourcesDeleter(
            client=client, discovery=CachedDiscovery(client, monotonic), now=now
        )
        namespace_informer.add_handler(on_add=self._enqueue, on_update=self._enqueue_update)

    def _enqueue(self, namespace: Obj) -> None:
        if (namespace.get("metadata") or {}).get("deletionTimestamp"):
            self.enqueue(namespace)

    def _enqueue_update(self, old: Obj, new: Obj) -> None:
        self._enqueue(new)

    async def sync(self, key: str) -> None:
        if self._namespaces.get(key) is None:
            return
        _, name = split_key(key)
        try:
            await self.deleter.delete(name)
        except ResourcesRemaining as remaining:
            delay = remaining.estimate // 2 + 1
            log.debug("namespace %s: %s; again in %d s", name, remaining, delay)
            self.queue.add_after(key, delay)
