"""Cluster events as the scheduling queue sees them, and those that arrive mid-cycle.

Plugins say which events may make a pod they rejected schedulable (``events_to_register``);
the queue raises a few of its own (a timeout, an activation, an update of the pending pod
itself), which are wildcards: they concern every rejected pod, or with a pod as ``new`` that
pod only. Without upstream's per-plugin queueing hints, an event a rejecting plugin
registered is taken to mean "retry".

A cycle that fails has looked at the cluster as it was when the cycle started. If a node was
added meanwhile, parking the pod until the next such event would strand it, so the queue
remembers the events received since each in-flight pod was popped and replays them when the
pod comes back (upstream's ``inFlightPods`` and ``inFlightEvents``). Events are kept only while
some pod is in flight, and only back to the oldest of them.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pocketkube.scheduler.framework.interface import ActionType, ClusterEvent, QueuedPodInfo
from pocketkube.scheduler.framework.resources import pod_requests
from pocketkube.scheduler.nominator import pod_uid

POD_TOPOLOGY_SPREAD = "PodTopologySpread"

# Events the queue raises itself. A wildcard ("*", all actions) moves pods whatever rejected
# them; with a pod as ``new`` it is aimed at that pod only.
EVENT_WILDCARD = ClusterEvent("*", ActionType.ALL, "WildCardEvent")
EVENT_UNSCHEDULABLE_TIMEOUT = ClusterEvent("*", ActionType.ALL, "UnschedulableTimeout")
EVENT_FORCE_ACTIVATE = ClusterEvent("*", ActionType.ALL, "ForceActivate")
EVENT_UNSCHEDULED_POD_UPDATE = ClusterEvent("*", ActionType.ALL, "UnscheduledPodUpdate")
EVENT_ASSIGNED_POD_ADD = ClusterEvent("Pod", ActionType.ADD, "AssignedPodAdd")
EVENT_ASSIGNED_POD_UPDATE = ClusterEvent("Pod", ActionType.UPDATE, "AssignedPodUpdate")


def is_wildcard(event: ClusterEvent) -> bool:
    return event.resource == "*" and event.action == ActionType.ALL


def _stripped(pod: Mapping[str, Any]) -> dict[str, Any]:
    meta = dict(pod.get("metadata") or {})
    for field in ("resourceVersion", "generation", "managedFields", "finalizers"):
        meta.pop(field, None)
    status = pod.get("status") or {}
    kept = {
        k: status[k]
        for k in ("resourceClaimStatuses", "extendedResourceClaimStatus")
        if k in status
    }
    return {**pod, "metadata": meta, "status": kept}


def is_pod_updated(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """Did the pod change in a way that may change where it fits (upstream's isPodUpdated)?

    Status and bookkeeping fields change all the time without affecting scheduling; resource
    claim statuses are the exception, since the claims they name are what DRA allocates.
    """
    return old is None or _stripped(old) != _stripped(new)


def scaled_down(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    before, after = pod_requests(old), pod_requests(new)
    names = set(before.names()) | set(after.names())
    return any(after.get(name) < before.get(name) for name in names)


class Strategy(enum.Enum):
    SKIP = enum.auto()  # stay unschedulable
    AFTER_BACKOFF = enum.auto()  # backoff queue, or active if the backoff is already over
    IMMEDIATELY = enum.auto()  # active queue (a Pending plugin's wait is over)


def worth_requeuing(
    info: QueuedPodInfo,
    event: ClusterEvent,
    new: object | None,
    plugin_events: Mapping[str, Iterable[ClusterEvent]],
) -> Strategy:
    """Might ``event`` change the answer of a plugin that rejected ``info``'s pod?

    Upstream's isPodWorthRequeuing with every registered event counting as a "Queue" hint: a
    pod that failed with an error (no rejecting plugin) is always retried, a wildcard retries
    every pod (or the pod it names), and a Pending plugin's event skips the backoff.
    """
    rejectors = info.unschedulable_plugins | info.pending_plugins
    if not rejectors:
        return Strategy.AFTER_BACKOFF
    if is_wildcard(event):
        if new is not None and not (isinstance(new, Mapping) and pod_uid(new) == pod_uid(info.pod)):
            return Strategy.SKIP  # aimed at another pod
        return Strategy.AFTER_BACKOFF
    strategy = Strategy.SKIP
    for plugin in rejectors:
        if any(e.covers(event) for e in plugin_events.get(plugin, ())):
            if plugin in info.pending_plugins:
                return Strategy.IMMEDIATELY
            strategy = Strategy.AFTER_BACKOFF
    return strategy


def with_cross_topology_term(
    infos: Iterable[QueuedPodInfo],
    pod: Mapping[str, Any],
    namespace_labels: Mapping[str, str] | None,
) -> list[QueuedPodInfo]:
    """The pods among ``infos`` that the assigned ``pod`` may help: those whose required pod
    affinity matches it, and those topology spread rejected in its namespace."""
    namespace = str((pod.get("metadata") or {}).get("namespace", ""))
    result = []
    for info in infos:
        if (
            POD_TOPOLOGY_SPREAD in info.unschedulable_plugins
            and info.pod_info.namespace == namespace
        ) or any(t.matches(pod, namespace_labels) for t in info.pod_info.required_affinity):
            result.append(info)
    return result


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    event: ClusterEvent
    old: object | None
    new: object | None


class InFlight:
    __slots__ = ("_events", "_pods", "_seq")

    def __init__(self) -> None:
        self._seq = 0
        self._pods: dict[str, tuple[int, dict[str, Any]]] = {}  # uid -> (seq when popped, pod)
        self._events: deque[tuple[int, RecordedEvent]] = deque()

    def __contains__(self, uid: object) -> bool:
        return uid in self._pods

    def __len__(self) -> int:
        return len(self._pods)

    def uids(self) -> list[str]:
        return list(self._pods)

    def pods(self) -> list[dict[str, Any]]:
        return [pod for _, pod in self._pods.values()]

    def start(self, uid: str, pod: dict[str, Any]) -> None:
        self._seq += 1
        self._pods[uid] = (self._seq, pod)

    def record(self, event: ClusterEvent, old: object | None, new: object | None) -> bool:
        """Remember ``event`` for the pods in flight; False (and nothing kept) when none is."""
        if not self._pods:
            return False
        self._seq += 1
        self._events.append((self._seq, RecordedEvent(event, old, new)))
        return True

    def events_for(self, uid: str) -> list[RecordedEvent] | None:
        """Events since ``uid`` was popped; None when it is not in flight."""
        entry = self._pods.get(uid)
        if entry is None:
            return None
        return [event for seq, event in self._events if seq > entry[0]]

    def done(self, uid: str) -> None:
        if self._pods.pop(uid, None) is None:
            return
        # Pods enter in sequence order and a dict keeps insertion order: the first entry is
        # the oldest still in flight.
        oldest = next(iter(self._pods.values()))[0] if self._pods else None
        while self._events and (oldest is None or self._events[0][0] < oldest):
            self._events.popleft()

    def event_count(self) -> int:
        return len(self._events)
