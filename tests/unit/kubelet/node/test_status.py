from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from pocketkube.client.clock import FakeClock
from pocketkube.client.rest import ApiError, TransportError
from pocketkube.kubelet.node.conditions import find_condition
from pocketkube.kubelet.node.fake import FakeApi, FakeRecorder, FakeRuntimeInfo
from pocketkube.kubelet.node.pressure import HostSignals
from pocketkube.kubelet.node.status import NodeStatusManager
from pocketkube.runtime import cri

from .conftest import eventually

NODE = "/api/v1/nodes/node-1"
STATUS = NODE + "/status"
Make = Callable[..., NodeStatusManager]
MI = 1024 * 1024


def ready(api: FakeApi) -> dict[str, Any]:
    condition = find_condition(api.objects[NODE], "Ready")
    assert condition is not None
    return condition


async def test_register_creates_the_node(
    make_manager: Make, api: FakeApi, recorder: FakeRecorder
) -> None:
    node = await make_manager(labels={"node-role.kubernetes.io/control-plane": ""}).register()
    assert node["metadata"]["uid"]
    stored = api.objects[NODE]
    assert stored["metadata"]["labels"] == {
        "kubernetes.io/hostname": "node-1",
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": "amd64",
        "node-role.kubernetes.io/control-plane": "",
    }
    status = stored["status"]
    assert status["capacity"] == {
        "cpu": "4",
        "memory": "8Gi",
        "ephemeral-storage": "100Gi",
        "pods": "110",
        "hugepages-2Mi": "0",
    }
    assert status["allocatable"]["memory"] == "8092Mi"
    assert (
        status["allocatable"]["ephemeral-storage"]
        == str(100 * 1024**3 - 10 * 1024**3 // 1)[:0] + "90Gi"
    )
    assert status["addresses"] == [
        {"type": "InternalIP", "address": "10.0.0.5"},
        {"type": "Hostname", "address": "node-1"},
    ]
    assert status["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 10250}}
    assert status["nodeInfo"]["containerRuntimeVersion"] == "process://0.1.0"
    assert status["nodeInfo"]["kubeletVersion"] == "v1.33.0"
    assert [c["type"] for c in status["conditions"]] == [
        "MemoryPressure",
        "DiskPressure",
        "PIDPressure",
        "Ready",
    ]
    assert ready(api)["status"] == "False"
    assert ready(api)["message"] == (
        "[container runtime status check may not have completed yet, network state unknown]"
    )
    assert recorder.reasons() == [
        "Starting",
        "NodeHasSufficientMemory",
        "NodeHasNoDiskPressure",
        "NodeHasSufficientPID",
    ]
    assert recorder.events[1][2] == "Node node-1 status is now: NodeHasSufficientMemory"
    assert recorder.regarding[0]["metadata"] == {"name": "node-1", "uid": "node-1"}


async def test_first_update_makes_the_node_ready(
    make_manager: Make, api: FakeApi, recorder: FakeRecorder
) -> None:
    manager = make_manager()
    assert await manager.update_now()  # registers first
    assert ready(api)["status"] == "True"
    assert ready(api)["reason"] == "KubeletReady"
    assert recorder.reasons()[-1] == "NodeReady"
    assert recorder.events[-1][2] == "Node node-1 status is now: NodeReady"
    assert manager.node is not None
    assert manager.registered


async def test_status_is_sent_on_change_or_every_report_frequency(
    make_manager: Make, api: FakeApi, clock: FakeClock
) -> None:
    manager = make_manager(report_frequency=300.0)
    await manager.update_now()
    patches = api.count("patch", STATUS)
    heartbeat = ready(api)["lastHeartbeatTime"]
    clock.advance(10)
    assert not await manager.update_now()
    clock.advance(289)
    assert not await manager.update_now()
    assert api.count("patch", STATUS) == patches
    assert api.count("get", NODE) == 3  # it does read the node every round
    clock.advance(1)
    assert await manager.update_now()
    assert api.count("patch", STATUS) == patches + 1
    assert ready(api)["lastHeartbeatTime"] != heartbeat
    assert ready(api)["lastTransitionTime"] != ready(api)["lastHeartbeatTime"]


async def test_runtime_changes_are_sent_at_once(
    make_manager: Make, api: FakeApi, runtime: FakeRuntimeInfo, recorder: FakeRecorder
) -> None:
    manager = make_manager()
    await manager.update_now()
    runtime.status_ = cri.RuntimeStatus(
        conditions=(
            cri.RuntimeCondition("RuntimeReady", True),
            cri.RuntimeCondition("NetworkReady", False, "NoCNI", "cni plugin not initialized"),
        ),
        notes=("no root: pods share the host's network",),
    )
    assert await manager.update_now()
    assert ready(api)["status"] == "False"
    assert ready(api)["message"] == (
        "container runtime network not ready: NetworkReady=false reason:NoCNI "
        "message:cni plugin not initialized. WARNING: no root: pods share the host's network"
    )
    assert recorder.reasons()[-1] == "NodeNotReady"


async def test_a_runtime_that_stops_answering_is_down(
    make_manager: Make, api: FakeApi, runtime: FakeRuntimeInfo, clock: FakeClock
) -> None:
    manager = make_manager()
    await manager.update_now()
    runtime.status_error = cri.RuntimeError_("Unavailable", "connection refused")
    clock.advance(10)
    assert not await manager.update_now()  # still within the 30 s threshold
    clock.advance(20)
    assert await manager.update_now()
    assert ready(api)["message"] == "container runtime is down"
    runtime.error = cri.RuntimeError_("Unavailable", "connection refused")
    assert await manager.update_now()  # the version is now unknown: a change
    assert api.objects[NODE]["status"]["nodeInfo"]["containerRuntimeVersion"] == "process://Unknown"


async def test_register_reconciles_an_existing_node(
    make_manager: Make, api: FakeApi, recorder: FakeRecorder
) -> None:
    await api.create(
        "/api/v1/nodes",
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": "node-1",
                "labels": {"kubernetes.io/hostname": "old", "team": "blue"},
            },
            "spec": {"taints": [{"key": "maintenance", "effect": "NoSchedule"}]},
            "status": {"conditions": [{"type": "Example", "status": "True"}]},
        },
    )
    node = await make_manager().register()
    assert node["metadata"]["labels"]["team"] == "blue"
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == "node-1"
    assert node["spec"]["taints"] == [{"key": "maintenance", "effect": "NoSchedule"}]
    assert node["status"]["capacity"]["cpu"] == "4"
    assert "NodeHasSufficientMemory" in recorder.reasons()
    manager_node = api.objects[NODE]
    assert [c["type"] for c in manager_node["status"]["conditions"]] == ["Example"]


async def test_later_updates_keep_foreign_conditions_and_labels(
    make_manager: Make, api: FakeApi
) -> None:
    manager = make_manager()
    await manager.register()
    api.objects[NODE]["metadata"]["labels"]["team"] = "blue"
    del api.objects[NODE]["metadata"]["labels"]["kubernetes.io/arch"]
    api.objects[NODE]["status"]["conditions"].insert(0, {"type": "Example", "status": "True"})
    assert await manager.update_now()
    labels = api.objects[NODE]["metadata"]["labels"]
    assert labels["team"] == "blue"
    assert labels["kubernetes.io/arch"] == "amd64"  # put back
    types = [c["type"] for c in api.objects[NODE]["status"]["conditions"]]
    assert types == ["Example", "MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]


async def test_registration_backs_off_until_the_server_answers(
    make_manager: Make, api: FakeApi, clock: FakeClock
) -> None:
    api.fail("create", TransportError("connection refused"), times=3)
    task = asyncio.create_task(make_manager().register())
    for delay in (0.2, 0.4, 0.8):
        await eventually(lambda: clock.sleepers == 1)
        clock.advance(delay * 0.9)
        await asyncio.sleep(0.01)
        assert clock.sleepers == 1  # not before the back-off ends
        clock.advance(delay * 0.2)
    node = await asyncio.wait_for(task, 5)
    assert node["metadata"]["name"] == "node-1"
    assert api.count("create") == 4


async def test_update_retries_then_gives_up(make_manager: Make, api: FakeApi) -> None:
    manager = make_manager()
    await manager.register()
    api.fail("patch", ApiError(500, "InternalError", "etcd"), times=2)
    assert await manager.update_now()
    assert api.count("patch", STATUS) == 3
    api.fail("get", ApiError(500, "InternalError", "etcd"), times=5)
    assert not await manager.update_now()


async def test_a_deleted_node_is_registered_again(make_manager: Make, api: FakeApi) -> None:
    manager = make_manager()
    await manager.update_now()
    uid = api.objects[NODE]["metadata"]["uid"]
    del api.objects[NODE]
    assert not await manager.update_now()
    assert not manager.registered
    await manager.update_now()
    assert manager.registered
    assert api.objects[NODE]["metadata"]["uid"] != uid
    assert ready(api)["status"] == "True"  # the runtime state carried over


async def test_run_updates_every_period(make_manager: Make, api: FakeApi, clock: FakeClock) -> None:
    manager = make_manager(update_frequency=10.0)
    task = asyncio.create_task(manager.run())
    try:
        await eventually(lambda: clock.sleepers == 1)
        assert ready(api)["status"] == "True"
        gets = api.count("get", NODE)
        clock.advance(10)
        await eventually(lambda: api.count("get", NODE) == gets + 1 and clock.sleepers == 1)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_pod_cidr_from_the_node_reaches_the_callback(
    make_manager: Make, api: FakeApi
) -> None:
    seen: list[str] = []
    manager = make_manager(on_pod_cidr=seen.append)
    await manager.update_now()
    api.objects[NODE]["spec"]["podCIDR"] = "10.42.3.0/24"
    await manager.update_now()
    await manager.update_now()
    assert seen == ["10.42.3.0/24"]


async def test_configured_pod_cidr_is_registered(make_manager: Make, api: FakeApi) -> None:
    await make_manager(pod_cidr="10.42.0.0/24").register()
    assert api.objects[NODE]["spec"]["podCIDRs"] == ["10.42.0.0/24"]


async def test_memory_pressure_from_the_host(
    make_manager: Make, api: FakeApi, recorder: FakeRecorder
) -> None:
    signals = HostSignals(
        memory_available=50 * MI,
        memory_capacity=8192 * MI,
        nodefs_available=50,
        nodefs_capacity=100,
        nodefs_inodes_free=50,
        nodefs_inodes=100,
        pid_available=1000,
        pid_max=2000,
    )
    await make_manager(signals=lambda: signals).update_now()
    condition = find_condition(api.objects[NODE], "MemoryPressure")
    assert condition is not None
    assert condition["status"] == "True"
    assert condition["reason"] == "KubeletHasInsufficientMemory"
    assert "NodeHasInsufficientMemory" in recorder.reasons()
    assert ready(api)["status"] == "True"  # pressure alone does not make a node NotReady


async def test_unschedulable_registration(
    make_manager: Make, api: FakeApi, recorder: FakeRecorder
) -> None:
    await make_manager(register_schedulable=False).register()
    assert api.objects[NODE]["spec"]["unschedulable"] is True
    assert "NodeNotSchedulable" in recorder.reasons()


async def test_reboot_is_noticed(make_manager: Make, api: FakeApi, recorder: FakeRecorder) -> None:
    manager = make_manager()
    await manager.update_now()
    api.objects[NODE]["status"]["nodeInfo"]["bootID"] = "boot-0"
    await manager.update_now()
    assert ("Warning", "NodeRebooted", "Node node-1 has been rebooted, boot id: boot-1") in (
        recorder.events
    )


async def test_images_and_health_checks(
    make_manager: Make, api: FakeApi, runtime: FakeRuntimeInfo
) -> None:
    runtime.images = [cri.Image(id="sha256:1", repo_tags=("busybox:latest",), size=5)]
    manager = make_manager()
    problem: list[str | None] = ["pleg was last seen active 3m0s ago"]
    manager.add_health_check("PLEG", lambda: problem[0])
    await manager.update_now()
    assert api.objects[NODE]["status"]["images"] == [{"names": ["busybox:latest"], "sizeBytes": 5}]
    assert ready(api)["message"] == "PLEG is not healthy: pleg was last seen active 3m0s ago"
    problem[0] = None
    assert await manager.update_now()
    assert ready(api)["status"] == "True"


async def test_unreadable_machine_is_retried(make_manager: Make, api: FakeApi) -> None:
    from .conftest import MACHINE

    answers: list[Any] = [OSError("no /proc"), OSError("no /proc"), replace(MACHINE, num_cores=2)]

    def machine() -> Any:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    manager = make_manager(machine=machine)
    await manager.register()
    assert api.objects[NODE]["status"]["capacity"]["cpu"] == "0"
    await manager.update_now()
    assert api.objects[NODE]["status"]["capacity"]["cpu"] == "2"


async def test_a_late_runtime_makes_the_node_ready_within_100ms(
    make_manager: Make, api: FakeApi, runtime: FakeRuntimeInfo, clock: FakeClock
) -> None:
    runtime.status_ = cri.RuntimeStatus(
        conditions=(
            cri.RuntimeCondition("RuntimeReady", True),
            cri.RuntimeCondition("NetworkReady", False, "NoCNI", "not yet"),
        )
    )
    task = asyncio.create_task(make_manager(update_frequency=10.0).run())
    try:
        await eventually(lambda: clock.sleepers == 2)  # the periodic and the fast loop
        assert ready(api)["status"] == "False"
        patches = api.count("patch", STATUS)
        clock.advance(0.1)
        await eventually(lambda: clock.sleepers == 2)
        assert api.count("patch", STATUS) == patches  # not ready: nothing sent
        runtime.status_ = cri.RuntimeStatus(
            conditions=(
                cri.RuntimeCondition("RuntimeReady", True),
                cri.RuntimeCondition("NetworkReady", True),
            )
        )
        clock.advance(0.1)
        await eventually(lambda: ready(api)["status"] == "True")
        assert clock.now() < 1.0
        await eventually(lambda: clock.sleepers == 1)  # the fast loop is done
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
