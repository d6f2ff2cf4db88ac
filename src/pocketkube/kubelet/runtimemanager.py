"""Carry out a sync's actions through the CRI (upstream kuberuntime's SyncPod, killPod).

The runtime manager is the only part of the kubelet that changes the runtime: it creates the
sandbox, starts init and app containers (back-off, "image", configuration, create, start,
postStart), kills containers (preStop inside the grace period, then SIGTERM and SIGKILL by the
runtime) and prunes dead instances, keeping the newest one for ``lastState``. Every step is
reported with upstream's event reasons; a step that fails leaves a reason for the container's
Waiting state (``CrashLoopBackOff``, ``CreateContainerConfigError``...) and stops the sync,
which the pod worker retries.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from pocketkube.client.events import EventType
from pocketkube.kubelet import podutil
from pocketkube.kubelet.actions import KillInfo, PodActions, container_hash
from pocketkube.kubelet.backoff import Backoff
from pocketkube.kubelet.podstatus import WaitingReason
from pocketkube.kubelet.podutil import Obj
from pocketkube.kubelet.runtimestate import ContainerRecord, PodRuntimeStatus
from pocketkube.runtime import cri

log = logging.getLogger(__name__)


class ConfigError(Exception):
    """A container's configuration could not be made (a missing ConfigMap key...)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class ContainerConfigs(Protocol):
    """Builds what the runtime needs to create a container (environment, mounts, command)."""

    async def sandbox_config(self, pod: Obj, attempt: int) -> cri.PodSandboxConfig: ...

    async def container_config(
        self, pod: Obj, container: Obj, *, pod_ip: str, restart_count: int
    ) -> cri.ContainerConfig:
        """Raises ``ConfigError``."""
        ...


class Hooks(Protocol):
    async def run(
        self, handler: Obj, *, pod: Obj, container: Obj, container_id: str, pod_ip: str
    ) -> str | None: ...


class Events(Protocol):
    def post(
        self, regarding: Obj, *, type: EventType, reason: str, action: str, note: str
    ) -> None: ...


@dataclass
class SyncResult:
    changed: bool = False  # the runtime was changed: read it again before reporting status
    reasons: dict[str, WaitingReason] = field(default_factory=dict)
    retry_after: float | None = None  # when a back-off ends


def container_ref(pod: Obj, container: Obj | None) -> Obj:
    """What an event about a container regards: the pod, with the container's field path."""
    meta = pod["metadata"]
    ref: Obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "name": meta["name"],
        "namespace": meta.get("namespace", "default"),
        "uid": meta["uid"],
    }
    if meta.get("resourceVersion"):
        ref["resourceVersion"] = meta["resourceVersion"]
    if container is not None:
        where = "initContainers" if _is_init(pod, container["name"]) else "containers"
        ref["fieldPath"] = f"spec.{where}{{{container['name']}}}"
    return ref


def _is_init(pod: Obj, name: str) -> bool:
    return any(c.get("name") == name for c in podutil.init_containers(pod))


class RuntimeManager:
    def __init__(
        self,
        *,
        runtime: cri.RuntimeService,
        images: cri.ImageService,
        configs: ContainerConfigs,
        hooks: Hooks,
        events: Events,
        backoff: Backoff,
        image_note: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.runtime = runtime
        self.images = images
        self.configs = configs
        self.hooks = hooks
        self.events = events
        self.backoff = backoff
        self.image_note = image_note
        self._clock = clock

    # -- sync --------------------------------------------------------------------------------

    async def sync_pod(self, pod: Obj, status: PodRuntimeStatus, actions: PodActions) -> SyncResult:
        result = SyncResult()
        if actions.kill_pod:
            # Upstream kills before every new sandbox; with nothing alive nothing changes.
            result.changed = bool(status.running_containers() or status.ready_sandbox())
            await self.kill_pod(pod, status)
            if not actions.create_sandbox:
                return result
        for container_id, info in actions.containers_to_kill.items():
            record = next((r for r in status.containers if r.id == container_id), None)
            if record is not None:
                result.changed = True
                await self.kill_container(
                    pod, record, info.container, info.message, info.reason, pod_ip=status.ip
                )
        sandbox_id, pod_ip = actions.sandbox_id, status.ip
        if actions.create_sandbox:
            created = await self._create_sandbox(pod, actions.attempt, result)
            if created is None:
                return result  # retried after result.retry_after, not at once
            result.changed = True
            sandbox_id, pod_ip = created
        elif podutil.host_network(pod):
            pod_ip = ""
        for container in actions.init_to_start:
            started = await self._start(pod, container, status, sandbox_id, pod_ip, result)
            if not started and not podutil.is_sidecar(container):
                return result  # the next init container waits for this one
        for container in actions.containers_to_start:
            await self._start(pod, container, status, sandbox_id, pod_ip, result)
        return result

    async def _create_sandbox(
        self, pod: Obj, attempt: int, result: SyncResult
    ) -> tuple[str, str] | None:
        try:
            config = await self.configs.sandbox_config(pod, attempt)
            sandbox_id = await self.runtime.run_pod_sandbox(config)
            sandbox = await self.runtime.pod_sandbox_status(sandbox_id)
        except (cri.RuntimeError_, ConfigError, OSError) as err:
            note = f"Failed to create pod sandbox: {_message(err)}"
            self.events.post(
                container_ref(pod, None),
                type="Warning",
                reason="FailedCreatePodSandBox",
                action="CreatePodSandbox",
                note=note,
            )
            result.retry_after = 2.0
            return None
        return sandbox_id, sandbox.ip

    async def _start(
        self,
        pod: Obj,
        container: Obj,
        status: PodRuntimeStatus,
        sandbox_id: str,
        pod_ip: str,
        result: SyncResult,
    ) -> bool:
        name = container["name"]
        ref = container_ref(pod, container)
        previous = status.latest(name)
        key = f"{podutil.uid(pod)}/{name}"
        exited = next(
            (r for r in status.instances(name) if r.state is cri.ContainerState.EXITED), None
        )
        if exited is not None:
            finished = exited.status.finished_at / 1e9
            if self.backoff.in_backoff_since(key, finished):
                delay = int(self.backoff.delay(key))
                self.events.post(
                    ref,
                    type="Warning",
                    reason="BackOff",
                    action="StartContainer",
                    note=f"Back-off restarting failed container {name} in pod "
                    f"{podutil.full_name(pod)}",
                )
                result.reasons[name] = WaitingReason(
                    "CrashLoopBackOff",
                    f"back-off {_duration(delay)} restarting failed container={name} "
                    f"pod={podutil.full_name(pod)}",
                )
                remaining = self.backoff.remaining(key, finished)
                result.retry_after = min(result.retry_after or remaining, remaining)
                return False
            self.backoff.next(key, finished)
        image = str(container.get("image", ""))
        await self.images.pull_image(cri.ImageSpec(image))
        self.events.post(
            ref,
            type="Normal",
            reason="Pulled",
            action="Pulling",
            note=f'Container image "{image}" already present on machine{self.image_note}',
        )
        restart_count = previous.restart_count + 1 if previous is not None else 0
        try:
            config = await self.configs.container_config(
                pod, container, pod_ip=pod_ip, restart_count=restart_count
            )
        except ConfigError as err:
            self._failed(ref, name, err.reason, err.message, result)
            return False
        try:
            config = _annotated(config, pod, container, restart_count)
            sandbox_config = await self.configs.sandbox_config(pod, 0)
            container_id = await self.runtime.create_container(sandbox_id, config, sandbox_config)
        except cri.RuntimeError_ as err:
            self._failed(ref, name, "CreateContainerError", err.message, result)
            return False
        result.changed = True
        self.events.post(
            ref,
            type="Normal",
            reason="Created",
            action="Created",
            note=f"Created container: {name}",
        )
        try:
            await self.runtime.start_container(container_id)
        except cri.RuntimeError_ as err:
            self._failed(ref, name, "RunContainerError", err.message, result)
            return False
        self.events.post(
            ref, type="Normal", reason="Started", action="Started", note=f"Started container {name}"
        )
        await self._prune(status, name)
        post_start = ((container.get("lifecycle") or {}).get("postStart")) or None
        if post_start:
            failure = await self.hooks.run(
                post_start, pod=pod, container=container, container_id=container_id, pod_ip=pod_ip
            )
            if failure is not None:
                # As upstream: the hook's output stays out of the event (it may hold secrets);
                # the container's Waiting message has it.
                self.events.post(
                    ref,
                    type="Warning",
                    reason="FailedPostStartHook",
                    action="PostStartHook",
                    note="PostStartHook failed",
                )
                record = await self._record(container_id, sandbox_id)
                if record is not None:
                    await self.kill_container(pod, record, container, "FailedPostStartHook", "")
                result.reasons[name] = WaitingReason("PostStartHookError", failure)
                return False
        return True

    def _failed(self, ref: Obj, name: str, reason: str, message: str, result: SyncResult) -> None:
        self.events.post(
            ref, type="Warning", reason="Failed", action="Failed", note=f"Error: {message}"
        )
        result.reasons[name] = WaitingReason(reason, message)
        result.retry_after = min(result.retry_after or 10.0, 10.0)

    async def _record(self, container_id: str, sandbox_id: str) -> ContainerRecord | None:
        try:
            return ContainerRecord(
                status=await self.runtime.container_status(container_id), sandbox_id=sandbox_id
            )
        except cri.RuntimeError_:
            return None

    async def _prune(self, status: PodRuntimeStatus, name: str) -> None:
        """Keep the newest dead instance of a container (its ``lastState``), remove the rest."""
        dead = [r for r in status.instances(name) if r.state is cri.ContainerState.EXITED]
        for record in dead[1:]:
            try:
                await self.runtime.remove_container(record.id)
            except cri.RuntimeError_ as err:
                log.warning("removing container %s: %s", record.id, err)

    # -- kill --------------------------------------------------------------------------------

    async def kill_pod(
        self, pod: Obj, status: PodRuntimeStatus, grace_override: int | None = None
    ) -> None:
        """Stop every running container at once (each within its grace), then the sandbox."""
        running = status.running_containers()
        async with asyncio.TaskGroup() as group:
            for record in running:
                spec = podutil.container_spec(pod, record.name)
                group.create_task(
                    self.kill_container(
                        pod, record, spec, "", "", grace_override=grace_override, pod_ip=status.ip
                    )
                )
        for sandbox in status.sandboxes:
            if sandbox.state is cri.SandboxState.READY:
                try:
                    await self.runtime.stop_pod_sandbox(sandbox.id)
                except cri.RuntimeError_ as err:
                    log.warning("stopping sandbox %s: %s", sandbox.id, err)

    async def kill_container(
        self,
        pod: Obj,
        record: ContainerRecord,
        container: Obj | None,
        message: str,
        reason: str,
        *,
        grace_override: int | None = None,
        pod_ip: str = "",
    ) -> None:
        grace = _grace(pod, container, reason) if grace_override is None else grace_override
        note = message or f"Stopping container {record.name}"
        self.events.post(
            container_ref(pod, container),
            type="Normal",
            reason="Killing",
            action="Killing",
            note=note,
        )
        pre_stop = ((container or {}).get("lifecycle") or {}).get("preStop")
        if pre_stop and grace > 0 and container is not None:
            started = self._clock()
            try:
                failure = await asyncio.wait_for(
                    self.hooks.run(
                        pre_stop,
                        pod=pod,
                        container=container,
                        container_id=record.id,
                        pod_ip=pod_ip,
                    ),
                    timeout=grace,
                )
            except TimeoutError:
                failure = None
            if failure is not None:
                self.events.post(
                    container_ref(pod, container),
                    type="Warning",
                    reason="FailedPreStopHook",
                    action="PreStopHook",
                    note="PreStopHook failed",  # the output stays out of events, as upstream
                )
                log.info("preStop hook of %s failed: %s", podutil.full_name(pod), failure)
            grace -= int(self._clock() - started)
        if grace_override is None and grace < podutil.MINIMUM_GRACE_SECONDS and _graceful(pod):
            grace = podutil.MINIMUM_GRACE_SECONDS
        try:
            await self.runtime.stop_container(record.id, float(max(grace, 0)))
        except cri.RuntimeError_ as err:
            log.warning("stopping container %s: %s", record.id, err)

    async def remove_pod(self, status: PodRuntimeStatus) -> None:
        """Remove the pod's containers and sandboxes (after it has been stopped)."""
        for sandbox in status.sandboxes:
            try:
                await self.runtime.stop_pod_sandbox(sandbox.id)
                await self.runtime.remove_pod_sandbox(sandbox.id)
            except cri.RuntimeError_ as err:
                log.warning("removing sandbox %s: %s", sandbox.id, err)


def _graceful(pod: Obj) -> bool:
    """A deletion with grace 0 kills at once; everything else gets at least 2 s."""
    return podutil.grace_period(pod) > 0


def _grace(pod: Obj, container: Obj | None, reason: str) -> int:
    grace = podutil.grace_period(pod)
    if podutil.is_terminating(pod) or container is None:
        return grace
    probe = {"Liveness": "livenessProbe", "Startup": "startupProbe"}.get(reason)
    if probe:
        override = (container.get(probe) or {}).get("terminationGracePeriodSeconds")
        if override is not None:
            return max(0, int(override))
    return grace


def _annotated(
    config: cri.ContainerConfig, pod: Obj, container: Obj, restart_count: int
) -> cri.ContainerConfig:
    """The labels and annotations that let a restarted kubelet recognise the container."""
    meta = pod["metadata"]
    labels = {
        **config.labels,
        podutil.POD_NAME_LABEL: meta["name"],
        podutil.POD_NAMESPACE_LABEL: meta.get("namespace", "default"),
        podutil.POD_UID_LABEL: meta["uid"],
        podutil.CONTAINER_NAME_LABEL: container["name"],
    }
    annotations = {
        **config.annotations,
        podutil.CONTAINER_HASH_ANNOTATION: container_hash(container),
        podutil.RESTART_COUNT_ANNOTATION: str(restart_count),
        podutil.TERMINATION_MESSAGE_PATH_ANNOTATION: str(
            container.get("terminationMessagePath") or "/dev/termination-log"
        ),
        podutil.TERMINATION_MESSAGE_POLICY_ANNOTATION: str(
            container.get("terminationMessagePolicy") or "File"
        ),
        podutil.TERMINATION_GRACE_ANNOTATION: str(podutil.grace_period(pod)),
    }
    return dataclasses.replace(
        config,
        metadata=cri.ContainerMetadata(container["name"], restart_count),
        labels=labels,
        annotations=annotations,
    )


def _duration(seconds: int) -> str:
    """Go's time.Duration text for whole seconds: 10s, 1m20s, 5m0s."""
    if seconds < 60:
        return f"{seconds}s"
    return f"{seconds // 60}m{seconds % 60}s"


def _message(err: BaseException) -> str:
    return err.message if isinstance(err, cri.RuntimeError_ | ConfigError) else str(err)


__all__ = ["ConfigError", "ContainerConfigs", "KillInfo", "RuntimeManager", "SyncResult"]
