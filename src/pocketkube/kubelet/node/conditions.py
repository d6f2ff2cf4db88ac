"""The node conditions the kubelet owns: Ready, MemoryPressure, DiskPressure, PIDPressure.

As upstream's setters (pkg/kubelet/nodestatus): each finds its condition among the node's
conditions (others' conditions are left alone), refreshes ``lastHeartbeatTime`` every time and
moves ``lastTransitionTime`` only when the status flips, and records an event on each flip.
Ready is appended last when new, as upstream keeps it (old node controllers read the last
condition). A pressure condition keeps its reason and message while its status stays.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pocketkube.kubelet.node.capacity import REQUIRED_CAPACITY
from pocketkube.kubelet.node.events import NODE_NOT_READY, NODE_READY
from pocketkube.kubelet.node.pressure import DISK, MEMORY, PID
from pocketkube.kubelet.node.protocols import EventType, Obj

READY = "Ready"
READY_REASON = "KubeletReady"
READY_MESSAGE = "kubelet is posting ready status"
NOT_READY_REASON = "KubeletNotReady"

RecordStatus = Callable[[EventType, str], None]  # (type, reason): "Node n status is now: reason"


@dataclass(frozen=True)
class _Verdict:
    reason: str
    message: str
    event: str


# condition type -> (under pressure, not under pressure)
PRESSURE_WORDS: dict[str, tuple[_Verdict, _Verdict]] = {
    MEMORY: (
        _Verdict(
            "KubeletHasInsufficientMemory",
            "kubelet has insufficient memory available",
            "NodeHasInsufficientMemory",
        ),
        _Verdict(
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
            "NodeHasSufficientMemory",
        ),
    ),
    DISK: (
        _Verdict("KubeletHasDiskPressure", "kubelet has disk pressure", "NodeHasDiskPressure"),
        _Verdict(
            "KubeletHasNoDiskPressure", "kubelet has no disk pressure", "NodeHasNoDiskPressure"
        ),
    ),
    PID: (
        _Verdict(
            "KubeletHasInsufficientPID",
            "kubelet has insufficient PID available",
            "NodeHasInsufficientPID",
        ),
        _Verdict(
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available",
            "NodeHasSufficientPID",
        ),
    ),
}


def rfc3339(wall: float) -> str:
    """A ``metav1.Time``: RFC 3339 in UTC, whole seconds."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall))


def aggregate(messages: Sequence[str]) -> str:
    """Error messages joined as ``utilerrors.NewAggregate`` prints them: duplicates dropped,
    one alone as it is, several as ``[a, b]``."""
    unique = list(dict.fromkeys(messages))
    if len(unique) == 1:
        return unique[0]
    return "[" + ", ".join(unique) + "]"


def find_condition(node: Obj, type_: str) -> Obj | None:
    for condition in node.get("status", {}).get("conditions") or []:
        if condition.get("type") == type_:
            return condition  # type: ignore[no-any-return]
    return None


def set_pressure_condition(
    node: Obj, *, type_: str, under_pressure: bool, now: str, record: RecordStatus
) -> None:
    """MemoryPressureCondition, DiskPressureCondition, PIDPressureCondition."""
    condition = find_condition(node, type_)
    if condition is None:
        condition = {"type": type_, "status": "Unknown"}
        node.setdefault("status", {}).setdefault("conditions", []).append(condition)
    condition["lastHeartbeatTime"] = now
    wanted = "True" if under_pressure else "False"
    if condition.get("status") != wanted:
        verdict = PRESSURE_WORDS[type_][0 if under_pressure else 1]
        condition.update(
            status=wanted, reason=verdict.reason, message=verdict.message, lastTransitionTime=now
        )
        record("Normal", verdict.event)


def set_ready_condition(
    node: Obj, *, errors: Sequence[str], notes: Sequence[str], now: str, record: RecordStatus
) -> None:
    """ReadyCondition: NotReady with every reason the node cannot run pods, else Ready."""
    problems = list(errors)
    capacity = node.get("status", {}).get("capacity") or {}
    missing = [name for name in REQUIRED_CAPACITY if name not in capacity]
    if missing:
        problems.append(f"missing node capacity for resources: {', '.join(missing)}")
    if problems:
        status, reason, message = "False", NOT_READY_REASON, aggregate(problems)
    else:
        status, reason, message = "True", READY_REASON, READY_MESSAGE
    if notes:
        # upstream appends the container manager's soft requirements the same way
        message = f"{message}. WARNING: {'; '.join(notes)}"
    new = {
        "type": READY,
        "status": status,
        "lastHeartbeatTime": now,
        "reason": reason,
        "message": message,
    }
    conditions: list[Obj] = node.setdefault("status", {}).setdefault("conditions", [])
    for index, condition in enumerate(conditions):
        if condition.get("type") == READY:
            flipped = condition.get("status") != status
            new["lastTransitionTime"] = now if flipped else condition.get("lastTransitionTime", now)
            conditions[index] = new
            if flipped:
                record("Normal", NODE_READY if status == "True" else NODE_NOT_READY)
            return
    new["lastTransitionTime"] = now
    conditions.append(new)
