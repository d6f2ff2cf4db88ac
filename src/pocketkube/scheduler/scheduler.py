"""The scheduler's loop: pop a pod, run the scheduling cycle, bind in the background.

Upstream's ``scheduleOne``. The scheduling cycle (snapshot → filter → score → assume →
reserve → permit) runs on the event loop without awaiting, so the cache cannot change under it;
the binding cycle (wait on permit → PreBind → Bind → PostBind) is a task of its own, so the
next pod is scheduled while the API call for this one is in flight. Everything the scheduler
learns or says goes through the API server: informers in, bindings, status patches and
events out.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pocketkube.client import resources
from pocketkube.client.events import EventRecorder
from pocketkube.client.informer import Informer
from pocketkube.scheduler.algorithm import Algorithm, FitError, NoNodesAvailable
from pocketkube.scheduler.cache import Cache, node_images, pod_uid
from pocketkube.scheduler.config import SchedulerConfig
from pocketkube.scheduler.eventhandlers import EventHandlers
from pocketkube.scheduler.framework.cyclestate import CycleState
from pocketkube.scheduler.framework.interface import (
    ActionType,
    ClusterEvent,
    PluginFactory,
    QueuedPodInfo,
)
from pocketkube.scheduler.framework.runtime import Framework
from pocketkube.scheduler.framework.status import Code, Status
from pocketkube.scheduler.framework.types import PodInfo, pod_key
from pocketkube.scheduler.handle import SchedulerHandle
from pocketkube.scheduler.plugins.imagelocality import normalized_image_name
from pocketkube.scheduler.profile import build_framework
from pocketkube.scheduler.queue import SchedulingQueue

log = logging.getLogger(__name__)
Obj = dict[str, Any]

REASON_UNSCHEDULABLE = "Unschedulable"
REASON_SCHEDULER_ERROR = "SchedulerError"
# Pods that are done never need a node; upstream's scheduler leaves them out of its informer.
POD_FIELD_SELECTOR = "status.phase!=Succeeded,status.phase!=Failed"
ASSIGNED_POD_DELETE = ClusterEvent("Pod", ActionType.DELETE)
EVENT_BACKLOG_POLL = 0.002  # seconds between looks at the event backlog while waiting on it

# Objects plugins read, by the lister name they ask for.
LISTED = {
    "namespaces": resources.NAMESPACES,
    "persistentvolumes": resources.PERSISTENT_VOLUMES,
    "persistentvolumeclaims": resources.PERSISTENT_VOLUME_CLAIMS,
    "storageclasses": resources.STORAGE_CLASSES,
    "poddisruptionbudgets": resources.POD_DISRUPTION_BUDGETS,
    "services": resources.SERVICES,
    "replicasets": resources.REPLICA_SETS,
    "statefulsets": resources.STATEFUL_SETS,
    "replicationcontrollers": resources.REPLICATION_CONTROLLERS,
}
# Which of those can make a rejected pod schedulable when they change.
MOVES = {
    "persistentvolumes": "PersistentVolume",
    "persistentvolumeclaims": "PersistentVolumeClaim",
    "storageclasses": "StorageClass",
    "namespaces": "Namespace",
}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _path(pod: Mapping[str, Any], subresource: str = "") -> str:
    meta = pod.get("metadata") or {}
    path = f"/api/v1/namespaces/{meta.get('namespace', '')}/pods/{meta.get('name', '')}"
    return f"{path}/{subresource}" if subresource else path


def _scheduled_condition(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    for condition in (pod.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "PodScheduled":
            return condition  # type: ignore[no-any-return]
    return {}


class Scheduler:
    def __init__(
        self,
        *,
        client: Any,
        config: SchedulerConfig,
        registry: Mapping[str, PluginFactory],
        instance: str | None = None,
    ) -> None:
        self.client = client
        self.config = config
        self.cache = Cache(image_names=lambda node: node_images(node, normalized_image_name))
        self.algorithm = Algorithm()
        self.recorder = EventRecorder(
            client=client,
            reporting_controller="default-scheduler",
            reporting_instance=instance or f"default-scheduler-{socket.gethostname()}",
        )
        self.pod_informer = Informer(
            client=client, resource=resources.PODS, field_selector=POD_FIELD_SELECTOR
        )
        self.node_informer = Informer(client=client, resource=resources.NODES)
        self.listed = {name: Informer(client=client, resource=r) for name, r in LISTED.items()}
        self.frameworks: dict[str, Framework] = {}
        queue_holder: list[SchedulingQueue] = []

        def nominated(node: str) -> list[PodInfo]:
            return queue_holder[0].nominated_pods_for_node(node)

        def has_nominated() -> bool:
            return len(queue_holder[0].nominator) > 0

        for profile in config.profiles:
            handle = SchedulerHandle(
                cache=self.cache,
                client=client,
                listers={name: informer.store for name, informer in self.listed.items()},
                recorder=self.recorder,
                nominated=nominated,
                has_nominated=has_nominated,
            )
            framework = build_framework(
                profile,
                registry=registry,
                handle=handle,
                percentage_of_nodes_to_score=config.percentage_of_nodes_to_score,
            )
            handle.set_framework(framework)
            self.frameworks[profile.scheduler_name] = framework
        first = next(iter(self.frameworks.values()))
        plugin_events: dict[str, list[ClusterEvent]] = {}
        for framework in self.frameworks.values():
            plugin_events.update(framework.events_to_register())
        self.queue = SchedulingQueue(
            less=first.less,
            pre_enqueue=self._pre_enqueue,
            plugin_events=plugin_events,
            initial_backoff=config.pod_initial_backoff_seconds,
            max_backoff=config.pod_max_backoff_seconds,
            pod_lister=self.pod_informer.store,
            namespace_labels=self._namespace_labels,
        )
        queue_holder.append(self.queue)
        self.handlers = EventHandlers(
            cache=self.cache,
            queue=self.queue,
            scheduler_names=self.frameworks,
            on_pod_deleted=self._reject_waiting,
        )
        self.scheduled = 0
        self.binding = 0  # binding cycles past Permit: each will post an event
        self._group: asyncio.TaskGroup | None = None  # run()'s, for status writes
        self.synced = asyncio.Event()  # every informer has listed; scheduling starts

    def _namespace_labels(self, namespace: str) -> Mapping[str, str] | None:
        obj = self.listed["namespaces"].store.get(namespace)
        return None if obj is None else (obj.get("metadata") or {}).get("labels") or {}

    def _pre_enqueue(self, pod: PodInfo) -> Status | None:
        framework = self._framework_for(pod.pod)
        return framework.run_pre_enqueue_plugins(pod) if framework is not None else None

    def _framework_for(self, pod: Mapping[str, Any]) -> Framework | None:
        name = (pod.get("spec") or {}).get("schedulerName") or "default-scheduler"
        return self.frameworks.get(name)

    def _reject_waiting(self, pod: Obj) -> None:
        key = pod_key(pod)
        for framework in self.frameworks.values():
            waiting = framework.waiting_pods.get(key)
            if waiting is not None:
                waiting.reject("", "removed")

    # -- running ----------------------------------------------------------------------------
    async def run(self) -> None:
        """Follow the cluster and schedule until cancelled."""
        handlers = self.handlers
        self.node_informer.add_handler(
            on_add=handlers.node_added,
            on_update=handlers.node_updated,
            on_delete=handlers.node_deleted,
        )
        self.pod_informer.add_handler(
            on_add=handlers.pod_added,
            on_update=handlers.pod_updated,
            on_delete=handlers.pod_deleted,
        )
        for name, resource in MOVES.items():
            self.listed[name].add_handler(**handlers.moves_on(resource))
        async with asyncio.TaskGroup() as group:
            self._group = group
            informers = [self.node_informer, self.pod_informer, *self.listed.values()]
            for informer in informers:
                group.create_task(informer.run())
            group.create_task(self.recorder.run())
            for informer in informers:
                await informer.wait_synced()
            log.info("scheduler: caches synced (%d nodes)", self.cache.node_count())
            self.synced.set()
            await asyncio.sleep(0)  # whoever waits for it (the process's GC freeze) goes first
            group.create_task(self.queue.run())
            try:
                while True:
                    info = await self.queue.pop()
                    self.schedule_one(info, group)
                    # Let binding cycles and informer events in between pods, as upstream's
                    # binding goroutines run beside the scheduling loop.
                    await asyncio.sleep(0)
                    if self._events_backlogged():
                        await self._wait_for_events()
            finally:
                self.queue.close()

    def _events_backlogged(self) -> bool:
        """Whether the events queued and those the bindings under way will post fill half
        the recorder's queue."""
        capacity = self.recorder.capacity
        return capacity > 0 and (self.recorder.queued + self.binding) * 2 >= capacity

    async def _wait_for_events(self) -> None:
        """The API server takes bindings and events more slowly than pods are scheduled: wait
        until the events pending fill less than half the recorder's queue, rather than let it
        drop Scheduled events (the bindings under way and the events go on meanwhile; half a
        queue of requests keeps the API server busy). Upstream's default client rate limit
        (50 queries/s) paces its scheduler instead."""
        # Polled: the backlog shrinks in the recorder's workers, and a binding may also end
        # without an event (its pod deleted meanwhile).
        while self._events_backlogged():  # noqa: ASYNC110
            await asyncio.sleep(EVENT_BACKLOG_POLL)

    def schedule_one(self, info: QueuedPodInfo, group: asyncio.TaskGroup) -> None:
        """The scheduling cycle of one pod; starts its binding cycle in ``group``."""
        pod = info.pod
        cycle = self.queue.scheduling_cycle
        framework = self._framework_for(pod)
        if (
            framework is None
            or (pod.get("metadata") or {}).get("deletionTimestamp")
            or self.cache.is_assumed(pod)
        ):
            self.queue.done(pod_uid(pod))
            return
        state = CycleState()
        try:
            result = self.algorithm.schedule(framework, state, info.pod_info)
        except (FitError, NoNodesAvailable) as err:
            group.create_task(self._after_fit_error(framework, state, info, err, cycle))
            return
        except Exception as err:  # a plugin's bug must not stop the scheduler
            log.exception("scheduling %s failed", info.pod_info.key)
            self._failed(info, Status(Code.ERROR, [str(err)]), str(err), "", cycle)
            return
        self._assume_and_bind(framework, state, info, result.suggested_host, group, cycle)

    def _assume_and_bind(
        self,
        framework: Framework,
        state: CycleState,
        info: QueuedPodInfo,
        host: str,
        group: asyncio.TaskGroup,
        cycle: int,
    ) -> None:
        assumed_pod = {**info.pod, "spec": {**(info.pod.get("spec") or {}), "nodeName": host}}
        assumed = info.pod_info.with_pod(assumed_pod)
        self.cache.assume_pod(assumed, host)
        status = framework.run_reserve_plugins_reserve(state, assumed, host)
        if status is None or status.success:
            status = framework.run_permit_plugins(state, assumed, host)
        if status is not None and not status.success and status.code != Code.WAIT:
            framework.run_reserve_plugins_unreserve(state, assumed, host)
            self.cache.forget_pod(assumed_pod)
            self._failed(info, status, status.message(), "", cycle)
            return
        self.queue.delete_nominated_pod_if_exists(info.pod)
        group.create_task(self._binding_cycle(framework, state, info, assumed, host, cycle))

    async def _binding_cycle(
        self,
        framework: Framework,
        state: CycleState,
        info: QueuedPodInfo,
        assumed: PodInfo,
        host: str,
        cycle: int,
    ) -> None:
        status = await framework.wait_on_permit(assumed)
        if not status.success:
            await self._bind(framework, state, info, assumed, host, cycle, status)
            return
        # Counted from here, not while Permit holds it: a gang of pods waiting there must not
        # stop the loop that schedules the rest of the gang.
        self.binding += 1
        try:
            await self._bind(framework, state, info, assumed, host, cycle, status)
        finally:
            self.binding -= 1

    async def _bind(
        self,
        framework: Framework,
        state: CycleState,
        info: QueuedPodInfo,
        assumed: PodInfo,
        host: str,
        cycle: int,
        status: Status,
    ) -> None:
        if status.success:
            status = await framework.run_pre_bind_plugins(state, assumed, host) or Status()
        if status.success:
            status = await framework.run_bind_plugins(state, assumed, host)
        if not status.success:
            framework.run_reserve_plugins_unreserve(state, assumed, host)
            self.cache.forget_pod(assumed.pod)
            self.queue.move_all_to_active_or_backoff(ASSIGNED_POD_DELETE)
            self._failed(info, status, status.message(), "", cycle)
            return
        self.cache.finish_binding(assumed.pod)
        self.queue.done(pod_uid(info.pod))
        framework.run_post_bind_plugins(state, assumed, host)
        self.scheduled += 1
        meta = info.pod.get("metadata") or {}
        self.recorder.post(
            info.pod,
            type="Normal",
            reason="Scheduled",
            action="Binding",
            note=f"Successfully assigned {meta.get('namespace')}/{meta.get('name')} to {host}",
        )

    async def _after_fit_error(
        self,
        framework: Framework,
        state: CycleState,
        info: QueuedPodInfo,
        err: FitError | NoNodesAvailable,
        cycle: int,
    ) -> None:
        nominated = ""
        clear_nomination = False
        status = Status(Code.UNSCHEDULABLE, [str(err)])
        if isinstance(err, FitError):
            info.unschedulable_plugins = set(err.diagnosis.unschedulable_plugins)
            info.pending_plugins = set(err.diagnosis.pending_plugins)
            if framework.points["post_filter"]:
                try:
                    result, post = await framework.run_post_filter_plugins(
                        state, info.pod_info, err.diagnosis.node_statuses
                    )
                except Exception as error:
                    log.exception("post filter for %s failed", info.pod_info.key)
                    result, post = None, Status(Code.ERROR, [str(error)])
                if post.success and result is not None:
                    nominated = result.nominated_node_name
                else:
                    if post.reasons and post.code != Code.ERROR:
                        err.diagnosis.post_filter_message = post.message()
                    if result is not None and not result.nominated_node_name:
                        clear_nomination = True
        self._failed(info, status, str(err), nominated, cycle, clear_nomination=clear_nomination)

    def _failed(
        self,
        info: QueuedPodInfo,
        status: Status,
        message: str,
        nominated: str,
        cycle: int,
        *,
        clear_nomination: bool = False,
    ) -> None:
        """Requeue the pod, tell its owner why (event), and record it in its status."""
        current = self.pod_informer.store.get(info.pod_info.key)
        if current is None or (current.get("spec") or {}).get("nodeName"):
            # Deleted or bound meanwhile: nothing to retry or report (upstream).
            self.queue.done(pod_uid(info.pod))
            return
        rejected = status.rejected
        reason = REASON_UNSCHEDULABLE if rejected else REASON_SCHEDULER_ERROR
        if not rejected:
            info.unschedulable_plugins = set()
        current_nominated = (info.pod.get("status") or {}).get("nominatedNodeName") or ""
        clear = clear_nomination and bool(current_nominated)
        if nominated:
            self.queue.add_nominated_pod(info.pod_info, nominated)
        elif clear:
            self.queue.add_nominated_pod(info.pod_info, "")
        self.queue.add_unschedulable_if_not_present(info, cycle)
        self.recorder.post(
            info.pod, type="Warning", reason="FailedScheduling", action="Scheduling", note=message
        )
        condition = _scheduled_condition(info.pod)
        if (
            condition.get("status") == "False"
            and condition.get("reason") == reason
            and condition.get("message") == message
            and (not nominated or nominated == current_nominated)
            and not clear
        ):
            return
        patch: Obj = {
            "status": {
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": reason,
                        "message": message,
                        "lastProbeTime": None,
                        "lastTransitionTime": (
                            condition.get("lastTransitionTime")
                            if condition.get("status") == "False"
                            else _now()
                        )
                        or _now(),
                    }
                ]
            }
        }
        if nominated:
            patch["status"]["nominatedNodeName"] = nominated
        elif clear:
            patch["status"]["nominatedNodeName"] = None
        if self._group is not None:
            self._group.create_task(self._patch_status(info.pod, patch))

    async def _patch_status(self, pod: Obj, patch: Obj) -> None:
        try:
            await self.client.patch(_path(pod, "status"), patch, patch_type="strategic")
        except Exception as err:  # the pod may be gone; the next cycle tries again
            log.info("could not update the status of %s: %s", _path(pod), err)
