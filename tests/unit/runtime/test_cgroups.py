"""cgroups on a fake cgroupfs (plain directories): which files get which values, and how the
kernel's files are read. The real thing is in tests/integration/runtime/test_cgroups.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from pocketkube.runtime import cri
from pocketkube.runtime.process import cgroups
from pocketkube.runtime.process.cgroups import (
    CgroupError,
    CgroupsV1,
    CgroupsV2,
    NoCgroups,
    default_cgroups,
    shares_to_weight,
    v1_roots,
)

LIMITS = cri.LinuxContainerResources(
    cpu_period=100000,
    cpu_quota=50000,
    cpu_shares=512,
    memory_limit_in_bytes=64 << 20,
    pids_limit=100,
)


def v1(tmp_path: Path) -> CgroupsV1:
    roots = {c: tmp_path / c for c in ("memory", "cpu", "pids", "freezer")}
    for root in roots.values():
        root.mkdir()
    return CgroupsV1(roots=roots)


def read(path: Path) -> str:
    return path.read_text().strip()


def test_v1_create_writes_limits(tmp_path: Path) -> None:
    cg = v1(tmp_path)
    (tmp_path / "memory/pk/pod1/c1").mkdir(parents=True)
    (tmp_path / "memory/pk/pod1/c1/memory.memsw.limit_in_bytes").write_text("-1")
    cg.create("pk/pod1/c1", LIMITS)
    assert read(tmp_path / "memory/pk/pod1/c1/memory.limit_in_bytes") == str(64 << 20)
    assert read(tmp_path / "memory/pk/pod1/c1/memory.memsw.limit_in_bytes") == str(64 << 20)
    assert read(tmp_path / "cpu/pk/pod1/c1/cpu.shares") == "512"
    assert read(tmp_path / "cpu/pk/pod1/c1/cpu.cfs_period_us") == "100000"
    assert read(tmp_path / "cpu/pk/pod1/c1/cpu.cfs_quota_us") == "50000"
    assert read(tmp_path / "pids/pk/pod1/c1/pids.max") == "100"
    assert (tmp_path / "freezer/pk/pod1/c1").is_dir()


def test_v1_create_without_limits(tmp_path: Path) -> None:
    cg = v1(tmp_path)
    cg.create("pk/pod1", None)
    assert read(tmp_path / "memory/pk/pod1/memory.limit_in_bytes") == "-1"
    assert read(tmp_path / "cpu/pk/pod1/cpu.cfs_quota_us") == "-1"
    assert read(tmp_path / "pids/pk/pod1/pids.max") == "max"
    assert not (tmp_path / "cpu/pk/pod1/cpu.shares").exists()


def test_v1_procs_files_and_pids(tmp_path: Path) -> None:
    cg = v1(tmp_path)
    cg.create("pk/pod1/c1", None)
    assert cg.procs_files("pk/pod1/c1") == [
        str(tmp_path / c / "pk/pod1/c1/cgroup.procs") for c in ("memory", "cpu", "pids", "freezer")
    ]
    (tmp_path / "memory/pk/pod1/cgroup.procs").write_text("")
    (tmp_path / "memory/pk/pod1/c1/cgroup.procs").write_text("12\n30\n")
    (tmp_path / "freezer/pk/pod1/c1/cgroup.procs").write_text("30\n31\n")
    assert cg.pids("pk/pod1/c1") == [12, 30, 31]
    assert cg.pids("pk/pod1") == [12, 30, 31]  # descendants included
    assert cg.pids("pk/missing") == []


@pytest.mark.parametrize(
    ("content", "killed"),
    [
        ("oom_kill_disable 0\nunder_oom 0\noom_kill 0\n", False),
        ("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n", True),
        (None, False),
    ],
)
def test_v1_oom_killed(tmp_path: Path, content: str | None, killed: bool) -> None:
    cg = v1(tmp_path)
    cg.create("pk/c", None)
    if content is not None:
        (tmp_path / "memory/pk/c/memory.oom_control").write_text(content)
    assert cg.oom_killed("pk/c") is killed


def test_v2_create_enables_controllers_down_the_tree(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    cg = CgroupsV2(root=tmp_path)
    cg.create("pk/pod1/c1", LIMITS)
    for parent in ("", "pk", "pk/pod1"):
        assert read(tmp_path / parent / "cgroup.subtree_control") == "+cpu +memory +pids"
    c1 = tmp_path / "pk/pod1/c1"
    assert read(c1 / "memory.max") == str(64 << 20)
    assert read(c1 / "cpu.max") == "50000 100000"
    assert read(c1 / "cpu.weight") == str(shares_to_weight(512))
    assert read(c1 / "pids.max") == "100"
    assert cg.procs_files("pk/pod1/c1") == [str(c1 / "cgroup.procs")]


def test_v2_skips_controllers_the_kernel_lacks(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("memory\n")
    cg = CgroupsV2(root=tmp_path)
    cg.create("pk/c", None)
    assert read(tmp_path / "cgroup.subtree_control") == "+memory"
    assert read(tmp_path / "pk/c/memory.max") == "max"
    assert not (tmp_path / "pk/c/cpu.max").exists()
    assert not (tmp_path / "pk/c/pids.max").exists()


def test_v2_oom_killed(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("memory\n")
    cg = CgroupsV2(root=tmp_path)
    cg.create("pk/c", None)
    assert cg.oom_killed("pk/c") is False
    (tmp_path / "pk/c/memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert cg.oom_killed("pk/c") is True


@pytest.mark.parametrize(("shares", "weight"), [(2, 1), (1024, 39), (262144, 10000), (1, 1)])
def test_shares_to_weight(shares: int, weight: int) -> None:
    assert shares_to_weight(shares) == weight


@pytest.mark.parametrize("path", ["", "/", "..", "../etc", "pk/../../x"])
def test_paths_stay_inside_the_hierarchy(tmp_path: Path, path: str) -> None:
    with pytest.raises(CgroupError, match="invalid cgroup path"):
        v1(tmp_path).create(path, None)


def test_v1_roots_from_mountinfo(tmp_path: Path) -> None:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "25 30 0:22 / /sys rw,nosuid shared:7 - sysfs sysfs rw\n"
        "31 25 0:26 / /sys/fs/cgroup ro shared:9 - tmpfs tmpfs ro,mode=755\n"
        "32 31 0:27 / /sys/fs/cgroup/unified rw shared:10 - cgroup2 cgroup2 rw\n"
        "35 31 0:30 / /sys/fs/cgroup/cpu,cpuacct rw shared:15 - cgroup cgroup rw,cpu,cpuacct\n"
        "36 31 0:31 / /sys/fs/cgroup/memory rw shared:16 - cgroup cgroup rw,memory\n"
        "37 31 0:32 / /sys/fs/cgroup/freezer rw shared:17 - cgroup cgroup rw,freezer\n"
        "38 31 0:33 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n"
    )
    assert v1_roots(mountinfo) == {
        "cpu": Path("/sys/fs/cgroup/cpu,cpuacct"),
        "memory": Path("/sys/fs/cgroup/memory"),
        "freezer": Path("/sys/fs/cgroup/freezer"),
    }


def test_no_cgroups() -> None:
    cg = NoCgroups(note="not root")
    cg.create("pk/c", LIMITS)
    assert cg.procs_files("pk/c") == []
    assert cg.pids("pk/c") == []
    cg.kill_all("pk/c")
    assert cg.oom_killed("pk/c") is False
    cg.remove("pk/c")


def test_default_cgroups_without_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cgroups.os, "geteuid", lambda: 1000)
    cg = default_cgroups()
    assert isinstance(cg, NoCgroups)
    assert "not root" in cg.note
