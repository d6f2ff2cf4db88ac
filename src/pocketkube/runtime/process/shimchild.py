"""What the shim's forked child does to become the container: runc's init, in a few calls.

Between ``fork`` and ``execve`` the child puts itself where the container belongs, in the order
runc does: a new session (so the container leads its own process group, which ``stop_container``
signals as a whole; with ``tty``, the shim's pseudo-terminal becomes its controlling terminal),
the container's cgroup (before it can start anything, so every descendant is counted, limited
and killable), the sandbox's network namespace (``setns``), the signal dispositions a fresh
process has (Python ignores SIGPIPE and SIGXFSZ, and ignored signals survive ``execve``),
stdio (stdin is /dev/null unless the container has ``stdin``), umask 022, group and user,
working directory; then it looks the command up in the container's own ``PATH`` and executes
it.

Any failure is written to ``report_fd`` (close-on-exec, so a successful ``execve`` closes it
with nothing written) in runc's words, e.g. ``exec: "foo": executable file not found in
$PATH``, and the child exits 127; the shim turns that into a StartError.

The shim imports this module, so it uses the standard library only.
"""

from __future__ import annotations

import ctypes
import os
import signal
import stat

TYPE_CHECKING = False  # not importing typing: it is slow to import
if TYPE_CHECKING:
    from typing import Any, NoReturn

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # containerd's
CLONE_NEWNET = 0x40000000
PR_SET_CHILD_SUBREAPER = 36

_libc = ctypes.CDLL(None, use_errno=True)


class StartError(Exception):
    """The container could not be started; the message is what the user sees."""


def _why(err: OSError) -> str:
    text = os.strerror(err.errno) if err.errno else str(err)
    return text[:1].lower() + text[1:]  # Go's (and so runc's) spelling of errno texts


def set_subreaper() -> None:
    """Adopt the container's orphans (as a pid namespace's init would), so they can be reaped
    and killed with it."""
    _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def enter_netns(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise StartError(f"setns {path}: {_why(OSError(err, os.strerror(err)))}")
    finally:
        os.close(fd)


def join_cgroup(procs_files: list[str]) -> None:
    pid = str(os.getpid()).encode()
    for name in procs_files:
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, pid)
            finally:
                os.close(fd)
        except OSError as err:
            raise StartError(f"failed to join cgroup {name}: {_why(err)}") from err


def _executable(path: str) -> str:
    """Why ``path`` cannot be executed ("" if it can), as Go's exec.LookPath checks it."""
    try:
        mode = os.stat(path).st_mode
    except OSError as err:
        return f"stat {path}: {_why(err)}"
    if stat.S_ISDIR(mode):
        return "is a directory"
    return "" if mode & 0o111 else "permission denied"


def look_path(name: str, env: dict[str, str]) -> str:
    """The executable ``name`` names, found as Go's exec.LookPath finds it (runc uses it)."""
    if "/" in name:
        why = _executable(name)
        if why:
            raise StartError(f'exec: "{name}": {why}')
        return name
    for directory in env.get("PATH", DEFAULT_PATH).split(":"):
        candidate = os.path.join(directory or ".", name)
        if not _executable(candidate):
            return candidate
    raise StartError(f'exec: "{name}": executable file not found in $PATH')


def become_container(
    spec: dict[str, Any], stdout: int, stderr: int, stdin: int | None = None
) -> None:
    """Everything before ``execve``; raises StartError or OSError. ``stdin`` None: /dev/null.
    With ``tty`` in the spec, ``stdout`` is the terminal, made the controlling one."""
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGCHLD, signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    for number in range(1, 32):  # and whatever else our parent ignored (KILL/STOP cannot be)
        try:
            if signal.getsignal(number) == signal.SIG_IGN:
                signal.signal(number, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    os.setsid()
    if spec.get("tty"):
        import fcntl
        import termios

        fcntl.ioctl(stdout, termios.TIOCSCTTY, 0)
    join_cgroup(spec["procs_files"])
    if spec["netns"]:
        enter_netns(spec["netns"])
    os.dup2(os.open(os.devnull, os.O_RDONLY) if stdin is None else stdin, 0)
    os.dup2(stdout, 1)
    os.dup2(stderr, 2)
    os.umask(0o022)
    try:
        if spec["gid"] is not None:
            os.setgroups([])
            os.setgid(spec["gid"])
        if spec["uid"] is not None:
            os.setuid(spec["uid"])
    except OSError as err:
        raise StartError(f"setuid {spec['uid']}, setgid {spec['gid']}: {_why(err)}") from err
    try:
        os.chdir(spec["cwd"])
    except OSError as err:
        raise StartError(
            f'chdir to cwd ("{spec["cwd"]}") set in config.json failed: {_why(err)}'
        ) from err


def run(
    spec: dict[str, Any], stdout: int, stderr: int, report_fd: int, stdin: int | None = None
) -> NoReturn:
    """The child's whole life: prepare, exec, or report why not and exit 127."""
    argv: list[str] = spec["argv"]
    try:
        become_container(spec, stdout, stderr, stdin)
        path = look_path(argv[0], spec["env"])
        try:
            os.execve(path, argv, spec["env"])
        except OSError as err:
            raise StartError(f'exec: "{argv[0]}": {_why(err)}') from err
    except StartError as err:
        message = str(err)
    except OSError as err:
        message = f"{err.strerror or err}"
        message = message[:1].lower() + message[1:]
    except BaseException as err:  # the child must never return into the shim
        message = f"internal error: {err!r}"
    try:
        os.write(report_fd, message.encode(errors="replace"))
    finally:
        os._exit(127)
