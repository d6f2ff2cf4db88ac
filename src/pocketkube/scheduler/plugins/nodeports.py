"""NodePorts: a pod asking for a host port fits only nodes where no pod holds that port.

PreFilter collects the pod's (hostIP, protocol, hostPort) triples once; pods without host
ports skip the plugin. Filter asks the node's used-port table, where ``0.0.0.0`` conflicts
with every address on the same protocol and port. Another pod may free the port, so the
rejection is plain Unschedulable and preemption may help.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pocketkube.scheduler.framework.cyclestate import CycleState
from pocketkube.scheduler.framework.interface import (
    ActionType,
    ClusterEvent,
    Handle,
    PreFilterResult,
)
from pocketkube.scheduler.framework.status import Status, skip, unschedulable
from pocketkube.scheduler.framework.types import NodeInfo, PodInfo, host_ports

NAME = "NodePorts"
PRE_FILTER_KEY = "PreFilter" + NAME
ERR_REASON = "node(s) didn't have free ports for the requested pod ports"


def fits_ports(wanted: Sequence[tuple[str, str, int]], node: NodeInfo) -> bool:
    return not any(node.used_ports.conflicts(ip, proto, port) for ip, proto, port in wanted)


class NodePorts:
    name = NAME

    def __init__(self, args: Mapping[str, Any], handle: Handle) -> None:
        pass

    def pre_filter(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> tuple[PreFilterResult | None, Status | None]:
        wanted = host_ports(pod.pod)
        if not wanted:
            return None, skip()
        state.write(PRE_FILTER_KEY, tuple(wanted))
        return None, None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        wanted = state.get(PRE_FILTER_KEY)
        if wanted is None:
            wanted = host_ports(pod.pod)
        return None if fits_ports(wanted, node) else unschedulable(ERR_REASON)

    def events_to_register(self) -> list[ClusterEvent]:
        # Upstream (without queueing hints): assigned Pod deleted; Node Add | Update.
        return [
            ClusterEvent("Pod", ActionType.DELETE),
            ClusterEvent("Node", ActionType.ADD | ActionType.UPDATE),
        ]


def new(args: Mapping[str, Any], handle: Handle) -> NodePorts:
    return NodePorts(args, handle)
