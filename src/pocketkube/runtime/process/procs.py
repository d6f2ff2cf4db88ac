"""Identify processes by (pid, start time) and signal only the ones that are still ours.

A pid alone does not name a process for long: once the container exits and is reaped, the kernel
may hand its number to any new process. The shim therefore records each container's pid together
with its start time (field 22 of ``/proc/<pid>/stat``, in clock ticks since boot, which no later
process can share), and every check or signal here compares both first. This is what lets a
restarted runtime re-adopt running containers and never signal a process it did not start.

The shim imports this module, so it uses the standard library only (and nothing slow to import).
"""

from __future__ import annotations

import contextlib
import os


def stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name, or None if there is no such
    process. The name is skipped by its closing parenthesis, as it may hold spaces."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return raw[raw.rindex(b")") + 2 :].decode().split()


def start_ticks(pid: int) -> int:
    """The process's start time in clock ticks since boot; 0 if it does not exist."""
    fields = stat_fields(pid)
    return int(fields[19]) if fields else 0


def alive(pid: int, ticks: int) -> bool:
    """Whether ``pid`` is still the process that started at ``ticks`` and has not exited (a
    zombie, exited but not yet reaped by its parent, counts as exited)."""
    if pid <= 0:
        return False
    fields = stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X") and int(fields[19]) == ticks


def signal_group(pid: int, ticks: int, sig: int) -> bool:
    """Signal the process group led by ``pid`` (a container's main process leads its own
    group), only while that leader is the process we started; whether it was signalled."""
    if not alive(pid, ticks):
        return False
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:  # not in its group any more, or another user's: the leader only
        try:
            os.kill(pid, sig)
        except OSError:
            return False
    return True


def group_of(pid: int) -> int:
    """The process group of ``pid`` (0 when it is gone)."""
    try:
        return os.getpgid(pid)
    except OSError:
        return 0


def signal_pids(pids: list[int], sig: int) -> None:
    """Signal processes found in a container's own cgroup (theirs by construction)."""
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, sig)
