"""InterPodAffinity: put a pod near, or away from, the pods it names, and keep the promises
pods already running made about their neighbours.

Counting pods for every node would be quadratic, so, as upstream, PreFilter counts once per
cycle and per topology pair (label key, value):

- existing pods whose *required anti-affinity* terms match the incoming pod (symmetry: a
  running pod that refuses company must be obeyed);
- existing pods that match *all* the incoming pod's required affinity terms;
- existing pods that match each of the incoming pod's required anti-affinity terms.

Filter then only looks the node's labels up in these counts. Preemption asks "what if these
pods were gone?": it clones the cycle state and calls ``remove_pod``/``add_pod``, which adjust
the counts instead of recounting.

Scoring works the same way: PreScore sums weights per topology pair from the incoming pod's
preferred terms, and from existing pods' terms that name the incoming pod (their preferred
terms, and their required affinity weighted by ``hardPodAffinityWeight``); Score adds up the
node's pairs and NormalizeScore maps the range of sums onto 0..100.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pocketkube.api.validation import aggregate, invalid
from pocketkube.scheduler.framework.cyclestate import CycleState
from pocketkube.scheduler.framework.interface import (
    MAX_NODE_SCORE,
    ActionType,
    ClusterEvent,
    Handle,
    NodeScore,
    PreFilterResult,
)
from pocketkube.scheduler.framework.status import (
    Status,
    error,
    skip,
    unresolvable,
    unschedulable,
)
from pocketkube.scheduler.framework.types import (
    AffinityTerm,
    NodeInfo,
    PodInfo,
)
from pocketkube.scheduler.plugins.topology import (
    NO_NAMESPACE_LABELS,
    TopologyPair,
    matches_all,
    namespace_labels,
    resolve_term,
)

NAME = "InterPodAffinity"
PRE_FILTER_KEY = "PreFilter" + NAME
PRE_SCORE_KEY = "PreScore" + NAME

ERR_AFFINITY_RULES = "node(s) didn't match pod affinity rules"
ERR_ANTI_AFFINITY_RULES = "node(s) didn't match pod anti-affinity rules"
ERR_EXISTING_ANTI_AFFINITY_RULES = "node(s) didn't satisfy existing pods anti-affinity rules"

DEFAULT_HARD_POD_AFFINITY_WEIGHT = 1

Counts = dict[TopologyPair, int]


def _bump(counts: Counts, node_labels: Mapping[str, str], key: str, delta: int) -> None:
    value = node_labels.get(key)
    if value is None:
        return
    pair = (key, value)
    total = counts.get(pair, 0) + delta
    if total:
        counts[pair] = total
    else:  # removals bring pairs back to zero; Filter treats a missing pair as none
        counts.pop(pair, None)


@dataclass(slots=True)
class _PreFilterState:
    pod: PodInfo
    affinity_terms: list[AffinityTerm]  # the incoming pod's, namespaceSelector resolved
    anti_affinity_terms: list[AffinityTerm]
    namespace_labels: Mapping[str, str]  # of the incoming pod's namespace
    existing_anti_affinity: Counts = field(default_factory=dict)
    affinity: Counts = field(default_factory=dict)
    anti_affinity: Counts = field(default_factory=dict)

    def clone(self) -> _PreFilterState:
        return replace(
            self,
            existing_anti_affinity=dict(self.existing_anti_affinity),
            affinity=dict(self.affinity),
            anti_affinity=dict(self.anti_affinity),
        )

    def update_with_pod(self, other: PodInfo, node_labels: Mapping[str, str], delta: int) -> None:
        """Count (delta=1) or uncount (delta=-1) ``other`` on a node with these labels."""
        for term in other.required_anti_affinity:
            if term.matches(self.pod.pod, self.namespace_labels):
                _bump(self.existing_anti_affinity, node_labels, term.topology_key, delta)
        if matches_all(self.affinity_terms, other.pod):
            for term in self.affinity_terms:
                _bump(self.affinity, node_labels, term.topology_key, delta)
        for term in self.anti_affinity_terms:
            if term.matches(other.pod, NO_NAMESPACE_LABELS):
                _bump(self.anti_affinity, node_labels, term.topology_key, delta)

    def satisfies_affinity(self, node_labels: Mapping[str, str]) -> bool:
        pods_exist = True
        for term in self.affinity_terms:
            value = node_labels.get(term.topology_key)
            if value is None:  # every topology key must be on the node
                return False
            if self.affinity.get((term.topology_key, value), 0) <= 0:
                pods_exist = False
        if pods_exist:
            return True
        # The first pod of a group whose affinity names itself has no peer anywhere yet; it
        # may go to any node with the topology labels, or the group would never start.
        return not self.affinity and matches_all(self.affinity_terms, self.pod.pod)

    def satisfies_anti_affinity(self, node_labels: Mapping[str, str]) -> bool:
        if not self.anti_affinity:
            return True
        for term in self.anti_affinity_terms:
            value = node_labels.get(term.topology_key)
            if value is not None and self.anti_affinity.get((term.topology_key, value), 0) > 0:
                return False
        return True

    def satisfies_existing_anti_affinity(self, node_labels: Mapping[str, str]) -> bool:
        counts = self.existing_anti_affinity
        return not counts or not any(counts.get(pair, 0) > 0 for pair in node_labels.items())


@dataclass(slots=True)
class _PreScoreState:
    # topology key → value → summed weight; read-only once written, so clone shares it
    scores: dict[str, dict[str, int]]

    def clone(self) -> _PreScoreState:
        return self


def _parse_args(args: Mapping[str, Any]) -> tuple[int, bool]:
    weight = args.get("hardPodAffinityWeight", DEFAULT_HARD_POD_AFFINITY_WEIGHT)
    if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 100:
        err = invalid("hardPodAffinityWeight", weight, "not in valid range [0, 100]")
        raise ValueError(aggregate([err.message]))
    return weight, bool(args.get("ignorePreferredTermsOfExistingPods", False))


class InterPodAffinity:
    name = NAME

    def __init__(self, args: Mapping[str, Any], handle: Handle) -> None:
        self.handle = handle
        self.hard_pod_affinity_weight, self.ignore_preferred_terms_of_existing_pods = _parse_args(
            args
        )

    # -- filtering ---------------------------------------------------------------------------
    def pre_filter(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> tuple[PreFilterResult | None, Status | None]:
        s = _PreFilterState(
            pod=pod,
            affinity_terms=[resolve_term(t, self.handle) for t in pod.required_affinity],
            anti_affinity_terms=[resolve_term(t, self.handle) for t in pod.required_anti_affinity],
            namespace_labels=namespace_labels(self.handle, pod.namespace),
        )
        has_terms = bool(s.affinity_terms or s.anti_affinity_terms)
        # Without terms of its own, only existing pods' required anti-affinity matters, and
        # the snapshot keeps the (usually few) nodes that have such pods.
        walked = (
            nodes if has_terms else self.handle.snapshot.have_pods_with_required_anti_affinity()
        )
        for node in walked:
            if node.node is None:
                continue
            others = node.pods if has_terms else node.pods_with_required_anti_affinity
            node_labels = node.labels
            for other in others:
                s.update_with_pod(other, node_labels, 1)
        if not s.existing_anti_affinity and not has_terms:
            return None, skip()
        state.write(PRE_FILTER_KEY, s)
        return None, None

    def _pre_filter_state(self, state: CycleState) -> _PreFilterState | Status:
        s = state.get(PRE_FILTER_KEY)
        if not isinstance(s, _PreFilterState):
            return error(f'error reading "{PRE_FILTER_KEY}" from cycleState: not found')
        return s

    def add_pod(
        self, state: CycleState, pod: PodInfo, to_add: PodInfo, node: NodeInfo
    ) -> Status | None:
        s = self._pre_filter_state(state)
        if isinstance(s, Status):
            return s
        s.update_with_pod(to_add, node.labels, 1)
        return None

    def remove_pod(
        self, state: CycleState, pod: PodInfo, to_remove: PodInfo, node: NodeInfo
    ) -> Status | None:
        s = self._pre_filter_state(state)
        if isinstance(s, Status):
            return s
        s.update_with_pod(to_remove, node.labels, -1)
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        s = self._pre_filter_state(state)
        if isinstance(s, Status):
            return s
        node_labels = node.labels
        if not s.satisfies_affinity(node_labels):
            # Evicting pods cannot create the pods this one wants to be near.
            return unresolvable(ERR_AFFINITY_RULES)
        if not s.satisfies_anti_affinity(node_labels):
            return unschedulable(ERR_ANTI_AFFINITY_RULES)
        if not s.satisfies_existing_anti_affinity(node_labels):
            return unschedulable(ERR_EXISTING_ANTI_AFFINITY_RULES)
        return None

    # -- scoring -----------------------------------------------------------------------------
    def pre_score(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> Status | None:
        has_constraints = bool(pod.preferred_affinity or pod.preferred_anti_affinity)
        if self.ignore_preferred_terms_of_existing_pods and not has_constraints:
            return skip()
        preferred = [
            replace(w, term=resolve_term(w.term, self.handle)) for w in pod.preferred_affinity
        ]
        preferred_anti = [
            replace(w, term=resolve_term(w.term, self.handle)) for w in pod.preferred_anti_affinity
        ]
        ns_labels = namespace_labels(self.handle, pod.namespace)
        scores: dict[str, dict[str, int]] = {}

        def add(
            term: AffinityTerm,
            weight: int,
            target: Mapping[str, Any],
            target_ns_labels: Mapping[str, str],
            node_labels: Mapping[str, str],
        ) -> None:
            if not term.matches(target, target_ns_labels):
                return
            value = node_labels.get(term.topology_key)
            if value is not None:
                by_value = scores.setdefault(term.topology_key, {})
                by_value[value] = by_value.get(value, 0) + weight

        # Every node counts, not only the candidates: a pod on a filtered-out node still makes
        # its whole zone attractive or repulsive. Without preferred terms of its own, only
        # existing pods with affinity terms can contribute.
        snapshot = self.handle.snapshot
        all_nodes = snapshot.list() if has_constraints else snapshot.have_pods_with_affinity()
        for node in all_nodes:
            node_labels = node.labels
            if not node_labels:
                continue
            for existing in node.pods if has_constraints else node.pods_with_affinity:
                other = existing.pod
                for w in preferred:
                    add(w.term, w.weight, other, NO_NAMESPACE_LABELS, node_labels)
                for w in preferred_anti:
                    add(w.term, -w.weight, other, NO_NAMESPACE_LABELS, node_labels)
                if self.hard_pod_affinity_weight > 0:
                    for term in existing.required_affinity:
                        add(term, self.hard_pod_affinity_weight, pod.pod, ns_labels, node_labels)
                for w in existing.preferred_affinity:
                    add(w.term, w.weight, pod.pod, ns_labels, node_labels)
                for w in existing.preferred_anti_affinity:
                    add(w.term, -w.weight, pod.pod, ns_labels, node_labels)
        if not scores:
            return skip()
        state.write(PRE_SCORE_KEY, _PreScoreState(scores))
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> tuple[int, Status | None]:
        s = state.get(PRE_SCORE_KEY)
        if not isinstance(s, _PreScoreState):
            return 0, error(f'failed to read "{PRE_SCORE_KEY}" from cycleState: not found')
        node_labels = node.labels
        total = 0
        for key, by_value in s.scores.items():
            value = node_labels.get(key)
            if value is not None:
                total += by_value.get(value, 0)
        return total, None

    def normalize_score(
        self, state: CycleState, pod: PodInfo, scores: list[NodeScore]
    ) -> Status | None:
        s = state.get(PRE_SCORE_KEY)
        if not isinstance(s, _PreScoreState):
            return error(f'failed to read "{PRE_SCORE_KEY}" from cycleState: not found')
        if not s.scores or not scores:
            return None
        low = min(ns.score for ns in scores)
        spread = max(ns.score for ns in scores) - low
        for ns in scores:
            # Truncated, as upstream converts the float back to an integer.
            ns.score = int(MAX_NODE_SCORE * (ns.score - low) / spread) if spread > 0 else 0
        return None

    def events_to_register(self) -> list[ClusterEvent]:
        return [
            # An assigned pod appearing may satisfy affinity; one leaving or changing labels
            # may lift an anti-affinity conflict.
            ClusterEvent("Pod", ActionType.ALL),
            # A new node or new labels make new topology domains.
            ClusterEvent("Node", ActionType.ADD | ActionType.UPDATE),
        ]


def new(args: Mapping[str, Any], handle: Handle) -> InterPodAffinity:
    return InterPodAffinity(args, handle)
