"""The pod's API status from what the runtime holds (upstream generateAPIPodStatus and getPhase).

Pure functions: given the pod, the runtime's view of it, the last status the kubelet produced
and the reasons its last sync left (``CrashLoopBackOff``, ``CreateContainerConfigError``...),
compute ``status``: container statuses (the newest instance gives ``state``, the one before
``lastState``), the phase by upstream's counting rules, and the kubelet-owned conditions with
their messages. Conditions the kubelet does not own (``DisruptionTarget``, readiness gates) are
kept from the API's copy.
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Callable
from dataclasses import dataclass

from pocketkube.api.pods import qos_class
from pocketkube.kubelet import podutil
from pocketkube.kubelet.actions import should_be_restarted
from pocketkube.kubelet.podutil import Obj
from pocketkube.kubelet.runtimestate import ContainerRecord, PodRuntimeStatus
from pocketkube.runtime import cri

KUBELET_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady")
CONTAINER_ID_SCHEME = "pocketkube"


@dataclass(frozen=True)
class WaitingReason:
    reason: str
    message: str = ""


def rfc3339(ns: int) -> str:
    moment = datetime.datetime.fromtimestamp(ns / 1e9, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def container_id(record_id: str, scheme: str = CONTAINER_ID_SCHEME) -> str:
    return f"{scheme}://{record_id}"


@dataclass
class StatusInputs:
    pod: Obj
    runtime: PodRuntimeStatus
    old: Obj  # the status the kubelet last produced, or the API's
    reasons: dict[str, WaitingReason]  # container name -> why it waits
    host_ip: str
    now_ns: int
    terminal: bool = False  # the pod is done (deleted, deadline, Never and finished)
    runtime_scheme: str = CONTAINER_ID_SCHEME
    termination_message: Callable[[ContainerRecord], str] = lambda record: ""
    update_probes: Callable[[Obj, Obj], None] = lambda pod, status: None


def generate(inputs: StatusInputs) -> Obj:
    pod, old = inputs.pod, inputs.old
    has_init = bool(podutil.init_containers(pod))
    status: Obj = {}
    ip = inputs.runtime.ip
    if podutil.host_network(pod):
        ip = inputs.host_ip
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
    elif old.get("podIP"):
        # A stopped sandbox has no address; a pod keeps the last it had (upstream #125370).
        status["podIP"] = old["podIP"]
        status["podIPs"] = old.get("podIPs") or [{"ip": old["podIP"]}]
    status["qosClass"] = qos_class(pod.get("spec") or {})
    status["containerStatuses"] = _container_statuses(
        inputs, podutil.containers(pod), old.get("containerStatuses") or [], has_init, False
    )
    if has_init:
        status["initContainerStatuses"] = _container_statuses(
            inputs, podutil.init_containers(pod), old.get("initContainerStatuses") or [], True, True
        )
    every = (status.get("initContainerStatuses") or []) + status["containerStatuses"]
    started_any = any(
        r.status.started_at
        for c in podutil.containers(pod)
        for r in inputs.runtime.instances(c["name"])
    )
    phase = phase_of(pod, every, terminal=inputs.terminal, initialized=started_any)
    api_phase = pod.get("status", {}).get("phase")
    if phase not in ("Failed", "Succeeded"):
        if old.get("phase") in ("Failed", "Succeeded"):
            phase = old["phase"]
        elif api_phase in ("Failed", "Succeeded"):
            phase = api_phase
    if api_phase in ("Failed", "Succeeded"):
        phase = api_phase  # a terminal phase never changes
    status["phase"] = phase
    if phase == old.get("phase"):
        for key in ("reason", "message"):
            if old.get(key):
                status[key] = old[key]
    inputs.update_probes(pod, status)

    now = rfc3339(inputs.now_ns)
    kept = [
        c
        for c in pod.get("status", {}).get("conditions") or []
        if c.get("type") not in (*KUBELET_CONDITIONS, "PodScheduled")
    ]
    disruption = [c for c in old.get("conditions") or [] if c.get("type") == "DisruptionTarget"]
    kept = [c for c in kept if c.get("type") != "DisruptionTarget"] + disruption
    every = (status.get("initContainerStatuses") or []) + status["containerStatuses"]
    sandbox_ready = inputs.runtime.ready_sandbox() is not None
    generated = [
        _condition("PodReadyToStartContainers", sandbox_ready),
        _initialized(pod, every, phase),
        _ready(pod, kept, every, phase),
        _containers_ready(pod, every, phase),
        _condition("PodScheduled", True),
    ]
    status["conditions"] = kept + [_transition(c, old, now) for c in generated]
    status["hostIP"] = inputs.host_ip
    status["hostIPs"] = [{"ip": inputs.host_ip}]
    status["startTime"] = old.get("startTime") or pod.get("status", {}).get("startTime") or now
    return status


def phase_of(pod: Obj, statuses: list[Obj], *, terminal: bool, initialized: bool) -> str:
    """Upstream getPhase (the ContainerRestartRules gate off)."""
    by_name = {s["name"]: s for s in statuses}
    pending_init = failed_init = 0
    for container in podutil.init_containers(pod):
        if podutil.is_sidecar(container):
            continue
        s = by_name.get(container["name"])
        state = (s or {}).get("state") or {}
        if s is None or "running" in state:
            pending_init += 1
        elif "terminated" in state:
            if state["terminated"].get("exitCode", 0) != 0:
                failed_init += 1
        elif "waiting" in state:
            last = (s.get("lastState") or {}).get("terminated")
            if last is not None:
                if last.get("exitCode", 0) != 0:
                    failed_init += 1
            else:
                pending_init += 1
        else:
            pending_init += 1
    unknown = running = waiting = stopped = succeeded = pending_sidecars = 0
    for container in podutil.init_containers(pod):
        if not podutil.is_sidecar(container):
            continue
        s = by_name.get(container["name"])
        if s is None:
            unknown += 1
            continue
        state = s.get("state") or {}
        if "running" in state:
            if not s.get("started"):
                pending_sidecars += 1
            running += 1
        elif "waiting" in state and not (s.get("lastState") or {}).get("terminated"):
            pending_sidecars += 1
            waiting += 1
        elif "terminated" not in state and "waiting" not in state:
            pending_sidecars += 1
            unknown += 1
    for container in podutil.containers(pod):
        s = by_name.get(container["name"])
        if s is None:
            unknown += 1
            continue
        state = s.get("state") or {}
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            if state["terminated"].get("exitCode", 0) == 0:
                succeeded += 1
        elif "waiting" in state:
            if (s.get("lastState") or {}).get("terminated"):
                stopped += 1
            else:
                waiting += 1
        else:
            unknown += 1
    policy = podutil.restart_policy(pod)
    if failed_init and policy == "Never":
        return "Failed"
    if pending_init or (pending_sidecars and not initialized) or waiting:
        return "Pending"
    if running and not unknown:
        return "Running"
    if not running and stopped and not unknown:
        if terminal:
            return "Succeeded" if stopped == succeeded else "Failed"
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        return "Failed" if policy == "Never" else "Running"
    return "Pending"


def _container_statuses(
    inputs: StatusInputs, specs: list[Obj], previous: list[Obj], has_init: bool, is_init: bool
) -> list[Obj]:
    pod, runtime = inputs.pod, inputs.runtime
    old_by_name = {s.get("name"): s for s in previous}
    default_reason = "PodInitializing" if has_init else "ContainerCreating"
    statuses: dict[str, Obj] = {}
    for spec in specs:
        name = spec["name"]
        status: Obj = {
            "name": name,
            "image": spec.get("image", ""),
            "imageID": "",
            "state": {"waiting": {"reason": default_reason}},
            "lastState": {},
            "ready": False,
            "restartCount": 0,
            "started": False,
        }
        old = old_by_name.get(name)
        if old is not None:
            if "terminated" in (old.get("state") or {}):
                status = copy.deepcopy(old)
            else:
                status["restartCount"] = old.get("restartCount", 0)
                status["lastState"] = copy.deepcopy(old.get("lastState") or {})
        statuses[name] = status
        instances = runtime.instances(name)
        if not instances and old is not None and "running" in (old.get("state") or {}):
            default = (status["state"].get("waiting") or {}).get("reason") == default_reason
            if default and not status["lastState"].get("terminated"):
                status["lastState"] = {
                    "terminated": {
                        "exitCode": 137,
                        "reason": "ContainerStatusUnknown",
                        "message": "The container could not be located when the pod was "
                        "deleted.  The container used to be Running",
                    }
                }
                if not podutil.is_terminating(pod):
                    status["restartCount"] = status.get("restartCount", 0) + 1
        for position, record in enumerate(instances[:2]):
            converted = _convert(inputs, spec, record, old)
            if position == 0:
                statuses[name] = status = converted
            else:
                status["lastState"] = converted["state"]
    for spec in specs:
        name = spec["name"]
        newest = runtime.latest(name)
        if is_init and newest is not None and _exited_ok(newest):
            continue
        if not should_be_restarted(pod, spec, runtime):
            continue
        reason = inputs.reasons.get(name)
        if reason is None:
            continue
        status = statuses[name]
        if "terminated" in status["state"]:
            status["lastState"] = status["state"]
        waiting: Obj = {"reason": reason.reason}
        if reason.message:
            waiting["message"] = reason.message
        status["state"] = {"waiting": waiting}
    return [statuses[spec["name"]] for spec in specs]


def _convert(inputs: StatusInputs, spec: Obj, record: ContainerRecord, old: Obj | None) -> Obj:
    cid = container_id(record.id, inputs.runtime_scheme)
    status: Obj = {
        "name": spec["name"],
        "image": spec.get("image", ""),
        "imageID": record.status.image_ref,
        "containerID": cid,
        "lastState": {},
        "ready": False,
        "restartCount": record.restart_count,
        "started": False,
    }
    s = record.status
    if s.state is cri.ContainerState.RUNNING:
        status["state"] = {"running": {"startedAt": rfc3339(s.started_at)}}
        if old is not None and old.get("containerID") == cid and old.get("started"):
            status["started"] = True
    elif s.state is cri.ContainerState.EXITED:
        terminated: Obj = {
            "exitCode": s.exit_code,
            "reason": s.reason or ("Completed" if s.exit_code == 0 else "Error"),
            # A container that never started has CRI's zero time: upstream shows the epoch.
            "startedAt": rfc3339(s.started_at),
            "finishedAt": rfc3339(s.finished_at),
            "containerID": cid,
        }
        message = s.message or inputs.termination_message(record)
        if message:
            terminated["message"] = message
        status["state"] = {"terminated": terminated}
    elif s.state is cri.ContainerState.UNKNOWN and old and "running" in (old.get("state") or {}):
        status["state"] = {
            "terminated": {
                "exitCode": 137,
                "reason": "ContainerStatusUnknown",
                "message": "The container could not be located when the pod was terminated",
            }
        }
        status["restartCount"] = old.get("restartCount", 0) + 1
    else:
        status["state"] = {"waiting": {}}
    return status


def _exited_ok(record: ContainerRecord) -> bool:
    return record.state is cri.ContainerState.EXITED and record.status.exit_code == 0


def _condition(kind: str, ok: bool, reason: str = "", message: str = "") -> Obj:
    condition: Obj = {"type": kind, "status": "True" if ok else "False", "lastProbeTime": None}
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    return condition


def _transition(condition: Obj, old: Obj, now: str) -> Obj:
    for previous in old.get("conditions") or []:
        same = previous.get("type") == condition["type"]
        if (
            same
            and previous.get("status") == condition["status"]
            and previous.get("lastTransitionTime")
        ):
            condition["lastTransitionTime"] = previous["lastTransitionTime"]
            return condition
    condition["lastTransitionTime"] = now
    return condition


def _names(names: list[str]) -> str:
    return "[" + " ".join(names) + "]"  # Go's %s of a []string


def _initialized(pod: Obj, statuses: list[Obj], phase: str) -> Obj:
    inits = podutil.init_containers(pod)
    if not inits:
        return _condition("Initialized", True)
    by_name = {s["name"]: s for s in statuses}
    unknown, incomplete = [], []
    for container in inits:
        s = by_name.get(container["name"])
        if s is None:
            unknown.append(container["name"])
        elif podutil.is_sidecar(container):
            if not s.get("started"):
                incomplete.append(container["name"])
        else:
            terminated = (s.get("state") or {}).get("terminated")
            if terminated is None or terminated.get("exitCode", 0) != 0:
                incomplete.append(container["name"])
    if phase == "Succeeded" and not unknown:
        return _condition("Initialized", True, "PodCompleted")
    regular = {c["name"] for c in podutil.containers(pod)}
    if any(
        s.get("name") in regular
        and ("running" in (s.get("state") or {}) or "terminated" in (s.get("state") or {}))
        for s in statuses
    ):
        return _condition("Initialized", True)
    messages = []
    if unknown:
        messages.append(f"containers with unknown status: {_names(unknown)}")
    if incomplete:
        messages.append(f"containers with incomplete status: {_names(incomplete)}")
    if messages:
        return _condition("Initialized", False, "ContainersNotInitialized", ", ".join(messages))
    return _condition("Initialized", True)


def _containers_ready(pod: Obj, statuses: list[Obj], phase: str) -> Obj:
    by_name = {s["name"]: s for s in statuses}
    unknown, unready = [], []
    watched = [c for c in podutil.init_containers(pod) if podutil.is_sidecar(c)]
    for container in watched + podutil.containers(pod):
        s = by_name.get(container["name"])
        if s is None:
            unknown.append(container["name"])
        elif not s.get("ready"):
            unready.append(container["name"])
    if phase == "Succeeded" and not unknown:
        return _condition("ContainersReady", False, "PodCompleted")
    messages = []
    if unknown:
        messages.append(f"containers with unknown status: {_names(unknown)}")
    if unready:
        messages.append(f"containers with unready status: {_names(unready)}")
    if messages:
        return _condition("ContainersReady", False, "ContainersNotReady", ", ".join(messages))
    return _condition("ContainersReady", True)


def _ready(pod: Obj, conditions: list[Obj], statuses: list[Obj], phase: str) -> Obj:
    containers_ready = _containers_ready(pod, statuses, phase)
    if containers_ready["status"] != "True":
        return {**containers_ready, "type": "Ready"}
    messages = []
    by_type = {c.get("type"): c for c in conditions}
    for gate in pod.get("spec", {}).get("readinessGates") or []:
        kind = gate.get("conditionType")
        found = by_type.get(kind)
        if found is None:
            messages.append(
                f'corresponding condition of pod readiness gate "{kind}" does not exist.'
            )
        elif found.get("status") != "True":
            seen = found.get("status")
            messages.append(f'the status of pod readiness gate "{kind}" is not "True", but {seen}')
    if messages:
        return _condition("Ready", False, "ReadinessGatesNotReady", ", ".join(messages))
    return _condition("Ready", True)


def refresh_readiness(pod: Obj, status: Obj, now_ns: int) -> Obj:
    """``status`` with Ready and ContainersReady recomputed from its containers' ``ready``.

    A readiness result changes these at once, even while the pod's worker is busy (stopping
    the pod within its grace period): upstream's prober writes readiness straight into the
    status manager for the same reason — an app failing readiness on SIGTERM must leave its
    Services' endpoints before it exits.
    """
    every = (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or [])
    phase = str(status.get("phase") or "Pending")
    conditions = list(status.get("conditions") or [])
    foreign = [c for c in conditions if c.get("type") not in (*KUBELET_CONDITIONS, "PodScheduled")]
    fresh = {
        "Ready": _ready(pod, foreign, every, phase),
        "ContainersReady": _containers_ready(pod, every, phase),
    }
    now = rfc3339(now_ns)
    updated = [
        _transition(fresh[c["type"]], status, now) if c.get("type") in fresh else c
        for c in conditions
    ]
    return {**status, "conditions": updated}
