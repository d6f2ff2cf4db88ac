"""The process runtime's streaming primitives: the ``Provider`` the streaming server drives.

``runtime/streaming`` speaks the protocols (WebSocket channels, SPDY) for the URLs CRI's Exec,
Attach and PortForward return; this module does what they ask of the process runtime:

- ``exec``: the command in the container's context with the client's streams
  (``streamexec.py``: pipes, or a pseudo-terminal with resize); a non-zero exit is ``ExitCode``;
  it is killed when the container ends (137), as a pid namespace's processes die with its init
  (with cgroups the container's end kills it anyway: it is in the container's cgroup);
- ``attach``: the container's output from now on and its stdin (``attach.py``, through the
  shim's attach socket), until the container exits;
- ``port_forward``: a connection to the port inside the pod's network (``portforward.py``).

Each checks, as containerd does, that the container is running (``container is in
CONTAINER_EXITED state``) or the sandbox ready (``sandbox container is not running``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from pocketkube.runtime import cri
from pocketkube.runtime.process import attach as attaching
from pocketkube.runtime.process import portforward
from pocketkube.runtime.process.containers import Observer
from pocketkube.runtime.process.exec import ExecContext
from pocketkube.runtime.process.state import ContainerRecord, Store
from pocketkube.runtime.process.streamexec import Output, WindowSize, stream_exec
from pocketkube.runtime.streaming.provider import ExitCode

EXEC_KILLED = 128 + 9  # an exec outliving its container is SIGKILLed
WATCH_PERIOD = 0.5  # seconds between looks at whether the container still runs


def exec_context(record: ContainerRecord) -> ExecContext:
    """What a command run in the container gets: its environment, directory, network, cgroup."""
    return ExecContext(
        env=record.env,
        cwd=record.cwd,
        netns_path=record.netns_path,
        procs_files=record.procs_files,
        uid=record.uid,
        gid=record.gid,
    )


class ProcessStreams:
    """exec, attach and port-forward of the process runtime (the streaming ``Provider``)."""

    def __init__(self, *, store: Store, observer: Observer) -> None:
        self.store = store
        self.observer = observer

    def running(self, container_id: str) -> ContainerRecord:
        """The container's record; raises NotFound, or FailedPrecondition unless it runs."""
        record = self.store.container(container_id)
        if record is None:
            raise cri.RuntimeError_(
                "NotFound", f'failed to find container "{container_id}" in store: not found'
            )
        state = self.observer.observe(record).state
        if state != cri.ContainerState.RUNNING:
            raise cri.RuntimeError_("FailedPrecondition", f"container is in {state.value} state")
        return record

    def ready_sandbox(self, sandbox_id: str) -> str:
        """The ready sandbox's network namespace ("" for the host's)."""
        sandbox = self.store.sandbox(sandbox_id)
        if sandbox is None:
            raise cri.RuntimeError_(
                "NotFound", f'failed to find sandbox "{sandbox_id}" in store: not found'
            )
        if not sandbox.ready:
            raise cri.RuntimeError_("FailedPrecondition", "sandbox container is not running")
        return sandbox.netns_path

    async def exec(
        self,
        container_id: str,
        cmd: Sequence[str],
        *,
        stdin: AsyncIterator[bytes] | None,
        stdout: Output | None,
        stderr: Output | None,
        tty: bool,
        resize: AsyncIterator[WindowSize] | None,
    ) -> None:
        record = self.running(container_id)
        run = asyncio.create_task(
            stream_exec(
                exec_context(record),
                tuple(cmd),
                stdin=stdin,
                stdout=stdout,
                stderr=None if tty else stderr,
                tty=tty,
                resize=resize if tty else None,
            )
        )
        watch = asyncio.create_task(self._until_exited(record))
        try:
            await asyncio.wait({run, watch}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (run, watch):
                task.cancel()
            await asyncio.gather(run, watch, return_exceptions=True)
        # The container ended first: its execs die with it, as with a pid namespace (SIGKILL).
        code = run.result() if not run.cancelled() else EXEC_KILLED
        if code != 0:
            raise ExitCode(code)

    async def _until_exited(self, record: ContainerRecord) -> None:
        while True:
            if not self.observer.is_running(record):
                return
            await asyncio.sleep(WATCH_PERIOD)

    async def attach(
        self,
        container_id: str,
        *,
        stdin: AsyncIterator[bytes] | None,
        stdout: Output | None,
        stderr: Output | None,
        tty: bool,
        resize: AsyncIterator[WindowSize] | None,
    ) -> None:
        record = self.running(container_id)
        config = record.config
        async with asyncio.TaskGroup() as tg:
            feeder = None
            if stdin is not None or resize is not None:
                # What the container cannot take is read and dropped: the client is not held.
                feeder = tg.create_task(
                    attaching.feed_stdin(
                        container_id,
                        stdin=stdin,
                        resize=resize,
                        take_stdin=config.stdin,
                        take_sizes=config.tty,
                    )
                )
            await attaching.follow_output(
                record.log_path,
                stdout=stdout,
                stderr=stderr,
                exited=lambda: not self.observer.is_running(record),
            )
            if feeder is not None:
                feeder.cancel()

    async def port_forward(
        self, sandbox_id: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        netns_path = self.ready_sandbox(sandbox_id)
        return await portforward.connect(sandbox_id=sandbox_id, netns_path=netns_path, port=port)
