"""cgroups for pods and containers: limits, OOM reports, and killing a whole process tree.

A process group alone cannot hold a container: a child may ``setsid`` away, fork faster than we
kill, or use more memory than its limit. A cgroup holds every descendant, whatever it does, so
the process runtime gives each pod a cgroup and each container one inside it (paths relative to
every controller's root: ``pocketkube/pod<uid>/<container id>``), as the kubelet's cgroup
manager and runc do:

* limits: memory (the OOM killer acts inside the cgroup), cpu (CFS shares, quota and period) and
  pids;
* ``oom_killed``: the kernel counts OOM kills per memory cgroup (``oom_kill`` in v1's
  ``memory.oom_control``, v2's ``memory.events``): that is how a container's exit becomes
  ``OOMKilled``;
* ``kill_all``: freeze the cgroup (v1 freezer, v2 ``cgroup.freeze``), SIGKILL everything in it,
  thaw; a frozen process cannot fork, so none escapes (v2's ``cgroup.kill`` does it in one go).

cgroup v1 (one hierarchy per controller at ``/sys/fs/cgroup/<controller>``, found in
``/proc/self/mountinfo``, as on this project's CI machine) and v2 (one unified hierarchy at
``/sys/fs/cgroup``) are both supported; ``default_cgroups`` picks the one the host uses, or
``NoCgroups`` (nothing enforced; ``note`` says so) without root or without a usable hierarchy.
These calls touch only small pseudo-files, so they are synchronous.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from pocketkube.runtime import cri

BASE = "pocketkube"
CGROUP_ROOT = Path("/sys/fs/cgroup")
V1_CONTROLLERS = ("memory", "cpu", "pids", "freezer")
V2_CONTROLLERS = ("memory", "cpu", "pids")
SETTLE_TIMEOUT = 2.0  # seconds to wait for a freeze, or for killed processes to leave


class Cgroups(Protocol):
    def create(self, path: str, resources: cri.LinuxContainerResources | None) -> None:
        """Create the cgroup (and its parents) and apply ``resources``; again to update."""
        ...

    def procs_files(self, path: str) -> list[str]:
        """The files a process writes its pid into to join the cgroup (one per hierarchy)."""
        ...

    def pids(self, path: str) -> list[int]:
        """Every process in the cgroup or its descendants."""
        ...

    def kill_all(self, path: str) -> None:
        """SIGKILL every process in the cgroup and its descendants, frozen first."""
        ...

    def oom_killed(self, path: str) -> bool:
        """Whether the kernel's OOM killer killed a process of the cgroup."""
        ...

    def remove(self, path: str) -> None:
        """Remove the cgroup and its descendants (empty by now). Idempotent."""
        ...


class CgroupError(cri.RuntimeError_):
    def __init__(self, message: str) -> None:
        super().__init__("Internal", message)


class NoCgroups:
    """No cgroups (no root): nothing is limited, and stopping relies on process groups."""

    def __init__(self, *, note: str = "") -> None:
        self.note = note

    def create(self, path: str, resources: cri.LinuxContainerResources | None) -> None:
        return None

    def procs_files(self, path: str) -> list[str]:
        return []

    def pids(self, path: str) -> list[int]:
        return []

    def kill_all(self, path: str) -> None:
        return None

    def oom_killed(self, path: str) -> bool:
        return False

    def remove(self, path: str) -> None:
        return None


class _Hierarchies:
    """What v1 and v2 share: a set of hierarchy roots, each holding the same cgroup paths."""

    note = ""

    def __init__(self, *, roots: Mapping[str, Path]) -> None:
        self.roots = dict(roots)  # controller (v2: "unified") -> hierarchy root

    def _dirs(self, path: str) -> list[Path]:
        return [root / _relative(path) for root in dict.fromkeys(self.roots.values())]

    def _dir(self, controller: str, path: str) -> Path | None:
        root = self.roots.get(controller)
        return root / _relative(path) if root else None

    def procs_files(self, path: str) -> list[str]:
        return [str(d / "cgroup.procs") for d in self._dirs(path)]

    def pids(self, path: str) -> list[int]:
        found: set[int] = set()
        for top in self._dirs(path):
            for dirpath, _, _ in os.walk(top):
                try:
                    text = Path(dirpath, "cgroup.procs").read_text()
                except FileNotFoundError:  # removed while we walked
                    continue
                found.update(int(line) for line in text.split())
        return sorted(found)

    def remove(self, path: str) -> None:
        for top in self._dirs(path):
            for dirpath, _, _ in os.walk(top, topdown=False):
                _rmdir(Path(dirpath))

    def _kill_until_empty(self, path: str) -> None:
        """SIGKILL what is left until the cgroup is empty (killed processes take a moment)."""
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while (pids := self.pids(path)) and time.monotonic() < deadline:
            _kill(pids)
            time.sleep(0.01)


class CgroupsV1(_Hierarchies):
    """cgroup v1: a hierarchy per controller (``roots``: controller -> mount point)."""

    def create(self, path: str, resources: cri.LinuxContainerResources | None) -> None:
        for d in self._dirs(path):
            _mkdir(d)
        r = resources or cri.LinuxContainerResources()
        # No swap beyond the limit (as the kubelet asks runc when swap is off): memory+swap is
        # set to the memory limit, loosened first so that either order of change is allowed.
        memory = self._dir("memory", path)
        memsw = memory / "memory.memsw.limit_in_bytes" if memory else None
        if memsw is not None and memsw.exists():
            _write(memsw, "-1")
        self._set("memory", path, "memory.limit_in_bytes", r.memory_limit_in_bytes or -1)
        if memsw is not None and memsw.exists():
            _write(memsw, str(r.memory_limit_in_bytes or -1))
        if r.cpu_shares > 0:
            self._set("cpu", path, "cpu.shares", r.cpu_shares)
        if r.cpu_period > 0:
            self._set("cpu", path, "cpu.cfs_period_us", r.cpu_period)
        self._set("cpu", path, "cpu.cfs_quota_us", r.cpu_quota or -1)
        self._set("pids", path, "pids.max", r.pids_limit or "max")

    def kill_all(self, path: str) -> None:
        freezer = self._dir("freezer", path)
        if freezer is not None and freezer.is_dir():
            state = freezer / "freezer.state"
            _write(state, "FROZEN")
            try:
                _wait(lambda: state.read_text().strip() == "FROZEN")
                _kill(self.pids(path))  # delivered when thawed: nothing runs in between
            finally:
                _write(state, "THAWED")
        self._kill_until_empty(path)

    def oom_killed(self, path: str) -> bool:
        memory = self._dir("memory", path)
        return memory is not None and _counter(memory / "memory.oom_control", "oom_kill") > 0

    def _set(self, controller: str, path: str, name: str, value: object) -> None:
        d = self._dir(controller, path)
        if d is not None:
            _write(d / name, str(value))


class CgroupsV2(_Hierarchies):
    """cgroup v2: one hierarchy; controllers are enabled for children by each parent."""

    def __init__(self, *, root: Path = CGROUP_ROOT) -> None:
        super().__init__(roots={"unified": root})
        self.root = root

    def create(self, path: str, resources: cri.LinuxContainerResources | None) -> None:
        wanted = set(V2_CONTROLLERS) & set(_read(self.root / "cgroup.controllers").split())
        enable = " ".join(f"+{c}" for c in sorted(wanted))
        d = self.root
        for part in Path(_relative(path)).parts:  # each parent hands the controllers down
            if enable:
                _write(d / "cgroup.subtree_control", enable)
            d = d / part
            _mkdir(d)
        r = resources or cri.LinuxContainerResources()
        limits: dict[str, object] = {
            "memory.max": r.memory_limit_in_bytes or "max",
            "memory.swap.max": 0 if r.memory_limit_in_bytes else "max",
            "cpu.max": f"{r.cpu_quota or 'max'} {r.cpu_period or 100000}",
            "pids.max": r.pids_limit or "max",
        }
        if r.cpu_shares > 0:
            limits["cpu.weight"] = shares_to_weight(r.cpu_shares)
        for name, value in limits.items():
            # a controller the kernel does not offer is skipped (swap: when accounted)
            if name.split(".")[0] in wanted and (name != "memory.swap.max" or (d / name).exists()):
                _write(d / name, str(value))

    def kill_all(self, path: str) -> None:
        d = self.root / _relative(path)
        if (d / "cgroup.kill").exists():  # Linux 5.14+: atomic, descendants included
            _write(d / "cgroup.kill", "1")
        elif (d / "cgroup.freeze").exists():
            _write(d / "cgroup.freeze", "1")
            try:
                _wait(lambda: _counter(d / "cgroup.events", "frozen") == 1)
                _kill(self.pids(path))
            finally:
                _write(d / "cgroup.freeze", "0")
        self._kill_until_empty(path)

    def oom_killed(self, path: str) -> bool:
        return _counter(self.root / _relative(path) / "memory.events", "oom_kill") > 0


def shares_to_weight(shares: int) -> int:
    """cpu.shares (2..262144) to cpu.weight (1..10000), as runc maps them."""
    return 1 + ((max(2, min(shares, 262144)) - 2) * 9999) // 262142


def v1_roots(mountinfo: Path = Path("/proc/self/mountinfo")) -> dict[str, Path]:
    """The mount point of each v1 controller we use (``cpu`` may share one with ``cpuacct``)."""
    roots: dict[str, Path] = {}
    for line in _read(mountinfo).splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        sep = fields.index("-")
        if fields[sep + 1] != "cgroup":
            continue
        options = set(fields[sep + 3].split(","))
        for controller in V1_CONTROLLERS:
            if controller in options:
                roots.setdefault(controller, Path(fields[4]))
    return roots


def default_cgroups() -> Cgroups:
    """v2 if /sys/fs/cgroup is unified, else v1; NoCgroups without root or a usable hierarchy."""
    if os.geteuid() != 0:
        return NoCgroups(note="not root: containers have no cgroup limits")
    cgroups: CgroupsV1 | CgroupsV2
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        cgroups = CgroupsV2(root=CGROUP_ROOT)
    else:
        roots = v1_roots()
        if not roots:
            return NoCgroups(note="no cgroup hierarchy mounted: containers have no limits")
        cgroups = CgroupsV1(roots=roots)
    unwritable = [
        str(r) for r in dict.fromkeys(cgroups.roots.values()) if not os.access(r, os.W_OK)
    ]
    if unwritable:
        return NoCgroups(note=f"{', '.join(unwritable)} not writable: containers have no limits")
    return cgroups


def _relative(path: str) -> str:
    rel = os.path.normpath(path).lstrip("/")
    if rel in ("", ".") or rel.startswith(".."):
        raise CgroupError(f"invalid cgroup path {path!r}")
    return rel


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def _write(path: Path, value: str) -> None:
    try:
        path.write_text(value)
    except OSError as err:
        raise CgroupError(f"cannot write {value!r} to {path}: {err.strerror}") from err


def _mkdir(d: Path) -> None:
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CgroupError(f"cannot create cgroup {d}: {err.strerror}") from err


def _rmdir(d: Path) -> None:
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        try:
            d.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as err:  # EBUSY: processes are still leaving
            if err.errno != errno.EBUSY or time.monotonic() > deadline:
                raise CgroupError(f"cannot remove cgroup {d}: {err.strerror}") from err
            time.sleep(0.02)


def _counter(path: Path, key: str) -> int:
    """A value of a flat keyed file (``oom_kill 3``); 0 when absent."""
    for line in _read(path).splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return 0


def _kill(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _wait(done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while not done() and time.monotonic() < deadline:
        time.sleep(0.005)
