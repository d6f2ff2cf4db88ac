"""SchedulingGates: keep a pod out of scheduling while its ``spec.schedulingGates`` is not empty.

Whoever creates a pod with gates (a quota manager, a batch controller) promises to remove them
when the pod may be scheduled; gates can only be removed, never added back. Until then the
pod would fail every cycle, so PreEnqueue stops it before it reaches the active queue and the
queue parks it as gated. No cluster event can lift a gate: only an update of the pod itself,
which the queue notices on its own, so the plugin registers no events (as upstream without
queueing hints).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pocketkube.scheduler.framework.interface import ClusterEvent, Handle
from pocketkube.scheduler.framework.status import Status, unresolvable
from pocketkube.scheduler.framework.types import PodInfo

NAME = "SchedulingGates"


class SchedulingGates:
    name = NAME

    def __init__(self, args: Mapping[str, Any], handle: Handle) -> None:
        pass

    def pre_enqueue(self, pod: PodInfo) -> Status | None:
        gates = pod.spec.get("schedulingGates") or ()
        if not gates:
            return None
        names = " ".join(str(gate.get("name", "")) for gate in gates)
        return unresolvable(f"waiting for scheduling gates: [{names}]")

    def events_to_register(self) -> list[ClusterEvent]:
        return []


def new(args: Mapping[str, Any], handle: Handle) -> SchedulingGates:
    return SchedulingGates(args, handle)
