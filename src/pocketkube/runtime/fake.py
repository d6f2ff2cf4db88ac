"""An in-memory container runtime for unit tests of the kubelet.

It keeps sandboxes and containers as records and never starts a process: a test drives a
container's life with ``exit(container_id, code)`` and inspects the calls it saw in ``calls``.
``streams`` (``FakeStreams``) is a streaming ``Provider`` answering from the same records, and
Exec/Attach/PortForward return URLs of a real streaming server over it (closed by ``aclose``).
Like the real runtimes it refuses to start a container twice, to create containers in a stopped
sandbox, or to create one without a command (the process runtime's rule).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import itertools
import time
from collections.abc import AsyncIterator, Callable, Sequence

from pocketkube.runtime import cri
from pocketkube.runtime.streaming.provider import ExitCode, Output, TerminalSize
from pocketkube.runtime.streaming.server import StreamingServer


@dataclasses.dataclass
class _Sandbox:
    config: cri.PodSandboxConfig
    state: cri.SandboxState
    created_at: int
    ip: str


@dataclasses.dataclass
class _Container:
    sandbox_id: str
    config: cri.ContainerConfig
    state: cri.ContainerState
    created_at: int
    started_at: int = 0
    finished_at: int = 0
    exit_code: int = 0
    reason: str = ""
    message: str = ""


class FakeRuntime:
    """Both CRI services, in memory."""

    def __init__(self, *, clock: Callable[[], int] = time.time_ns) -> None:
        self._clock = clock
        self._ids = itertools.count(1)
        self.sandboxes: dict[str, _Sandbox] = {}
        self.containers: dict[str, _Container] = {}
        self.images: dict[str, cri.Image] = {}
        self.calls: list[tuple[str, str]] = []  # (method, id or name)
        self.exec_results: dict[tuple[str, ...], cri.ExecSyncResponse] = {}
        self.start_errors: dict[str, str] = {}  # container name -> message of a failed start
        self.sandbox_errors: dict[str, str] = {}  # pod name -> message of a failed sandbox
        self.notes: tuple[str, ...] = ()
        self.attach_output: dict[str, bytes] = {}  # container id -> what attach shows
        self.port_targets: dict[int, tuple[str, int]] = {}  # pod port -> where it connects
        self.streams = FakeStreams(self)
        self._streaming: StreamingServer | None = None
        self._last = 0

    def _now(self) -> int:
        """The clock, made strictly increasing (real runtimes order containers by creation)."""
        self._last = max(self._clock(), self._last + 1)
        return self._last

    def _id(self, prefix: str) -> str:
        return hashlib.sha256(f"{prefix}{next(self._ids)}".encode()).hexdigest()

    # -- test controls ----------------------------------------------------------------------

    def exit(self, container_id: str, code: int, *, reason: str = "") -> None:
        """Make a running container exit as if its process ended."""
        c = self.containers[container_id]
        c.state = cri.ContainerState.EXITED
        c.exit_code = code
        c.finished_at = self._clock()
        c.reason = reason or ("Completed" if code == 0 else "Error")

    def running(self, name: str) -> list[str]:
        """Ids of the running containers called ``name``."""
        return [
            cid
            for cid, c in self.containers.items()
            if c.config.metadata.name == name and c.state is cri.ContainerState.RUNNING
        ]

    # -- RuntimeService ---------------------------------------------------------------------

    async def version(self) -> cri.VersionInfo:
        return cri.VersionInfo(version="v1", runtime_name="fake", runtime_version="0.1.0")

    async def status(self) -> cri.RuntimeStatus:
        return cri.RuntimeStatus(
            conditions=(
                cri.RuntimeCondition(type="RuntimeReady", status=True),
                cri.RuntimeCondition(type="NetworkReady", status=True),
            ),
            notes=self.notes,
        )

    async def run_pod_sandbox(self, config: cri.PodSandboxConfig) -> str:
        failure = self.sandbox_errors.get(config.metadata.name)
        if failure is not None:
            self.calls.append(("run_pod_sandbox", config.metadata.name))
            raise cri.RuntimeError_("Unknown", failure)
        sandbox_id = self._id("sandbox")
        ip = "" if config.host_network else f"10.42.0.{len(self.sandboxes) % 250 + 2}"
        self.sandboxes[sandbox_id] = _Sandbox(config, cri.SandboxState.READY, self._now(), ip)
        self.calls.append(("run_pod_sandbox", config.metadata.name))
        return sandbox_id

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        self.calls.append(("stop_pod_sandbox", sandbox_id))
        sandbox = self.sandboxes.get(sandbox_id)
        if sandbox is None:
            return
        for cid, c in self.containers.items():
            if c.sandbox_id == sandbox_id and c.state is cri.ContainerState.RUNNING:
                self.exit(cid, 137)
        sandbox.state = cri.SandboxState.NOTREADY

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        self.calls.append(("remove_pod_sandbox", sandbox_id))
        await self.stop_pod_sandbox(sandbox_id)
        self.sandboxes.pop(sandbox_id, None)
        for cid in [cid for cid, c in self.containers.items() if c.sandbox_id == sandbox_id]:
            del self.containers[cid]

    async def pod_sandbox_status(self, sandbox_id: str) -> cri.PodSandboxStatus:
        sandbox = self.sandboxes.get(sandbox_id)
        if sandbox is None:
            raise cri.not_found(f"sandbox {sandbox_id}")
        return cri.PodSandboxStatus(
            id=sandbox_id,
            metadata=sandbox.config.metadata,
            state=sandbox.state,
            created_at=sandbox.created_at,
            ip=sandbox.ip,
            host_network=sandbox.config.host_network,
            labels=sandbox.config.labels,
            annotations=sandbox.config.annotations,
        )

    async def list_pod_sandbox(
        self, filter: cri.PodSandboxFilter | None = None
    ) -> list[cri.PodSandbox]:
        out = []
        for sid, s in self.sandboxes.items():
            if filter is not None:
                if filter.id and filter.id != sid:
                    continue
                if filter.state is not None and filter.state is not s.state:
                    continue
                if any(s.config.labels.get(k) != v for k, v in filter.label_selector.items()):
                    continue
            out.append(
                cri.PodSandbox(
                    id=sid,
                    metadata=s.config.metadata,
                    state=s.state,
                    created_at=s.created_at,
                    labels=s.config.labels,
                    annotations=s.config.annotations,
                )
            )
        return out

    async def create_container(
        self, sandbox_id: str, config: cri.ContainerConfig, sandbox_config: cri.PodSandboxConfig
    ) -> str:
        sandbox = self.sandboxes.get(sandbox_id)
        if sandbox is None or sandbox.state is not cri.SandboxState.READY:
            raise cri.RuntimeError_("FailedPrecondition", f"sandbox {sandbox_id} is not ready")
        if not config.command:
            raise cri.RuntimeError_("InvalidArgument", "container has no command")
        cid = self._id("container")
        self.containers[cid] = _Container(
            sandbox_id, config, cri.ContainerState.CREATED, self._now()
        )
        self.calls.append(("create_container", config.metadata.name))
        return cid

    async def start_container(self, container_id: str) -> None:
        c = self.containers.get(container_id)
        if c is None:
            raise cri.not_found(f"container {container_id}")
        if c.state is not cri.ContainerState.CREATED:
            raise cri.RuntimeError_("FailedPrecondition", "container is not in created state")
        self.calls.append(("start_container", c.config.metadata.name))
        failure = self.start_errors.get(c.config.metadata.name)
        if failure is not None:
            c.state = cri.ContainerState.EXITED
            c.exit_code = 128
            c.reason = "StartError"
            c.message = failure
            c.started_at = c.finished_at = self._clock()
            raise cri.RuntimeError_("Unknown", failure)
        c.state = cri.ContainerState.RUNNING
        c.started_at = self._clock()

    async def stop_container(self, container_id: str, timeout: float) -> None:
        self.calls.append(("stop_container", container_id))
        c = self.containers.get(container_id)
        if c is not None and c.state is cri.ContainerState.RUNNING:
            self.exit(container_id, 137 if timeout == 0 else 143)

    async def remove_container(self, container_id: str) -> None:
        self.calls.append(("remove_container", container_id))
        self.containers.pop(container_id, None)

    async def list_containers(
        self, filter: cri.ContainerFilter | None = None
    ) -> list[cri.Container]:
        out = []
        for cid, c in self.containers.items():
            if filter is not None:
                if filter.id and filter.id != cid:
                    continue
                if filter.pod_sandbox_id and filter.pod_sandbox_id != c.sandbox_id:
                    continue
                if filter.state is not None and filter.state is not c.state:
                    continue
                if any(c.config.labels.get(k) != v for k, v in filter.label_selector.items()):
                    continue
            out.append(
                cri.Container(
                    id=cid,
                    pod_sandbox_id=c.sandbox_id,
                    metadata=c.config.metadata,
                    image=c.config.image,
                    image_ref=_image_id(c.config.image.image),
                    state=c.state,
                    created_at=c.created_at,
                    labels=c.config.labels,
                    annotations=c.config.annotations,
                )
            )
        return out

    async def container_status(self, container_id: str) -> cri.ContainerStatus:
        c = self.containers.get(container_id)
        if c is None:
            raise cri.not_found(f"container {container_id}")
        return cri.ContainerStatus(
            id=container_id,
            metadata=c.config.metadata,
            state=c.state,
            created_at=c.created_at,
            started_at=c.started_at,
            finished_at=c.finished_at,
            exit_code=c.exit_code,
            image=c.config.image,
            image_ref=_image_id(c.config.image.image),
            reason=c.reason,
            message=c.message,
            labels=c.config.labels,
            annotations=c.config.annotations,
            mounts=c.config.mounts,
            log_path=c.config.log_path,
            pid=4242 if c.state is cri.ContainerState.RUNNING else 0,
        )

    async def exec_sync(
        self, container_id: str, cmd: tuple[str, ...], timeout: float
    ) -> cri.ExecSyncResponse:
        self.calls.append(("exec_sync", " ".join(cmd)))
        if container_id not in self.containers:
            raise cri.not_found(f"container {container_id}")
        return self.exec_results.get(cmd, cri.ExecSyncResponse(b"", b"", 0))

    async def streaming_server(self) -> StreamingServer:
        """A real streaming server over ``streams``, started on first use."""
        if self._streaming is None:
            server = StreamingServer(self.streams)
            await server.start()
            if self._streaming is None:
                self._streaming = server
            else:
                await server.close()
        return self._streaming

    async def aclose(self) -> None:
        server, self._streaming = self._streaming, None
        if server is not None:
            await server.close()

    async def exec(self, request: cri.StreamRequest) -> cri.StreamResponse:
        self.calls.append(("exec_url", " ".join(request.cmd)))
        self.streams.running(request.container_id)
        return (await self.streaming_server()).exec_url(request)

    async def attach(self, request: cri.StreamRequest) -> cri.StreamResponse:
        self.calls.append(("attach_url", request.container_id))
        self.streams.running(request.container_id)
        return (await self.streaming_server()).attach_url(request)

    async def port_forward(self, request: cri.StreamRequest) -> cri.StreamResponse:
        self.calls.append(("port_forward_url", request.pod_sandbox_id))
        self.streams.ready(request.pod_sandbox_id)
        return (await self.streaming_server()).port_forward_url(request)

    # -- ImageService -----------------------------------------------------------------------

    async def list_images(self) -> list[cri.Image]:
        return list(self.images.values())

    async def image_status(self, image: cri.ImageSpec) -> cri.Image | None:
        return self.images.get(image.image)

    async def pull_image(self, image: cri.ImageSpec) -> str:
        ref = _image_id(image.image)
        self.images[image.image] = cri.Image(id=ref, repo_tags=(image.image,))
        self.calls.append(("pull_image", image.image))
        return ref

    async def remove_image(self, image: cri.ImageSpec) -> None:
        self.images.pop(image.image, None)


class FakeStreams:
    """The fake runtime's streaming ``Provider``: exec answers from ``exec_results`` (``cat``
    echoes stdin), attach writes ``attach_output`` then echoes stdin, port-forward connects to
    ``port_targets`` (default 127.0.0.1:<port>)."""

    def __init__(self, runtime: FakeRuntime) -> None:
        self.runtime = runtime

    def running(self, container_id: str) -> _Container:
        c = self.runtime.containers.get(container_id)
        if c is None:
            raise cri.not_found(f"container {container_id}")
        if c.state is not cri.ContainerState.RUNNING:
            raise cri.RuntimeError_("FailedPrecondition", f"container is in {c.state.value} state")
        return c

    def ready(self, sandbox_id: str) -> None:
        sandbox = self.runtime.sandboxes.get(sandbox_id)
        if sandbox is None:
            raise cri.not_found(f"sandbox {sandbox_id}")
        if sandbox.state is not cri.SandboxState.READY:
            raise cri.RuntimeError_("FailedPrecondition", "sandbox container is not running")

    async def exec(
        self,
        container_id: str,
        cmd: Sequence[str],
        *,
        stdin: AsyncIterator[bytes] | None,
        stdout: Output | None,
        stderr: Output | None,
        tty: bool,
        resize: AsyncIterator[TerminalSize] | None,
    ) -> None:
        self.running(container_id)
        self.runtime.calls.append(("exec", " ".join(cmd)))
        if stdin is not None:
            async for chunk in stdin:
                if tuple(cmd) == ("cat",) and stdout is not None:
                    await stdout(chunk)
        result = self.runtime.exec_results.get(tuple(cmd), cri.ExecSyncResponse(b"", b"", 0))
        if result.stdout and stdout is not None:
            await stdout(result.stdout)
        if result.stderr:
            target = stdout if tty else stderr
            if target is not None:
                await target(result.stderr)
        if result.exit_code:
            raise ExitCode(result.exit_code)

    async def attach(
        self,
        container_id: str,
        *,
        stdin: AsyncIterator[bytes] | None,
        stdout: Output | None,
        stderr: Output | None,
        tty: bool,
        resize: AsyncIterator[TerminalSize] | None,
    ) -> None:
        c = self.running(container_id)
        self.runtime.calls.append(("attach", c.config.metadata.name))
        output = self.runtime.attach_output.get(container_id, b"")
        if output and stdout is not None:
            await stdout(output)
        if stdin is not None and c.config.stdin:
            async for chunk in stdin:
                if stdout is not None:
                    await stdout(chunk)

    async def port_forward(
        self, sandbox_id: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        self.ready(sandbox_id)
        self.runtime.calls.append(("port_forward", str(port)))
        host, target = self.runtime.port_targets.get(port, ("127.0.0.1", port))
        try:
            return await asyncio.open_connection(host, target)
        except OSError as err:
            raise cri.RuntimeError_(
                "Unknown",
                f'failed to connect to localhost:{port} inside namespace "{sandbox_id}": {err}',
            ) from None


def _image_id(name: str) -> str:
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()
