"""The container runtime interface: CRI v1's RuntimeService and ImageService, in Python.

The kubelet drives containers only through these two protocols, as upstream's kubelet drives
containerd or CRI-O only through CRI's gRPC services (k8s.io/cri-api runtime/v1/api.proto), so that
the process runtime (the default), runc and containerd are interchangeable behind them. The
messages keep CRI's names and meaning, in snake_case; times are nanoseconds since the epoch, as in
CRI. A call the runtime refuses raises ``RuntimeError_`` with a gRPC-like ``code`` ("NotFound",
"InvalidArgument", "Unimplemented", "Internal", ...) and a message the kubelet shows in a
container's Waiting state or an event.

``fake.py`` beside this module is an in-memory implementation for unit tests.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol


class RuntimeError_(Exception):
    """A CRI call that failed; ``code`` names the failure as gRPC status codes do."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def not_found(what: str) -> RuntimeError_:
    return RuntimeError_("NotFound", f"{what} not found")


class SandboxState(enum.Enum):
    READY = "SANDBOX_READY"
    NOTREADY = "SANDBOX_NOTREADY"


class ContainerState(enum.Enum):
    CREATED = "CONTAINER_CREATED"
    RUNNING = "CONTAINER_RUNNING"
    EXITED = "CONTAINER_EXITED"
    UNKNOWN = "CONTAINER_UNKNOWN"


@dataclass(frozen=True)
class KeyValue:
    key: str
    value: str


@dataclass(frozen=True)
class PodSandboxMetadata:
    name: str
    uid: str
    namespace: str
    attempt: int = 0


@dataclass(frozen=True)
class PortMapping:
    """A hostPort of one of the pod's containers (CNI's portmap plugin wires it)."""

    container_port: int
    host_port: int
    protocol: str = "TCP"  # TCP, UDP or SCTP
    host_ip: str = ""


@dataclass(frozen=True)
class DNSConfig:
    servers: tuple[str, ...] = ()
    searches: tuple[str, ...] = ()
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class LinuxContainerResources:
    """cgroup settings of a container (or of a pod's sandbox: its overhead)."""

    cpu_period: int = 0  # CFS period in microseconds, 0 = runtime default
    cpu_quota: int = 0  # CFS quota in microseconds per period, 0 = unlimited
    cpu_shares: int = 0  # relative weight, 0 = runtime default
    memory_limit_in_bytes: int = 0  # 0 = unlimited
    pids_limit: int = 0  # 0 = unlimited


@dataclass(frozen=True)
class PodSandboxConfig:
    metadata: PodSandboxMetadata
    hostname: str = ""
    log_directory: str = ""  # where the pod's container logs go (<root>/pods/<ns>_<name>_<uid>)
    dns_config: DNSConfig = field(default_factory=DNSConfig)
    port_mappings: tuple[PortMapping, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    host_network: bool = False
    cgroup_parent: str = ""  # the pod's cgroup, relative to each controller's root
    resources: LinuxContainerResources | None = None  # the pod's limits (sum of its containers)


@dataclass(frozen=True)
class PodSandbox:
    """One sandbox as ListPodSandbox returns it."""

    id: str
    metadata: PodSandboxMetadata
    state: SandboxState
    created_at: int
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PodSandboxStatus:
    id: str
    metadata: PodSandboxMetadata
    state: SandboxState
    created_at: int
    ip: str = ""  # the pod's IP: its own (CNI) or the host's (host network)
    additional_ips: tuple[str, ...] = ()
    host_network: bool = False
    netns_path: str = ""  # "" on the host network
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PodSandboxFilter:
    id: str = ""
    state: SandboxState | None = None
    label_selector: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ImageSpec:
    image: str


@dataclass(frozen=True)
class Mount:
    """A volume directory the container sees at ``container_path``."""

    container_path: str
    host_path: str
    readonly: bool = False
    sub_path: str = ""


@dataclass(frozen=True)
class ContainerMetadata:
    name: str
    attempt: int = 0


@dataclass(frozen=True)
class ContainerConfig:
    metadata: ContainerMetadata
    image: ImageSpec
    command: tuple[str, ...] = ()  # the entrypoint (Kubernetes' ``command``)
    args: tuple[str, ...] = ()
    working_dir: str = ""
    envs: tuple[KeyValue, ...] = ()
    mounts: tuple[Mount, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    log_path: str = ""  # relative to the sandbox's log_directory: "<name>/<attempt>.log"
    stdin: bool = False
    stdin_once: bool = False
    tty: bool = False
    resources: LinuxContainerResources | None = None
    run_as_user: int | None = None
    run_as_group: int | None = None


@dataclass(frozen=True)
class Container:
    """One container as ListContainers returns it."""

    id: str
    pod_sandbox_id: str
    metadata: ContainerMetadata
    image: ImageSpec
    image_ref: str
    state: ContainerState
    created_at: int
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ContainerStatus:
    id: str
    metadata: ContainerMetadata
    state: ContainerState
    created_at: int
    started_at: int = 0
    finished_at: int = 0
    exit_code: int = 0
    image: ImageSpec = field(default_factory=lambda: ImageSpec(""))
    image_ref: str = ""
    # "Completed", "Error", "OOMKilled", "StartError", ... when exited; "" otherwise.
    reason: str = ""
    message: str = ""  # e.g. why the start failed
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    mounts: tuple[Mount, ...] = ()
    log_path: str = ""  # absolute
    pid: int = 0  # the container's main process while it runs (0 otherwise)


@dataclass(frozen=True)
class ContainerFilter:
    id: str = ""
    state: ContainerState | None = None
    pod_sandbox_id: str = ""
    label_selector: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ExecSyncResponse:
    stdout: bytes
    stderr: bytes
    exit_code: int


@dataclass(frozen=True)
class StreamRequest:
    """Exec, Attach and PortForward requests (the streaming issue serves them)."""

    container_id: str = ""
    pod_sandbox_id: str = ""
    cmd: tuple[str, ...] = ()
    tty: bool = False
    stdin: bool = False
    stdout: bool = True
    stderr: bool = True
    ports: tuple[int, ...] = ()


@dataclass(frozen=True)
class StreamResponse:
    url: str


@dataclass(frozen=True)
class RuntimeCondition:
    type: str  # "RuntimeReady" or "NetworkReady"
    status: bool
    reason: str = ""
    message: str = ""


@dataclass(frozen=True)
class RuntimeStatus:
    conditions: tuple[RuntimeCondition, ...]
    # What a user should know about how pods run here, e.g. "no root: pods share the host's
    # network and have no cgroup limits"; the kubelet shows it in the node's Ready message.
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class VersionInfo:
    version: str  # CRI API version, "v1"
    runtime_name: str
    runtime_version: str
    runtime_api_version: str = "v1"


@dataclass(frozen=True)
class Image:
    id: str
    repo_tags: tuple[str, ...] = ()
    repo_digests: tuple[str, ...] = ()
    size: int = 0


class RuntimeService(Protocol):
    async def version(self) -> VersionInfo: ...
    async def status(self) -> RuntimeStatus: ...

    async def run_pod_sandbox(self, config: PodSandboxConfig) -> str:
        """Create and start a sandbox (network namespace, pod cgroup); return its id."""
        ...

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        """Stop every container of the sandbox (killing them) and release its network.

        Idempotent: stopping a stopped or missing sandbox succeeds."""
        ...

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        """Remove a stopped sandbox and its containers. Idempotent."""
        ...

    async def pod_sandbox_status(self, sandbox_id: str) -> PodSandboxStatus: ...

    async def list_pod_sandbox(
        self, filter: PodSandboxFilter | None = None
    ) -> list[PodSandbox]: ...

    async def create_container(
        self, sandbox_id: str, config: ContainerConfig, sandbox_config: PodSandboxConfig
    ) -> str:
        """Create (but not start) a container in the sandbox; return its id."""
        ...

    async def start_container(self, container_id: str) -> None: ...

    async def stop_container(self, container_id: str, timeout: float) -> None:
        """SIGTERM the container's processes, SIGKILL them after ``timeout`` seconds (0: at
        once); return when it has exited. Idempotent on exited containers."""
        ...

    async def remove_container(self, container_id: str) -> None:
        """Remove an exited container (its logs stay until the sandbox goes). Idempotent."""
        ...

    async def list_containers(self, filter: ContainerFilter | None = None) -> list[Container]: ...

    async def container_status(self, container_id: str) -> ContainerStatus: ...

    async def exec_sync(
        self, container_id: str, cmd: tuple[str, ...], timeout: float
    ) -> ExecSyncResponse:
        """Run ``cmd`` in the container's context (environment, working directory, network,
        cgroup); kill it after ``timeout`` seconds (0: no limit) and raise
        ``RuntimeError_("DeadlineExceeded", ...)``."""
        ...

    async def exec(self, request: StreamRequest) -> StreamResponse: ...
    async def attach(self, request: StreamRequest) -> StreamResponse: ...
    async def port_forward(self, request: StreamRequest) -> StreamResponse: ...


class ImageService(Protocol):
    async def list_images(self) -> list[Image]: ...
    async def image_status(self, image: ImageSpec) -> Image | None: ...

    async def pull_image(self, image: ImageSpec) -> str:
        """Make the image available; return its reference (image id)."""
        ...

    async def remove_image(self, image: ImageSpec) -> None: ...
