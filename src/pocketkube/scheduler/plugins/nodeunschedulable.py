"""NodeUnschedulable: keep pods off cordoned nodes (``spec.unschedulable``).

``kubectl cordon`` sets the field; the node lifecycle controller mirrors it as the
``node.kubernetes.io/unschedulable:NoSchedule`` taint, so a pod that tolerates that taint
(DaemonSet pods get the toleration added) also ignores the field here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pocketkube.scheduler.framework.cyclestate import CycleState
from pocketkube.scheduler.framework.interface import ActionType, ClusterEvent, Handle
from pocketkube.scheduler.framework.status import Status, unresolvable
from pocketkube.scheduler.framework.types import NodeInfo, PodInfo
from pocketkube.scheduler.plugins.nodehelpers import (
    NO_SCHEDULE,
    TAINT_NODE_UNSCHEDULABLE,
    pod_tolerations,
    tolerations_tolerate_taint,
)

NAME = "NodeUnschedulable"
ERR_REASON_UNSCHEDULABLE = "node(s) were unschedulable"
ERR_REASON_UNKNOWN_CONDITION = "node(s) had unknown conditions"

_UNSCHEDULABLE_TAINT = {"key": TAINT_NODE_UNSCHEDULABLE, "effect": NO_SCHEDULE}


class NodeUnschedulable:
    name = NAME
    node_static = True  # Filter reads only the Node object and placement fields

    def __init__(self, args: Mapping[str, Any], handle: Handle) -> None:
        pass

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if node.node is None:
            return unresolvable(ERR_REASON_UNKNOWN_CONDITION)
        if not (node.node.get("spec") or {}).get("unschedulable"):
            return None
        if tolerations_tolerate_taint(pod_tolerations(pod.pod), _UNSCHEDULABLE_TAINT):
            return None
        return unresolvable(ERR_REASON_UNSCHEDULABLE)

    def events_to_register(self) -> list[ClusterEvent]:
        # Upstream: Node Add | UpdateNodeTaint (uncordoning is a spec update).
        return [ClusterEvent("Node", ActionType.ADD | ActionType.UPDATE)]


def new(args: Mapping[str, Any], handle: Handle) -> NodeUnschedulable:
    return NodeUnschedulable(args, handle)
