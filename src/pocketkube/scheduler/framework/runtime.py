"""One profile's plugins, run in order for one pod (upstream's frameworkruntime).

The framework sorts a profile's plugins into extension points once, then runs them for each
scheduling cycle: PreFilter (possibly narrowing the candidate nodes), Filter per node (first
rejection wins), PostFilter when no node fits, PreScore and Score (normalized, weighted and
summed per node), Reserve, Permit, and in the binding cycle PreBind, Bind and PostBind.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from pocketkube.scheduler.framework.cyclestate import CycleState
from pocketkube.scheduler.framework.interface import (
    MAX_NODE_SCORE,
    MIN_NODE_SCORE,
    ClusterEvent,
    Handle,
    NodeScore,
    PostFilterResult,
    PreFilterResult,
    QueuedPodInfo,
)
from pocketkube.scheduler.framework.status import Code, Status, error, unresolvable
from pocketkube.scheduler.framework.types import NodeInfo, PodInfo
from pocketkube.scheduler.framework.waiting import WaitingPod

log = logging.getLogger(__name__)

FEASIBLE_ROWS = "feasibleRows"  # CycleState key: the column rows of the feasible nodes
POINTS = (
    "pre_enqueue",
    "queue_sort",
    "pre_filter",
    "filter",
    "post_filter",
    "pre_score",
    "score",
    "reserve",
    "permit",
    "pre_bind",
    "bind",
    "post_bind",
)
# The method that marks a plugin as implementing each point.
_METHODS = {
    "pre_enqueue": "pre_enqueue",
    "queue_sort": "less",
    "pre_filter": "pre_filter",
    "filter": "filter",
    "post_filter": "post_filter",
    "pre_score": "pre_score",
    "score": "score",
    "reserve": "reserve",
    "permit": "permit",
    "pre_bind": "pre_bind",
    "bind": "bind",
    "post_bind": "post_bind",
}


def implements(plugin: Any, point: str) -> bool:
    return callable(getattr(plugin, _METHODS[point], None))


class Framework:
    """The plugins of one profile, by extension point, with their score weights."""

    def __init__(
        self,
        *,
        profile_name: str,
        plugins: Mapping[str, Sequence[Any]],
        weights: Mapping[str, int],
        handle: Handle,
        percentage_of_nodes_to_score: int | None = None,
    ) -> None:
        self.profile_name = profile_name
        self.handle = handle
        self.points: dict[str, list[Any]] = {p: list(plugins.get(p, ())) for p in POINTS}
        self.weights = dict(weights)
        self.percentage_of_nodes_to_score = percentage_of_nodes_to_score
        self.waiting_pods: dict[str, WaitingPod] = {}
        sort = self.points["queue_sort"]
        if len(sort) != 1:
            raise ValueError(f"profile {profile_name!r} needs exactly one queue sort plugin")
        if not self.points["bind"]:
            raise ValueError(f"profile {profile_name!r} needs at least one bind plugin")

    # -- queue ------------------------------------------------------------------------------
    def less(self, a: QueuedPodInfo, b: QueuedPodInfo) -> bool:
        return bool(self.points["queue_sort"][0].less(a, b))

    def run_pre_enqueue_plugins(self, pod: PodInfo) -> Status | None:
        for plugin in self.points["pre_enqueue"]:
            status: Status | None = plugin.pre_enqueue(pod)
            if status is not None and not status.success:
                return status.with_plugin(plugin.name)
        return None

    def events_to_register(self) -> dict[str, list[ClusterEvent]]:
        events: dict[str, list[ClusterEvent]] = {}
        for point in ("pre_enqueue", "pre_filter", "filter", "reserve", "permit"):
            for plugin in self.points[point]:
                register = getattr(plugin, "events_to_register", None)
                if callable(register) and plugin.name not in events:
                    events[plugin.name] = list(register())
        return events

    # -- filtering --------------------------------------------------------------------------
    def run_pre_filter_plugins(
        self, state: CycleState, pod: PodInfo
    ) -> tuple[PreFilterResult | None, Status | None]:
        nodes = self.handle.snapshot.list()
        result: PreFilterResult | None = None
        narrowed_by: list[str] = []
        for plugin in self.points["pre_filter"]:
            plugin_result, status = plugin.pre_filter(state, pod, nodes)
            if status is not None and status.code == Code.SKIP:
                state.skip_filter.add(plugin.name)
                continue
            if status is not None and not status.success:
                status.with_plugin(plugin.name)
                if status.code == Code.ERROR:
                    status.reasons = [
                        f"running PreFilter plugin {plugin.name!r}: {status.message()}"
                    ]
                return None, status
            if plugin_result is not None and plugin_result.node_names is not None:
                narrowed_by.append(plugin.name)
                result = plugin_result if result is None else result.merge(plugin_result)
                if not result.node_names:
                    message = (
                        f"node(s) didn't satisfy plugin(s) {narrowed_by}"
                        if len(narrowed_by) > 1
                        else f"node(s) didn't satisfy plugin {narrowed_by[0]}"
                    )
                    return None, unresolvable(message).with_plugin(plugin.name)
        return result, None

    def run_filter_plugins(
        self,
        state: CycleState,
        pod: PodInfo,
        node: NodeInfo,
        filters: Sequence[Any] | None = None,
    ) -> Status:
        for plugin in self.active_filters(state) if filters is None else filters:
            status: Status | None = plugin.filter(state, pod, node)
            if status is not None and not status.success:
                if status.code == Code.ERROR:
                    status.reasons = [f"running {plugin.name!r} filter plugin: {status.message()}"]
                return status.with_plugin(plugin.name)
        return Status()

    def run_filter_plugins_with_nominated_pods(
        self, state: CycleState, pod: PodInfo, node: NodeInfo
    ) -> Status:
        """Filter as if pods nominated to ``node`` with at least ``pod``'s priority were there
        (they will be once they are bound), then without them, as upstream."""
        nominated = [
            p
            for p in self.handle.nominated_pods_for_node(node.name)
            if p.priority >= pod.priority and p.key != pod.key
        ]
        if nominated:
            with_nominated = node.clone()
            nominated_state = state.clone()
            for other in nominated:
                with_nominated.add_pod(other)
                status = self.run_pre_filter_extension_add_pod(
                    nominated_state, pod, other, with_nominated
                )
                if status is not None and not status.success:
                    return status
            status = self.run_filter_plugins(nominated_state, pod, with_nominated)
            if not status.success:
                return status
        return self.run_filter_plugins(state, pod, node)

    def run_pre_filter_extension_add_pod(
        self, state: CycleState, pod: PodInfo, to_add: PodInfo, node: NodeInfo
    ) -> Status | None:
        for plugin in self.points["pre_filter"]:
            if plugin.name in state.skip_filter or not callable(getattr(plugin, "add_pod", None)):
                continue
            status: Status | None = plugin.add_pod(state, pod, to_add, node)
            if status is not None and not status.success:
                return status.with_plugin(plugin.name)
        return None

    def run_pre_filter_extension_remove_pod(
        self, state: CycleState, pod: PodInfo, to_remove: PodInfo, node: NodeInfo
    ) -> Status | None:
        for plugin in self.points["pre_filter"]:
            if plugin.name in state.skip_filter or not callable(
                getattr(plugin, "remove_pod", None)
            ):
                continue
            status: Status | None = plugin.remove_pod(state, pod, to_remove, node)
            if status is not None and not status.success:
                return status.with_plugin(plugin.name)
        return None

    async def run_post_filter_plugins(
        self, state: CycleState, pod: PodInfo, statuses: Mapping[str, Status]
    ) -> tuple[PostFilterResult | None, Status]:
        reasons: list[str] = []
        last: PostFilterResult | None = None
        for plugin in self.points["post_filter"]:
            result, status = await plugin.post_filter(state, pod, statuses)
            if status.success:
                return result, status
            if status.code == Code.ERROR:
                return None, status.with_plugin(plugin.name)
            reasons.extend(status.reasons)
            last = result if result is not None else last
        # A failed PostFilter may still say "clear the pod's nomination" (an empty node name).
        return last, Status(Code.UNSCHEDULABLE, reasons)

    # -- scoring ----------------------------------------------------------------------------
    def run_pre_score_plugins(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> Status | None:
        for plugin in self.points["pre_score"]:
            status: Status | None = plugin.pre_score(state, pod, nodes)
            if status is not None and status.code == Code.SKIP:
                state.skip_score.add(plugin.name)
            elif status is not None and not status.success:
                return status.with_plugin(plugin.name)
        return None

    def run_score_plugins(
        self,
        state: CycleState,
        pod: PodInfo,
        nodes: Sequence[NodeInfo],
        *,
        columns: bool = False,
        as_array: bool = False,
    ) -> tuple[Any, Status | None]:
        """Each node's weighted total, in the order of ``nodes`` (a list, or with ``as_array``
        an int64 vector). With ``columns``, a plugin that offers ``score_array`` scores all
        nodes in one vector expression (the hot path at a thousand nodes); the others are asked
        node by node."""
        # Totals add up as one int64 vector (the per-plugin lists of a thousand nodes were
        # the loop's own cost); plugins without score_array still score node by node.
        totals: npt.NDArray[np.int64] | None = None
        table, rows = self._rows(state, nodes) if columns else (None, None)
        for plugin in self.points["score"]:
            if plugin.name in state.skip_score:
                continue
            by_columns = getattr(plugin, "score_array", None) if table is not None else None
            scored = by_columns(state, pod, table, rows) if by_columns is not None else None
            normalize = getattr(plugin, "normalize_score", None)
            if scored is not None and not callable(normalize):
                values = np.asarray(scored, dtype=np.int64)
            else:
                raw: list[int] = []
                if scored is not None:
                    raw = scored.tolist()
                else:
                    for node in nodes:
                        score, status = plugin.score(state, pod, node)
                        if status is not None and not status.success:
                            return [], error(
                                f"running Score plugin {plugin.name!r}: {status.message()}"
                            ).with_plugin(plugin.name)
                        raw.append(score)
                if callable(normalize):
                    scores = [NodeScore(n.name, v) for n, v in zip(nodes, raw, strict=True)]
                    status = normalize(state, pod, scores)
                    if status is not None and not status.success:
                        return [], status.with_plugin(plugin.name)
                    raw = [s.score for s in scores]
                values = np.array(raw, dtype=np.int64)
            if values.size and (values.min() < MIN_NODE_SCORE or values.max() > MAX_NODE_SCORE):
                bad = int(values[(values < MIN_NODE_SCORE) | (values > MAX_NODE_SCORE)][0])
                return [], error(
                    f"plugin {plugin.name!r} returns an invalid score {bad}, "
                    f"it should in the range of [{MIN_NODE_SCORE}, {MAX_NODE_SCORE}] "
                    "after normalizing"
                )
            weight = self.weights.get(plugin.name, 1)
            if weight != 1:
                values = values * weight
            totals = values if totals is None else totals + values
        if totals is None:
            totals = np.zeros(len(nodes), np.int64)
        return (totals if as_array else totals.tolist()), None

    def _rows(self, state: CycleState, nodes: Sequence[NodeInfo]) -> tuple[Any, Any]:
        """The snapshot's resource columns and the rows of ``nodes`` in them, if all are there
        (filtering over the columns leaves the rows it chose in the cycle state)."""
        table = getattr(self.handle.snapshot, "columns", None)
        if table is None:
            return None, None
        known = state.get(FEASIBLE_ROWS)
        if known is not None and len(known) == len(nodes):
            return table, known
        index = table.index
        try:
            rows = np.fromiter((index[n.name] for n in nodes), np.intp, len(nodes))
        except KeyError:
            return None, None
        return table, rows

    def active_filters(self, state: CycleState) -> list[Any]:
        """The filter methods this cycle runs, in order (plugins PreFilter skipped left out)."""
        return [p for p in self.points["filter"] if p.name not in state.skip_filter]

    def split_filters(self, state: CycleState) -> tuple[list[Any], list[Any]]:
        """The leading node-static filters (see ``staticfilter``) and the rest, in order."""
        active = self.active_filters(state)
        count = 0
        while count < len(active) and getattr(active[count], "node_static", False):
            count += 1
        return active[:count], active[count:]

    # -- reserving and binding --------------------------------------------------------------
    def run_reserve_plugins_reserve(
        self, state: CycleState, pod: PodInfo, node_name: str
    ) -> Status | None:
        for plugin in self.points["reserve"]:
            status: Status | None = plugin.reserve(state, pod, node_name)
            if status is not None and not status.success:
                return status.with_plugin(plugin.name)
        return None

    def run_reserve_plugins_unreserve(
        self, state: CycleState, pod: PodInfo, node_name: str
    ) -> None:
        for plugin in reversed(self.points["reserve"]):
            plugin.unreserve(state, pod, node_name)

    def run_permit_plugins(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        waits: dict[str, float] = {}
        for plugin in self.points["permit"]:
            answer: tuple[Status | None, float] = plugin.permit(state, pod, node_name)
            status, timeout = answer
            if status is None or status.success:
                continue
            if status.code == Code.WAIT:
                waits[plugin.name] = min(timeout, 15 * 60.0)
                continue
            return status.with_plugin(plugin.name)
        if waits:
            self.waiting_pods[pod.key] = WaitingPod(pod, waits)
            return Status(Code.WAIT)
        return None

    async def wait_on_permit(self, pod: PodInfo) -> Status:
        waiting = self.waiting_pods.get(pod.key)
        if waiting is None:
            return Status()
        try:
            return await waiting.wait()
        finally:
            self.waiting_pods.pop(pod.key, None)

    async def run_pre_bind_plugins(
        self, state: CycleState, pod: PodInfo, node_name: str
    ) -> Status | None:
        for plugin in self.points["pre_bind"]:
            status: Status | None = await plugin.pre_bind(state, pod, node_name)
            if status is not None and not status.success:
                return status.with_plugin(plugin.name)
        return None

    async def run_bind_plugins(self, state: CycleState, pod: PodInfo, node_name: str) -> Status:
        for plugin in self.points["bind"]:
            status: Status | None = await plugin.bind(state, pod, node_name)
            if status is not None and status.code == Code.SKIP:
                continue
            return (status or Status()).with_plugin(plugin.name)
        return error("no bind plugin bound the pod")

    def run_post_bind_plugins(self, state: CycleState, pod: PodInfo, node_name: str) -> None:
        for plugin in self.points["post_bind"]:
            plugin.post_bind(state, pod, node_name)
