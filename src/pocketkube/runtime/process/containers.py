"""A container's CRI state, derived from its records and its processes.

The state is never stored; it is read off what exists, so it is right after any crash:

- ``exit.json``: EXITED. The shim wrote it when the container was entirely gone; the runtime
  completes it once with the reason, as containerd does: StartError when it could not start,
  OOMKilled when the kernel's OOM killer acted in its cgroup, else Completed (exit code 0) or
  Error.
- ``started.json`` and the container's main process or its shim still alive (same pid *and*
  start time): RUNNING. The shim may take a moment after the process has exited to drain the
  log and kill the rest; the container stays RUNNING until it is done, as upstream a container
  is running until its task's exit has been handled.
- ``started.json`` with neither alive and no exit record: the shim was killed (or the machine
  rebooted) before it could record the exit, so the exit code is unknown; it is recorded as 255
  (Error), with a message saying so, and the container is EXITED.
- neither file: CREATED.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from pocketkube.runtime import cri
from pocketkube.runtime.process import procs
from pocketkube.runtime.process.cgroups import Cgroups
from pocketkube.runtime.process.state import ContainerRecord, Exited, Started, Store

LOST_EXIT_CODE = 255
LOST_MESSAGE = "the container's shim was killed: its exit status is unknown"


@dataclass(frozen=True)
class Observed:
    state: cri.ContainerState
    started: Started | None = None
    exited: Exited | None = None


def reason_of(exited: Exited, *, oom_killed: bool) -> tuple[str, str]:
    """(reason, message) of an exit, in containerd's words."""
    if exited.start_error:
        return "StartError", f"unable to start container process: {exited.start_error}"
    if oom_killed:
        return "OOMKilled", ""
    return ("Completed" if exited.exit_code == 0 else "Error"), exited.message


class Observer:
    def __init__(self, *, store: Store, cgroups: Cgroups) -> None:
        self.store = store
        self.cgroups = cgroups

    def observe(self, record: ContainerRecord) -> Observed:
        exited = self.store.exited(record.id)
        if exited is not None:
            return Observed(
                cri.ContainerState.EXITED,
                self.store.started(record.id),
                self._complete(record, exited),
            )
        started = self.store.started(record.id)
        if started is None:
            return Observed(cri.ContainerState.CREATED)
        if procs.alive(started.pid, started.start_ticks) or procs.alive(
            started.shim_pid, started.shim_start_ticks
        ):
            return Observed(cri.ContainerState.RUNNING, started)
        exited = self.store.exited(record.id)  # the shim may have finished just now
        if exited is None:
            exited = Exited(
                exit_code=LOST_EXIT_CODE, finished_at=time.time_ns(), message=LOST_MESSAGE
            )
        return Observed(cri.ContainerState.EXITED, started, self._complete(record, exited))

    def _complete(self, record: ContainerRecord, exited: Exited) -> Exited:
        if exited.reason:
            return exited
        oom = not exited.start_error and self.cgroups.oom_killed(record.cgroup_path)
        reason, message = reason_of(exited, oom_killed=oom)
        completed = replace(exited, reason=reason, message=message)
        self.store.save_exited(record.id, completed)
        return completed

    def is_running(self, record: ContainerRecord) -> bool:
        return self.observe(record).state == cri.ContainerState.RUNNING
