from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from pocketkube.client.clock import FakeClock
from pocketkube.kubelet.node.pressure import (
    DISK,
    MEMORY,
    PID,
    EvictionThresholds,
    HostSignals,
    Pressure,
    PressureTracker,
    read_host_signals,
    thresholds_met,
)

MI = 1024 * 1024
HEALTHY = HostSignals(
    memory_available=2048 * MI,
    memory_capacity=4096 * MI,
    nodefs_available=50 * 1024 * MI,
    nodefs_capacity=100 * 1024 * MI,
    nodefs_inodes_free=500_000,
    nodefs_inodes=1_000_000,
    pid_available=30_000,
    pid_max=32_768,
)


@pytest.mark.parametrize(
    ("changes", "thresholds", "met"),
    [
        ({}, EvictionThresholds(), set()),
        ({"memory_available": 99 * MI}, EvictionThresholds(), {MEMORY}),
        ({"memory_available": 100 * MI}, EvictionThresholds(), set()),  # strictly below
        ({"nodefs_available": 9 * 1024 * MI}, EvictionThresholds(), {DISK}),
        ({"nodefs_inodes_free": 40_000}, EvictionThresholds(), {DISK}),
        ({"pid_available": 100}, EvictionThresholds(), set()),  # no default pid threshold
        ({"pid_available": 100}, EvictionThresholds(pid_available=0.05), {PID}),
        (
            {"memory_available": 0, "nodefs_available": 0},
            EvictionThresholds(),
            {MEMORY, DISK},
        ),
    ],
)
def test_thresholds_met(
    changes: dict[str, int], thresholds: EvictionThresholds, met: set[str]
) -> None:
    assert thresholds_met(replace(HEALTHY, **changes), thresholds) == met


def test_reservation_for_allocatable() -> None:
    reserved = EvictionThresholds().reserved({"ephemeral-storage": 1000})
    assert reserved == {"memory": 100 * MI, "ephemeral-storage": 100}


def test_pressure_holds_for_the_transition_period() -> None:
    clock = FakeClock()
    tracker = PressureTracker(clock=clock.now, transition_period=300.0)
    assert tracker.observe(HEALTHY) == Pressure()
    assert tracker.observe(replace(HEALTHY, memory_available=0)) == Pressure(memory=True)
    clock.advance(299)
    assert tracker.observe(HEALTHY) == Pressure(memory=True)
    clock.advance(1)
    assert tracker.observe(HEALTHY) == Pressure()
    assert tracker.observe(None) == Pressure()  # no measurement: nothing new observed


def test_read_host_signals(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    (proc / "sys/kernel").mkdir(parents=True)
    (proc / "meminfo").write_text("MemTotal: 4096 kB\nMemFree: 100 kB\nMemAvailable: 2048 kB\n")
    (proc / "sys/kernel/pid_max").write_text("32768\n")
    (proc / "sys/kernel/threads-max").write_text("20000\n")
    (proc / "loadavg").write_text("0.10 0.20 0.30 2/350 12345\n")
    signals = read_host_signals(tmp_path, proc=proc)
    assert signals.memory_available == 2048 * 1024
    assert signals.memory_capacity == 4096 * 1024
    assert signals.pid_max == 20000
    assert signals.pid_available == 20000 - 350
    assert 0 < signals.nodefs_available <= signals.nodefs_capacity


def test_read_this_host(tmp_path: Path) -> None:
    signals = read_host_signals(tmp_path)
    assert signals.memory_available > 0
    assert signals.pid_max > signals.pid_available > 0
