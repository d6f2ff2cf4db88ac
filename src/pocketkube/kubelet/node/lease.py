"""The node's heartbeat: a Lease in kube-node-lease renewed every 10 seconds.

Upstream's kubelet proves it is alive by renewing ``kube-node-lease/<node>`` (component-helpers'
lease controller with the kubelet's owner-reference hook) rather than by rewriting the Node's
status: a Lease is tiny, so heartbeats stay cheap however big Node objects get. The node
lifecycle controller marks a node whose Lease has not been renewed for its grace period (40 s)
NotReady/Unknown — which is how a stopped kubelet becomes visible.

As upstream:

- the Lease holds ``holderIdentity`` = the node name, ``leaseDurationSeconds`` (40) and a
  ``renewTime`` (MicroTime), and is owned by the Node (apiVersion v1, kind Node, name, uid) so
  deleting the Node deletes it; the owner reference is added as soon as the Node can be read,
  and a Lease is not created until it can;
- a renewal PUTs the last Lease it wrote (no GET), retried 5 times; a conflict re-reads it;
- when that fails, ``ensure`` GETs the Lease (creating it if missing) with back-off doubling from
  200 ms to 7 s until it works;
- renewals are ``renew_interval`` (10 s, a quarter of the duration) apart with 4% jitter,
  measured from the end of the previous one.
"""

from __future__ import annotations

import copy
import logging
import random
import time
from collections.abc import Callable

from pocketkube.client.clock import Clock, RealClock
from pocketkube.client.events import micro_time
from pocketkube.client.resources import LEASES, NODES
from pocketkube.client.rest import ApiError
from pocketkube.kubelet.node.protocols import ApiClient, Obj

log = logging.getLogger(__name__)

NODE_LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION = 40  # nodeLeaseDurationSeconds
RENEW_INTERVAL = 10.0  # 0.25 x the duration
MAX_UPDATE_RETRIES = 5
MAX_BACKOFF = 7.0
JITTER = 0.04


class LeaseRenewer:
    """Creates and renews the Lease of one node (``run``)."""

    def __init__(
        self,
        *,
        client: ApiClient,
        node_name: str,
        duration: int = LEASE_DURATION,
        renew_interval: float = RENEW_INTERVAL,
        namespace: str = NODE_LEASE_NAMESPACE,
        clock: Clock | None = None,
        wall_clock: Callable[[], float] = time.time,
        max_backoff: float = MAX_BACKOFF,
        jitter: float = JITTER,
        on_repeated_failure: Callable[[], None] | None = None,
    ) -> None:
        self._client = client
        self.node_name = node_name
        self._duration = duration
        self._renew_interval = renew_interval
        self._namespace = namespace
        self._clock: Clock = clock or RealClock()
        self._wall = wall_clock
        self._max_backoff = max_backoff
        self._jitter = jitter
        self._on_repeated_failure = on_repeated_failure
        self._latest: Obj | None = None

    @property
    def lease(self) -> Obj | None:
        """The Lease as last written or read."""
        return self._latest

    @property
    def path(self) -> str:
        return LEASES.path(namespace=self._namespace, name=self.node_name)

    async def run(self) -> None:
        """Renew until cancelled."""
        while True:
            await self.sync()
            period = self._renew_interval * (1 + random.random() * self._jitter)
            await self._clock.sleep(period)

    async def sync(self) -> None:
        """One renewal (upstream's ``controller.sync``)."""
        if self._latest is not None:
            try:
                await self._retry_update(self._latest)
                return
            except ApiError as err:
                log.info("failed to update lease using the latest lease, ensuring it: %s", err)
        lease, created = await self._backoff_ensure()
        self._latest = lease
        if lease is not None and not created:
            try:
                await self._retry_update(lease)
            except ApiError as err:
                log.error("%s, will retry after %ss", err, self._renew_interval)

    async def _backoff_ensure(self) -> tuple[Obj | None, bool]:
        delay = 0.1
        while True:
            try:
                return await self._ensure()
            except ApiError as err:
                delay = min(2 * delay, self._max_backoff)
                log.error("failed to ensure lease exists, will retry in %ss: %s", delay, err)
                await self._clock.sleep(delay)

    async def _ensure(self) -> tuple[Obj | None, bool]:
        """The Lease, created if missing; ``(None, False)`` when it cannot be created yet
        (the Node is not readable for the owner reference)."""
        try:
            return await self._client.get(self.path), False
        except ApiError as err:
            if not err.not_found:
                raise
        lease = await self._new_lease(None)
        if lease is None:
            return None, False
        created = await self._client.create(LEASES.path(namespace=self._namespace), lease)
        return created, True

    async def _retry_update(self, base: Obj) -> None:
        for attempt in range(MAX_UPDATE_RETRIES):
            lease = await self._new_lease(base)
            if lease is None:  # only when base is None
                break
            try:
                self._latest = await self._client.update(self.path, lease)
                return
            except ApiError as err:
                log.error("failed to update lease: %s", err)
                if err.conflict:
                    ensured, _ = await self._backoff_ensure()
                    if ensured is None:
                        break
                    base = ensured
                    continue
                if attempt > 0 and self._on_repeated_failure is not None:
                    self._on_repeated_failure()
        raise ApiError(
            0, "LeaseUpdateFailed", f"failed {MAX_UPDATE_RETRIES} attempts to update lease"
        )

    async def _new_lease(self, base: Obj | None) -> Obj | None:
        """``base`` renewed now (or a new Lease), owned by the Node; ``None`` when a new Lease
        cannot be owned yet. An existing Lease is renewed even without its owner."""
        if base is None:
            lease: Obj = {
                "apiVersion": LEASES.api_version,
                "kind": "Lease",
                "metadata": {"name": self.node_name, "namespace": self._namespace},
                "spec": {},
            }
        else:
            lease = copy.deepcopy(base)
        spec: Obj = lease.setdefault("spec", {})
        spec["holderIdentity"] = self.node_name
        spec["leaseDurationSeconds"] = self._duration
        spec["renewTime"] = micro_time(int(self._wall() * 1e9))
        meta: Obj = lease.setdefault("metadata", {})
        if not meta.get("ownerReferences"):
            try:
                node = await self._client.get(NODES.path(name=self.node_name))
            except ApiError as err:
                log.warning("cannot set the owner of lease %s yet: %s", self.node_name, err)
                return None if base is None else lease
            meta["ownerReferences"] = [
                {
                    "apiVersion": NODES.api_version,
                    "kind": NODES.kind,
                    "name": self.node_name,
                    "uid": node["metadata"]["uid"],
                }
            ]
        return lease
