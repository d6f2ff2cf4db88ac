"""The scheduling queue: which pending pod the scheduler tries next, and when to retry one.

Upstream's ``PriorityQueue`` keeps every unassigned pod of ours in exactly one of three places:

- the *active queue*, a heap ordered by the profile's QueueSort plugin, which ``pop`` drains;
- the *backoff queue*, pods that failed and wait ``initial * 2**(attempts-1)`` seconds (capped)
  from their last failure before going back to active, so that a pod that keeps failing does
  not starve the others;
- the *unschedulable set*, pods that plugins rejected and that wait for a cluster event that
  one of those plugins said may change its answer (``events_to_register``), or for five
  minutes to pass. Pods gated by a PreEnqueue plugin (``spec.schedulingGates``) wait here too,
  until an update lets them through.

A pod popped is *in flight* until ``done``. Events that arrive meanwhile are remembered, so
that a pod whose cycle failed because of a node that has just been added is retried instead
of parked until the next event (upstream's in-flight events, plus the older move-request
cycle for pods the queue does not know as in flight). Everything runs on one event loop, so
nothing here locks; ``pop`` is the only coroutine that waits.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pocketkube.scheduler.backoff import (
    DEFAULT_INITIAL_BACKOFF,
    DEFAULT_MAX_BACKOFF,
    BackoffQueue,
    queued_key,
)
from pocketkube.scheduler.clusterevents import (
    EVENT_ASSIGNED_POD_ADD,
    EVENT_ASSIGNED_POD_UPDATE,
    EVENT_FORCE_ACTIVATE,
    EVENT_UNSCHEDULABLE_TIMEOUT,
    EVENT_UNSCHEDULED_POD_UPDATE,
    InFlight,
    Strategy,
    is_pod_updated,
    is_wildcard,
    scaled_down,
    with_cross_topology_term,
    worth_requeuing,
)
from pocketkube.scheduler.framework.interface import ClusterEvent, Lister, QueuedPodInfo
from pocketkube.scheduler.framework.status import Status
from pocketkube.scheduler.framework.types import PodInfo
from pocketkube.scheduler.heap import KeyedHeap
from pocketkube.scheduler.nominator import Nominator, pod_uid

log = logging.getLogger(__name__)

Obj = dict[str, Any]

DEFAULT_MAX_UNSCHEDULABLE_DURATION = 300.0

ACTIVE_Q, BACKOFF_Q, UNSCHEDULABLE_Q = "Active", "Backoff", "Unschedulable"


class QueueClosed(Exception):
    """``pop`` after ``close``: the scheduler is shutting down."""


class SchedulingQueue:
    def __init__(
        self,
        *,
        less: Callable[[QueuedPodInfo, QueuedPodInfo], bool],
        clock: Callable[[], float] = time.monotonic,
        pre_enqueue: Callable[[PodInfo], Status | None] | None = None,
        plugin_events: Mapping[str, list[ClusterEvent]] | None = None,
        initial_backoff: float = DEFAULT_INITIAL_BACKOFF,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
        max_unschedulable_duration: float = DEFAULT_MAX_UNSCHEDULABLE_DURATION,
        pod_lister: Lister | None = None,
        namespace_labels: Callable[[str], Mapping[str, str] | None] | None = None,
    ) -> None:
        self._clock = clock
        self._pre_enqueue = pre_enqueue
        self._plugin_events = {name: list(events) for name, events in (plugin_events or {}).items()}
        self._registered = [e for events in self._plugin_events.values() for e in events]
        self._interesting: dict[ClusterEvent, bool] = {}  # the answer per event, asked per pod
        self.max_unschedulable_duration = max_unschedulable_duration
        self._namespace_labels = namespace_labels
        self._active: KeyedHeap[QueuedPodInfo] = KeyedHeap(key=queued_key, less=less)
        self._backoff = BackoffQueue(clock=clock, initial=initial_backoff, maximum=max_backoff)
        self._unschedulable: dict[str, QueuedPodInfo] = {}
        self._gating_plugin: dict[str, str] = {}  # uid -> the PreEnqueue plugin that gates it
        self._cycle = 0
        self._move_request_cycle = -1
        self._in_flight = InFlight()
        self._closed = False
        self._wakeup = asyncio.Event()
        self.nominator = Nominator(pod_lister=pod_lister, current=self._queued_pod_info)

    # -- what the informers feed ----------------------------------------------------------
    def add(self, pod: Obj) -> None:
        """A new pending pod."""
        self._move_to_active(self._new_info(pod), nominate=True)

    def update(self, old: Obj | None, new: Obj) -> None:
        uid = pod_uid(new)
        if uid in self._in_flight:
            # Its cycle decides where it goes; make sure a real change earns it a retry.
            if is_pod_updated(old, new):
                self._in_flight.record(EVENT_UNSCHEDULED_POD_UPDATE, old, new)
            return
        info = self._active.get(uid) or self._backoff.get(uid)
        if info is not None:
            info.pod_info = PodInfo(new)
            if uid in self._active:
                self._active.add_or_update(info)  # its priority may have changed
            self.nominator.update(old or new, info.pod_info)
            return
        info = self._unschedulable.get(uid)
        if info is None:
            self._move_to_active(self._new_info(new), nominate=True)
            return
        info.pod_info = PodInfo(new)
        self.nominator.update(old or new, info.pod_info)
        if is_pod_updated(old, new):
            if self._backoff.is_backing_off(info):
                self._move_to_backoff(info)
            else:
                self._move_to_active(info)

    def delete(self, pod: Mapping[str, Any]) -> None:
        self.nominator.delete(pod)
        uid = pod_uid(pod)
        if self._active.delete(uid) is None and self._backoff.delete(uid) is None:
            self._unschedulable.pop(uid, None)
        self._gating_plugin.pop(uid, None)

    def assigned_pod_added(self, pod: Obj) -> None:
        """A bound pod may satisfy the pod affinity of pending pods."""
        self._move_pods(self._helped_by(pod), EVENT_ASSIGNED_POD_ADD, None, pod)

    def assigned_pod_updated(self, old: Obj, new: Obj) -> None:
        if scaled_down(old, new):
            # Smaller requests free room for any pod a resource filter rejected.
            self.move_all_to_active_or_backoff(EVENT_ASSIGNED_POD_UPDATE, old, new)
        else:
            self._move_pods(self._helped_by(new), EVENT_ASSIGNED_POD_UPDATE, old, new)

    def move_all_to_active_or_backoff(
        self,
        event: ClusterEvent,
        old: object | None = None,
        new: object | None = None,
        pre_check: Callable[[Obj], bool] | None = None,
    ) -> None:
        """Retry the unschedulable pods ``event`` may help (``pre_check`` narrows them)."""
        if not self._is_event_of_interest(event):
            return
        infos = [i for i in self._unschedulable.values() if pre_check is None or pre_check(i.pod)]
        self._move_pods(infos, event, old, new)

    def activate(self, pods: Iterable[Mapping[str, Any]]) -> None:
        """Move these pods to the active queue now, skipping any backoff left (a plugin asked)."""
        for pod in pods:
            uid = pod_uid(pod)
            info = self._unschedulable.get(uid)
            from_backoff = False
            if info is None:
                info = self._backoff.delete(uid)
                from_backoff = info is not None
            if info is not None:
                self._move_to_active(info, from_backoff=from_backoff)
                continue
            if uid in self._in_flight:
                self._in_flight.record(EVENT_FORCE_ACTIVATE, None, pod)
            self._move_request_cycle = self._cycle

    # -- what the scheduling loop calls ---------------------------------------------------
    async def pop(self) -> QueuedPodInfo:
        """The next pod to schedule; waits for one. The pod is in flight until ``done``."""
        while True:
            if self._closed:
                raise QueueClosed
            if self._active:
                info = self._active.pop()
                uid = queued_key(info)
                if uid in self._in_flight:
                    log.error("pod %s is tracked twice by the scheduling queue", info.pod_info.key)
                    continue
                info.attempts += 1
                self._cycle += 1
                self._in_flight.start(uid, info.pod)
                return info
            self._wakeup.clear()
            await self._wakeup.wait()

    def done(self, uid: str) -> None:
        """The scheduling (and binding) of a popped pod has finished."""
        self._in_flight.done(uid)

    @property
    def scheduling_cycle(self) -> int:
        """How many pods have been popped; pass it back to ``add_unschedulable_if_not_present``."""
        return self._cycle

    def add_unschedulable_if_not_present(self, info: QueuedPodInfo, cycle: int) -> None:
        """Put back a pod whose cycle failed: the caller has set its rejecting plugins."""
        uid = queued_key(info)
        try:
            if uid in self._unschedulable or uid in self._active or uid in self._backoff:
                log.debug("pod %s is already queued", info.pod_info.key)
                return
            info.timestamp = self._clock()
            self._requeue(info, self._strategy_after_cycle(info, cycle))
        finally:
            self.done(uid)

    def flush_backoff_completed(self) -> None:
        for info in self._backoff.pop_completed():
            self._move_to_active(info, from_backoff=True)

    def flush_unschedulable_leftover(self) -> None:
        """Retry pods unschedulable for too long: an event they needed may have been missed."""
        now = self._clock()
        stale = [
            info
            for info in self._unschedulable.values()
            if now - info.timestamp > self.max_unschedulable_duration
        ]
        if stale:
            self._move_pods(stale, EVENT_UNSCHEDULABLE_TIMEOUT, None, None)

    async def run(self, *, backoff_period: float = 1.0, leftover_period: float = 30.0) -> None:
        """Flush completed backoffs every second and stale unschedulable pods every 30 s."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._every(backoff_period, self.flush_backoff_completed))
            group.create_task(self._every(leftover_period, self.flush_unschedulable_leftover))

    async def _every(self, period: float, flush: Callable[[], None]) -> None:
        while not self._closed:
            await asyncio.sleep(period)
            flush()

    def close(self) -> None:
        """Wake ``pop`` with QueueClosed and stop ``run``."""
        self._closed = True
        for uid in self._in_flight.uids():
            self.done(uid)
        self._wakeup.set()

    # -- backoff --------------------------------------------------------------------------
    def backoff_duration(self, info: QueuedPodInfo) -> float:
        return self._backoff.duration(info)

    def is_backing_off(self, info: QueuedPodInfo) -> bool:
        return self._backoff.is_backing_off(info)

    # -- nominated pods (preemption) --------------------------------------------------------
    def add_nominated_pod(self, info: PodInfo, node_name: str | None = None) -> None:
        """Reserve room on ``node_name`` (None: the pod's nominatedNodeName, "": clear)."""
        self.nominator.add(info, node_name)

    def update_nominated_pod(self, old: Mapping[str, Any], new: PodInfo) -> None:
        self.nominator.update(old, new)

    def delete_nominated_pod_if_exists(self, pod: Mapping[str, Any]) -> None:
        self.nominator.delete(pod)

    def nominated_pods_for_node(self, node_name: str) -> list[PodInfo]:
        return self.nominator.pods_for_node(node_name)

    # -- introspection ----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._active) + len(self._backoff) + len(self._unschedulable)

    def get(self, uid: str) -> QueuedPodInfo | None:
        return self._active.get(uid) or self._backoff.get(uid) or self._unschedulable.get(uid)

    def where(self, uid: str) -> str | None:
        """Which queue holds the pod (``Active``, ``Backoff``, ``Unschedulable``), if any."""
        for name, queue in (
            (ACTIVE_Q, self._active),
            (BACKOFF_Q, self._backoff),
            (UNSCHEDULABLE_Q, self._unschedulable),
        ):
            if uid in queue:
                return name
        return None

    def in_flight_pods(self) -> list[Obj]:
        return self._in_flight.pods()

    def pending_pods(self) -> tuple[list[Obj], str]:
        active = [info.pod for info in self._active]
        backoff = [info.pod for info in self._backoff]
        unschedulable = [info.pod for info in self._unschedulable.values()]
        summary = (
            f"activeQ:{len(active)}; backoffQ:{len(backoff)}; "
            f"unschedulablePods:{len(unschedulable)}"
        )
        return active + backoff + unschedulable, summary

    # -- internals ----------------------------------------------------------------------------
    def _new_info(self, pod: Obj) -> QueuedPodInfo:
        return QueuedPodInfo(PodInfo(pod), timestamp=self._clock())

    def _helped_by(self, assigned: Mapping[str, Any]) -> list[QueuedPodInfo]:
        namespace = str((assigned.get("metadata") or {}).get("namespace", ""))
        labels = self._namespace_labels(namespace) if self._namespace_labels else None
        return with_cross_topology_term(self._unschedulable.values(), assigned, labels)

    def _queued_pod_info(self, uid: str) -> PodInfo | None:
        info = self.get(uid)
        return None if info is None else info.pod_info

    def _gated_by_pre_enqueue(self, info: QueuedPodInfo) -> bool:
        uid = queued_key(info)
        status = None if self._pre_enqueue is None else self._pre_enqueue(info.pod_info)
        if status is None or status.success:
            info.gated = False
            self._gating_plugin.pop(uid, None)
            return False
        if status.plugin:
            info.unschedulable_plugins.add(status.plugin)
        info.gated = True
        self._gating_plugin[uid] = status.plugin
        log.debug("pod %s gated by %s: %s", info.pod_info.key, status.plugin, status.message())
        return True

    def _move_to_active(
        self, info: QueuedPodInfo, *, from_backoff: bool = False, nominate: bool = False
    ) -> bool:
        """Add to the active queue, or park as gated when PreEnqueue says no.

        PreEnqueue ran when the pod entered the backoff queue, so it is not rerun on leaving.
        """
        uid = queued_key(info)
        if not from_backoff and self._gated_by_pre_enqueue(info):
            if uid not in self._active and uid not in self._backoff:
                self._unschedulable.setdefault(uid, info)
            return False
        if info.initial_attempt_timestamp is None:
            info.initial_attempt_timestamp = self._clock()
        self._unschedulable.pop(uid, None)
        self._backoff.delete(uid)
        self._active.add_or_update(info)
        if nominate:
            self.nominator.add(info.pod_info)
        self._wakeup.set()
        return True

    def _move_to_backoff(self, info: QueuedPodInfo) -> bool:
        uid = queued_key(info)
        if self._gated_by_pre_enqueue(info):
            self._unschedulable.setdefault(uid, info)
            return False
        self._unschedulable.pop(uid, None)
        self._backoff.add(info)
        return True

    def _requeue(self, info: QueuedPodInfo, strategy: Strategy) -> str:
        if strategy is Strategy.SKIP:
            self._unschedulable[queued_key(info)] = info
            return UNSCHEDULABLE_Q
        if strategy is Strategy.AFTER_BACKOFF and self._backoff.is_backing_off(info):
            return BACKOFF_Q if self._move_to_backoff(info) else UNSCHEDULABLE_Q
        return ACTIVE_Q if self._move_to_active(info) else UNSCHEDULABLE_Q

    def _is_event_of_interest(self, event: ClusterEvent) -> bool:
        known = self._interesting.get(event)
        if known is None:
            known = is_wildcard(event) or any(e.covers(event) for e in self._registered)
            self._interesting[event] = known
        return known

    def _strategy_after_cycle(self, info: QueuedPodInfo, cycle: int) -> Strategy:
        """Where a pod goes back after a failed cycle, given what happened during the cycle."""
        if not info.unschedulable_plugins and not info.pending_plugins:
            return Strategy.AFTER_BACKOFF
        events = self._in_flight.events_for(queued_key(info))
        if events is None:
            moved = self._move_request_cycle >= cycle
            return Strategy.AFTER_BACKOFF if moved else Strategy.SKIP
        strategy = Strategy.SKIP
        for recorded in events:
            found = worth_requeuing(info, recorded.event, recorded.new, self._plugin_events)
            if found is Strategy.IMMEDIATELY:
                return found
            if found is Strategy.AFTER_BACKOFF:
                strategy = found
        return strategy

    def _move_pods(
        self,
        infos: list[QueuedPodInfo],
        event: ClusterEvent,
        old: object | None,
        new: object | None,
    ) -> None:
        if not self._is_event_of_interest(event):
            return
        for info in infos:
            uid = queued_key(info)
            if info.gated:
                gating_events = self._plugin_events.get(self._gating_plugin.get(uid, ""), ())
                if not any(e.covers(event) for e in gating_events):
                    continue  # only an update of the pod itself can lift its gate
            strategy = worth_requeuing(info, event, new, self._plugin_events)
            if strategy is Strategy.SKIP:
                continue
            self._unschedulable.pop(uid, None)
            self._requeue(info, strategy)
        self._move_request_cycle = self._cycle
        self._in_flight.record(event, old, new)
