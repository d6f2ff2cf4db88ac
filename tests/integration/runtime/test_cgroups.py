"""cgroups on the real kernel (root): limits are written and enforced, OOM kills are reported,
kill_all leaves nothing of a forking tree, remove cleans up.

Each test works under its own ``pocketkube-test-<random>/`` at the hierarchy roots (never the
``pocketkube/`` of a running cluster) and kills and removes it afterwards, even on failure.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pocketkube.runtime import cri
from pocketkube.runtime.process.cgroups import (
    Cgroups,
    CgroupsV1,
    CgroupsV2,
    default_cgroups,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for cgroups")

MiB = 1 << 20
FORK_BOMB = """
import os, time
def spawn(depth):
    if os.fork() == 0:  # children detach and keep forking, as a daemonizing program does
        os.setsid()
        if depth:
            spawn(depth - 1)
        while True:
            time.sleep(0.05)
            if os.fork() == 0:
                time.sleep(60)
                os._exit(0)
for _ in range(3):
    spawn(2)
while True:
    time.sleep(1)
"""


@pytest.fixture
def base() -> Iterator[tuple[Cgroups, str]]:
    cgroups = default_cgroups()
    if not isinstance(cgroups, CgroupsV1 | CgroupsV2):
        pytest.skip(f"no usable cgroups here: {getattr(cgroups, 'note', '')}")
    path = f"pocketkube-test-{secrets.token_hex(4)}"
    try:
        yield cgroups, path
    finally:
        cgroups.kill_all(path)
        cgroups.remove(path)


def start_in(cgroups: Cgroups, path: str, code: str) -> subprocess.Popen[bytes]:
    """A Python child that joins the cgroup before it runs ``code``."""

    def join() -> None:
        for procs in cgroups.procs_files(path):
            Path(procs).write_text(str(os.getpid()))

    return subprocess.Popen([sys.executable, "-c", code], preexec_fn=join)


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def value(cgroups: Cgroups, controller: str, path: str, name: str) -> str:
    if isinstance(cgroups, CgroupsV2):
        return (cgroups.root / path / name).read_text().strip()
    assert isinstance(cgroups, CgroupsV1)
    return (cgroups.roots[controller] / path / name).read_text().strip()


def test_limits_are_written(base: tuple[Cgroups, str]) -> None:
    cgroups, root = base
    path = f"{root}/pod1/c1"
    limits = cri.LinuxContainerResources(
        cpu_period=100000,
        cpu_quota=20000,
        cpu_shares=256,
        memory_limit_in_bytes=64 * MiB,
        pids_limit=50,
    )
    cgroups.create(f"{root}/pod1", None)
    cgroups.create(path, limits)
    if isinstance(cgroups, CgroupsV2):
        assert value(cgroups, "memory", path, "memory.max") == str(64 * MiB)
        assert value(cgroups, "cpu", path, "cpu.max") == "20000 100000"
    else:
        assert value(cgroups, "memory", path, "memory.limit_in_bytes") == str(64 * MiB)
        assert value(cgroups, "cpu", path, "cpu.cfs_quota_us") == "20000"
        assert value(cgroups, "cpu", path, "cpu.shares") == "256"
    assert value(cgroups, "pids", path, "pids.max") == "50"
    cgroups.create(path, None)  # updating lifts the limits
    assert value(cgroups, "pids", path, "pids.max") == "max"


def test_memory_limit_oom_kills_and_is_reported(base: tuple[Cgroups, str]) -> None:
    cgroups, root = base
    hog, calm = f"{root}/pod/hog", f"{root}/pod/calm"
    cgroups.create(hog, cri.LinuxContainerResources(memory_limit_in_bytes=32 * MiB))
    cgroups.create(calm, cri.LinuxContainerResources(memory_limit_in_bytes=32 * MiB))
    proc = start_in(cgroups, hog, "chunks = [b'x' * (1 << 20) for _ in range(256)]")
    assert proc.wait(timeout=60) == -9  # SIGKILL from the OOM killer
    assert cgroups.oom_killed(hog) is True
    other = start_in(cgroups, calm, "print('fine')")
    assert other.wait(timeout=60) == 0
    assert cgroups.oom_killed(calm) is False


def test_pids_limit(base: tuple[Cgroups, str]) -> None:
    cgroups, root = base
    path = f"{root}/c"
    cgroups.create(path, cri.LinuxContainerResources(pids_limit=3))
    code = """
import os, sys, time
made = 0
for _ in range(10):
    try:
        pid = os.fork()
    except BlockingIOError:
        continue
    if pid == 0:
        time.sleep(5); os._exit(0)
    made += 1
sys.exit(made)
"""
    proc = start_in(cgroups, path, code)
    assert proc.wait(timeout=60) == 2  # itself and two children make three
    cgroups.kill_all(path)


def test_kill_all_kills_a_forking_tree(base: tuple[Cgroups, str]) -> None:
    cgroups, root = base
    path = f"{root}/pod/c"
    cgroups.create(path, None)
    proc = start_in(cgroups, path, FORK_BOMB)
    wait_for(lambda: len(cgroups.pids(path)) > 20)
    assert proc.pid in cgroups.pids(f"{root}/pod")  # a pod's pids include its containers'
    cgroups.kill_all(f"{root}/pod")
    assert proc.wait(timeout=10) == -9
    assert cgroups.pids(path) == []
    time.sleep(0.3)  # had anything escaped, it would show by now
    assert cgroups.pids(path) == []


def test_remove(base: tuple[Cgroups, str]) -> None:
    cgroups, root = base
    path = f"{root}/pod/c"
    cgroups.create(path, None)
    proc = start_in(cgroups, path, "import time; time.sleep(60)")
    wait_for(lambda: cgroups.pids(path) == [proc.pid])
    cgroups.kill_all(path)
    proc.wait(timeout=10)
    cgroups.remove(f"{root}/pod")
    for procs in cgroups.procs_files(path):
        assert not Path(procs).parent.exists()
        assert not Path(procs).parent.parent.exists()
    cgroups.remove(f"{root}/pod")  # idempotent
    assert cgroups.pids(path) == []
    assert cgroups.oom_killed(path) is False
