"""/stats/summary: cgroup readings, rates between readings, node figures from /proc."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from pocketkube.kubelet.server.stats import SummaryBuilder, Usage, cgroup_usage, node_usage
from pocketkube.runtime import cri
from tests.unit.kubelet.server.test_server import FakeRuntime, container, pod


def test_cgroup_v2_and_v1(tmp_path: Path) -> None:
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cpu.stat").write_text("usage_usec 1500\nuser_usec 1000\n")
    (v2 / "memory.current").write_text("1000\n")
    (v2 / "memory.stat").write_text("anon 600\ninactive_file 300\n")
    assert cgroup_usage([str(v2)]) == Usage(1_500_000, 1000, 700)
    cpu, mem = tmp_path / "cpuacct", tmp_path / "memory"
    cpu.mkdir()
    mem.mkdir()
    (cpu / "cpuacct.usage").write_text("42\n")
    (mem / "memory.usage_in_bytes").write_text("500\n")
    (mem / "memory.stat").write_text("total_inactive_file 100\n")
    assert cgroup_usage([str(cpu), str(mem)]) == Usage(42, 500, 400)
    assert cgroup_usage([]) == Usage()


def test_node_usage_reads_proc(tmp_path: Path) -> None:
    (tmp_path / "stat").write_text("cpu  100 0 50 1000 10 0 0 0 0 0\n")
    (tmp_path / "meminfo").write_text(
        "MemTotal:  1000 kB\nMemFree:  200 kB\nMemAvailable:  600 kB\n"
    )
    usage, available = node_usage(tmp_path)
    assert usage.usage_bytes == 800 * 1024
    assert usage.working_set_bytes == 400 * 1024
    assert available == 600 * 1024
    assert usage.cpu_ns is not None
    assert usage.cpu_ns > 0


async def test_summary_with_rates(tmp_path: Path) -> None:
    cg = tmp_path / "cg"
    cg.mkdir()
    (cg / "cpu.stat").write_text("usage_usec 1000\n")
    (cg / "memory.current").write_text("2048\n")
    runtime = FakeRuntime(log_path="")
    runtime.containers = [container("c1", 1_000_000_000, cri.ContainerState.RUNNING)]
    now = [10_000_000_000]

    def dirs(cid: str) -> Sequence[str]:
        return [str(cg)] if cid == "c1" else []

    builder = SummaryBuilder(
        node_name="n1",
        pods=lambda: [pod()],
        runtime=runtime,
        cgroup_dirs=dirs,
        node_usage=lambda: (Usage(5, 10, 8), 100),
        clock=lambda: now[0],
    )
    first = await builder.summary()
    assert first["node"]["nodeName"] == "n1"
    assert first["node"]["memory"]["workingSetBytes"] == 8
    (p,) = first["pods"]
    assert p["podRef"] == {"name": "p", "namespace": "ns", "uid": "uid-1"}
    (c,) = p["containers"]
    assert c["cpu"]["usageCoreNanoSeconds"] == 1_000_000
    assert "usageNanoCores" not in c["cpu"]
    assert c["memory"]["workingSetBytes"] == 2048
    (cg / "cpu.stat").write_text("usage_usec 501000\n")  # half a CPU over one second
    now[0] += 1_000_000_000
    second = await builder.summary()
    assert second["pods"][0]["containers"][0]["cpu"]["usageNanoCores"] == 500_000_000
    assert second["pods"][0]["cpu"]["usageNanoCores"] == 500_000_000


def test_cgroup_v1_without_cpuacct_sums_its_processes(tmp_path: Path) -> None:
    cg = tmp_path / "cpu"
    cg.mkdir()
    (cg / "cgroup.procs").write_text(f"{os.getpid()}\n")
    usage = cgroup_usage([str(cg)])
    assert usage.cpu_ns is not None
    assert usage.cpu_ns >= 0
