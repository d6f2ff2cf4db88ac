"""ProcessRuntime: CRI's RuntimeService and ImageService with host processes as containers.

What containerd and runc do for the kubelet, done with what a host offers:

- a sandbox is a pod's network (``PodNetwork``: its own namespace through CNI as root, else the
  host's) and its cgroup; there is no pause process, the named namespace holds itself;
- a container is a process group started by its own shim (``shim.py``, forked by
  ``forkserver.py``), in the container's cgroup and the sandbox's namespace, logging in the CRI
  format; it survives the kubelet;
- state lives in the root dir (``state.py``), so a new ``ProcessRuntime`` on the same dir, after
  a crash, sees the same sandboxes and containers, running ones still running (``containers.py``
  derives each state from records and live processes);
- Exec, Attach and PortForward answer with one-time URLs of the runtime's streaming server
  (``runtime/streaming``, started on first use, closed by ``aclose``), which drives
  ``ProcessStreams`` (``streams.py``).

Stopping signals only processes this runtime started: the container's process group while its
leader is the process the shim recorded (pid and start time) and whatever is in the container's
cgroup. ``stop_container`` sends SIGTERM, waits up to the timeout, then SIGKILLs, and returns
once the shim recorded the exit (so the exit code and the whole log are final).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from pathlib import Path

import pocketkube
from pocketkube.runtime import cri
from pocketkube.runtime.process import containerspec, procs, shimlog
from pocketkube.runtime.process.cgroups import Cgroups, default_cgroups
from pocketkube.runtime.process.containers import Observed, Observer
from pocketkube.runtime.process.exec import exec_sync
from pocketkube.runtime.process.images import ImageStore
from pocketkube.runtime.process.launcher import ShimLauncher
from pocketkube.runtime.process.network import PodNetwork, default_network
from pocketkube.runtime.process.sandboxes import Sandboxes
from pocketkube.runtime.process.state import ContainerRecord, Store
from pocketkube.runtime.process.streams import ProcessStreams, exec_context
from pocketkube.runtime.streaming.server import StreamingServer

log = logging.getLogger(__name__)

RUNTIME_NAME = "process"
KILL_WAIT = 10.0  # seconds for a SIGKILLed container's shim to record the exit
NOT_ROOT_NOTE = (
    "not root: containers run as the kubelet's user, runAsUser and runAsGroup are ignored"
)


def default_runtime(*, root_dir: Path, node_ip: str, pod_cidr: str) -> ProcessRuntime:
    """The process runtime as a node runs it: as root, CNI networking (state in
    ``<root_dir>/network``) and cgroups; without root, the host's network and no cgroups."""
    network = default_network(pod_cidr=pod_cidr, node_ip=node_ip, state_dir=root_dir / "network")
    return ProcessRuntime(
        root_dir=root_dir, network=network, cgroups=default_cgroups(), node_ip=node_ip
    )


class ProcessRuntime:
    """Both CRI services of the process runtime (see the module docstring)."""

    def __init__(
        self,
        *,
        root_dir: Path,
        network: PodNetwork,
        cgroups: Cgroups,
        node_ip: str,
        log_max_size: int = shimlog.MAX_SIZE,
        log_max_files: int = shimlog.MAX_FILES,
    ) -> None:
        root_dir.mkdir(parents=True, exist_ok=True)
        self.root_dir = root_dir
        self.network = network
        self.cgroups = cgroups
        self.node_ip = node_ip
        self.log_max_size = log_max_size
        self.log_max_files = log_max_files
        self.store = Store(root_dir)
        self.images = ImageStore(path=root_dir / "images.json")
        self.observer = Observer(store=self.store, cgroups=cgroups)
        self.launcher = ShimLauncher(root_dir=root_dir, log_path=root_dir / "shims.log")
        self.sandboxes = Sandboxes(
            store=self.store, network=network, cgroups=cgroups, node_ip=node_ip, containers=self
        )
        self._starting: set[str] = set()
        self.streams = ProcessStreams(store=self.store, observer=self.observer)
        self._streaming: StreamingServer | None = None

    def close(self) -> None:
        """Let go of the shims' fork server (containers keep running)."""
        self.launcher.close()

    async def aclose(self) -> None:
        """Stop the streaming server (ending its sessions), then ``close``."""
        server, self._streaming = self._streaming, None
        if server is not None:
            await server.close()
        self.close()

    async def streaming_server(self) -> StreamingServer:
        """The server behind the URLs of Exec, Attach and PortForward, started on first use
        on the loopback (a random port: only the kubelet on this host reaches it)."""
        if self._streaming is None:
            server = StreamingServer(self.streams, host="127.0.0.1", port=0)
            await server.start()
            if self._streaming is None:
                self._streaming = server
            else:  # another call started one meanwhile
                await server.close()
        return self._streaming

    # runtime

    async def version(self) -> cri.VersionInfo:
        return cri.VersionInfo(
            version="0.1.0", runtime_name=RUNTIME_NAME, runtime_version=pocketkube.__version__
        )

    async def status(self) -> cri.RuntimeStatus:
        try:
            await self.launcher.ensure()  # so that the first container starts without waiting
        except Exception:
            log.exception("cannot start the shims' fork server (see %s)", self.launcher.log_path)
        notes = [getattr(self.network, "note", ""), getattr(self.cgroups, "note", "")]
        if os.geteuid() != 0:
            notes.append(NOT_ROOT_NOTE)
        return cri.RuntimeStatus(
            conditions=(
                cri.RuntimeCondition(type="RuntimeReady", status=True),
                self.network.condition(),
            ),
            notes=tuple(n for n in notes if n),
        )

    # sandboxes

    async def run_pod_sandbox(self, config: cri.PodSandboxConfig) -> str:
        return await self.sandboxes.run(config)

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        await self.sandboxes.stop(sandbox_id)

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        await self.sandboxes.remove(sandbox_id)

    async def pod_sandbox_status(self, sandbox_id: str) -> cri.PodSandboxStatus:
        return await self.sandboxes.status(sandbox_id)

    async def list_pod_sandbox(
        self, filter: cri.PodSandboxFilter | None = None
    ) -> list[cri.PodSandbox]:
        return await self.sandboxes.list(filter)

    # containers

    def _container(self, container_id: str) -> ContainerRecord:
        record = self.store.container(container_id)
        if record is None:
            raise cri.not_found(f"container {container_id!r}")
        return record

    async def create_container(
        self, sandbox_id: str, config: cri.ContainerConfig, sandbox_config: cri.PodSandboxConfig
    ) -> str:
        sandbox = self.sandboxes.get(sandbox_id)
        if not sandbox.ready:
            raise cri.RuntimeError_("FailedPrecondition", f"sandbox {sandbox_id} is not ready")
        for other in self.store.containers():
            if other.sandbox_id == sandbox_id and other.config.metadata == config.metadata:
                raise cri.RuntimeError_(
                    "AlreadyExists",
                    f"container name {config.metadata.name!r} (attempt "
                    f"{config.metadata.attempt}) is reserved for {other.id}",
                )
        record, spec = containerspec.make(
            sandbox=sandbox,
            config=config,
            directory_of=self.store.container_dir,
            cgroups=self.cgroups,
            log_max_size=self.log_max_size,
            log_max_files=self.log_max_files,
        )
        self.store.save_container(record, spec)
        self.sandboxes.remember_log(sandbox_id, record.log_path)
        return record.id

    async def start_container(self, container_id: str) -> None:
        record = self._container(container_id)
        state = self.observer.observe(record).state
        if state != cri.ContainerState.CREATED or container_id in self._starting:
            raise cri.RuntimeError_(
                "FailedPrecondition", f"container {container_id} is in {state.value} state"
            )
        self._starting.add(container_id)
        try:
            report = await self.launcher.start(container_id)
        finally:
            self._starting.discard(container_id)
        if "error" in report:
            raise cri.RuntimeError_(
                "Unknown", f"unable to start container process: {report['error']}"
            )

    async def stop_container(
        self,
        container_id: str,
        timeout: float,
    ) -> None:
        record = self._container(container_id)
        observed = self.observer.observe(record)
        if observed.state != cri.ContainerState.RUNNING or observed.started is None:
            return
        started = observed.started
        if timeout > 0:
            procs.signal_group(started.pid, started.start_ticks, signal.SIGTERM)
            # Processes that left the group (setsid) get theirs too; none gets two SIGTERMs.
            others = [
                pid
                for pid in self.cgroups.pids(record.cgroup_path)
                if procs.group_of(pid) != started.pid
            ]
            procs.signal_pids(others, signal.SIGTERM)
            if await self._wait_exited(record, timeout):
                return
        procs.signal_group(started.pid, started.start_ticks, signal.SIGKILL)
        await asyncio.to_thread(self.cgroups.kill_all, record.cgroup_path)
        if not await self._wait_exited(record, KILL_WAIT):
            raise cri.RuntimeError_(
                "DeadlineExceeded", f"container {container_id} did not exit after SIGKILL"
            )

    async def _wait_exited(self, record: ContainerRecord, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        delay = 0.002
        while self.observer.is_running(record):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            await asyncio.sleep(min(delay, left))
            delay = min(delay * 2, 0.05)
        return True

    async def remove_container(self, container_id: str) -> None:
        record = self.store.container(container_id)
        if record is None:
            return
        if self.observer.is_running(record):
            await self.stop_container(container_id, 0)
        await asyncio.to_thread(self.cgroups.remove, record.cgroup_path)
        self.store.delete_container(container_id)

    async def list_containers(
        self, filter: cri.ContainerFilter | None = None
    ) -> list[cri.Container]:
        f = filter or cri.ContainerFilter()
        found = []
        for record in self.store.containers():
            if f.id and not record.id.startswith(f.id):
                continue
            if f.pod_sandbox_id and record.sandbox_id != f.pod_sandbox_id:
                continue
            if any(record.config.labels.get(k) != v for k, v in f.label_selector.items()):
                continue
            state = self.observer.observe(record).state
            if f.state is not None and state != f.state:
                continue
            config = record.config
            found.append(
                cri.Container(
                    id=record.id,
                    pod_sandbox_id=record.sandbox_id,
                    metadata=config.metadata,
                    image=config.image,
                    image_ref=record.image_ref,
                    state=state,
                    created_at=record.created_at,
                    labels=config.labels,
                    annotations=config.annotations,
                )
            )
        return found

    async def container_status(self, container_id: str) -> cri.ContainerStatus:
        record = self._container(container_id)
        return self._status(record, self.observer.observe(record))

    def _status(self, record: ContainerRecord, observed: Observed) -> cri.ContainerStatus:
        config, started, exited = record.config, observed.started, observed.exited
        running = observed.state == cri.ContainerState.RUNNING
        failed = exited is not None and exited.start_error != ""
        return cri.ContainerStatus(
            id=record.id,
            metadata=config.metadata,
            state=observed.state,
            created_at=record.created_at,
            started_at=started.started_at if started and not failed else 0,
            finished_at=exited.finished_at if exited else 0,
            exit_code=exited.exit_code if exited else 0,
            image=config.image,
            image_ref=record.image_ref,
            reason=exited.reason if exited else "",
            message=exited.message if exited else "",
            labels=config.labels,
            annotations=config.annotations,
            mounts=config.mounts,
            log_path=record.log_path,
            pid=started.pid if started and running else 0,
        )

    async def exec_sync(
        self,
        container_id: str,
        cmd: tuple[str, ...],
        timeout: float,
    ) -> cri.ExecSyncResponse:
        record = self._container(container_id)
        state = self.observer.observe(record).state
        if state != cri.ContainerState.RUNNING:
            raise cri.RuntimeError_(
                "FailedPrecondition", f"container {container_id} is in {state.value} state"
            )
        return await exec_sync(exec_context(record), cmd, timeout)

    async def exec(self, request: cri.StreamRequest) -> cri.StreamResponse:
        """A one-time URL of the streaming server for the exec, once the container is known
        to run (containerd's checks)."""
        if not request.cmd:
            raise cri.RuntimeError_("InvalidArgument", "cmd shouldn't be empty")
        self.streams.running(request.container_id)
        return (await self.streaming_server()).exec_url(request)

    async def attach(self, request: cri.StreamRequest) -> cri.StreamResponse:
        self.streams.running(request.container_id)
        return (await self.streaming_server()).attach_url(request)

    async def port_forward(self, request: cri.StreamRequest) -> cri.StreamResponse:
        self.streams.ready_sandbox(request.pod_sandbox_id)
        return (await self.streaming_server()).port_forward_url(request)

    # images

    async def list_images(self) -> list[cri.Image]:
        return self.images.list()

    async def image_status(self, image: cri.ImageSpec) -> cri.Image | None:
        return self.images.status(image.image)

    async def pull_image(self, image: cri.ImageSpec) -> str:
        return self.images.pull(image.image)

    async def remove_image(self, image: cri.ImageSpec) -> None:
        self.images.remove(image.image)
