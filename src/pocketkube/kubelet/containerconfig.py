"""The CRI configuration of a pod's sandbox and containers (upstream kuberuntime's
generatePodSandboxConfig and generateContainerConfig).

It turns the API's pod into what the runtime takes: the sandbox's labels (which tie runtime
records back to the pod), host ports, cgroup parent and limits; each container's command and
args with ``$(VAR)`` expanded, its environment (``envvars.py``), its mounts (``volumes/``) plus
the termination-message file, its log path (``<log dir>/<container>/<restart>.log``, as
upstream lays out /var/log/pods) and its cgroup limits. Errors in the environment or mounts
become ``ConfigError`` with upstream's ``CreateContainerConfigError`` wording.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from pocketkube.api.quantity import milli_value, value
from pocketkube.kubelet import podutil
from pocketkube.kubelet.envvars import EnvError, make_environment
from pocketkube.kubelet.envvars import expand_command as expand
from pocketkube.kubelet.podutil import Obj
from pocketkube.kubelet.runtimemanager import ConfigError
from pocketkube.kubelet.volumes.mounts import container_mounts
from pocketkube.kubelet.volumes.source import VolumeSource
from pocketkube.runtime import cri

CPU_PERIOD = 100_000  # microseconds, as upstream's CFS period
MIN_SHARES = 2
SHARES_PER_CPU = 1024

Warn = Callable[[Obj, str, str], None]  # (pod, reason, message) -> a Warning event


def log_directory(root_dir: Path, pod: Obj) -> Path:
    meta = pod["metadata"]
    return root_dir / "logs" / f"{meta.get('namespace', 'default')}_{meta['name']}_{meta['uid']}"


def termination_log(root_dir: Path, pod_uid: str, container: str, restart_count: int) -> Path:
    return root_dir / "pods" / pod_uid / "containers" / container / f"{restart_count}.termination"


class KubeletContainerConfigs:
    def __init__(
        self,
        *,
        root_dir: Path,
        node_name: str,
        host_ip: str,
        source: VolumeSource,
        services: Callable[[], Iterable[Obj] | None],
        node_allocatable: Callable[[], Mapping[str, object]],
        volume_paths: Mapping[str, Mapping[str, str]],
        warn: Warn | None = None,
    ) -> None:
        self.root_dir = root_dir
        self.node_name = node_name
        self.host_ip = host_ip
        self.source = source
        self.services = services
        self.node_allocatable = node_allocatable
        self.volume_paths = volume_paths
        self.warn = warn

    async def sandbox_config(self, pod: Obj, attempt: int) -> cri.PodSandboxConfig:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        ports = tuple(
            cri.PortMapping(
                container_port=int(port["containerPort"]),
                host_port=int(port["hostPort"]),
                protocol=str(port.get("protocol") or "TCP"),
                host_ip=str(port.get("hostIP") or ""),
            )
            for container in podutil.all_containers(pod)
            for port in container.get("ports") or []
            if port.get("hostPort")
        )
        labels = {
            **(meta.get("labels") or {}),
            podutil.POD_NAME_LABEL: meta["name"],
            podutil.POD_NAMESPACE_LABEL: meta.get("namespace", "default"),
            podutil.POD_UID_LABEL: meta["uid"],
        }
        return cri.PodSandboxConfig(
            metadata=cri.PodSandboxMetadata(
                meta["name"], meta["uid"], meta.get("namespace", "default"), attempt
            ),
            hostname=str(spec.get("hostname") or meta["name"])[:63],
            log_directory=str(log_directory(self.root_dir, pod)),
            port_mappings=ports,
            labels=labels,
            annotations=dict(meta.get("annotations") or {}),
            host_network=podutil.host_network(pod),
            cgroup_parent=f"pocketkube/pod{meta['uid']}",
        )

    async def container_config(
        self, pod: Obj, container: Obj, *, pod_ip: str, restart_count: int
    ) -> cri.ContainerConfig:
        uid = podutil.uid(pod)
        try:
            env = await make_environment(
                pod,
                container,
                source=self.source,
                pod_ip=pod_ip or (self.host_ip if podutil.host_network(pod) else ""),
                host_ip=self.host_ip,
                node_name=self.node_name,
                services=self.services(),
                node_allocatable=self.node_allocatable(),
                warn=self._warner(pod),
            )
            mounts = container_mounts(pod, container, self.volume_paths.get(uid, {}), env=env)
        except EnvError as err:
            raise ConfigError("CreateContainerConfigError", err.message) from None
        command, args = expand(container.get("command") or [], container.get("args") or [], env)
        message_file = termination_log(self.root_dir, uid, container["name"], restart_count)
        message_file.parent.mkdir(parents=True, exist_ok=True)
        message_file.write_bytes(b"")
        message_path = str(container.get("terminationMessagePath") or "/dev/termination-log")
        mounts.append(cri.Mount(container_path=message_path, host_path=str(message_file)))
        config = cri.ContainerConfig(
            metadata=cri.ContainerMetadata(container["name"], restart_count),
            image=cri.ImageSpec(str(container.get("image") or "")),
            command=tuple(command),
            args=tuple(args),
            working_dir=str(container.get("workingDir") or ""),
            envs=tuple(cri.KeyValue(k, v) for k, v in env),
            mounts=tuple(mounts),
            log_path=f"{container['name']}/{restart_count}.log",
            stdin=bool(container.get("stdin")),
            stdin_once=bool(container.get("stdinOnce")),
            tty=bool(container.get("tty")),
            resources=container_resources(container),
            annotations={podutil.TERMINATION_LOG_ANNOTATION: str(message_file)},
        )
        user = ((container.get("securityContext") or {}).get("runAsUser")) or (
            (pod.get("spec", {}).get("securityContext") or {}).get("runAsUser")
        )
        if user is not None:
            config = dataclasses.replace(config, run_as_user=int(user))
        return config

    def _warner(self, pod: Obj) -> Callable[[str, str], None] | None:
        warn = self.warn
        if warn is None:
            return None
        return lambda reason, note: warn(pod, reason, note)


def container_resources(container: Obj) -> cri.LinuxContainerResources:
    """cgroup settings from requests and limits (upstream's milliCPUToShares/Quota)."""
    resources = container.get("resources") or {}
    limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
    cpu_request = requests.get("cpu", limits.get("cpu"))
    shares = (
        max(MIN_SHARES, milli_value(cpu_request) * SHARES_PER_CPU // 1000)
        if cpu_request is not None
        else MIN_SHARES
    )
    quota = 0
    if "cpu" in limits:
        quota = max(1000, milli_value(limits["cpu"]) * CPU_PERIOD // 1000)
    memory = value(limits["memory"]) if "memory" in limits else 0
    return cri.LinuxContainerResources(
        cpu_period=CPU_PERIOD if quota else 0,
        cpu_quota=quota,
        cpu_shares=shares,
        memory_limit_in_bytes=memory,
    )
