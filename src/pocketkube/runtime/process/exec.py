"""ExecSync: run a command in a running container's context (exec probes, exec hooks).

Upstream, runc starts the command inside the container's namespaces and cgroup with its
environment and working directory. Here the command is a host process given the same: the
container's environment (``POCKETKUBE_ROOT`` included) and working directory, its user and
group, its network namespace (entered by util-linux's ``nsenter``) and its cgroup (a ``sh``
writes its pid into the cgroup's ``cgroup.procs`` files, then execs the command), so that it
counts against the container's limits and dies with it. No Python code runs between fork and
exec: the kubelet has threads (gRPC probes among them), and a ``preexec_fn`` in a threaded
process can deadlock or crash the child. It is put in its own
session, so a timeout can kill everything it started. Output is captured up to 16 MiB per
stream, as the kubelet's CRI client caps a message; the rest is read and dropped so the command
never blocks on a full pipe.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import signal
import subprocess
from dataclasses import dataclass

from pocketkube.runtime import cri

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


def argv_for(context: ExecContext, cmd: tuple[str, ...]) -> list[str]:
    """The command, wrapped to join the container's cgroup (``sh``) and enter its network
    namespace (``nsenter``) before it runs."""
    argv = list(cmd)
    if context.procs_files:
        joins = "".join(f"echo $$ > {shlex.quote(p)} 2>/dev/null; " for p in context.procs_files)
        argv = ["/bin/sh", "-c", joins + 'exec "$@"', "sh", *argv]
    if context.netns_path:
        argv = ["nsenter", f"--net={context.netns_path}", "--", *argv]
    return argv


def resolve(context: ExecContext, cmd: tuple[str, ...], *, wrapped: bool = False) -> None:
    """Refuse a missing executable as runc words it (``nsenter``, or ``setsid`` when
    ``wrapped``, would report it otherwise)."""
    if not wrapped and not context.netns_path and not context.procs_files:
        return  # the command is spawned directly: its own FileNotFoundError says it
    found = shutil.which(cmd[0], path=context.env.get("PATH", os.defpath))
    if "/" in cmd[0]:
        found = cmd[0] if os.access(cmd[0], os.X_OK) and not os.path.isdir(cmd[0]) else None
    if found is None:
        what = "executable file not found in $PATH" if "/" not in cmd[0] else "no such file"
        raise cri.RuntimeError_(
            "Unknown", f'unable to start container process: exec: "{cmd[0]}": {what}'
        )


def spawn_error(
    context: ExecContext, cmd: tuple[str, ...], err: OSError | subprocess.SubprocessError
) -> cri.RuntimeError_:
    """Why the command could not be spawned, in runc's words."""
    what = str(err)
    if isinstance(err, FileNotFoundError):
        what = (
            "executable file not found in $PATH"
            if "/" not in cmd[0]
            else "no such file or directory"
        )
        if err.filename and err.filename == context.cwd:
            what = f"chdir {context.cwd}: no such file or directory"
    return cri.RuntimeError_(
        "Unknown", f'unable to start container process: exec: "{cmd[0]}": {what}'
    )


def kill_session(proc: asyncio.subprocess.Process) -> None:
    """SIGKILL the command and everything it started (its session's group), while it has not
    been reaped, so its pid cannot have been reused; only the command itself while it is not
    yet the leader of its own group (it may be about to become one)."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(proc.pid) == proc.pid:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            os.kill(proc.pid, signal.SIGKILL)


async def _read_capped(stream: asyncio.StreamReader | None) -> bytes:
    kept = bytearray()
    if stream is None:
        return b""
    while chunk := await stream.read(READ_SIZE):
        if len(kept) < MAX_OUTPUT:
            kept.extend(chunk[: MAX_OUTPUT - len(kept)])
    return bytes(kept)


async def exec_sync(
    context: ExecContext,
    cmd: tuple[str, ...],
    timeout: float,
) -> cri.ExecSyncResponse:
    """Run ``cmd`` to its end (or ``timeout`` seconds, 0 = no limit)."""
    if not cmd:
        raise cri.RuntimeError_("InvalidArgument", "exec: no command given")
    resolve(context, cmd)
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv_for(context, cmd),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=context.env,
            cwd=context.cwd,
            start_new_session=True,
            user=context.uid,
            group=context.gid,
            extra_groups=[] if context.gid is not None else None,
        )
    except (OSError, subprocess.SubprocessError) as err:
        raise spawn_error(context, cmd, err) from None
    try:
        async with asyncio.timeout(timeout if timeout > 0 else None):
            async with asyncio.TaskGroup() as tg:
                out = tg.create_task(_read_capped(proc.stdout))
                err_ = tg.create_task(_read_capped(proc.stderr))
            code = await proc.wait()
    except TimeoutError:
        kill_session(proc)
        await proc.wait()
        raise cri.RuntimeError_(
            "DeadlineExceeded", f"timeout {timeout:g}s exceeded: context deadline exceeded"
        ) from None
    finally:
        if proc.returncode is None:  # cancelled
            kill_session(proc)
            await asyncio.shield(proc.wait())
    return cri.ExecSyncResponse(
        stdout=out.result(), stderr=err_.result(), exit_code=code if code >= 0 else 128 - code
    )
