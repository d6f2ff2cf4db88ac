"""The Pod table: what ``kubectl get pods`` shows, computed as upstream's ``printPod``.

STATUS is not the phase but a reason distilled from the containers: the first init container
that has not finished ("Init:1/3", "Init:CrashLoopBackOff", "Init:ExitCode:1"), else the last
app container that is waiting or terminated ("ContainerCreating", "CrashLoopBackOff",
"Completed"), overridden by "Terminating" while a deletion is pending. Sidecars (init containers
with ``restartPolicy: Always``) count as containers in READY and RESTARTS.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pocketkube.apiserver.tables.common import (
    AGE,
    NAME,
    Cells,
    Column,
    Obj,
    Printer,
    as_int,
    as_list,
    as_map,
    doc,
    get,
    human_duration,
    name_of,
    parse_time,
    since,
)

COLUMNS = (
    NAME,
    Column("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
    Column("Status", "string", "The aggregate status of the containers in this pod."),
    Column(
        "Restarts",
        "string",
        "The number of times the containers in this pod have been restarted and when the last "
        "container in this pod has restarted.",
    ),
    AGE,
    Column("IP", "string", doc("PodStatus.podIP"), 1),
    Column("Node", "string", doc("PodSpec.nodeName"), 1),
    Column("Nominated Node", "string", doc("PodStatus.nominatedNodeName"), 1),
    Column("Readiness Gates", "string", doc("PodSpec.readinessGates"), 1),
)

# pkg/util/node.NodeUnreachablePodReason
NODE_UNREACHABLE_POD_REASON = "NodeLost"
_TERMINAL_PHASES = ("Succeeded", "Failed")


def _condition_status(pod: Obj, condition_type: str) -> str | None:
    for cond in as_list(get(pod, "status", "conditions")):
        if get(cond, "type") == condition_type:
            return str(get(cond, "status") or "")
    return None


def _is_restartable_init_container(container: Any) -> bool:
    return bool(get(container, "restartPolicy") == "Always")


def _later(current: datetime | None, status: Any) -> datetime | None:
    """The later of ``current`` and the container's last termination time."""
    if get(status, "lastState", "terminated") is None:
        return current
    finished = parse_time(get(status, "lastState", "terminated", "finishedAt"))
    if finished is None or (current is not None and finished <= current):
        return current
    return finished


def _terminated_reason(terminated: Any, prefix: str) -> str:
    reason = str(get(terminated, "reason") or "")
    if reason:
        return prefix + reason
    signal = as_int(get(terminated, "signal"))
    if signal != 0:
        return f"{prefix}Signal:{signal}"
    return f"{prefix}ExitCode:{as_int(get(terminated, 'exitCode'))}"


def pod_cells(pod: Obj, now: datetime) -> Cells:
    return _finish_cells(_timeless_cells(pod), pod, now)


def _finish_cells(fixed: tuple[Cells, int, datetime | None], pod: Obj, now: datetime) -> Cells:
    """The cells at ``now``: the fixed ones, RESTARTS' "(… ago)" and AGE."""
    timeless, restarts, last_restart = fixed
    cells = timeless.copy()
    if restarts != 0 and last_restart is not None:
        cells[3] = f"{restarts} ({human_duration(now - last_restart)} ago)"
    cells[4] = since(as_map(pod.get("metadata")).get("creationTimestamp"), now)
    return cells


def _timeless_cells(pod: Obj) -> tuple[Cells, int, datetime | None]:
    """The cells but AGE (left empty), the restart count and the last restart's time."""
    spec, status = as_map(pod.get("spec")), as_map(pod.get("status"))
    init_specs = [as_map(c) for c in as_list(spec.get("initContainers"))]
    init_by_name = {c.get("name"): c for c in init_specs}
    total = len(as_list(spec.get("containers")))
    total += sum(1 for c in init_specs if _is_restartable_init_container(c))
    ready = 0
    restarts = sidecar_restarts = 0
    last_restart: datetime | None = None
    last_sidecar_restart: datetime | None = None

    phase = str(status.get("phase") or "")
    reason = str(status.get("reason") or "") or phase
    for cond in as_list(status.get("conditions")):
        if get(cond, "type") == "PodScheduled" and get(cond, "reason") == "SchedulingGated":
            reason = "SchedulingGated"

    initializing = False
    for i, cs in enumerate(as_map(c) for c in as_list(status.get("initContainerStatuses"))):
        restarts += as_int(cs.get("restartCount"))
        last_restart = _later(last_restart, cs)
        restartable = _is_restartable_init_container(init_by_name.get(cs.get("name")))
        if restartable:
            sidecar_restarts += as_int(cs.get("restartCount"))
            last_sidecar_restart = _later(last_sidecar_restart, cs)
        terminated = get(cs, "state", "terminated")
        waiting = get(cs, "state", "waiting")
        if terminated is not None and as_int(get(terminated, "exitCode")) == 0:
            continue
        if restartable and cs.get("started") is True:
            if cs.get("ready") is True:
                ready += 1
            continue
        initializing = True
        if terminated is not None:
            reason = _terminated_reason(terminated, "Init:")
        elif waiting is not None and get(waiting, "reason") not in (None, "", "PodInitializing"):
            reason = "Init:" + str(get(waiting, "reason"))
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        break

    if not initializing or _condition_status(pod, "Initialized") == "True":
        restarts, last_restart = sidecar_restarts, last_sidecar_restart
        has_running = False
        for cs in reversed([as_map(c) for c in as_list(status.get("containerStatuses"))]):
            restarts += as_int(cs.get("restartCount"))
            last_restart = _later(last_restart, cs)
            terminated = get(cs, "state", "terminated")
            waiting = get(cs, "state", "waiting")
            if waiting is not None and get(waiting, "reason"):
                reason = str(get(waiting, "reason"))
            elif terminated is not None:
                reason = _terminated_reason(terminated, "")
            elif cs.get("ready") is True and get(cs, "state", "running") is not None:
                has_running = True
                ready += 1
        # a pod whose last container completed but another still runs is not "Completed"
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_status(pod, "Ready") == "True" else "NotReady"

    if get(pod, "metadata", "deletionTimestamp") is not None:
        if status.get("reason") == NODE_UNREACHABLE_POD_REASON:
            reason = "Unknown"
        elif phase not in _TERMINAL_PHASES:
            reason = "Terminating"

    cells = [
        name_of(pod),
        f"{ready}/{total}",
        reason,
        str(restarts),  # with "(... ago)" added by pod_cells
        "",  # AGE, by pod_cells
        _pod_ip(status) or "<none>",
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        _readiness_gates(spec, status),
    ]
    return cells, restarts, last_restart


def _pod_ip(status: Any) -> str:
    # the internal type always has podIPs; v1 objects may carry only podIP
    first = get(status, "podIPs", 0, "ip")
    return str(first or get(status, "podIP") or "")


def _readiness_gates(spec: Any, status: Any) -> str:
    gates = as_list(get(spec, "readinessGates"))
    if not gates:
        return "<none>"
    conditions = as_list(get(status, "conditions"))
    true_count = 0
    for gate in gates:
        for cond in conditions:
            if get(cond, "type") == get(gate, "conditionType"):
                true_count += get(cond, "status") == "True"
                break
    return f"{true_count}/{len(gates)}"


def pod_conditions(pod: Obj) -> list[dict[str, str]]:
    phase = get(pod, "status", "phase")
    if phase == "Succeeded":
        message = "The pod has completed successfully."
    elif phase == "Failed":
        message = "The pod failed."
    else:
        return []
    return [{"type": "Completed", "status": "True", "reason": phase, "message": message}]


PRINTERS = {
    "Pod": Printer(COLUMNS, pod_cells, pod_conditions, fixed=_timeless_cells, finish=_finish_cells)
}
