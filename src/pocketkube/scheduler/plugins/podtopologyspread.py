"""PodTopologySpread: keep pods of one kind evenly spread over zones, nodes or any topology.

A constraint counts the pods its selector matches in each domain (each value of its topology
key). ``DoNotSchedule`` constraints are filters: a node fits if, with the incoming pod added,
its domain would exceed the least populated domain (the "global minimum", taken as 0 while
fewer than ``minDomains`` domains exist) by at most ``maxSkew``. ``ScheduleAnyway`` constraints
only score: fewer matching pods in the node's domain is better.

Which nodes make up the domains is the pod's business: by default only nodes that satisfy its
nodeSelector/required node affinity count (``nodeAffinityPolicy: Honor``) and taints are
ignored (``nodeTaintsPolicy: Ignore``); nodes missing a topology key belong to no domain.

PreFilter counts once per cycle and keeps, per constraint, how many domains hold each count so
that the minimum stays exact when preemption adds or removes one pod at a time. Pods without
constraints of their own get the configured default constraints, with a selector derived from
the Services and controllers that own them (``defaultingType: System`` spreads 3-skew over
hostnames and 5-skew over zones, as scores only).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pocketkube.api.labels import SelectorError
from pocketkube.scheduler.framework.cyclestate import CycleState
from pocketkube.scheduler.framework.interface import (
    MAX_NODE_SCORE,
    ActionType,
    ClusterEvent,
    Handle,
    NodeScore,
    PreFilterResult,
)
from pocketkube.scheduler.framework.status import Status, error, skip, unresolvable, unschedulable
from pocketkube.scheduler.framework.types import NodeInfo, PodInfo
from pocketkube.scheduler.plugins.topology import (
    DO_NOT_SCHEDULE,
    HOSTNAME,
    SCHEDULE_ANYWAY,
    NodeInclusion,
    SpreadConstraint,
    count_matching,
    default_selector,
    parse_spread_args,
    parse_spread_constraints,
)

NAME = "PodTopologySpread"
PRE_FILTER_KEY = "PreFilter" + NAME
PRE_SCORE_KEY = "PreScore" + NAME

ERR_CONSTRAINTS_NOT_MATCH = "node(s) didn't match pod topology spread constraints"
ERR_NODE_LABEL_NOT_MATCH = ERR_CONSTRAINTS_NOT_MATCH + " (missing required label)"

# The global minimum when no node is eligible for a constraint: every skew is then negative.
_NO_DOMAIN_MINIMUM = 2**31 - 1


def _has_all_keys(labels: Mapping[str, str], constraints: Sequence[SpreadConstraint]) -> bool:
    return all(c.topology_key in labels for c in constraints)


@dataclass(slots=True)
class _PreFilterState:
    constraints: list[SpreadConstraint]
    pod: PodInfo
    inclusion: NodeInclusion
    # per constraint: domain (topology value) → matching pods in it
    counts: list[dict[str, int]]
    # per constraint: matching-pod count → how many domains hold exactly that many
    histograms: list[dict[int, int]] = field(default_factory=list)
    minimums: list[int] = field(default_factory=list)

    def clone(self) -> _PreFilterState:
        return replace(
            self,
            counts=[dict(c) for c in self.counts],
            histograms=[dict(h) for h in self.histograms],
            minimums=list(self.minimums),
        )

    def finish(self) -> None:
        """Build the histograms and minimums from the counts."""
        self.histograms = []
        for counts in self.counts:
            histogram: dict[int, int] = {}
            for n in counts.values():
                histogram[n] = histogram.get(n, 0) + 1
            self.histograms.append(histogram)
        self.minimums = [min(h) if h else _NO_DOMAIN_MINIMUM for h in self.histograms]

    def min_match(self, index: int) -> int:
        if len(self.counts[index]) < self.constraints[index].min_domains:
            return 0
        return self.minimums[index]

    def update_with_pod(self, other: PodInfo, node: NodeInfo, delta: int) -> None:
        """Count (delta=1) or uncount (delta=-1) ``other`` as running on ``node``."""
        if node.node is None or other.namespace != self.pod.namespace:
            return
        labels = node.labels
        if not _has_all_keys(labels, self.constraints):
            return
        other_labels = other.labels
        for index, constraint in enumerate(self.constraints):
            if not constraint.selector.matches(other_labels):
                continue
            if not self.inclusion.includes(constraint, node.node):
                continue
            self._move(index, labels[constraint.topology_key], delta)

    def _move(self, index: int, value: str, delta: int) -> None:
        counts, histogram = self.counts[index], self.histograms[index]
        old = counts.get(value)
        new = (old or 0) + delta
        counts[value] = new
        if old is not None:
            histogram[old] -= 1
            if histogram[old] <= 0:
                del histogram[old]
        histogram[new] = histogram.get(new, 0) + 1
        self.minimums[index] = min(histogram)


@dataclass(slots=True)
class _PreScoreState:
    constraints: list[SpreadConstraint]
    ignored_nodes: set[str]
    # per constraint: domain → matching pods; empty for hostname (counted per node in Score)
    counts: list[dict[str, int]]
    weights: list[float]

    def clone(self) -> _PreScoreState:
        return self  # never changed after PreScore


def _topology_normalizing_weight(size: int) -> float:
    """Smaller topologies (few zones) weigh less than big ones (many hosts): log(size + 2)."""
    return math.log(size + 2)


def _round_half_up(value: float) -> int:
    whole = math.floor(value)
    return int(whole) + (1 if value - whole >= 0.5 else 0)


class PodTopologySpread:
    name = NAME

    def __init__(self, args: Mapping[str, Any], handle: Handle) -> None:
        self.handle = handle
        self.default_constraints, self.system_defaulted = parse_spread_args(args)

    def _constraints(self, pod: PodInfo, action: str) -> list[SpreadConstraint]:
        """The pod's constraints for ``action``, or the defaults when it declares none at all."""
        declared = pod.spec.get("topologySpreadConstraints") or []
        if declared:
            return parse_spread_constraints(declared, action)
        constraints = [c for c in self.default_constraints if c.action == action]
        if not constraints:
            return []
        selector = default_selector(pod, self.handle)
        if selector.empty:
            return []
        return [replace(c, selector=selector) for c in constraints]

    # -- filtering ---------------------------------------------------------------------------
    def pre_filter(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> tuple[PreFilterResult | None, Status | None]:
        try:
            constraints = self._constraints(pod, DO_NOT_SCHEDULE)
        except SelectorError as err:
            return None, error(f"get constraints from pod: {err}")
        if not constraints:
            return None, skip()
        inclusion = NodeInclusion(pod)
        counts: list[dict[str, int]] = [{} for _ in constraints]
        for node in nodes:
            if node.node is None or not _has_all_keys(node.labels, constraints):
                continue
            labels = node.labels
            for index, constraint in enumerate(constraints):
                if not inclusion.includes(constraint, node.node):
                    continue
                value = labels[constraint.topology_key]
                matching = count_matching(node.pods, constraint.selector, pod.namespace)
                counts[index][value] = counts[index].get(value, 0) + matching
        s = _PreFilterState(constraints, pod, inclusion, counts)
        s.finish()
        state.write(PRE_FILTER_KEY, s)
        return None, None

    def _pre_filter_state(self, state: CycleState) -> _PreFilterState | Status:
        s = state.get(PRE_FILTER_KEY)
        if not isinstance(s, _PreFilterState):
            return error(f'reading "{PRE_FILTER_KEY}" from cycleState: not found')
        return s

    def add_pod(
        self, state: CycleState, pod: PodInfo, to_add: PodInfo, node: NodeInfo
    ) -> Status | None:
        s = self._pre_filter_state(state)
        if isinstance(s, Status):
            return s
        s.update_with_pod(to_add, node, 1)
        return None

    def remove_pod(
        self, state: CycleState, pod: PodInfo, to_remove: PodInfo, node: NodeInfo
    ) -> Status | None:
        s = self._pre_filter_state(state)
        if isinstance(s, Status):
            return s
        s.update_with_pod(to_remove, node, -1)
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        s = self._pre_filter_state(state)
        if isinstance(s, Status):
            return s
        labels = node.labels
        pod_labels = pod.labels
        for index, constraint in enumerate(s.constraints):
            value = labels.get(constraint.topology_key)
            if value is None:
                # No eviction gives a node a label.
                return unresolvable(ERR_NODE_LABEL_NOT_MATCH)
            self_match = 1 if constraint.selector.matches(pod_labels) else 0
            skew = s.counts[index].get(value, 0) + self_match - s.min_match(index)
            if skew > constraint.max_skew:
                return unschedulable(ERR_CONSTRAINTS_NOT_MATCH)
        return None

    # -- scoring -----------------------------------------------------------------------------
    def pre_score(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> Status | None:
        all_nodes = self.handle.snapshot.list()
        if not all_nodes:
            return skip()
        try:
            constraints = self._constraints(pod, SCHEDULE_ANYWAY)
        except SelectorError as err:
            return error(f"calculating preScoreState: {err}")
        if not constraints:
            return skip()
        # System defaults tolerate nodes without a zone label (they still spread by hostname);
        # anything the user asked for needs every key on the node.
        require_all = bool(pod.spec.get("topologySpreadConstraints")) or not self.system_defaulted
        ignored: set[str] = set()
        counts: list[dict[str, int]] = [{} for _ in constraints]
        for node in nodes:
            labels = node.labels
            if require_all and not _has_all_keys(labels, constraints):
                ignored.add(node.name)
                continue
            for index, constraint in enumerate(constraints):
                if constraint.topology_key != HOSTNAME:
                    counts[index].setdefault(labels.get(constraint.topology_key, ""), 0)
        weights = [
            _topology_normalizing_weight(
                len(nodes) - len(ignored) if c.topology_key == HOSTNAME else len(counts[i])
            )
            for i, c in enumerate(constraints)
        ]
        inclusion = NodeInclusion(pod)
        # Pods on every node count, not only on candidates: a zone is crowded whether or not
        # its nodes have room for this pod.
        for node in all_nodes:
            labels = node.labels
            if node.node is None or (require_all and not _has_all_keys(labels, constraints)):
                continue
            for index, constraint in enumerate(constraints):
                value = labels.get(constraint.topology_key, "")
                if value not in counts[index] or not inclusion.includes(constraint, node.node):
                    continue
                matching = count_matching(node.pods, constraint.selector, pod.namespace)
                counts[index][value] += matching
        state.write(PRE_SCORE_KEY, _PreScoreState(constraints, ignored, counts, weights))
        return None

    def _pre_score_state(self, state: CycleState) -> _PreScoreState | Status:
        s = state.get(PRE_SCORE_KEY)
        if not isinstance(s, _PreScoreState):
            return error(f'error reading "{PRE_SCORE_KEY}" from cycleState: not found')
        return s

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> tuple[int, Status | None]:
        s = self._pre_score_state(state)
        if isinstance(s, Status):
            return 0, s
        if node.name in s.ignored_nodes:
            return 0, None
        labels = node.labels
        total = 0.0
        for index, constraint in enumerate(s.constraints):
            value = labels.get(constraint.topology_key)
            if value is None:
                continue
            if constraint.topology_key == HOSTNAME:
                matching = count_matching(node.pods, constraint.selector, pod.namespace)
            else:
                matching = s.counts[index].get(value, 0)
            # maxSkew - 1 waters the differences down: a bigger skew tolerates more.
            total += matching * s.weights[index] + (constraint.max_skew - 1)
        return _round_half_up(total), None

    def normalize_score(
        self, state: CycleState, pod: PodInfo, scores: list[NodeScore]
    ) -> Status | None:
        s = self._pre_score_state(state)
        if isinstance(s, Status):
            return s
        valid = [ns.score for ns in scores if ns.name not in s.ignored_nodes]
        low = min(valid, default=0)
        high = max((*valid, 0))
        for ns in scores:
            if ns.name in s.ignored_nodes:
                ns.score = 0
            elif high == 0:
                ns.score = MAX_NODE_SCORE
            else:
                # The fewest matching pods gets the full score; scaled to the busiest node.
                ns.score = MAX_NODE_SCORE * (high + low - ns.score) // high
        return None

    def events_to_register(self) -> list[ClusterEvent]:
        return [
            # Assigned pods appearing, leaving or changing labels change the counts.
            ClusterEvent("Pod", ActionType.ALL),
            # Nodes appearing, leaving or changing labels or taints change the domains.
            ClusterEvent("Node", ActionType.ADD | ActionType.DELETE | ActionType.UPDATE),
        ]


def new(args: Mapping[str, Any], handle: Handle) -> PodTopologySpread:
    return PodTopologySpread(args, handle)
