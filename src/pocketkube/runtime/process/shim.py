"""The shim: the parent that watches one container for its whole life (conmon, containerd-shim).

Every started container gets its own shim, in its own session, so that containers keep running
and keep being logged when the kubelet is killed or restarted. The shim reads the container's
spec (``spec.bin``, written by the runtime at CreateContainer), forks the container
(``shimchild``), records the container's pid and start time in ``started.json`` (the runtime
re-adopts containers from it), learns from a close-on-exec pipe whether ``execve`` succeeded,
reports to whoever started it, then copies the container's stdout and stderr into the
CRI log (``shimlog``) until the container exits. A container with ``tty`` gets a
pseudo-terminal instead of the pipes (its output logged as stdout); one with ``stdin`` a stdin
the shim keeps open and feeds from its attach socket (``shimstdin``). Finally it writes
``exit.json`` (exit code, 128 + signal number when killed by a signal, finishedAt) and exits:
the shim outlives nothing.

A failed start (``exec: "foo": executable file not found in $PATH``) is recorded as exit code 128
with the message, which the runtime reports as the reason StartError, as containerd does.

The container is the shim's only child, and the shim is a child subreaper, so everything the
container starts that is orphaned comes back to the shim. When the container's main process
exits, the shim kills what is left of it (its process group, its cgroup, the orphans it adopted),
as the kernel does to a pid namespace whose init exits, reaps it all and only then writes the
exit record: once ``exit.json`` exists, the container is entirely gone and its log is complete.

Records are written atomically (a temporary file renamed over the name) as small JSON objects,
without the ``json`` module, which takes longer to import than the rest of the shim: starting
a container must cost milliseconds. The spec uses ``marshal`` for the same reason (the shim runs
on the interpreter that wrote it). Standard library only: it runs as
``python -I -S shim.py <container dir>`` (reporting on stdout), or forked by ``forkserver.py``.
"""

from __future__ import annotations

import os
import sys

if not __package__:  # run as a script under -I: make this package importable
    sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), *[os.pardir] * 3)))

import contextlib
import marshal
import select
import signal
import time

from pocketkube.runtime.process import procs, shimchild, shimlog, shimstdin

TYPE_CHECKING = False  # not importing typing: it is slow to import
if TYPE_CHECKING:
    from typing import Any

SPEC = "spec.bin"
STARTED = "started.json"
EXITED = "exit.json"
START_ERROR_EXIT_CODE = 128  # containerd's exit code for a container that could not start
DRAIN_SECONDS = 2.0  # after the main process exits: for its log to drain and the rest to die
READ_SIZE = 65536


def encode(record: dict[str, Any]) -> str:
    """A flat dict of ints and strings as a JSON object."""
    items = []
    for key, value in record.items():
        if isinstance(value, int):
            text = str(value)
        else:
            escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
            text = '"' + "".join(c if c >= " " else f"\\u{ord(c):04x}" for c in escaped) + '"'
        items.append(f'"{key}": {text}')
    return "{" + ", ".join(items) + "}"


def write_record(path: str, record: dict[str, Any]) -> None:
    """Replace ``path`` with the record at once: a reader sees the old file or the new one."""
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, (encode(record) + "\n").encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)


def report(fd: int, record: dict[str, Any]) -> None:
    """Tell the starter how the start went; it may be gone, which is fine."""
    with contextlib.suppress(OSError):
        os.write(fd, (encode(record) + "\n").encode())


def _read_all(fd: int) -> str:
    chunks = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode(errors="replace")


def _exit_code(status: int) -> tuple[int, int]:
    """(exit code, signal): 128 + the signal's number when a signal ended the process."""
    code = os.waitstatus_to_exitcode(status)
    return (128 - code, -code) if code < 0 else (code, 0)


def _children() -> list[int]:
    pid = os.getpid()
    try:
        with open(f"/proc/{pid}/task/{pid}/children", "rb") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def _cgroup_pids(procs_files: list[str]) -> list[int]:
    pids: list[int] = []
    for name in procs_files:
        try:
            with open(name, "rb") as f:
                pids.extend(int(p) for p in f.read().split())
        except OSError:
            pass
    return pids


class Supervisor:
    """Copies the container's output to its log and waits for the whole container to end."""

    def __init__(
        self,
        *,
        pid: int,
        pipes: dict[int, str],
        wake: int,
        spec: dict[str, Any],
        writer: shimlog.LogWriter,
    ) -> None:
        self.pid = pid
        self.pipes = pipes
        self.wake = wake
        self.procs_files: list[str] = spec["procs_files"]
        self.writer = writer
        self.status: int | None = None
        self.finished_at = 0
        self.deadline = 0.0
        self.poller = select.poll()
        for fd in [*pipes, wake]:
            self.poller.register(fd, select.POLLIN)
        self.relay: shimstdin.StdinRelay | None = None

    def run(self) -> tuple[int, int]:
        """Until the container is gone: (its main process's wait status, finishedAt in ns)."""
        left = True
        while self.status is None or ((self.pipes or left) and time.monotonic() < self.deadline):
            timeout = None if self.status is None else 50  # ms: orphans may still be re-parented
            for fd, events in self.poller.poll(timeout):
                if self.relay is not None and self.relay.owns(fd):
                    self.relay.on_ready(fd, events)
                if fd == self.wake or (fd in self.pipes and events & ~select.POLLOUT):
                    self._on_ready(fd)
            left = self._reap()
            if self.status is not None:
                self._kill_rest(group=False)
        for fd in list(self.pipes):
            self._close(fd)
        if self.relay is not None:
            self.relay.close()
        assert self.status is not None
        return self.status, self.finished_at

    def _reap(self) -> bool:
        """Reap every exited child; whether any child is left. The main process is looked at
        before it is reaped: while it is an unreaped zombie its pid cannot be reused, so its
        process group can still be signalled safely."""
        while True:
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return False
            if info is None:
                return True
            if info.si_pid == self.pid:
                self.finished_at = time.time_ns()
                self.deadline = time.monotonic() + DRAIN_SECONDS
                self._kill_rest(group=True)
            _, status = os.waitpid(info.si_pid, 0)
            if info.si_pid == self.pid:
                self.status = status

    def _kill_rest(self, *, group: bool) -> None:
        if group:
            with contextlib.suppress(OSError):
                os.killpg(self.pid, signal.SIGKILL)
        procs.signal_pids(_cgroup_pids(self.procs_files), signal.SIGKILL)
        procs.signal_pids([p for p in _children() if p != self.pid], signal.SIGKILL)

    def _on_ready(self, fd: int) -> None:
        if fd == self.wake:
            try:
                while os.read(fd, 512):
                    pass
            except BlockingIOError:
                pass
            return
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:  # a terminal (non-blocking for the stdin relay's writes)
            return
        except OSError:  # EIO: nothing has the terminal open any more
            data = b""
        if data:
            self.writer.write(self.pipes[fd], data)
        else:
            self._close(fd)

    def _close(self, fd: int) -> None:
        if fd not in self.pipes:
            return
        if self.relay is not None and fd == self.relay.sink:
            self.relay.sink_closed()
        self.poller.unregister(fd)
        os.close(fd)
        del self.pipes[fd]

    def serve_stdin(self, *, name: str, sink: int, tty: bool, spec: dict[str, Any]) -> None:
        """Keep the container's stdin (a pipe's writing end, or the terminal) for attach."""
        close_sink = (lambda: shimstdin.hang_up(sink)) if tty else (lambda: os.close(sink))
        try:
            self.relay = shimstdin.StdinRelay(
                poller=self.poller,
                name=name,
                sink=sink,
                tty=tty,
                stdin=bool(spec.get("stdin")),
                once=bool(spec.get("stdin_once")),
                close_sink=close_sink,
            )
        except OSError as err:  # e.g. the name is taken: the container runs without attach
            sys.stderr.write(f"shim: no attach socket: {err}\n")
            if not tty:
                os.close(sink)


def _ignore(signum: int, frame: object) -> None:
    """SIGCHLD's handler: a handler (not SIG_IGN, which would auto-reap) so that the wakeup fd
    fires and children stay waitable."""


def run(container_dir: str, report_fd: int) -> int:
    """Start the container of ``container_dir``, report, watch it to the end."""
    with open(os.path.join(container_dir, SPEC), "rb") as f:
        spec: dict[str, Any] = marshal.load(f)
    shimchild.set_subreaper()
    set_name("pk-shim")
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.signal(signal.SIGCHLD, _ignore)
    signal.set_wakeup_fd(wake_w)
    try:
        writer = shimlog.LogWriter(
            spec["log_path"], max_size=spec["log_max_size"], max_files=spec["log_max_files"]
        )
    except OSError as err:
        return _failed(container_dir, report_fd, f"failed to create container log: {err}")
    tty, want_stdin = bool(spec.get("tty")), bool(spec.get("stdin"))
    in_r = in_w = None
    if tty:  # one terminal for all three; its output is logged as stdout
        out_r, out_w = os.openpty()
        err_r, err_w = -1, out_w
        in_r = out_w
        os.set_blocking(out_r, False)
    else:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        if want_stdin:
            in_r, in_w = os.pipe()
    why_r, why_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        shimchild.run(spec, out_w, err_w, why_w, stdin=in_r)
    for fd in {out_w, err_w, why_w, in_r}:
        if fd is not None:
            os.close(fd)
    # Recorded while the child prepares and execs (in parallel): the pid and start time are
    # known from the fork on, and a failed exec still ends with an exit record.
    me = os.getpid()
    started = {
        "pid": pid,
        "start_ticks": procs.start_ticks(pid),
        "started_at": time.time_ns(),
        "shim_pid": me,
        "shim_start_ticks": procs.start_ticks(me),
    }
    write_record(os.path.join(container_dir, STARTED), started)
    failure = _read_all(why_r)
    if failure:
        os.waitpid(pid, 0)
        return _failed(container_dir, report_fd, failure)
    pipes = {out_r: "stdout"} if tty else {out_r: "stdout", err_r: "stderr"}
    supervisor = Supervisor(pid=pid, pipes=pipes, wake=wake_r, spec=spec, writer=writer)
    sink = out_r if tty else in_w
    if sink is not None:  # before the report: attach may come right after the start
        name = shimstdin.attach_name(os.path.basename(os.path.normpath(container_dir)))
        supervisor.serve_stdin(name=name, sink=sink, tty=tty, spec=spec)
    report(report_fd, started)
    os.close(report_fd)
    status, finished_at = supervisor.run()
    writer.close()
    code, sig = _exit_code(status)
    record = {"exit_code": code, "signal": sig, "finished_at": finished_at}
    write_record(os.path.join(container_dir, EXITED), record)
    return 0


def set_name(name: str) -> None:
    """The process's name in ps and top (forked shims would otherwise show the server's)."""
    with contextlib.suppress(OSError), open("/proc/self/comm", "w") as f:
        f.write(name)


def _failed(container_dir: str, report_fd: int, message: str) -> int:
    record = {"exit_code": START_ERROR_EXIT_CODE, "finished_at": time.time_ns()}
    write_record(os.path.join(container_dir, EXITED), {**record, "start_error": message})
    report(report_fd, {"error": message})
    os.close(report_fd)
    return 1


def main(argv: list[str]) -> int:
    """``shim.py <container dir>``: the start report goes to stdout, which is then closed."""
    if len(argv) != 1:
        sys.stderr.write("usage: shim.py CONTAINER_DIR\n")
        return 2
    with contextlib.suppress(OSError):  # already a session leader (start_new_session)
        os.setsid()
    report_fd = os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 1)
    os.close(null)
    return run(argv[0], report_fd)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
