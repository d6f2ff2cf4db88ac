"""Node pressure: the eviction signals and the MemoryPressure/DiskPressure/PIDPressure verdicts.

Upstream the eviction manager measures signals every 10 s and the node status setters only ask
it ``IsUnderMemoryPressure()`` and friends. We keep that split: ``read_host_signals`` measures,
``PressureTracker`` decides, the condition setters report. Pod eviction itself is not done here.

The signals and their default hard thresholds on Linux (kubelet's ``evictionHard``):

- ``memory.available < 100Mi``: ``MemAvailable`` of /proc/meminfo (upstream subtracts the root
  cgroup's working set from capacity; MemAvailable is the kernel's own estimate of the same
  thing and needs no cgroup);
- ``nodefs.available < 10%`` and ``nodefs.inodesFree < 5%``: ``statvfs`` of the root dir;
- ``imagefs.*``: not measured — the process runtime stores no image layers;
- ``pid.available``: ``min(pid_max, threads-max)`` minus the tasks running (``/proc/loadavg``);
  upstream sets no default threshold for it, so PIDPressure stays false unless one is given.

A condition, once observed, is reported for ``evictionPressureTransitionPeriod`` (5 minutes)
after the signal last crossed its threshold, so that a node hovering at the edge does not flap
between pressure and none with every measurement.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pocketkube.kubelet.node.machineinfo import meminfo

MEMORY = "MemoryPressure"
DISK = "DiskPressure"
PID = "PIDPressure"
PRESSURE_TRANSITION_PERIOD = 300.0
MI = 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class HostSignals:
    """One measurement of the eviction signals (bytes, inodes, tasks)."""

    memory_available: int
    memory_capacity: int
    nodefs_available: int
    nodefs_capacity: int
    nodefs_inodes_free: int
    nodefs_inodes: int
    pid_available: int
    pid_max: int


@dataclass(frozen=True, kw_only=True)
class EvictionThresholds:
    """Hard eviction thresholds: bytes for memory, fractions of capacity for the rest."""

    memory_available: int = 100 * MI
    nodefs_available: float = 0.10
    nodefs_inodes_free: float = 0.05
    pid_available: float | None = None

    def reserved(self, capacity: dict[str, int]) -> dict[str, int]:
        """What allocatable keeps back for these thresholds (upstream hardEvictionReservation)."""
        reserved = {"memory": self.memory_available}
        if "ephemeral-storage" in capacity:
            reserved["ephemeral-storage"] = int(
                capacity["ephemeral-storage"] * self.nodefs_available
            )
        return reserved


@dataclass(frozen=True)
class Pressure:
    memory: bool = False
    disk: bool = False
    pid: bool = False


def read_host_signals(root_dir: Path | str, *, proc: Path = Path("/proc")) -> HostSignals:
    info = meminfo(proc)
    stat = os.statvfs(root_dir)
    pid_max = min(_read_int(proc / "sys" / "kernel" / "pid_max"), _threads_max(proc))
    return HostSignals(
        memory_available=info.get("MemAvailable", info.get("MemFree", 0)),
        memory_capacity=info.get("MemTotal", 0),
        nodefs_available=stat.f_bavail * stat.f_frsize,
        nodefs_capacity=stat.f_blocks * stat.f_frsize,
        nodefs_inodes_free=stat.f_ffree,
        nodefs_inodes=stat.f_files,
        pid_available=max(0, pid_max - _tasks(proc)),
        pid_max=pid_max,
    )


def _threads_max(proc: Path) -> int:
    value = _read_int(proc / "sys" / "kernel" / "threads-max")
    return value if value > 0 else 1 << 22


def _read_int(path: Path) -> int:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def _tasks(proc: Path) -> int:
    """Tasks (threads) on the system: the denominator of /proc/loadavg's ``running/total``."""
    try:
        field = (proc / "loadavg").read_text().split()[3]
        return int(field.partition("/")[2])
    except (OSError, ValueError, IndexError):
        return 0


def thresholds_met(signals: HostSignals, thresholds: EvictionThresholds) -> set[str]:
    """The pressure conditions whose signal is below its threshold right now."""
    met: set[str] = set()
    if signals.memory_available < thresholds.memory_available:
        met.add(MEMORY)
    if signals.nodefs_capacity and (
        signals.nodefs_available < signals.nodefs_capacity * thresholds.nodefs_available
    ):
        met.add(DISK)
    if signals.nodefs_inodes and (
        signals.nodefs_inodes_free < signals.nodefs_inodes * thresholds.nodefs_inodes_free
    ):
        met.add(DISK)
    pid = thresholds.pid_available
    if pid is not None and signals.pid_max and signals.pid_available < signals.pid_max * pid:
        met.add(PID)
    return met


class PressureTracker:
    """Turns successive measurements into the conditions the node reports."""

    def __init__(
        self,
        *,
        thresholds: EvictionThresholds | None = None,
        transition_period: float = PRESSURE_TRANSITION_PERIOD,
        clock: Callable[[], float],
    ) -> None:
        self.thresholds = thresholds or EvictionThresholds()
        self._transition_period = transition_period
        self._clock = clock
        self._last_observed: dict[str, float] = {}

    def observe(self, signals: HostSignals | None) -> Pressure:
        """Record a measurement (``None``: none could be made) and return the verdict."""
        now = self._clock()
        if signals is not None:
            for condition in thresholds_met(signals, self.thresholds):
                self._last_observed[condition] = now
        return self.current()

    def current(self) -> Pressure:
        now = self._clock()
        held = {
            condition
            for condition, seen in self._last_observed.items()
            if now - seen < self._transition_period
        }
        return Pressure(memory=MEMORY in held, disk=DISK in held, pid=PID in held)
