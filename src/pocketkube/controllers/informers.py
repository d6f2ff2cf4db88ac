"""Shared informers: one list+watch per (resource, namespace, selectors) for the whole process.

Several controllers watch the same objects (the bootstrap signer and the token cleaner both
want kube-system's bootstrap-token Secrets); as with client-go's ``SharedInformerFactory``,
asking twice for the same view returns the same ``Informer``, so the API server serves one
watch and the process keeps one copy. Controllers ask for their informers while they are built;
``run`` then runs every informer asked for, until cancelled.
"""

from __future__ import annotations

import asyncio

from pocketkube.client.informer import Informer, ListWatcher
from pocketkube.client.resources import Resource

_Key = tuple[Resource, str | None, str | None, str | None]


class SharedInformers:
    def __init__(self, *, client: ListWatcher, resync_period: float | None = None) -> None:
        self._client = client
        self._resync_period = resync_period
        self._informers: dict[_Key, Informer] = {}
        self._started = False

    def informer(
        self,
        resource: Resource,
        *,
        namespace: str | None = None,
        field_selector: str | None = None,
        label_selector: str | None = None,
    ) -> Informer:
        key = (resource, namespace, field_selector, label_selector)
        informer = self._informers.get(key)
        if informer is None:
            if self._started:
                raise RuntimeError("informers are asked for before SharedInformers.run starts")
            informer = Informer(
                client=self._client,
                resource=resource,
                namespace=namespace,
                field_selector=field_selector,
                label_selector=label_selector,
                resync_period=self._resync_period,
            )
            self._informers[key] = informer
        return informer

    def __len__(self) -> int:
        return len(self._informers)

    async def run(self) -> None:
        """Run every informer asked for so far, until cancelled."""
        self._started = True
        async with asyncio.TaskGroup() as group:
            for informer in self._informers.values():
                group.create_task(informer.run())
