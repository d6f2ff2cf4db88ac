"""podgc: deletes the pods nobody else will (upstream's ``pkg/controller/podgc``).

Every 20 s (upstream's ``gcCheckPeriod``) it looks at every pod and node in its informers and
force-deletes (grace period 0):

- **terminated pods over the threshold**: when more than ``--terminated-pod-gc-threshold``
  pods are Succeeded or Failed, the excess, evicted pods first, then the oldest (0 turns this
  off);
- **terminating pods on out-of-service nodes**: pods being deleted on a node that is not Ready
  and carries the ``node.kubernetes.io/out-of-service`` taint (no kubelet will finish them);
- **orphaned pods**: pods bound to a node that does not exist. A node missing from the informer
  may just not have arrived yet, so its name is quarantined for 40 s and then checked with a
  fresh GET; only a 404 condemns its pods, which get the ``DisruptionTarget`` condition (reason
  ``DeletionByPodGC``) so that Jobs see why they went;
- **unscheduled terminating pods**: pods being deleted that were never bound to a node.

A pod that is not yet Succeeded or Failed is first marked Failed through its status (no kubelet
will do it), then deleted. The whole pass is one key on the queue, requeued every period.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from pocketkube.api.timestamps import rfc3339, utcnow
from pocketkube.client import resources
from pocketkube.client.clock import Clock, RealClock
from pocketkube.client.informer import Informer
from pocketkube.client.rest import ApiError, Obj
from pocketkube.controllers.base import ApiClient, Controller
from pocketkube.controllers.context import Context

log = logging.getLogger(__name__)

NAME = "podgc"  # upstream: pod-garbage-collector-controller, alias podgc
GC_CHECK_PERIOD = 20.0
QUARANTINE_TIME = 40.0
OUT_OF_SERVICE_TAINT = "node.kubernetes.io/out-of-service"
GC_KEY = "gc"
PARALLEL_DELETES = 32


def is_terminated(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") not in ("Pending", "Running", "Unknown")


def is_evicted(pod: Obj) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Failed" and status.get("reason") == "Evicted"


def is_node_ready(node: Obj) -> bool:
    for condition in (node.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Ready":
            return bool(condition.get("status") == "True")
    return False


def _eviction_and_age(pod: Obj) -> tuple[bool, str, str]:
    meta = pod.get("metadata") or {}
    return (not is_evicted(pod), str(meta.get("creationTimestamp") or ""), str(meta.get("name")))


class PodGC(Controller):
    name = NAME

    def __init__(
        self,
        *,
        client: ApiClient,
        pod_informer: Informer,
        node_informer: Informer,
        terminated_pod_threshold: int,
        gc_check_period: float = GC_CHECK_PERIOD,
        quarantine_time: float = QUARANTINE_TIME,
        clock: Clock | None = None,
        now: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        super().__init__(informers=[pod_informer, node_informer], workers=1, clock=clock)
        self._client = client
        self._pods = pod_informer.store
        self._nodes = node_informer.store
        self._threshold = terminated_pod_threshold
        self._period = gc_check_period
        self._quarantine_time = quarantine_time
        self._clock = clock or RealClock()
        self._now = now
        self._quarantine: dict[str, float] = {}  # node name -> when to check it with a GET

    async def run(self) -> None:
        self.queue.add(GC_KEY)
        await super().run()

    async def sync(self, key: str) -> None:
        self.queue.add_after(GC_KEY, self._period)
        await self.gc()

    async def gc(self) -> None:
        """One pass over every pod (upstream's ``gc``)."""
        pods = self._pods.list()
        nodes = {str(node["metadata"]["name"]): node for node in self._nodes.list()}
        if self._threshold > 0:
            await self._gc_terminated(pods)
        await self._gc_terminating(pods, nodes)
        await self._gc_orphaned(pods, nodes)
        await self._gc_unscheduled_terminating(pods)

    async def _gc_terminated(self, pods: list[Obj]) -> None:
        terminated = [pod for pod in pods if is_terminated(pod)]
        excess = len(terminated) - self._threshold
        if excess <= 0:
            return
        log.info("garbage collecting %d terminated pods", excess)
        terminated.sort(key=_eviction_and_age)
        await self._delete_all(terminated[:excess], None)

    async def _gc_terminating(self, pods: list[Obj], nodes: dict[str, Obj]) -> None:
        doomed = []
        for pod in pods:
            if not pod["metadata"].get("deletionTimestamp"):
                continue
            node = nodes.get(str((pod.get("spec") or {}).get("nodeName") or ""))
            if node is None or is_node_ready(node):
                continue
            taints = (node.get("spec") or {}).get("taints") or ()
            if any(taint.get("key") == OUT_OF_SERVICE_TAINT for taint in taints):
                doomed.append(pod)
        if doomed:
            log.info("garbage collecting %d terminating pods on out-of-service nodes", len(doomed))
            doomed.sort(key=_eviction_and_age)
            await self._delete_all(doomed, None)

    async def _gc_orphaned(self, pods: list[Obj], nodes: dict[str, Obj]) -> None:
        now = self._clock.now()
        missing = {
            str(name)
            for pod in pods
            if (name := (pod.get("spec") or {}).get("nodeName")) and name not in nodes
        }
        deleted = set()
        for node_name, due in list(self._quarantine.items()):
            if due > now:
                continue
            del self._quarantine[node_name]
            if node_name in missing and await self._node_is_gone(node_name):
                deleted.add(node_name)
        for node_name in missing:  # a node not proven gone waits another quarantine
            self._quarantine.setdefault(node_name, now + self._quarantine_time)
        orphans = [pod for pod in pods if (pod.get("spec") or {}).get("nodeName") in deleted]
        condition = {
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "DeletionByPodGC",
            "message": "PodGC: node no longer exists",
        }
        for pod in orphans:
            log.info(
                "deleting orphaned pod %s/%s of node %s",
                pod["metadata"].get("namespace"),
                pod["metadata"]["name"],
                pod["spec"]["nodeName"],
            )
        await self._delete_all(orphans, condition)

    async def _node_is_gone(self, name: str) -> bool:
        try:
            await self._client.get(resources.NODES.path(name=name))
        except ApiError as err:
            if err.not_found:
                return True
            log.warning("error while getting node %s: %s", name, err)
        return False

    async def _gc_unscheduled_terminating(self, pods: list[Obj]) -> None:
        doomed = [
            pod
            for pod in pods
            if pod["metadata"].get("deletionTimestamp")
            and not (pod.get("spec") or {}).get("nodeName")
        ]
        await self._delete_all(doomed, None)

    # -- deleting ---------------------------------------------------------------------------
    async def _delete_all(self, pods: Iterable[Obj], condition: dict[str, Any] | None) -> None:
        """Mark and delete each pod, several at once; one failure does not stop the others."""
        limit = asyncio.Semaphore(PARALLEL_DELETES)

        async def one(pod: Obj) -> None:
            async with limit:
                await _logged(self._mark_failed_and_delete(pod, condition), pod)

        async with asyncio.TaskGroup() as group:
            for pod in pods:
                group.create_task(one(pod))

    async def _mark_failed_and_delete(self, pod: Obj, condition: dict[str, Any] | None) -> None:
        meta = pod["metadata"]
        namespace, name = meta.get("namespace"), meta["name"]
        log.info("PodGC is force deleting pod %s/%s", namespace, name)
        status = pod.get("status") or {}
        if status.get("phase") not in ("Succeeded", "Failed"):
            # no kubelet will move it to a terminal phase: do it, so its owner counts it failed
            patch: dict[str, Any] = {"metadata": {"uid": meta.get("uid")}}
            patch["status"] = {"phase": "Failed"}
            if condition is not None:
                patch["status"]["conditions"] = [
                    {**condition, "lastTransitionTime": rfc3339(self._now())}
                ]
            await self._client.patch(
                resources.PODS.path(namespace=namespace, name=name, subresource="status"),
                patch,
                patch_type="strategic",
            )
        body: Obj = {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0}
        if meta.get("uid"):
            body["preconditions"] = {"uid": meta["uid"]}
        await self._client.delete(resources.PODS.path(namespace=namespace, name=name), body=body)


async def _logged(work: Awaitable[None], pod: Obj) -> None:
    try:
        await work
    except ApiError as err:
        # gone already, or the UID precondition failed (a new pod by that name): nothing to do
        if not (err.not_found or err.status == 409):
            meta = pod["metadata"]
            log.warning(
                "podgc: deleting %s/%s failed: %s", meta.get("namespace"), meta["name"], err
            )


def build(ctx: Context) -> Controller:
    return PodGC(
        client=ctx.client,
        pod_informer=ctx.informers.informer(resources.PODS),
        node_informer=ctx.informers.informer(resources.NODES),
        terminated_pod_threshold=ctx.options.terminated_pod_gc_threshold,
        clock=ctx.clock,
    )
