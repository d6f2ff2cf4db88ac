"""What the runtime holds for a pod: its sandboxes and containers (kubecontainer.PodStatus).

The kubelet keeps no container state of its own that it could lose: every sync reads the
pod's sandboxes and containers back from the runtime, found by the pod-uid label the kubelet
put on them. Restart counts and spec hashes travel as container annotations, so a kubelet
restarted after a crash sees exactly what the last one left.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from pocketkube.kubelet import podutil
from pocketkube.runtime import cri


@dataclass(frozen=True)
class ContainerRecord:
    """One container instance of a pod, as the runtime reports it."""

    status: cri.ContainerStatus
    sandbox_id: str

    @property
    def id(self) -> str:
        return self.status.id

    @property
    def name(self) -> str:
        return self.status.labels.get(podutil.CONTAINER_NAME_LABEL, self.status.metadata.name)

    @property
    def state(self) -> cri.ContainerState:
        return self.status.state

    @property
    def restart_count(self) -> int:
        raw = self.status.annotations.get(podutil.RESTART_COUNT_ANNOTATION, "0")
        return int(raw) if raw.isdigit() else 0

    @property
    def hash(self) -> str:
        return self.status.annotations.get(podutil.CONTAINER_HASH_ANNOTATION, "")

    @property
    def running(self) -> bool:
        return self.status.state is cri.ContainerState.RUNNING


@dataclass
class PodRuntimeStatus:
    uid: str
    name: str = ""
    namespace: str = ""
    sandboxes: list[cri.PodSandboxStatus] = field(default_factory=list)  # newest first
    containers: list[ContainerRecord] = field(default_factory=list)  # newest first

    @property
    def ip(self) -> str:
        for sandbox in self.sandboxes:
            if sandbox.state is cri.SandboxState.READY:
                return sandbox.ip
        return ""

    def latest(self, name: str) -> ContainerRecord | None:
        """The newest instance of the container called ``name``."""
        for record in self.containers:
            if record.name == name:
                return record
        return None

    def instances(self, name: str) -> list[ContainerRecord]:
        return [record for record in self.containers if record.name == name]

    def running_containers(self) -> list[ContainerRecord]:
        return [record for record in self.containers if record.running]

    def ready_sandbox(self) -> cri.PodSandboxStatus | None:
        for sandbox in self.sandboxes:
            if sandbox.state is cri.SandboxState.READY:
                return sandbox
        return None

    @property
    def empty(self) -> bool:
        return not self.sandboxes and not self.containers


async def inspect(
    runtime: cri.RuntimeService, uid: str | None = None
) -> dict[str, PodRuntimeStatus]:
    """Every pod the runtime knows (or only the pod ``uid``), by pod uid."""
    selector = {podutil.POD_UID_LABEL: uid} if uid else {}
    sandboxes = await runtime.list_pod_sandbox(cri.PodSandboxFilter(label_selector=selector))
    containers = await runtime.list_containers(cri.ContainerFilter(label_selector=selector))
    pods: dict[str, PodRuntimeStatus] = {}
    for sandbox in sandboxes:
        pod_uid = sandbox.labels.get(podutil.POD_UID_LABEL)
        if not pod_uid:
            continue  # not ours: the kubelet manages only what it created
        try:
            status = await runtime.pod_sandbox_status(sandbox.id)
        except cri.RuntimeError_:
            continue
        pod = pods.setdefault(pod_uid, PodRuntimeStatus(uid=pod_uid))
        pod.name = sandbox.labels.get(podutil.POD_NAME_LABEL, sandbox.metadata.name)
        pod.namespace = sandbox.labels.get(podutil.POD_NAMESPACE_LABEL, sandbox.metadata.namespace)
        pod.sandboxes.append(status)
    for container in containers:
        pod_uid = container.labels.get(podutil.POD_UID_LABEL)
        if not pod_uid:
            continue
        try:
            cstatus = await runtime.container_status(container.id)
        except cri.RuntimeError_:
            continue
        pod = pods.setdefault(pod_uid, PodRuntimeStatus(uid=pod_uid))
        pod.containers.append(ContainerRecord(status=cstatus, sandbox_id=container.pod_sandbox_id))
    for pod in pods.values():
        pod.sandboxes.sort(key=lambda s: s.created_at, reverse=True)
        pod.containers.sort(key=lambda c: c.status.created_at, reverse=True)
    if uid and uid not in pods:
        pods[uid] = PodRuntimeStatus(uid=uid)
    return pods


def changed(old: PodRuntimeStatus | None, new: PodRuntimeStatus) -> bool:
    """Whether a relist saw the pod's containers or sandboxes change state (a PLEG event)."""
    if old is None:
        return not new.empty
    return _fingerprint(old.containers, old.sandboxes) != _fingerprint(
        new.containers, new.sandboxes
    )


def _fingerprint(
    containers: Iterable[ContainerRecord], sandboxes: Iterable[cri.PodSandboxStatus]
) -> tuple[object, ...]:
    return (
        tuple((c.id, c.state, c.status.finished_at) for c in containers),
        tuple((s.id, s.state) for s in sandboxes),
    )
