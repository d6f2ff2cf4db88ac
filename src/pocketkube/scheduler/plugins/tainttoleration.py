"""TaintToleration: a node's NoSchedule/NoExecute taints repel pods that do not tolerate them.

Filter names the first untolerated taint in the message users read (``node(s) had untolerated
taint {dedicated: gpu}``); no preemption can remove a taint, so the node is unresolvable.
PreferNoSchedule taints only lower the score: Score counts the ones the pod does not tolerate
and NormalizeScore turns "fewest" into 100.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pocketkube.scheduler.framework.cyclestate import CycleState
from pocketkube.scheduler.framework.interface import ActionType, ClusterEvent, Handle, NodeScore
from pocketkube.scheduler.framework.status import Status, skip, unresolvable
from pocketkube.scheduler.framework.types import NodeInfo, PodInfo
from pocketkube.scheduler.plugins.nodehelpers import (
    PREFER_NO_SCHEDULE,
    default_normalize_score,
    find_untolerated_taint,
    node_taints,
    pod_tolerations,
    tolerations_tolerate_taint,
)

NAME = "TaintToleration"
PRE_SCORE_KEY = "PreScore" + NAME
ERR_REASON_NOT_MATCH = "node(s) had taints that the pod didn't tolerate"


def untolerated_taint_reason(taint: Mapping[str, Any]) -> str:
    key, value = taint.get("key") or "", taint.get("value") or ""
    return f"node(s) had untolerated taint {{{key}: {value}}}"


def count_intolerable_prefer_no_schedule(
    taints: Sequence[Mapping[str, Any]], tolerations: Sequence[Mapping[str, Any]]
) -> int:
    return sum(
        1
        for taint in taints
        if taint.get("effect") == PREFER_NO_SCHEDULE
        and not tolerations_tolerate_taint(tolerations, taint)
    )


def prefer_no_schedule_tolerations(pod: PodInfo) -> list[Mapping[str, Any]]:
    """Tolerations that can matter for scoring: empty effect means every effect."""
    return [
        t for t in pod_tolerations(pod.pod) if (t.get("effect") or "") in ("", PREFER_NO_SCHEDULE)
    ]


class TaintToleration:
    name = NAME
    node_static = True  # Filter reads only the Node object and placement fields

    def __init__(self, args: Mapping[str, Any], handle: Handle) -> None:
        self.handle = handle

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        taint = find_untolerated_taint(node_taints(node.node or {}), pod_tolerations(pod.pod))
        return None if taint is None else unresolvable(untolerated_taint_reason(taint))

    def pre_score(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> Status | None:
        # No PreferNoSchedule taint on any candidate: every node would score the same, which
        # cannot change the choice; skip the per-node work.
        if not self.handle.snapshot.prefer_no_schedule_nodes:
            return skip()
        state.write(PRE_SCORE_KEY, prefer_no_schedule_tolerations(pod))
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> tuple[int, Status | None]:
        tolerations = state.get(PRE_SCORE_KEY)
        if tolerations is None:
            tolerations = prefer_no_schedule_tolerations(pod)
        taints = node_taints(node.node or {})
        return count_intolerable_prefer_no_schedule(taints, tolerations), None

    def normalize_score(
        self, state: CycleState, pod: PodInfo, scores: list[NodeScore]
    ) -> Status | None:
        default_normalize_score(scores, reverse=True)
        return None

    def events_to_register(self) -> list[ClusterEvent]:
        # Upstream (without queueing hints): Node Add | UpdateNodeTaint | UpdateNodeLabel. An
        # update of the pending pod's own tolerations requeues it anyway.
        return [ClusterEvent("Node", ActionType.ADD | ActionType.UPDATE)]


def new(args: Mapping[str, Any], handle: Handle) -> TaintToleration:
    return TaintToleration(args, handle)
