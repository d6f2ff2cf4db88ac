"""The node status manager against a real API server: registration, reconcile of an existing
Node, strategic status patches, and when they are (not) sent."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pocketkube.client import ApiError, Client, EventRecorder
from pocketkube.client.clock import FakeClock
from pocketkube.client.resources import EVENTS, NODES
from pocketkube.kubelet.node import NodeStatusManager, host_machine_info, read_host_signals
from pocketkube.kubelet.node.fake import FakeRecorder, FakeRuntimeInfo
from pocketkube.runtime import cri

EPOCH = 1_700_000_000.0
Make = Callable[..., NodeStatusManager]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def runtime() -> FakeRuntimeInfo:
    return FakeRuntimeInfo(images=[cri.Image(id="sha256:1", repo_tags=("busybox:1",), size=42)])


@pytest.fixture
def make(client: Client, clock: FakeClock, runtime: FakeRuntimeInfo, tmp_path: Path) -> Make:
    def make(**overrides: Any) -> NodeStatusManager:
        options: dict[str, Any] = {
            "client": client,
            "recorder": FakeRecorder(),
            "node_name": "node-a",
            "runtime": runtime,
            "images": runtime,
            "machine": lambda: host_machine_info(tmp_path),
            "signals": lambda: read_host_signals(tmp_path),
            "node_ip": "127.0.0.1",
            "kubelet_version": "v1.33.0",
            "clock": clock,
            "wall_clock": lambda: EPOCH + clock.now(),
            "jitter": 0.0,
        }
        options.update(overrides)
        return NodeStatusManager(**options)

    return make


def condition(node: dict[str, Any], type_: str) -> dict[str, Any]:
    [found] = [c for c in node["status"]["conditions"] if c["type"] == type_]
    return found


async def test_register_then_ready(make: Make, client: Client) -> None:
    manager = make(labels={"node-role.kubernetes.io/control-plane": ""}, pod_cidr="10.42.0.0/24")
    created = await manager.register()
    node = await client.get(NODES.path(name="node-a"))
    assert node["metadata"]["uid"] == created["metadata"]["uid"]
    labels = node["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == "node-a"
    assert labels["kubernetes.io/os"] == "linux"
    assert labels["node-role.kubernetes.io/control-plane"] == ""
    assert node["spec"]["podCIDR"] == "10.42.0.0/24"
    status = node["status"]
    assert set(status["capacity"]) >= {"cpu", "memory", "ephemeral-storage", "pods"}
    assert status["capacity"]["pods"] == "110"
    assert status["nodeInfo"]["bootID"]
    assert condition(node, "Ready")["status"] == "False"

    assert await manager.update_now()
    node = await client.get(NODES.path(name="node-a"))
    assert condition(node, "Ready")["status"] == "True"
    assert condition(node, "Ready")["message"] == "kubelet is posting ready status"
    assert condition(node, "MemoryPressure")["reason"] in (
        "KubeletHasSufficientMemory",
        "KubeletHasInsufficientMemory",
    )
    assert node["status"]["images"] == [{"names": ["busybox:1"], "sizeBytes": 42}]
    assert node["status"]["addresses"] == [
        {"type": "InternalIP", "address": "127.0.0.1"},
        {"type": "Hostname", "address": "node-a"},
    ]
    assert node["status"]["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 10250}}


async def test_reregistration_keeps_what_others_added(make: Make, client: Client) -> None:
    await make().update_now()
    await client.patch(
        NODES.path(name="node-a"),
        {
            "metadata": {"labels": {"team": "blue", "kubernetes.io/hostname": "wrong"}},
            "spec": {"taints": [{"key": "maintenance", "effect": "NoSchedule"}]},
        },
    )
    await client.patch(
        NODES.path(name="node-a", subresource="status"),
        {"status": {"conditions": [{"type": "NetworkUnavailable", "status": "False"}]}},
        patch_type="strategic",
    )

    restarted = make()  # a new kubelet process for the same node
    node = await restarted.register()
    assert node["metadata"]["labels"]["team"] == "blue"
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == "node-a"
    assert node["spec"]["taints"] == [{"key": "maintenance", "effect": "NoSchedule"}]

    await restarted.update_now()
    node = await client.get(NODES.path(name="node-a"))
    assert condition(node, "NetworkUnavailable")["status"] == "False"
    assert condition(node, "Ready")["status"] == "True"
    assert node["metadata"]["labels"]["team"] == "blue"


async def test_status_is_written_only_on_change_or_report(
    make: Make, client: Client, clock: FakeClock, runtime: FakeRuntimeInfo
) -> None:
    manager = make(report_frequency=300.0, signals=None)
    await manager.update_now()
    version = (await client.get(NODES.path(name="node-a")))["metadata"]["resourceVersion"]

    clock.advance(10)
    assert not await manager.update_now()
    clock.advance(200)
    assert not await manager.update_now()
    node = await client.get(NODES.path(name="node-a"))
    assert node["metadata"]["resourceVersion"] == version

    runtime.status_ = cri.RuntimeStatus(
        conditions=(
            cri.RuntimeCondition("RuntimeReady", True),
            cri.RuntimeCondition("NetworkReady", False, "NetworkPluginNotReady", "no CNI"),
        )
    )
    assert await manager.update_now()
    node = await client.get(NODES.path(name="node-a"))
    assert condition(node, "Ready")["status"] == "False"
    assert condition(node, "Ready")["reason"] == "KubeletNotReady"
    version = node["metadata"]["resourceVersion"]
    heartbeat = condition(node, "Ready")["lastHeartbeatTime"]

    clock.advance(299)
    assert not await manager.update_now()
    clock.advance(1)
    assert await manager.update_now()
    node = await client.get(NODES.path(name="node-a"))
    assert node["metadata"]["resourceVersion"] != version
    assert condition(node, "Ready")["lastHeartbeatTime"] > heartbeat
    assert condition(node, "Ready")["lastTransitionTime"] == heartbeat


async def test_node_events_reach_the_api(make: Make, client: Client) -> None:
    recorder = EventRecorder(
        client=client, reporting_controller="kubelet", reporting_instance="node-a"
    )
    manager = make(recorder=recorder)
    async with asyncio.TaskGroup() as group:
        worker = group.create_task(recorder.run())
        await manager.update_now()
        await asyncio.wait_for(recorder.flush(), 10)
        worker.cancel()
    selector = "involvedObject.kind=Node,involvedObject.name=node-a,involvedObject.uid=node-a"
    listed = await client.list(EVENTS.path(namespace="default"), params={"fieldSelector": selector})
    by_reason = {event["reason"]: event for event in listed["items"]}
    assert {"Starting", "NodeHasSufficientPID", "NodeReady"} <= set(by_reason)
    assert by_reason["Starting"]["message"] == "Starting kubelet."
    assert by_reason["NodeReady"]["message"] == "Node node-a status is now: NodeReady"
    assert by_reason["NodeReady"]["reportingComponent"] == "kubelet"


async def test_run_with_the_real_clock(client: Client, runtime: FakeRuntimeInfo) -> None:
    manager = NodeStatusManager(
        client=client,
        recorder=FakeRecorder(),
        node_name="node-b",
        runtime=runtime,
        images=runtime,
        machine=lambda: host_machine_info("/"),
        node_ip="127.0.0.1",
        kubelet_version="v1.33.0",
        update_frequency=0.05,
        report_frequency=0.2,
    )
    task = asyncio.create_task(manager.run())
    try:
        seen: set[str] = set()
        for _ in range(300):
            try:
                node = await client.get(NODES.path(name="node-b"))
            except ApiError:
                node = None
            if node is not None and condition(node, "Ready")["status"] == "True":
                seen.add(condition(node, "Ready")["lastHeartbeatTime"])
                if len(seen) >= 2:  # reported again once the report frequency passed
                    break
            await asyncio.sleep(0.05)
        assert len(seen) >= 2
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
