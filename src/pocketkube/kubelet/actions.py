"""What a sync must do to a pod's containers (upstream kuberuntime's computePodActions).

A pure function of the pod's spec and what the runtime holds: it decides whether the sandbox
must be (re)created, which init container runs next (one at a time, in order; sidecars — init
containers with ``restartPolicy: Always`` — keep running beside the app), which app containers
start or restart by the restart-policy table, and which running containers are killed (failed
liveness or startup probes, a changed spec). Back-off is not decided here: the runtime manager
applies it when it starts a container, so a crash-looping container shows ``CrashLoopBackOff``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from pocketkube.kubelet import podutil
from pocketkube.kubelet.podutil import Obj
from pocketkube.kubelet.runtimestate import ContainerRecord, PodRuntimeStatus
from pocketkube.runtime import cri

LIVENESS_REASON = "Liveness"
STARTUP_REASON = "Startup"


@dataclass(frozen=True)
class KillInfo:
    name: str
    container: Obj | None
    message: str
    reason: str = ""  # "Liveness" / "Startup" pick the probe's grace period


@dataclass
class PodActions:
    kill_pod: bool = False
    create_sandbox: bool = False
    sandbox_id: str = ""
    attempt: int = 0
    init_to_start: list[Obj] = field(default_factory=list)
    containers_to_start: list[Obj] = field(default_factory=list)
    containers_to_kill: dict[str, KillInfo] = field(default_factory=dict)

    @property
    def nothing(self) -> bool:
        return not (
            self.kill_pod
            or self.create_sandbox
            or self.init_to_start
            or self.containers_to_start
            or self.containers_to_kill
        )


# A probe verdict on a running container: ``"Liveness"`` or ``"Startup"`` when it failed.
ProbeVerdict = Callable[[str], str | None]
Started = Callable[[str], bool]


def container_hash(container: Obj) -> str:
    """A digest of the container's spec: a changed spec restarts the container."""
    return hashlib.sha256(orjson.dumps(container, option=orjson.OPT_SORT_KEYS)).hexdigest()[:8]


def should_be_restarted(pod: Obj, container: Obj, status: PodRuntimeStatus) -> bool:
    """Whether a container that is not running should be (re)started now."""
    if podutil.is_terminating(pod):
        return False
    record = status.latest(container["name"])
    if record is None:
        return True
    if record.state is cri.ContainerState.RUNNING:
        return False
    if record.state in (cri.ContainerState.UNKNOWN, cri.ContainerState.CREATED):
        return True
    return podutil.should_restart(pod, container, record.status.exit_code)


def compute(
    pod: Obj, status: PodRuntimeStatus, *, probe_failed: ProbeVerdict, started: Started
) -> PodActions:
    changed, attempt, sandbox_id = _sandbox_changed(pod, status)
    actions = PodActions(kill_pod=changed, create_sandbox=changed, sandbox_id=sandbox_id)
    actions.attempt = attempt
    if changed:
        if podutil.restart_policy(pod) == "Never" and attempt and status.containers:
            actions.create_sandbox = False  # it ran once; a Never pod does not run again
            return actions
        actions.containers_to_start = [
            c
            for c in podutil.containers(pod)
            if not (
                podutil.restart_policy(pod) == "OnFailure" and _succeeded(status.latest(c["name"]))
            )
        ]
        if not actions.containers_to_start:
            actions.create_sandbox = False
            return actions
        inits = podutil.init_containers(pod)
        if inits:
            actions.init_to_start = [inits[0]]
            actions.containers_to_start = []
        return actions

    if not _init_actions(pod, status, actions, probe_failed, started) or actions.kill_pod:
        return actions

    keep = 0
    for container in podutil.containers(pod):
        record = status.latest(container["name"])
        if record is None or not record.running:
            if should_be_restarted(pod, container, status):
                actions.containers_to_start.append(container)
                if record is not None and record.state is cri.ContainerState.UNKNOWN:
                    actions.containers_to_kill[record.id] = KillInfo(
                        container["name"], container, "Container is in unknown state"
                    )
            continue
        if _check_running(pod, container, record, actions, probe_failed):
            keep += 1
    if keep == 0 and not actions.containers_to_start:
        actions.kill_pod = True  # every app container is done: sidecars and sandbox go too
    return actions


def _check_running(
    pod: Obj,
    container: Obj,
    record: ContainerRecord,
    actions: PodActions,
    probe_failed: ProbeVerdict,
) -> bool:
    """Keep a running container (True) or schedule its kill, and restart if the policy says."""
    name = container["name"]
    restart = podutil.restart_policy(pod) != "Never" or podutil.is_sidecar(container)
    reason = ""
    if record.hash and record.hash != container_hash(container):
        message = f"Container {name} definition changed"
        restart = True
    else:
        verdict = probe_failed(record.id)
        if verdict == LIVENESS_REASON:
            message, reason = f"Container {name} failed liveness probe", LIVENESS_REASON
        elif verdict == STARTUP_REASON:
            message, reason = f"Container {name} failed startup probe", STARTUP_REASON
        else:
            return True
    if restart:
        message += ", will be restarted"
        target = actions.init_to_start if podutil.is_sidecar(container) else None
        (target if target is not None else actions.containers_to_start).append(container)
    actions.containers_to_kill[record.id] = KillInfo(name, container, message, reason)
    return False


def _init_actions(
    pod: Obj,
    status: PodRuntimeStatus,
    actions: PodActions,
    probe_failed: ProbeVerdict,
    started: Started,
) -> bool:
    """Plan the init containers; True when the pod is initialized (app containers may run)."""
    regular_created = any(status.latest(c["name"]) for c in podutil.containers(pod))
    for container in podutil.init_containers(pod):
        record = status.latest(container["name"])
        if podutil.is_sidecar(container):
            if record is None or not record.running:
                if not podutil.is_terminating(pod):
                    actions.init_to_start.append(container)
                if not regular_created:
                    return False  # the next init container waits for this one to start
                continue
            if not _check_running(pod, container, record, actions, probe_failed):
                continue
            if not regular_created and not started(record.id):
                return False  # a sidecar with a startup probe gates what follows it
            continue
        if regular_created:
            continue  # initialization is over; regular init containers never run again
        if record is None:
            actions.init_to_start.append(container)
            return False
        if record.running:
            return False
        if record.state is cri.ContainerState.EXITED and record.status.exit_code == 0:
            continue
        if podutil.restart_policy(pod) == "Never":
            actions.kill_pod = True  # a failed init container fails a Never pod
            return False
        if record.state is cri.ContainerState.UNKNOWN:
            actions.containers_to_kill[record.id] = KillInfo(
                container["name"], container, "Init container is in unknown state"
            )
        actions.init_to_start.append(container)
        return False
    return True


def _sandbox_changed(pod: Obj, status: PodRuntimeStatus) -> tuple[bool, int, str]:
    """Whether the pod needs a new sandbox, the attempt number, and the current sandbox id."""
    if not status.sandboxes:
        return True, 0, ""
    ready = [s for s in status.sandboxes if s.state is cri.SandboxState.READY]
    newest = status.sandboxes[0]
    if len(ready) > 1 or newest.state is not cri.SandboxState.READY:
        return True, newest.metadata.attempt + 1, newest.id
    if newest.host_network != podutil.host_network(pod):
        return True, newest.metadata.attempt + 1, newest.id
    if not newest.host_network and not newest.ip:
        return True, newest.metadata.attempt + 1, newest.id
    return False, newest.metadata.attempt, newest.id


def _succeeded(record: ContainerRecord | None) -> bool:
    return (
        record is not None
        and record.state is cri.ContainerState.EXITED
        and record.status.exit_code == 0
    )
