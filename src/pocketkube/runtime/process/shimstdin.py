"""The shim's attach socket: stdin (and a terminal's size) of a running container, for attach.

A container with ``stdin: true`` gets a stdin that stays open for its whole life (a pipe whose
writing end the shim keeps, or, with ``tty: true``, the pseudo-terminal the shim holds), as
conmon and containerd's shim keep it; ``kubectl attach -i`` writes to it through this socket.
The socket is abstract (``attach_name``: no path length limit, nothing to clean up) and serves
only peers with the shim's uid or root. Each client sends frames::

    1 byte type | 4 bytes big-endian length | payload
    d  data for the container's stdin
    r  a terminal size: width and height as 2-byte big-endian numbers
    c  the client's stdin ended

With ``stdinOnce`` the container's stdin is closed when the first client's stdin ends (or the
client goes away), as the API documents; with a terminal that means hanging it up (SIGHUP to
its foreground process group, as containerd's shim closes the console), while the rest of the
container's output is still logged. Writes never block the shim: while the container does
not read, the clients are not read either (their own buffers fill and push back).

The shim imports this module, so it uses the standard library only.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import signal
import socket
import struct
import termios

TYPE_CHECKING = False  # not importing typing: it is slow to import
if TYPE_CHECKING:
    from collections.abc import Callable

HEADER = struct.Struct(">cI")
MAX_FRAME = 1 << 20
DATA, RESIZE, CLOSE = b"d", b"r", b"c"


def attach_name(container_id: str) -> str:
    """The abstract socket name of a container's attach socket."""
    return f"\0pocketkube-attach-{container_id}"


def frame(kind: bytes, payload: bytes = b"") -> bytes:
    return HEADER.pack(kind, len(payload)) + payload


def set_size(fd: int, width: int, height: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


def hang_up(terminal: int) -> None:
    """What closing a terminal's input does to its session (SIGHUP to the foreground group),
    while the shim keeps reading what the container still writes."""
    with contextlib.suppress(OSError):
        group = os.tcgetpgrp(terminal)
        os.killpg(group, signal.SIGHUP)
        os.killpg(group, signal.SIGCONT)


class StdinRelay:
    """Serves the attach socket from the shim's poll loop (``Supervisor`` dispatches to it)."""

    def __init__(
        self,
        *,
        poller: select.poll,
        name: str,
        sink: int,
        tty: bool,
        stdin: bool,
        once: bool,
        close_sink: Callable[[], None],
    ) -> None:
        self.poller = poller
        self.sink: int | None = sink
        self.tty = tty
        self.stdin = stdin  # else only sizes are taken (a terminal without stdin)
        self.once = once
        self._close_sink = close_sink
        self.pending = b""
        self.clients: dict[int, tuple[socket.socket, bytearray]] = {}
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self.listener.bind(name)
        self.listener.listen(16)
        self.listener.setblocking(False)
        poller.register(self.listener.fileno(), select.POLLIN)
        if not tty:
            os.set_blocking(sink, False)
            poller.register(sink, 0)  # POLLOUT while something waits to be written

    def owns(self, fd: int) -> bool:
        return fd == self.listener.fileno() or fd in self.clients or fd == self.sink

    def on_ready(self, fd: int, events: int) -> None:
        if fd == self.listener.fileno():
            self._accept()
        elif fd == self.sink:
            if events & select.POLLOUT:
                self._flush()
            elif not self.tty and events & (select.POLLERR | select.POLLHUP):
                self._hang_up()  # the container closed its stdin
        elif fd in self.clients:
            self._read(fd)

    def sink_closed(self) -> None:
        """The terminal was closed by the shim (the container is gone)."""
        self.sink = None
        self.pending = b""

    def close(self) -> None:
        for fd in list(self.clients):
            self._drop(fd)
        with contextlib.suppress(KeyError, ValueError):
            self.poller.unregister(self.listener.fileno())
        self.listener.close()

    def _accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _, uid, _ = struct.unpack("3i", creds)
        if uid not in (0, os.getuid()) or self.sink is None:
            conn.close()
            return
        conn.setblocking(False)
        self.clients[conn.fileno()] = (conn, bytearray())
        self.poller.register(conn.fileno(), 0 if self.pending else select.POLLIN)

    def _read(self, fd: int) -> None:
        conn, buf = self.clients[fd]
        try:
            data = conn.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop(fd)
            if self.once and self.stdin:
                self._hang_up()
            return
        buf.extend(data)
        while len(buf) >= HEADER.size:
            kind, size = HEADER.unpack_from(buf)
            if size > MAX_FRAME:
                self._drop(fd)
                return
            if len(buf) < HEADER.size + size:
                break
            payload = bytes(buf[HEADER.size : HEADER.size + size])
            del buf[: HEADER.size + size]
            self._frame(kind, payload)

    def _frame(self, kind: bytes, payload: bytes) -> None:
        if kind == DATA and self.stdin and self.sink is not None:
            self.pending += payload
            self._flush()
        elif kind == RESIZE and self.tty and self.sink is not None and len(payload) == 4:
            width, height = struct.unpack(">HH", payload)
            with contextlib.suppress(OSError):
                set_size(self.sink, width, height)
        elif kind == CLOSE and self.once and self.stdin:
            self._hang_up()

    def _flush(self) -> None:
        if self.sink is None:
            return
        while self.pending:
            try:
                written = os.write(self.sink, self.pending)
            except BlockingIOError:
                break
            except OSError:  # the container closed its stdin: nothing more can be given
                self._hang_up()
                return
            self.pending = self.pending[written:]
        self._set_interest(blocked=bool(self.pending))

    def _set_interest(self, *, blocked: bool) -> None:
        """While data waits for the container: watch the sink for room, not the clients."""
        if self.sink is None:
            return
        base = select.POLLIN if self.tty else 0  # the terminal is also the output
        self.poller.modify(self.sink, base | (select.POLLOUT if blocked else 0))
        for fd in self.clients:
            self.poller.modify(fd, 0 if blocked else select.POLLIN)

    def _hang_up(self) -> None:
        """Close the container's stdin for good (stdinOnce, or the container closed it)."""
        if self.sink is None:
            return
        if not self.tty:
            with contextlib.suppress(KeyError, ValueError):
                self.poller.unregister(self.sink)
        self.sink = None
        self.pending = b""
        self._close_sink()
        for fd in list(self.clients):
            self._drop(fd)

    def _drop(self, fd: int) -> None:
        conn, _ = self.clients.pop(fd)
        with contextlib.suppress(KeyError, ValueError):
            self.poller.unregister(fd)
        conn.close()
