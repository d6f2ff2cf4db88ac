"""Attach: a running container's output from now on, and its stdin, for ``kubectl attach``.

Output comes from the container's CRI log, which the shim writes as the container writes
(``shimlog``): the log is followed from its current end, each record turned back into the bytes
the container wrote (a ``F`` record's content and its newline, a ``P`` record's content alone)
and passed to the client's stdout or stderr; rotations are followed file by file. Attach
ends once the container has exited and the rest of its log has been passed on (the shim writes
``exit.json`` only after the last byte).

Stdin, for a container with ``stdin: true``, and a terminal's size, for one with ``tty: true``,
go to the shim's attach socket (``shimstdin``), which feeds the stdin the shim keeps open. The
client's stdin is ignored for a container without ``stdin``, as containerd does.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
from collections.abc import AsyncIterator, Awaitable, Callable

from pocketkube.runtime.process.logs import parse_record
from pocketkube.runtime.process.shimlog import rotated_files
from pocketkube.runtime.process.shimstdin import CLOSE, DATA, RESIZE, attach_name, frame
from pocketkube.runtime.process.streamexec import Output, WindowSize

READ_SIZE = 65536
POLL_MIN, POLL_MAX = 0.005, 0.1


class LogFollower:
    """Reads a growing CRI log file from where it ends now, across rotations."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._file = self._open()
        if self._file is not None:
            self._file.seek(0, os.SEEK_END)
        self._buffer = b""

    def _open(self) -> io.BufferedReader | None:
        try:
            return open(self.path, "rb")
        except FileNotFoundError:
            return None

    def read_records(self) -> list[tuple[str, bytes]]:
        """The (stream, bytes) the container wrote since the last call."""
        chunks = []
        while True:
            f = self._file
            data = f.read(READ_SIZE) if f is not None else b""
            if data:
                chunks.append(data)
                continue
            if not self._rotated():
                break
        self._buffer += b"".join(chunks)
        complete, _, self._buffer = self._buffer.rpartition(b"\n")
        out: list[tuple[str, bytes]] = []
        for line in complete.split(b"\n") if complete else []:
            record = parse_record(line)
            if record is not None:
                content = record.content if record.partial else record.content + b"\n"
                out.append((record.stream, content))
        return out

    def _rotated(self) -> bool:
        """Whether the file read so far was rotated away; then the next one is opened (the
        next rotated file when the follower lags behind by more than one, else the live one),
        from its start."""
        try:
            current = os.stat(self.path)
        except FileNotFoundError:
            return False
        f = self._file
        if f is not None and os.fstat(f.fileno()).st_ino == current.st_ino:
            return False
        following = self.path
        if f is not None:
            inode = os.fstat(f.fileno()).st_ino
            names = [*rotated_files(self.path), self.path]
            with contextlib.suppress(OSError):
                inodes = [os.stat(name).st_ino for name in names]
                if inode in inodes:
                    following = names[inodes.index(inode) + 1]
        self.close()
        try:
            self._file = open(following, "rb")  # noqa: SIM115 -- closed in close()
        except FileNotFoundError:
            self._file = self._open()
        return self._file is not None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


async def follow_output(
    path: str,
    *,
    stdout: Output | None,
    stderr: Output | None,
    exited: Callable[[], bool],
) -> None:
    """Pass on what the container writes until it has exited."""
    follower = LogFollower(path)
    delay = POLL_MIN
    try:
        while True:
            done = exited()  # looked at before the last read: nothing written after is missed
            records = follower.read_records()
            for stream, data in records:
                output = stdout if stream == "stdout" else stderr
                if output is not None:
                    await output(data)
            if done:
                return
            delay = POLL_MIN if records else min(delay * 2, POLL_MAX)
            await asyncio.sleep(delay)
    finally:
        follower.close()


async def feed_stdin(
    container_id: str,
    *,
    stdin: AsyncIterator[bytes] | None,
    resize: AsyncIterator[WindowSize] | None,
    take_stdin: bool = True,
    take_sizes: bool = True,
) -> None:
    """The client's stdin and terminal sizes to the container's shim, until both end. What
    the container does not take (``take_*`` false, or no attach socket) is read and dropped,
    so the client is never held back."""
    stdin_, resize_ = (stdin if take_stdin else None), (resize if take_sizes else None)
    writer = None
    if stdin_ is not None or resize_ is not None:
        with contextlib.suppress(OSError):  # else the container is gone, or has no socket
            _, writer = await asyncio.open_unix_connection(attach_name(container_id))
    if writer is None:
        stdin_ = resize_ = None
    lock = asyncio.Lock()

    async def send(data: bytes) -> None:
        assert writer is not None
        async with lock:
            writer.write(data)
            await writer.drain()

    try:
        async with asyncio.TaskGroup() as tg:
            if stdin_ is not None:
                tg.create_task(_pump(stdin_, send))
            elif stdin is not None:
                tg.create_task(_discard(stdin))
            if resize_ is not None:
                tg.create_task(_sizes(resize_, send))
            elif resize is not None:
                tg.create_task(_discard(resize))
    except* (ConnectionError, BrokenPipeError):
        pass  # the shim went away with the container
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def _discard(source: AsyncIterator[object]) -> None:
    async for _ in source:
        pass


async def _pump(source: AsyncIterator[bytes], send: Callable[[bytes], Awaitable[None]]) -> None:
    async for chunk in source:
        if chunk:
            await send(frame(DATA, chunk))
    await send(frame(CLOSE))  # the client half-closed: stdinOnce closes the container's stdin


async def _sizes(
    sizes: AsyncIterator[WindowSize], send: Callable[[bytes], Awaitable[None]]
) -> None:
    async for size in sizes:
        width, height = (max(0, min(n, 0xFFFF)) for n in (size.width, size.height))
        await send(frame(RESIZE, width.to_bytes(2, "big") + height.to_bytes(2, "big")))
