"""``kill_everything``: tear down whatever a runtime root dir left running (tests' cleanup).

Containers outlive the runtime by design, so a test that fails halfway (or a kubelet that is
killed for good) leaves shims and containers behind. This kills, from the records alone and only
processes whose pid *and* start time match what was recorded: every container's process group
and cgroup, then every shim that has not exited by itself, then the fork server. With
``cgroups`` it also removes the containers' and pods' cgroups. Network namespaces are the
network's business (``PodNetwork.teardown``), as they need no process to exist.
"""

from __future__ import annotations

import contextlib
import signal
import time
from pathlib import Path

from pocketkube.runtime.process import procs
from pocketkube.runtime.process.cgroups import Cgroups
from pocketkube.runtime.process.codec import from_json
from pocketkube.runtime.process.launcher import SERVER_RECORD
from pocketkube.runtime.process.shim import STARTED
from pocketkube.runtime.process.state import ContainerRecord, SandboxRecord, Started, read_json

SHIM_GRACE = 2.0  # seconds for shims to record their container's exit before they are killed


def _records(directory: Path, name: str) -> list[Path]:
    if not directory.is_dir():
        return []
    return [entry / name for entry in directory.iterdir() if (entry / name).exists()]


def kill_everything(root_dir: Path, *, cgroups: Cgroups | None = None) -> None:
    shims: list[Started] = []
    for path in _records(root_dir / "containers", STARTED):
        with contextlib.suppress(ValueError, TypeError):
            started = from_json(Started, read_json(path))
            procs.signal_group(started.pid, started.start_ticks, signal.SIGKILL)
            shims.append(started)
    container_cgroups = []
    for path in _records(root_dir / "containers", "container.json"):
        with contextlib.suppress(ValueError, TypeError):
            container_cgroups.append(from_json(ContainerRecord, read_json(path)).cgroup_path)
    if cgroups is not None:
        for cgroup in container_cgroups:
            cgroups.kill_all(cgroup)
    deadline = time.monotonic() + SHIM_GRACE
    while time.monotonic() < deadline and any(
        procs.alive(s.shim_pid, s.shim_start_ticks) for s in shims
    ):
        time.sleep(0.01)
    for s in shims:
        procs.signal_group(s.shim_pid, s.shim_start_ticks, signal.SIGKILL)
    server = read_json(root_dir / SERVER_RECORD)
    if isinstance(server, dict):
        procs.signal_group(server.get("pid", 0), server.get("start_ticks", 0), signal.SIGKILL)
    if cgroups is not None:
        for cgroup in container_cgroups:
            cgroups.remove(cgroup)
        for path in _records(root_dir / "sandboxes", "sandbox.json"):
            with contextlib.suppress(ValueError, TypeError):
                cgroups.remove(from_json(SandboxRecord, read_json(path)).cgroup_path)
