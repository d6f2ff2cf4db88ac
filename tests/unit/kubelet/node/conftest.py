"""Fakes shared by the node-side unit tests: an in-memory API, a recorder, a runtime, a clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from pocketkube.client.clock import FakeClock
from pocketkube.kubelet.node.fake import FakeApi, FakeRecorder, FakeRuntimeInfo
from pocketkube.kubelet.node.machineinfo import MachineInfo
from pocketkube.kubelet.node.status import NodeStatusManager

EPOCH = 1_700_000_000.0
GI = 1024**3

MACHINE = MachineInfo(
    num_cores=4,
    memory_capacity=8 * GI,
    ephemeral_storage=100 * GI,
    hugepages={2 * 1024 * 1024: 0},
    machine_id="m-1",
    system_uuid="uuid-1",
    boot_id="boot-1",
    kernel_version="6.1.0",
    os_image="Debian GNU/Linux 12 (bookworm)",
    operating_system="linux",
    architecture="amd64",
)


async def eventually(condition: Callable[[], bool], *, within: float = 5.0) -> None:
    """Let tasks (and to_thread calls) run until ``condition`` holds; fail after ``within`` s."""
    for _ in range(int(within / 0.001)):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"condition not met within {within} s")


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def recorder() -> FakeRecorder:
    return FakeRecorder()


@pytest.fixture
def runtime() -> FakeRuntimeInfo:
    return FakeRuntimeInfo()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_manager(
    api: FakeApi, recorder: FakeRecorder, runtime: FakeRuntimeInfo, clock: FakeClock
) -> Callable[..., NodeStatusManager]:
    def make(**overrides: Any) -> NodeStatusManager:
        options: dict[str, Any] = {
            "client": api,
            "recorder": recorder,
            "node_name": "node-1",
            "runtime": runtime,
            "images": runtime,
            "machine": lambda: MACHINE,
            "node_ip": "10.0.0.5",
            "kubelet_version": "v1.33.0",
            "clock": clock,
            "wall_clock": lambda: EPOCH + clock.now(),
            "jitter": 0.0,
        }
        options.update(overrides)
        return NodeStatusManager(**options)

    return make
