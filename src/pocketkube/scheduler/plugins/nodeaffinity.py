"""NodeAffinity: ``spec.nodeSelector``, required and preferred node affinity.

PreFilter parses the pod's selectors once per cycle and, when every required term pins
``metadata.name`` (``matchFields`` In), hands the framework just those node names so the other
filters never look at the rest: DaemonSet pods pin their node that way, and there are many of
them. Filter then checks the labels. Score sums the weights of the preferred terms a node
matches, and NormalizeScore scales the best node to 100.

``addedAffinity`` (a profile arg) is node affinity the scheduler adds to every pod, e.g. to
keep one profile's pods on one node pool; a node that fails it gets its own message so users
can tell it from their own rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pocketkube.scheduler.framework.cyclestate import CycleState
from pocketkube.scheduler.framework.interface import (
    ActionType,
    ClusterEvent,
    Handle,
    NodeScore,
    PreFilterResult,
)
from pocketkube.scheduler.framework.status import Status, error, skip, unresolvable
from pocketkube.scheduler.framework.types import NodeInfo, PodInfo
from pocketkube.scheduler.plugins.nodehelpers import (
    NODE_NAME_FIELD,
    NodeSelector,
    NodeSelectorError,
    PreferredSchedulingTerms,
    RequiredNodeAffinity,
    default_normalize_score,
    preferred_node_affinity,
    required_node_affinity,
)

NAME = "NodeAffinity"
PRE_FILTER_KEY = "PreFilter" + NAME
PRE_SCORE_KEY = "PreScore" + NAME

ERR_REASON_POD = "node(s) didn't match Pod's node affinity/selector"
ERR_REASON_ENFORCED = "node(s) didn't match scheduler-enforced node affinity"
ERR_REASON_CONFLICT = "pod affinity terms conflict"


def pinned_node_names(required: Mapping[str, Any]) -> set[str] | None:
    """Node names the required terms allow by ``metadata.name In``; None when any term
    leaves names open (terms are ORed, so one open term opens them all)."""
    names: set[str] = set()
    for term in required.get("nodeSelectorTerms") or ():
        term_names: set[str] | None = None
        for req in (term or {}).get("matchFields") or ():
            if req.get("key") == NODE_NAME_FIELD and req.get("operator") == "In":
                values = set(req.get("values") or ())
                term_names = values if term_names is None else term_names & values
        if term_names is None:
            return None
        names |= term_names
    return names


class NodeAffinity:
    name = NAME
    node_static = True  # Filter reads only the Node object and placement fields

    def __init__(self, args: Mapping[str, Any], handle: Handle) -> None:
        self.handle = handle
        added = args.get("addedAffinity") or {}
        self.added_selector: NodeSelector | None = None
        self.added_preferred: PreferredSchedulingTerms | None = None
        required = added.get("requiredDuringSchedulingIgnoredDuringExecution")
        try:
            if required is not None:
                self.added_selector = NodeSelector(required, strict=True)
            preferred = added.get("preferredDuringSchedulingIgnoredDuringExecution")
            if preferred:
                self.added_preferred = PreferredSchedulingTerms(preferred)
        except NodeSelectorError as err:
            raise ValueError(f"addedAffinity: {err}") from None

    def pre_filter(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> tuple[PreFilterResult | None, Status | None]:
        required = required_node_affinity(pod.pod)
        if required is None and self.added_selector is None and not pod.spec.get("nodeSelector"):
            return None, skip()
        state.write(PRE_FILTER_KEY, RequiredNodeAffinity(pod.pod))
        if required is None or not required.get("nodeSelectorTerms"):
            return None, None
        names = pinned_node_names(required)
        if names is None:
            return None, None
        if not names:
            return None, unresolvable(ERR_REASON_CONFLICT)
        return PreFilterResult(names), None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        obj = node.node or {}
        if self.added_selector is not None and not self.added_selector.matches(obj):
            return unresolvable(ERR_REASON_ENFORCED)
        required = state.get(PRE_FILTER_KEY)
        if required is None:
            required = RequiredNodeAffinity(pod.pod)
        return None if required.matches(obj) else unresolvable(ERR_REASON_POD)

    def pre_score(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> Status | None:
        try:
            preferred = self._preferred(pod)
        except NodeSelectorError as err:
            return error(str(err))
        if preferred is None and self.added_preferred is None:
            return skip()
        state.write(PRE_SCORE_KEY, preferred)
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> tuple[int, Status | None]:
        obj = node.node or {}
        total = self.added_preferred.score(obj) if self.added_preferred is not None else 0
        try:
            preferred = state.read(PRE_SCORE_KEY)
        except KeyError:
            try:
                preferred = self._preferred(pod)
            except NodeSelectorError as err:
                return 0, error(str(err))
        if preferred is not None:
            total += preferred.score(obj)
        return total, None

    def normalize_score(
        self, state: CycleState, pod: PodInfo, scores: list[NodeScore]
    ) -> Status | None:
        default_normalize_score(scores, reverse=False)
        return None

    @staticmethod
    def _preferred(pod: PodInfo) -> PreferredSchedulingTerms | None:
        terms = preferred_node_affinity(pod.pod)
        return PreferredSchedulingTerms(terms) if terms is not None else None

    def events_to_register(self) -> list[ClusterEvent]:
        # Upstream (without queueing hints): Node Add | UpdateNodeLabel | UpdateNodeTaint.
        return [ClusterEvent("Node", ActionType.ADD | ActionType.UPDATE)]


def new(args: Mapping[str, Any], handle: Handle) -> NodeAffinity:
    return NodeAffinity(args, handle)
