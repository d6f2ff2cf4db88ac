"""Informer events → the scheduling queue and the cache (upstream's eventhandlers.go).

Pending pods that name one of our profiles go to the queue; pods bound to a node (and not yet
finished) go to the cache. Changes that can make a rejected pod schedulable — a node added or
changed, a bound pod deleted, a volume appearing — are turned into ``ClusterEvent`` moves.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from pocketkube.scheduler.cache import Cache
from pocketkube.scheduler.framework.interface import ActionType, ClusterEvent
from pocketkube.scheduler.queue import SchedulingQueue

Obj = dict[str, Any]

NODE_ADD = ClusterEvent("Node", ActionType.ADD)
NODE_UPDATE = ClusterEvent("Node", ActionType.UPDATE)
POD_DELETE = ClusterEvent("Pod", ActionType.DELETE)


def is_assigned(pod: Mapping[str, Any]) -> bool:
    return bool((pod.get("spec") or {}).get("nodeName"))


def is_terminal(pod: Mapping[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _node_relevant(node: Mapping[str, Any]) -> tuple[Any, ...]:
    """What of a node can change a scheduling decision (heartbeats cannot)."""
    meta = node.get("metadata") or {}
    status = node.get("status") or {}
    return (
        meta.get("labels"),
        node.get("spec"),
        status.get("allocatable"),
        status.get("images"),
        [(c.get("type"), c.get("status")) for c in status.get("conditions") or ()],
    )


class EventHandlers:
    def __init__(
        self,
        *,
        cache: Cache,
        queue: SchedulingQueue,
        scheduler_names: Collection[str],
        on_pod_deleted: Callable[[Obj], None] = lambda pod: None,
    ) -> None:
        self.cache = cache
        self.queue = queue
        self.scheduler_names = frozenset(scheduler_names)
        self.on_pod_deleted = on_pod_deleted

    def responsible_for(self, pod: Mapping[str, Any]) -> bool:
        name = (pod.get("spec") or {}).get("schedulerName") or "default-scheduler"
        return name in self.scheduler_names

    # -- pods -------------------------------------------------------------------------------
    def pod_added(self, pod: Obj) -> None:
        if is_assigned(pod):
            if not is_terminal(pod):
                self.cache.add_pod(pod)
                self.queue.assigned_pod_added(pod)
        elif self.responsible_for(pod) and not is_terminal(pod):
            self.queue.add(pod)

    def pod_updated(self, old: Obj, new: Obj) -> None:
        if is_assigned(new):
            if not is_assigned(old):
                self.queue.delete(old)
            if is_terminal(new):
                self.cache.remove_pod(new)
                self.queue.move_all_to_active_or_backoff(POD_DELETE, old, None)
            elif is_assigned(old):
                self.cache.update_pod(new)
                self.queue.assigned_pod_updated(old, new)
            else:
                self.cache.add_pod(new)
                self.queue.assigned_pod_added(new)
        elif self.responsible_for(new):
            if is_terminal(new):
                self.queue.delete(new)
            else:
                self.queue.update(old, new)

    def pod_deleted(self, pod: Obj) -> None:
        if is_assigned(pod):
            self.cache.remove_pod(pod)
            self.queue.move_all_to_active_or_backoff(POD_DELETE, pod, None)
        else:
            self.queue.delete(pod)
            self.on_pod_deleted(pod)

    # -- nodes ------------------------------------------------------------------------------
    def node_added(self, node: Obj) -> None:
        self.cache.add_node(node)
        self.queue.move_all_to_active_or_backoff(NODE_ADD, None, node)

    def node_updated(self, old: Obj, new: Obj) -> None:
        self.cache.update_node(new)
        if _node_relevant(old) != _node_relevant(new):
            self.queue.move_all_to_active_or_backoff(NODE_UPDATE, old, new)

    def node_deleted(self, node: Obj) -> None:
        self.cache.remove_node(node)

    # -- everything else plugins read -------------------------------------------------------
    def moves_on(self, resource: str) -> dict[str, Callable[..., None]]:
        """Handlers that turn adds and updates of ``resource`` into queue moves."""

        def added(obj: Obj) -> None:
            self.queue.move_all_to_active_or_backoff(
                ClusterEvent(resource, ActionType.ADD), None, obj
            )

        def updated(old: Obj, new: Obj) -> None:
            self.queue.move_all_to_active_or_backoff(
                ClusterEvent(resource, ActionType.UPDATE), old, new
            )

        def deleted(obj: Obj) -> None:
            self.queue.move_all_to_active_or_backoff(
                ClusterEvent(resource, ActionType.DELETE), obj, None
            )

        return {"on_add": added, "on_update": updated, "on_delete": deleted}
