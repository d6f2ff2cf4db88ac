"""Streaming exec: a command in a running container's context, its streams live.

What ``kubectl exec`` reaches through the streaming server. The command is started exactly as
``exec_sync`` starts it (the container's environment, working directory, user, network
namespace and cgroup; see ``exec.py``), but its stdin, stdout and stderr are the client's:

- without a terminal, three pipes: what the client sends is written to stdin, and when the
  client half-closes stdin the pipe is closed, so the command reads EOF (``echo hi | kubectl
  exec -i x -- cat``); stdout and stderr are passed on as they are read;
- with a terminal (``-t``), a pseudo-terminal, as runc gives an exec with ``terminal: true``:
  the command gets the terminal as its stdin, stdout and stderr and as its controlling terminal
  (util-linux's ``setsid --ctty`` makes it a session leader and claims the terminal, so job
  control and ^C work), ``TERM=xterm`` unless the container sets it (containerd's default), and
  resize messages set the terminal's window size (``TIOCSWINSZ``, which sends SIGWINCH).
  Everything comes back on stdout, as upstream merges a terminal's output.

The result is the command's exit code (128 + the signal's number when a signal ended it). When
the client goes away the call is cancelled and the command's whole session is killed, as
containerd kills an exec whose stream ended. Once the command has exited, its output is
passed on until the streams reach EOF or, if something it started in the background still holds
them, for ``DRAIN_SECONDS`` more.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import struct
import subprocess
import termios
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Protocol

from pocketkube.runtime import cri
from pocketkube.runtime.process.exec import (
    ExecContext,
    argv_for,
    kill_session,
    resolve,
    spawn_error,
)

READ_SIZE = 65536
DRAIN_SECONDS = 2.0
FIRST_SIZE_WAIT = 0.2  # seconds a terminal's command waits for the client's first size

Output = Callable[[bytes], Awaitable[None]]


class WindowSize(Protocol):
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...


def set_window_size(fd: int, size: WindowSize) -> None:
    """Set a terminal's size in characters (its foreground process group gets SIGWINCH)."""
    packed = struct.pack("HHHH", max(size.height, 0), max(size.width, 0), 0, 0)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, packed)


def exit_code(returncode: int) -> int:
    return returncode if returncode >= 0 else 128 - returncode


async def stream_exec(
    context: ExecContext,
    cmd: tuple[str, ...],
    *,
    stdin: AsyncIterator[bytes] | None,
    stdout: Output | None,
    stderr: Output | None,
    tty: bool,
    resize: AsyncIterator[WindowSize] | None,
) -> int:
    """Run ``cmd`` with the client's streams; its exit code. Raises ``cri.RuntimeError_`` when
    it cannot be started."""
    if not cmd:
        raise cri.RuntimeError_("InvalidArgument", "cmd shouldn't be empty")
    resolve(context, cmd, wrapped=tty)
    if tty:
        return await _with_terminal(context, cmd, stdin=stdin, output=stdout, resize=resize)
    return await _with_pipes(context, cmd, stdin=stdin, stdout=stdout, stderr=stderr)


async def _with_pipes(
    context: ExecContext,
    cmd: tuple[str, ...],
    *,
    stdin: AsyncIterator[bytes] | None,
    stdout: Output | None,
    stderr: Output | None,
) -> int:
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv_for(context, cmd),
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE if stdout is not None else subprocess.DEVNULL,
            stderr=subprocess.PIPE if stderr is not None else subprocess.DEVNULL,
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
        async with asyncio.TaskGroup() as tg:
            feeder = None
            if stdin is not None and proc.stdin is not None:
                feeder = tg.create_task(_feed_pipe(stdin, proc.stdin))
            copies = []
            if stdout is not None and proc.stdout is not None:
                copies.append(tg.create_task(_copy_stream(proc.stdout, stdout)))
            if stderr is not None and proc.stderr is not None:
                copies.append(tg.create_task(_copy_stream(proc.stderr, stderr)))
            code = await proc.wait()
            await _drain(copies)
            if feeder is not None:
                feeder.cancel()
        return exit_code(code)
    finally:
        if proc.returncode is None:  # cancelled: the client went away
            kill_session(proc)
            await asyncio.shield(proc.wait())


async def _drain(copies: list[asyncio.Task[None]]) -> None:
    """Let the output copies reach EOF, for a while; then give up on what holds the streams."""
    if copies:
        _, pending = await asyncio.wait(copies, timeout=DRAIN_SECONDS)
        for task in pending:
            task.cancel()


async def _feed_pipe(source: AsyncIterator[bytes], pipe: asyncio.StreamWriter) -> None:
    """The client's stdin into the command's; EOF when the client half-closes."""
    try:
        async for chunk in source:
            pipe.write(chunk)
            await pipe.drain()
    except (BrokenPipeError, ConnectionResetError):
        return  # the command closed its stdin: the rest has nowhere to go
    finally:
        pipe.close()


async def _copy_stream(stream: asyncio.StreamReader, output: Output) -> None:
    while chunk := await stream.read(READ_SIZE):
        await output(chunk)


async def _with_terminal(
    context: ExecContext,
    cmd: tuple[str, ...],
    *,
    stdin: AsyncIterator[bytes] | None,
    output: Output | None,
    resize: AsyncIterator[WindowSize] | None,
) -> int:
    env = context.env if "TERM" in context.env else {**context.env, "TERM": "xterm"}
    argv = ["setsid", "--ctty", *argv_for(replace(context, env=env), cmd)]
    master, slave = os.openpty()
    os.set_blocking(master, False)
    terminal = Terminal(master)
    proc: asyncio.subprocess.Process | None = None
    failure: cri.RuntimeError_ | None = None
    try:
        async with asyncio.TaskGroup() as tg:
            inputs = []
            if resize is not None:
                inputs.append(tg.create_task(terminal.follow_sizes(resize)))
                # The client sends its size at once: the command should start with it.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(FIRST_SIZE_WAIT):
                        await terminal.sized.wait()
            try:
                proc = await asyncio.create_subprocess_exec(
                    *argv,
                    stdin=slave,
                    stdout=slave,
                    stderr=slave,
                    env=env,
                    cwd=context.cwd,
                    user=context.uid,
                    group=context.gid,
                    extra_groups=[] if context.gid is not None else None,
                )
            except (OSError, subprocess.SubprocessError) as err:
                failure = spawn_error(context, cmd, err)
            os.close(slave)  # the command has its own
            slave = -1
            if proc is not None:
                if stdin is not None:
                    inputs.append(tg.create_task(terminal.feed(stdin)))
                copy = tg.create_task(terminal.copy_out(output))
                await proc.wait()
                await _drain([copy])
            for task in inputs:
                task.cancel()
    finally:
        if proc is not None and proc.returncode is None:
            kill_session(proc)
            await asyncio.shield(proc.wait())
        os.close(master)
        if slave >= 0:  # cancelled before the start
            os.close(slave)
    if failure is not None:
        raise failure
    assert proc is not None
    assert proc.returncode is not None
    return exit_code(proc.returncode)


class Terminal:
    """The runtime's side (the master) of a pseudo-terminal, non-blocking on the event loop."""

    def __init__(self, master: int) -> None:
        self.fd = master
        self.sized = asyncio.Event()  # a size was set

    async def _ready(self, *, write: bool) -> None:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        if write:
            loop.add_writer(self.fd, wake)
        else:
            loop.add_reader(self.fd, wake)
        try:
            await ready
        finally:
            if write:
                loop.remove_writer(self.fd)
            else:
                loop.remove_reader(self.fd)

    async def read(self) -> bytes:
        """What the command wrote; b"" once no process has the terminal open any more (EIO)."""
        while True:
            try:
                return os.read(self.fd, READ_SIZE)
            except BlockingIOError:
                await self._ready(write=False)
            except OSError as err:
                if err.errno == errno.EIO:
                    return b""
                raise

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.fd, view) :]
            except BlockingIOError:
                await self._ready(write=True)

    async def feed(self, source: AsyncIterator[bytes]) -> None:
        with contextlib.suppress(OSError):
            async for chunk in source:
                await self.write(chunk)

    async def follow_sizes(self, sizes: AsyncIterator[WindowSize]) -> None:
        async for size in sizes:
            with contextlib.suppress(OSError):
                set_window_size(self.fd, size)
            self.sized.set()

    async def copy_out(self, output: Output | None) -> None:
        while chunk := await self.read():
            if output is not None:
                await output(chunk)
