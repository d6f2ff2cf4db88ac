"""NodeName: a pod that names its node (``spec.nodeName``) fits only that node.

The scheduler queues only pods without a node, so this rarely rejects anything in a normal
cycle; it is here so that anything running the filter chain for an already-placed pod (a
simulation, a what-if for preemption) gets the same answer the kubelet would.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pocketkube.scheduler.framework.cyclestate import CycleState
from pocketkube.scheduler.framework.interface import ActionType, ClusterEvent, Handle
from pocketkube.scheduler.framework.status import Status, unresolvable
from pocketkube.scheduler.framework.types import NodeInfo, PodInfo

NAME = "NodeName"
ERR_REASON = "node(s) didn't match the requested node name"


def fits(pod: Mapping[str, Any], node: NodeInfo) -> bool:
    wanted = (pod.get("spec") or {}).get("nodeName") or ""
    return not wanted or wanted == node.name


class NodeName:
    name = NAME
    node_static = True  # Filter reads only the Node object and placement fields

    def __init__(self, args: Mapping[str, Any], handle: Handle) -> None:
        pass

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        return None if fits(pod.pod, node) else unresolvable(ERR_REASON)

    def events_to_register(self) -> list[ClusterEvent]:
        # The named node may be created later (or relabelled while the pod waits).
        return [ClusterEvent("Node", ActionType.ADD | ActionType.UPDATE)]


def new(args: Mapping[str, Any], handle: Handle) -> NodeName:
    return NodeName(args, handle)
