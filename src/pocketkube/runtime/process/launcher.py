"""The runtime's side of starting shims: keep a fork server up and ask it for each container.

``forkserver.py`` explains why shims are forked from a warm interpreter. Here the runtime finds
the server of its root dir by the socket name (a restarted runtime finds the server its
predecessor left running, if any shim still needs it), starts one when there is none, holds a
lifeline connection to it, and turns a start into one request on a fresh connection, whose
reply is the shim's start report. Nothing here holds an event loop's resources between calls,
so the runtime may be used from one loop after another (as tests do).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from pocketkube.runtime import cri
from pocketkube.runtime.process import procs
from pocketkube.runtime.process.state import write_atomic

FORKSERVER = Path(__file__).with_name("forkserver.py")
ATTEMPTS = 5
SERVER_START_TIMEOUT = 30.0
SERVER_RECORD = "forkserver.json"  # in the root dir: the server's pid and start time (cleanup)
REPORT_TIMEOUT = 30.0  # a start takes milliseconds; this is for a machine under heavy load


def socket_name(root_dir: Path) -> str:
    """The fork server's abstract socket name for ``root_dir``."""
    digest = hashlib.sha256(str(root_dir.resolve()).encode()).hexdigest()[:24]
    return f"\0pocketkube-shims-{digest}"


class ShimLauncher:
    def __init__(self, *, root_dir: Path, log_path: Path) -> None:
        self.root_dir = root_dir
        self.log_path = log_path  # the server's and the shims' own errors
        self.name = socket_name(root_dir)
        self._lifeline: socket.socket | None = None
        self._server: subprocess.Popen[bytes] | None = None
        self._spawning = asyncio.Lock()

    async def start(self, container_id: str) -> dict[str, Any]:
        """Start the shim of a created container; its report: ``{"pid": ...}`` or
        ``{"error": message}``."""
        for _ in range(ATTEMPTS):
            if self._lifeline is None and not self._connect_lifeline():
                await self._spawn()
                continue
            try:
                reader, writer = await asyncio.open_unix_connection(self.name)
            except OSError:  # the server is gone
                self._drop_lifeline()
                continue
            try:
                writer.write(f"start {container_id}\n".encode())
                async with asyncio.timeout(REPORT_TIMEOUT):
                    if await reader.readline() != b"ok\n":  # it was exiting: nothing forked
                        self._drop_lifeline()
                        continue
                    line = await reader.readline()
            except TimeoutError:
                raise cri.RuntimeError_(
                    "DeadlineExceeded", f"the shim did not report within {REPORT_TIMEOUT}s"
                ) from None
            finally:
                writer.close()
            if not line:
                raise cri.RuntimeError_(
                    "Internal", f"the shim exited before reporting; see {self.log_path}"
                )
            report: dict[str, Any] = json.loads(line)
            return report
        raise cri.RuntimeError_(
            "Internal", f"cannot reach the shim fork server; see {self.log_path}"
        )

    async def ensure(self) -> None:
        """Have a server running (starting one takes a while: better before the first start)."""
        if self._lifeline is None and not self._connect_lifeline():
            await self._spawn()

    def _connect_lifeline(self) -> bool:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self.name)
            sock.sendall(b"lifeline\n")
        except OSError:
            sock.close()
            return False
        self._lifeline = sock
        return True

    def _drop_lifeline(self) -> None:
        if self._lifeline is not None:
            self._lifeline.close()
            self._lifeline = None

    async def _spawn(self) -> None:
        async with self._spawning:
            if self._lifeline is not None or self._connect_lifeline():
                return  # another start did it meanwhile
            server = self._popen_server()
            assert server.stdout is not None
            try:
                async with asyncio.timeout(SERVER_START_TIMEOUT):
                    line = await read_line(server.stdout.fileno())
            except TimeoutError:
                line = b""
            finally:
                server.stdout.close()
            if line.strip() == b"ready":
                self._connect_lifeline()
            # "busy": another runtime's server has the name; the next attempt connects to it.
            # Anything else: it failed (its log says why); the next attempt tries again.

    def _popen_server(self) -> subprocess.Popen[bytes]:
        """Start a server (fork and exec: quick enough for the event loop's thread)."""
        if self._server is not None:
            self._server.poll()  # reap a predecessor
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self._server = subprocess.Popen(
                [sys.executable, "-I", "-S", str(FORKSERVER), str(self.root_dir), self.name[1:]],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
            )
        pid = self._server.pid
        record = {"pid": pid, "start_ticks": procs.start_ticks(pid)}
        write_atomic(self.root_dir / SERVER_RECORD, json.dumps(record).encode())
        return self._server

    def close(self) -> None:
        """Let go of the server: it exits once its last shim has."""
        self._drop_lifeline()
        if self._server is not None:
            self._server.poll()


async def read_line(fd: int) -> bytes:
    """One line (or what came before EOF) from a pipe, without blocking the loop."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[bytes] = loop.create_future()
    buf = bytearray()

    def readable() -> None:
        try:
            chunk = os.read(fd, 256)
        except BlockingIOError:
            return
        buf.extend(chunk)
        if (not chunk or b"\n" in buf) and not done.done():
            done.set_result(bytes(buf))

    os.set_blocking(fd, False)
    loop.add_reader(fd, readable)
    try:
        return await done
    finally:
        loop.remove_reader(fd)
        with contextlib.suppress(OSError):
            os.set_blocking(fd, True)
