"""PrioritySort: the queue order, higher ``spec.priority`` first, then first come first served.

``spec.priority`` is filled in by the Priority admission plugin from the pod's
PriorityClass; a pod without one counts as 0. The timestamp is when the pod last entered the
active queue, so a pod that keeps failing does not hold its place ahead of newer equals.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pocketkube.scheduler.framework.interface import ClusterEvent, Handle, QueuedPodInfo

NAME = "PrioritySort"


class PrioritySort:
    name = NAME

    def __init__(self, args: Mapping[str, Any], handle: Handle) -> None:
        pass

    def less(self, a: QueuedPodInfo, b: QueuedPodInfo) -> bool:
        pa, pb = a.pod_info.priority, b.pod_info.priority
        return pa > pb or (pa == pb and a.timestamp < b.timestamp)

    def events_to_register(self) -> list[ClusterEvent]:
        return []


def new(args: Mapping[str, Any], handle: Handle) -> PrioritySort:
    return PrioritySort(args, handle)
