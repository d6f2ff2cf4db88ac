"""The shims' fork server: a warm interpreter that forks one shim per container start.

Starting a Python interpreter costs tens of milliseconds of CPU, most of a container start when
every container needs a shim of its own; forking an interpreter that has the shim's code loaded
costs about one. So the runtime starts this server once per root dir and asks it to fork each
shim, which then runs ``shim.run`` exactly as ``python -I -S shim.py`` would. (containerd gets
the same effect with one shim process per pod; CPython's multiprocessing with its forkserver.)

Protocol, on an abstract unix socket named after the root dir (no path-length limit, nothing to
clean up; only peers with the server's uid are served, and only container ids are accepted, so
the server never runs a spec from outside its root dir):

- ``lifeline``: a connection the runtime holds open while it lives. The server stays up while
  any lifeline is open or any shim runs, and exits two seconds after neither is the case, so a
  server outlives a killed kubelet exactly as long as its shims need a parent.
- ``start <container id>``: the server answers ``ok``, forks; the shim writes its start report
  (one JSON line) on the same connection and closes it.

The shims are the server's children, so it reaps them; each is in its own session, so a signal
to the server's group reaches no shim and no container. Standard library only; run as
``python -I -S forkserver.py <root dir> <socket name>``; it prints ``ready`` (or ``busy`` when
another server already has the name) on stdout, then closes stdout.
"""

from __future__ import annotations

import os
import sys

if not __package__:  # run as a script under -I: make this package importable
    sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), *[os.pardir] * 3)))

import contextlib
import errno
import gc
import select
import signal
import socket
import struct
import time

from pocketkube.runtime.process import shim

TYPE_CHECKING = False  # not importing typing: it is slow to import
if TYPE_CHECKING:
    from typing import NoReturn

IDLE_EXIT_SECONDS = 2.0
HEX = frozenset("0123456789abcdef")


def valid_id(container_id: str) -> bool:
    return 0 < len(container_id) <= 64 and set(container_id) <= HEX


class Server:
    def __init__(self, *, root_dir: str, listener: socket.socket) -> None:
        self.root_dir = root_dir
        self.listener = listener
        self.lifelines: dict[int, socket.socket] = {}
        self.shims: set[int] = set()
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.poller = select.poll()
        self.poller.register(listener.fileno(), select.POLLIN)
        self.poller.register(self.wake_r, select.POLLIN)

    def serve(self) -> None:
        signal.signal(signal.SIGCHLD, _ignore)
        signal.set_wakeup_fd(self.wake_w)
        idle_since = time.monotonic()
        while True:
            for fd, _ in self.poller.poll(500):
                if fd == self.listener.fileno():
                    self._accept()
                elif fd == self.wake_r:
                    _drain(fd)
                else:
                    self._lifeline_event(fd)
            self._reap()
            if self.lifelines or self.shims:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > IDLE_EXIT_SECONDS:
                return

    def _reap(self) -> None:
        while self.shims:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.shims.clear()
                return
            if pid == 0:
                return
            self.shims.discard(pid)

    def _lifeline_event(self, fd: int) -> None:
        conn = self.lifelines[fd]
        try:
            data = conn.recv(64)
        except OSError:
            data = b""
        if not data:
            self.poller.unregister(fd)
            del self.lifelines[fd]
            conn.close()

    def _accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        try:
            request = self._request(conn)
        except OSError:
            request = ""
        if request == "lifeline":
            self.lifelines[conn.fileno()] = conn
            self.poller.register(conn.fileno(), select.POLLIN)
            return
        verb, _, container_id = request.partition(" ")
        directory = os.path.join(self.root_dir, "containers", container_id)
        if verb != "start" or not valid_id(container_id) or not os.path.isdir(directory):
            conn.close()
            return
        try:
            conn.sendall(b"ok\n")
        except OSError:
            conn.close()
            return
        pid = os.fork()
        if pid == 0:
            self._become_shim(conn, directory)
        self.shims.add(pid)
        conn.close()

    def _request(self, conn: socket.socket) -> str:
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _, uid, _ = struct.unpack("3i", creds)
        if uid != os.getuid():
            return ""
        conn.settimeout(5)
        data = b""
        while b"\n" not in data and len(data) < 256:
            chunk = conn.recv(256)
            if not chunk:
                break
            data += chunk
        conn.settimeout(None)
        return data.split(b"\n", 1)[0].decode(errors="replace")

    def _become_shim(self, conn: socket.socket, directory: str) -> NoReturn:
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            self.listener.close()
            for other in self.lifelines.values():
                other.close()
            os.close(self.wake_r)
            os.close(self.wake_w)
            os.setsid()
            code = shim.run(directory, conn.detach())
        except BaseException as err:  # never return into the server's loop
            with contextlib.suppress(BaseException):
                sys.stderr.write(f"shim for {directory}: {err!r}\n")
        finally:
            os._exit(code)


def _ignore(signum: int, frame: object) -> None:
    """SIGCHLD's handler: only there so the wakeup fd fires."""


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: forkserver.py ROOT_DIR SOCKET_NAME\n")
        return 2
    root_dir, name = argv[0], argv[1]
    os.chdir("/")
    shim.set_name("pk-forkserver")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind("\0" + name.lstrip("\0"))
    except OSError as err:
        if err.errno != errno.EADDRINUSE:
            raise
        sys.stdout.write("busy\n")
        return 0
    listener.listen(1024)
    server = Server(root_dir=root_dir, listener=listener)
    gc.freeze()  # keep the shared heap's pages shared in the forked shims
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 1)
    os.close(null)
    server.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
