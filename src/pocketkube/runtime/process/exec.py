"""ExecSync: run a command in a running container's context (exec probes, exec hooks).

Upstream, runc starts the command inside the container's namespaces and cgroup with its
environment and working directory. Here the command is a host process given the same: the
container's environment (``POCKETKUBE_ROOT`` included) and working directory, its user and
group, and, in a ``preexec_fn`` between fork and exec, its network namespace (``setns``) and
cgroup, so that it counts against the container's limits and dies with it. It is put in its own
session, so a timeout can kill everything it started. Output is captured up to 16 MiB per
stream, as the kubelet's CRI client caps a message; the rest is read and dropped so the command
never blocks on a full pipe.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from pocketkube.runtime import cri
from pocketkube.runtime.process import shimchild

MAX_OUTPUT = 16 * 1024 * 1024
READ_SIZE = 65536


@dataclass(frozen=True)
class ExecContext:
    env: dict[str, str]
    cwd: str
    netns_path: str = ""
    procs_files: tuple[str, ...] = ()
    uid: int | None = None
    gid: int | None = None


def _preexec(context: ExecContext) -> Callable[[], None] | None:
    """What the forked child does before exec; None when nothing is needed (which lets
    subprocess use vfork)."""
    if not context.netns_path and not context.procs_files:
        return None
    procs_files = list(context.procs_files)
    netns_path = context.netns_path

    def enter() -> None:
        shimchild.join_cgroup(procs_files)
        if netns_path:
            shimchild.enter_netns(netns_path)

    return enter


async def _read_capped(stream: asyncio.StreamReader | None) -> bytes:
    kept = bytearray()
    if stream is None:
        return b""
    while chunk := await stream.read(READ_SIZE):
        if len(kept) < MAX_OUTPUT:
            kept.extend(chunk[: MAX_OUTPUT - len(kept)])
    return bytes(kept)


def _kill(proc: asyncio.subprocess.Process) -> None:
    """SIGKILL the command and everything it started (its session's group), while it has not
    been reaped, so its pid cannot have been reused."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


async def exec_sync(
    context: ExecContext,
    cmd: tuple[str, ...],
    timeout: float,
) -> cri.ExecSyncResponse:
    """Run ``cmd`` to its end (or ``timeout`` seconds, 0 = no limit)."""
    if not cmd:
        raise cri.RuntimeError_("InvalidArgument", "exec: no command given")
    try:
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=context.env,
            cwd=context.cwd,
            start_new_session=True,
            preexec_fn=_preexec(context),
            user=context.uid,
            group=context.gid,
            extra_groups=[] if context.gid is not None else None,
        )
    except FileNotFoundError as err:
        what = (
            "executable file not found in $PATH"
            if "/" not in cmd[0]
            else "no such file or directory"
        )
        if err.filename and err.filename == context.cwd:
            what = f"chdir {context.cwd}: no such file or directory"
        raise cri.RuntimeError_(
            "Unknown", f'unable to start container process: exec: "{cmd[0]}": {what}'
        ) from None
    except (OSError, subprocess.SubprocessError) as err:
        raise cri.RuntimeError_(
            "Unknown", f'unable to start container process: exec: "{cmd[0]}": {err}'
        ) from None
    try:
        async with asyncio.timeout(timeout if timeout > 0 else None):
            async with asyncio.TaskGroup() as tg:
                out = tg.create_task(_read_capped(proc.stdout))
                err_ = tg.create_task(_read_capped(proc.stderr))
            code = await proc.wait()
    except TimeoutError:
        _kill(proc)
        await proc.wait()
        raise cri.RuntimeError_(
            "DeadlineExceeded", f"timeout {timeout:g}s exceeded: context deadline exceeded"
        ) from None
    finally:
        if proc.returncode is None:  # cancelled
            _kill(proc)
            await asyncio.shield(proc.wait())
    return cri.ExecSyncResponse(
        stdout=out.result(), stderr=err_.result(), exit_code=code if code >= 0 else 128 - code
    )
