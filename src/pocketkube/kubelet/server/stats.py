"""``/stats/summary``: the node's and its containers' CPU and memory, as upstream's Summary API.

The node's figures come from ``/proc/stat`` and ``/proc/meminfo``; a container's from its
cgroup (v2 ``cpu.stat``/``memory.current``/``memory.stat``, or v1 ``cpuacct.usage``/
``memory.usage_in_bytes``), found through ``cgroup_dirs(container_id)``. ``usageNanoCores`` is
the rate between this reading and the previous one (absent on the first); a pod's figures are the
sums of its containers'. A runtime without cgroups reports containers without usage.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pocketkube.client.rest import Obj
from pocketkube.kubelet import podutil
from pocketkube.kubelet.server.host import StreamingRuntime
from pocketkube.runtime import cri


@dataclass(frozen=True)
class Usage:
    cpu_ns: int | None = None  # cumulative CPU time
    usage_bytes: int | None = None
    working_set_bytes: int | None = None


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _keyed(path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        for line in path.read_text().splitlines():
            key, _, value = line.partition(" ")
            if value.strip().isdigit():
                out[key] = int(value)
    except OSError:
        pass
    return out


def cgroup_usage(dirs: Sequence[str]) -> Usage:
    cpu = usage = working = None
    for raw in dirs:
        d = Path(raw)
        stat = _keyed(d / "cpu.stat")
        if "usage_usec" in stat:
            cpu = stat["usage_usec"] * 1000
        elif (value := _read_int(d / "cpuacct.usage")) is not None:
            cpu = value
        memory = _read_int(d / "memory.current")
        if memory is None:
            memory = _read_int(d / "memory.usage_in_bytes")
        if memory is not None:
            usage = memory
            mstat = _keyed(d / "memory.stat")
            inactive = mstat.get("inactive_file", mstat.get("total_inactive_file", 0))
            working = max(memory - inactive, 0)
    if cpu is None and dirs:
        cpu = _procs_cpu(Path(dirs[0]) / "cgroup.procs")
    return Usage(cpu, usage, working)


def _procs_cpu(procs: Path, proc: Path = Path("/proc")) -> int | None:
    """CPU time of the cgroup's processes (and their reaped children) from ``/proc/<pid>/stat``,
    for a cgroup v1 hierarchy without cpuacct."""
    try:
        pids = procs.read_text().split()
    except OSError:
        return None
    ticks = 0
    for pid in pids:
        try:
            fields = (proc / pid / "stat").read_text().rpartition(")")[2].split()
            ticks += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
        except (OSError, ValueError):
            continue
    return ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK") if pids else None


def node_usage(proc: Path = Path("/proc")) -> tuple[Usage, int | None]:
    """Node usage and available memory bytes."""
    cpu = None
    try:
        fields = (proc / "stat").read_text().splitlines()[0].split()[1:]
        busy = [int(v) for i, v in enumerate(fields[:8]) if i not in (3, 4)]  # not idle, iowait
        cpu = sum(busy) * 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        pass
    info = {k.rstrip(":"): v * 1024 for k, v in _colon(proc / "meminfo").items()}
    total, free, available = info.get("MemTotal"), info.get("MemFree"), info.get("MemAvailable")
    usage = total - free if total is not None and free is not None else None
    working = total - available if total is not None and available is not None else None
    return Usage(cpu, usage, working), available


def _colon(path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                out[parts[0]] = int(parts[1])
    except OSError:
        pass
    return out


def _rfc3339(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SummaryBuilder:
    def __init__(
        self,
        *,
        node_name: str,
        pods: Callable[[], list[Obj]],
        runtime: StreamingRuntime,
        cgroup_dirs: Callable[[str], Sequence[str]],
        node_usage: Callable[[], tuple[Usage, int | None]] = node_usage,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._node_name = node_name
        self._pods = pods
        self._runtime = runtime
        self._cgroup_dirs = cgroup_dirs
        self._node_usage = node_usage
        self._clock = clock
        self._last: dict[str, tuple[int, int]] = {}  # key → (time ns, cpu ns)
        self._start = clock()

    def _cpu(self, key: str, now: int, cpu_ns: int | None) -> dict[str, Any] | None:
        if cpu_ns is None:
            return None
        out: dict[str, Any] = {"time": _rfc3339(now), "usageCoreNanoSeconds": cpu_ns}
        last = self._last.get(key)
        if last is not None and now > last[0] and cpu_ns >= last[1]:
            out["usageNanoCores"] = (cpu_ns - last[1]) * 1_000_000_000 // (now - last[0])
        self._last[key] = (now, cpu_ns)
        return out

    @staticmethod
    def _memory(now: int, usage: Usage, available: int | None = None) -> dict[str, Any] | None:
        if usage.usage_bytes is None and usage.working_set_bytes is None:
            return None
        out: dict[str, Any] = {"time": _rfc3339(now)}
        if available is not None:
            out["availableBytes"] = available
        if usage.usage_bytes is not None:
            out["usageBytes"] = usage.usage_bytes
        if usage.working_set_bytes is not None:
            out["workingSetBytes"] = usage.working_set_bytes
        return out

    async def summary(self) -> Obj:
        now = self._clock()
        node_use, available = self._node_usage()
        node: dict[str, Any] = {"nodeName": self._node_name, "startTime": _rfc3339(self._start)}
        if (cpu := self._cpu("node", now, node_use.cpu_ns)) is not None:
            node["cpu"] = cpu
        if (memory := self._memory(now, node_use, available)) is not None:
            node["memory"] = memory
        running = await self._runtime.list_containers(
            cri.ContainerFilter(state=cri.ContainerState.RUNNING)
        )
        by_pod: dict[str, list[cri.Container]] = {}
        for c in running:
            by_pod.setdefault(c.labels.get(podutil.POD_UID_LABEL, ""), []).append(c)
        pods = []
        for pod in self._pods():
            meta = pod.get("metadata") or {}
            uid = str(meta.get("uid", ""))
            containers = []
            total_cpu: int | None = None
            total = Usage()
            for c in by_pod.get(uid, []):
                use = cgroup_usage(self._cgroup_dirs(c.id))
                entry: dict[str, Any] = {
                    "name": c.metadata.name,
                    "startTime": _rfc3339(c.created_at),
                }
                if (cpu := self._cpu(c.id, now, use.cpu_ns)) is not None:
                    entry["cpu"] = cpu
                    total_cpu = (total_cpu or 0) + (use.cpu_ns or 0)
                if (memory := self._memory(now, use)) is not None:
                    entry["memory"] = memory
                    total = Usage(
                        None,
                        (total.usage_bytes or 0) + (use.usage_bytes or 0),
                        (total.working_set_bytes or 0) + (use.working_set_bytes or 0),
                    )
                containers.append(entry)
            item: dict[str, Any] = {
                "podRef": {
                    "name": meta.get("name", ""),
                    "namespace": meta.get("namespace", "default"),
                    "uid": uid,
                },
                "startTime": (pod.get("status") or {}).get("startTime", ""),
                "containers": containers,
            }
            if (cpu := self._cpu(f"pod/{uid}", now, total_cpu)) is not None:
                item["cpu"] = cpu
            if (memory := self._memory(now, total)) is not None:
                item["memory"] = memory
            pods.append(item)
        return {"node": node, "pods": pods}
