"""replicaset and replicationcontroller: keep ``spec.replicas`` pods running (upstream's
``pkg/controller/replicaset``; the ReplicationController is the same controller over another
resource, as upstream's ``pkg/controller/replication`` wraps it).

A sync takes the owner from the informer, claims its pods (``podcontrol.PodControllerRefManager``:
active pods in its namespace that match its selector, adopting orphans and releasing pods that
stopped matching) and, once the owner's expectations are satisfied (its informer has seen the
creations and deletions of the last sync), creates the missing pods in slow-start batches or
deletes the surplus in ``get_pods_to_delete`` order, at most 500 per sync (upstream's
``BurstReplicas``). It then writes the status through ``/status`` when it changed:
``replicas``, ``fullyLabeledReplicas`` (pods carrying all the template's labels),
``readyReplicas``, ``availableReplicas`` (ready for ``minReadySeconds``; the key is requeued
when the next pod will become available), ``observedGeneration`` and the ``ReplicaFailure``
condition (``FailedCreate`` / ``FailedDelete``) while creating or deleting fails.

The pod informer's handlers lower the expectations (a pod with our controller reference
appeared or went) and enqueue the owner; an orphan's add or label change enqueues every owner
in its namespace whose selector matches, so that one of them adopts it.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from pocketkube.api.labels import (
    LabelSelector,
    SelectorError,
    selector_from_label_selector,
    selector_from_set,
)
from pocketkube.api.timestamps import rfc3339, utcnow
from pocketkube.client import resources
from pocketkube.client.clock import Clock
from pocketkube.client.informer import Informer
from pocketkube.client.resources import Resource
from pocketkube.client.rest import ApiError, Obj
from pocketkube.client.store import NAMESPACE_INDEX, key_of, split_key
from pocketkube.controllers import podcontrol as pc
from pocketkube.controllers.base import ApiClient, Controller
from pocketkube.controllers.context import Context, Recorder

log = logging.getLogger(__name__)

BURST_REPLICAS = 500  # upstream's BurstReplicas
REPLICA_FAILURE = "ReplicaFailure"


@dataclass(frozen=True)
class Kind:
    """What differs between the ReplicaSet and the ReplicationController controllers."""

    name: str  # the --controllers name
    resource: Resource
    component: str  # events' reporting controller
    selector: Callable[[Obj], LabelSelector]


def _rs_selector(obj: Obj) -> LabelSelector:
    return selector_from_label_selector((obj.get("spec") or {}).get("selector"))


def _rc_selector(obj: Obj) -> LabelSelector:
    spec = obj.get("spec") or {}
    # upstream defaults an empty selector to the template's labels
    selector = spec.get("selector") or ((spec.get("template") or {}).get("metadata") or {}).get(
        "labels"
    )
    if not selector:
        raise SelectorError("empty selector")
    return selector_from_set({str(k): str(v) for k, v in selector.items()})


REPLICA_SET = Kind("replicaset", resources.REPLICA_SETS, "replicaset-controller", _rs_selector)
REPLICATION_CONTROLLER = Kind(
    "replicationcontroller",
    resources.REPLICATION_CONTROLLERS,
    "replication-controller",
    _rc_selector,
)


class ReplicaSetController(Controller):
    """The ReplicaSet controller; ``ReplicationManager`` is the same over another ``kind``."""

    name = REPLICA_SET.name
    kind: ClassVar[Kind] = REPLICA_SET

    def __init__(
        self,
        *,
        client: ApiClient,
        owner_informer: Informer,
        pod_informer: Informer,
        recorder: Recorder,
        workers: int = 5,
        burst_replicas: int = BURST_REPLICAS,
        clock: Clock | None = None,
        now: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        super().__init__(informers=[owner_informer, pod_informer], workers=workers, clock=clock)
        self._client = client
        self._owners = owner_informer.store
        self._pods = pod_informer.store
        self._control = pc.PodControl(client=client, recorder=recorder)
        self.expectations = pc.ControllerExpectations(clock=clock)
        self._burst = burst_replicas
        self._now = now
        pc.ensure_namespace_index(owner_informer)
        pc.ensure_namespace_index(pod_informer)
        owner_informer.add_handler(
            on_add=self.enqueue, on_update=self.enqueue_update, on_delete=self._owner_deleted
        )
        pod_informer.add_handler(
            on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_deleted
        )

    # -- handlers ------------------------------------------------------------------------------
    def _owner_deleted(self, obj: Obj) -> None:
        self.expectations.delete(key_of(obj))
        self.enqueue(obj)

    def _resolve(self, namespace: str, ref: Obj | None) -> str | None:
        """The key of the owner ``ref`` names, if it is one of ours and still that object."""
        owner = pc.resolve_controller_ref(self._owners, namespace, ref, self.kind.resource.kind)
        return None if owner is None else key_of(owner)

    def _matching_owners(self, pod: Obj) -> list[str]:
        meta = pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        keys = []
        for owner in self._owners.by_index(NAMESPACE_INDEX, str(meta.get("namespace"))):
            try:
                selector = self.kind.selector(owner)
            except SelectorError:
                continue
            if not selector.empty and selector.matches(labels):
                keys.append(key_of(owner))
        return keys

    def _pod_added(self, pod: Obj) -> None:
        if pod["metadata"].get("deletionTimestamp"):
            self._pod_deleted(pod)  # seen first as deleting (after a restart): a deletion
            return
        namespace = str(pod["metadata"].get("namespace"))
        ref = pc.controller_ref(pod)
        if ref is not None:
            key = self._resolve(namespace, ref)
            if key is not None:
                self.expectations.creation_observed(key)
                self.queue.add(key)
            return
        for key in self._matching_owners(pod):
            self.queue.add(key)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        old_meta, new_meta = old["metadata"], new["metadata"]
        if old_meta.get("resourceVersion") == new_meta.get("resourceVersion"):
            return  # a resync
        labels_changed = old_meta.get("labels") != new_meta.get("labels")
        if new_meta.get("deletionTimestamp"):
            # graceful deletion: replace it now rather than when the kubelet finishes
            self._pod_deleted(new)
            if labels_changed:
                self._pod_deleted(old)
            return
        namespace = str(new_meta.get("namespace"))
        old_ref, new_ref = pc.controller_ref(old), pc.controller_ref(new)
        if old_ref != new_ref and old_ref is not None:
            key = self._resolve(namespace, old_ref)
            if key is not None:
                self.queue.add(key)
        if new_ref is not None:
            key = self._resolve(namespace, new_ref)
            if key is not None:
                self.queue.add(key)
            return
        if labels_changed or old_ref != new_ref:
            for key in self._matching_owners(new):
                self.queue.add(key)

    def _pod_deleted(self, pod: Obj) -> None:
        ref = pc.controller_ref(pod)
        key = self._resolve(str(pod["metadata"].get("namespace")), ref)
        if key is not None:
            self.expectations.deletion_observed(key, key_of(pod))
            self.queue.add(key)

    # -- sync ----------------------------------------------------------------------------------
    async def sync(self, key: str) -> None:
        owner = self._owners.get(key)
        if owner is None:
            self.expectations.delete(key)
            return
        needs_sync = self.expectations.satisfied(key)
        try:
            selector = self.kind.selector(owner)
        except SelectorError as err:
            log.warning("%s: %s has an invalid selector: %s", self.name, key, err)
            return
        namespace, _ = split_key(key)
        pods = [
            pod
            for pod in self._pods.by_index(NAMESPACE_INDEX, str(namespace))
            if pc.is_pod_active(pod)
        ]
        refs = pc.PodControllerRefManager(
            client=self._client, owner=owner, resource=self.kind.resource, selector=selector
        )
        claimed, errors = await refs.claim_pods(pods)
        if errors:
            raise errors[0]
        manage_error: BaseException | None = None
        diff = len(claimed) - _replicas(owner)
        if needs_sync and not owner["metadata"].get("deletionTimestamp"):
            manage_error = await self._manage(key, owner, claimed, diff)
        await self._update_status(owner, claimed, manage_error, diff)
        if manage_error is not None:
            raise manage_error

    async def _manage(
        self, key: str, owner: Obj, pods: list[Obj], diff: int
    ) -> BaseException | None:
        """Create or delete pods toward ``spec.replicas``; the first error, if any."""
        if diff < 0:
            count = min(-diff, self._burst)
            self.expectations.expect_creations(key, count)
            template = (owner.get("spec") or {}).get("template") or {}

            async def create() -> None:
                await self._control.create_pod_from_template(template, owner, self.kind.resource)

            created, error = await pc.slow_start_batch(count, create)
            skipped = count - created
            if skipped:  # neither made nor to be seen: stop waiting for them
                self.expectations.lower_expectations(key, add=skipped)
            return error
        if diff > 0:
            related = self._related_pods(owner) or pods
            doomed = pc.get_pods_to_delete(pods, min(diff, self._burst), related, self._now())
            self.expectations.expect_deletions(key, [key_of(pod) for pod in doomed])
            results = await asyncio.gather(
                *(self._delete(key, owner, pod) for pod in doomed), return_exceptions=True
            )
            return next((r for r in results if isinstance(r, BaseException)), None)
        return None

    def _related_pods(self, owner: Obj) -> list[Obj]:
        """Active pods of every ReplicaSet sharing ``owner``'s controller (a Deployment's
        ReplicaSets; upstream's getIndirectlyRelatedPods), for the deletion rank."""
        ref = pc.controller_ref(owner)
        if ref is None:
            return []
        namespace = str(owner["metadata"].get("namespace"))
        siblings = {
            sibling["metadata"].get("uid")
            for sibling in self._owners.by_index(NAMESPACE_INDEX, namespace)
            if (pc.controller_ref(sibling) or {}).get("uid") == ref.get("uid")
        }
        return [
            pod
            for pod in self._pods.by_index(NAMESPACE_INDEX, namespace)
            if pc.is_pod_active(pod) and (pc.controller_ref(pod) or {}).get("uid") in siblings
        ]

    async def _delete(self, key: str, owner: Obj, pod: Obj) -> None:
        meta = pod["metadata"]
        try:
            await self._control.delete_pod(str(meta.get("namespace")), meta["name"], owner)
        except ApiError as err:
            self.expectations.deletion_observed(key, key_of(pod))
            if not err.not_found:
                raise

    # -- status --------------------------------------------------------------------------------
    async def _update_status(
        self, owner: Obj, pods: list[Obj], manage_error: BaseException | None, diff: int
    ) -> None:
        spec = owner.get("spec") or {}
        min_ready = int(spec.get("minReadySeconds") or 0)
        now = self._now()
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        template_selector = selector_from_set(template_labels)
        status = copy.deepcopy(owner.get("status") or {})
        status["replicas"] = len(pods)
        status["fullyLabeledReplicas"] = sum(
            1 for pod in pods if template_selector.matches(pod["metadata"].get("labels") or {})
        )
        status["readyReplicas"] = sum(1 for pod in pods if pc.is_pod_ready(pod))
        status["availableReplicas"] = sum(
            1 for pod in pods if pc.is_pod_available(pod, min_ready, now)
        )
        status["observedGeneration"] = owner["metadata"].get("generation")
        conditions = [c for c in status.get("conditions") or () if c.get("type") != REPLICA_FAILURE]
        failure = next(
            (c for c in status.get("conditions") or () if c.get("type") == REPLICA_FAILURE), None
        )
        if manage_error is not None:
            if failure is None:
                failure = {
                    "type": REPLICA_FAILURE,
                    "status": "True",
                    "lastTransitionTime": rfc3339(now),
                    "reason": "FailedCreate" if diff < 0 else "FailedDelete",
                    "message": pc.describe(manage_error),
                }
            conditions.append(failure)
        if conditions:
            status["conditions"] = conditions
        else:
            status.pop("conditions", None)
        for field in ("fullyLabeledReplicas", "readyReplicas", "availableReplicas"):
            if not status[field]:
                status.pop(field)  # omitempty, as the API returns them
        if min_ready:
            self._requeue_for_availability(owner, pods, min_ready, now)
        if status == (owner.get("status") or {}):
            return
        await self._write_status(owner, status)

    async def _write_status(self, owner: Obj, status: Obj) -> None:
        """PUT the status; after a conflict, once more onto a fresh copy (upstream's
        statusUpdateRetries)."""
        meta = owner["metadata"]
        path = self.kind.resource.path(
            namespace=meta.get("namespace"), name=meta["name"], subresource="status"
        )
        current = owner
        for attempt in range(2):
            updated = copy.deepcopy(current)
            updated["status"] = status
            try:
                await self._client.update(path, updated)
                return
            except ApiError as err:
                if err.not_found:
                    return
                if not err.conflict or attempt:
                    raise
            current = await self._client.get(
                self.kind.resource.path(namespace=meta.get("namespace"), name=meta["name"])
            )
            if current["metadata"].get("uid") != meta.get("uid"):
                return

    def _requeue_for_availability(
        self, owner: Obj, pods: list[Obj], min_ready: int, now: dt.datetime
    ) -> None:
        """Sync again when the next ready pod has been ready for ``minReadySeconds``."""
        waits = []
        for pod in pods:
            if pc.is_pod_ready(pod) and not pc.is_pod_available(pod, min_ready, now):
                since = pc.ready_since(pod) or now
                waits.append((since - now).total_seconds() + min_ready)
        if waits:
            self.queue.add_after(key_of(owner), max(0.0, min(waits)) + 0.01)


class ReplicationManager(ReplicaSetController):
    """The ReplicationController controller (upstream's ReplicationManager)."""

    name = REPLICATION_CONTROLLER.name
    kind = REPLICATION_CONTROLLER


def _replicas(owner: Obj) -> int:
    replicas = (owner.get("spec") or {}).get("replicas")
    return replicas if isinstance(replicas, int) and replicas >= 0 else 1


def _build(ctx: Context, cls: type[ReplicaSetController], workers: int) -> Controller:
    return cls(
        client=ctx.client,
        owner_informer=ctx.informers.informer(cls.kind.resource),
        pod_informer=ctx.informers.informer(resources.PODS),
        recorder=ctx.recorder(cls.kind.component),
        workers=workers,
        clock=ctx.clock,
    )


def build(ctx: Context) -> Controller:
    return _build(ctx, ReplicaSetController, ctx.options.concurrent_replicaset_syncs)


def build_replicationcontroller(ctx: Context) -> Controller:
    return _build(ctx, ReplicationManager, ctx.options.concurrent_rc_syncs)
