"""A kubelet over the fake runtime, with fakes for the parts that reach outside (unit tests)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from pocketkube.kubelet.backoff import Backoff
from pocketkube.kubelet.kubelet import Kubelet
from pocketkube.kubelet.runtimemanager import ConfigError, RuntimeManager
from pocketkube.kubelet.statusmanager import StatusManager
from pocketkube.kubelet.volumes.manager import VolumeError
from pocketkube.runtime import cri
from pocketkube.runtime.fake import FakeRuntime

Obj = dict[str, Any]


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def ns(self) -> int:
        return int(self.now * 1e9)


@dataclass
class Recorder:
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (type, reason, note)

    def post(self, regarding: Obj, *, type: str, reason: str, action: str, note: str) -> None:
        self.events.append((type, reason, note))

    def reasons(self) -> list[str]:
        return [reason for _, reason, _ in self.events]


class Prober:
    """Ready and started as soon as running (no probes), like a pod without probes."""

    def __init__(self) -> None:
        self.pods: set[str] = set()

    def add_pod(self, pod: Obj) -> None:
        self.pods.add(pod["metadata"]["uid"])

    def remove_pod(self, pod_uid: str) -> None:
        self.pods.discard(pod_uid)

    def set_terminating(self, pod_uid: str) -> None:
        pass

    def cleanup_pods(self, active_uids: object) -> None:
        pass

    def update_pod_status(self, pod: Obj, status: Obj) -> None:
        terminating = bool(pod["metadata"].get("deletionTimestamp"))
        for key in ("initContainerStatuses", "containerStatuses"):
            for s in status.get(key) or []:
                running = "running" in s["state"]
                s["started"] = running
                s["ready"] = running and not terminating


class Volumes:
    def __init__(self) -> None:
        self.mounted: set[str] = set()
        self.fail: str | None = None

    async def mount_pod(self, pod: Obj) -> dict[str, str]:
        if self.fail:
            raise VolumeError([self.fail])
        self.mounted.add(pod["metadata"]["uid"])
        return {}

    async def unmount_pod(self, pod_uid: str) -> None:
        self.mounted.discard(pod_uid)


class Hooks:
    def __init__(self) -> None:
        self.ran: list[tuple[str, str]] = []
        self.fail: str | None = None

    async def run(
        self, handler: Obj, *, pod: Obj, container: Obj, container_id: str, pod_ip: str
    ) -> str | None:
        self.ran.append((container["name"], str(handler)))
        return self.fail


class Configs:
    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    async def sandbox_config(self, pod: Obj, attempt: int) -> cri.PodSandboxConfig:
        meta = pod["metadata"]
        return cri.PodSandboxConfig(
            metadata=cri.PodSandboxMetadata(meta["name"], meta["uid"], meta["namespace"], attempt),
            host_network=bool(pod["spec"].get("hostNetwork")),
            labels={
                "io.kubernetes.pod.uid": meta["uid"],
                "io.kubernetes.pod.name": meta["name"],
                "io.kubernetes.pod.namespace": meta["namespace"],
            },
        )

    async def container_config(
        self, pod: Obj, container: Obj, *, pod_ip: str, restart_count: int
    ) -> cri.ContainerConfig:
        if container["name"] in self.errors:
            raise ConfigError("CreateContainerConfigError", self.errors[container["name"]])
        return cri.ContainerConfig(
            metadata=cri.ContainerMetadata(container["name"], restart_count),
            image=cri.ImageSpec(container.get("image", "")),
            command=tuple(container.get("command") or ["sleep", "1000"]),
        )


class Client:
    def __init__(self) -> None:
        self.patches: list[tuple[str, Obj]] = []
        self.deletes: list[tuple[str, Obj | None]] = []

    async def patch(self, path: str, patch: Obj, **kw: Any) -> Obj:
        self.patches.append((path, copy.deepcopy(patch)))
        return patch

    async def delete(self, path: str, *, body: Obj | None = None, **kw: Any) -> Obj:
        self.deletes.append((path, body))
        return {}


class Pods:
    def __init__(self) -> None:
        self.pods: dict[str, Obj] = {}

    def by_uid(self, uid: str) -> Obj | None:
        return self.pods.get(uid)

    def uids(self) -> list[str]:
        return list(self.pods)


class Harness:
    def __init__(self) -> None:
        self.clock = Clock()
        self.runtime = FakeRuntime(clock=self.clock.ns)
        self.recorder = Recorder()
        self.prober = Prober()
        self.volumes = Volumes()
        self.hooks = Hooks()
        self.configs = Configs()
        self.client = Client()
        self.pods = Pods()
        self.status_manager = StatusManager(client=self.client, api_pod=self.pods.by_uid)
        manager = RuntimeManager(
            runtime=self.runtime,
            images=self.runtime,
            configs=self.configs,
            hooks=self.hooks,
            events=self.recorder,
            backoff=Backoff(clock=self.clock),
            clock=self.clock,
        )
        self.kubelet = Kubelet(
            node_name="node-a",
            host_ip="192.0.2.10",
            pods=self.pods,
            runtime_manager=manager,
            status_manager=self.status_manager,
            prober=self.prober,
            volumes=self.volumes,
            recorder=self.recorder,
            volume_paths={},
            termination_message=lambda record: "",
            clock=self.clock,
        )

    def add(self, pod: Obj) -> Obj:
        self.pods.pods[pod["metadata"]["uid"]] = pod
        return pod

    async def settle(self, uid: str, rounds: int = 10) -> float | None:
        """Sync until the kubelet has nothing more to do now."""
        again: float | None = 0
        for _ in range(rounds):
            again = await self.kubelet.sync(uid)
            if again != 0:
                break
        return again

    def status(self, uid: str) -> Obj:
        status = self.status_manager.get(uid)
        assert status is not None
        return status


def make_pod(
    name: str = "p",
    *,
    uid: str = "uid-1",
    containers: list[Obj] | None = None,
    init: list[Obj] | None = None,
    policy: str = "Always",
    **spec: Any,
) -> Obj:
    return {
        "metadata": {"name": name, "namespace": "default", "uid": uid},
        "spec": {
            "nodeName": "node-a",
            "restartPolicy": policy,
            "containers": containers or [{"name": "a", "image": "busybox", "command": ["sleep"]}],
            "initContainers": init or [],
            **spec,
        },
        "status": {"phase": "Pending"},
    }


def state_of(status: Obj, name: str, key: str = "containerStatuses") -> Obj:
    for s in status.get(key) or []:
        if s["name"] == name:
            return dict(s)
    raise KeyError(name)
