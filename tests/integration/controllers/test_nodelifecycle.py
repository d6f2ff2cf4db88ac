"""nodelifecycle and taint-eviction-controller against a real API server (no kubelet): two
hand-made Nodes whose Leases the test renews; one stops → Unknown conditions within the
(shortened) grace period, unreachable taints, its pods marked NotReady, a pod tolerating
unreachable for 1 s deleted after it, the default 300 s one kept; the Lease resumes → Ready
posted again → taints removed. A pod not tolerating a NoExecute taint is deleted at once."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pocketkube.client import ApiError, Client
from tests.integration.controllers.conftest import eventually, run_controllers

NODES = "/api/v1/nodes"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
PODS = "/api/v1/namespaces/default/pods"
UNREACHABLE = "node.kubernetes.io/unreachable"
OPTIONS = {
    "node_monitor_period": 0.5,
    "node_monitor_grace_period": 2.0,
    "node_startup_grace_period": 2.0,
}


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ready(status: str = "True") -> dict[str, Any]:
    return {
        "type": "Ready",
        "status": status,
        "reason": "KubeletReady",
        "message": "kubelet is posting ready status",
        "lastHeartbeatTime": now(),
        "lastTransitionTime": now(),
    }


async def make_node(client: Client, name: str) -> None:
    created = await client.create(
        NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}
    )
    created["status"] = {"conditions": [ready()]}
    await client.update(f"{NODES}/{name}/status", created)
    await client.create(
        LEASES,
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": name, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": micro_now()},
        },
    )


async def renew(client: Client, name: str) -> None:
    lease = await client.get(f"{LEASES}/{name}")
    lease["spec"]["renewTime"] = micro_now()
    await client.update(f"{LEASES}/{name}", lease)


class Kubelets:
    """Renews the Leases of the nodes in ``alive`` every 0.3 s."""

    def __init__(self, client: Client, *alive: str) -> None:
        self.client = client
        self.alive = set(alive)

    async def run(self) -> None:
        while True:
            for name in sorted(self.alive):
                with contextlib.suppress(ApiError):
                    await renew(self.client, name)
            await asyncio.sleep(0.3)


@contextlib.asynccontextmanager
async def kubelets(client: Client, *names: str) -> AsyncIterator[Kubelets]:
    k = Kubelets(client, *names)
    task = asyncio.create_task(k.run())
    try:
        yield k
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def make_pod(
    client: Client, name: str, node: str, tolerations: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {"nodeName": node, "containers": [{"name": "c", "image": "x"}]}
    if tolerations is not None:
        spec["tolerations"] = tolerations
    created = await client.create(
        PODS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}
    )
    created["status"] = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now()}],
    }
    return await client.update(f"{PODS}/{name}/status", created)


async def exists(client: Client, path: str) -> bool:
    """Whether the pod is there and not being deleted (without a kubelet a bound pod's graceful
    deletion is never confirmed: it keeps its deletionTimestamp)."""
    try:
        pod = await client.get(path)
    except ApiError as err:
        if err.not_found:
            return False
        raise
    return not pod["metadata"].get("deletionTimestamp")


def conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or ()}


def taints(node: dict[str, Any]) -> set[tuple[str, str]]:
    return {(t["key"], t["effect"]) for t in (node.get("spec") or {}).get("taints") or ()}


@pytest.mark.timeout(60)
async def test_node_stops_then_comes_back(client: Client) -> None:
    await make_node(client, "alive")
    await make_node(client, "dead")
    await make_pod(client, "default-tolerations", "dead")  # admission: 300 s
    await make_pod(
        client,
        "one-second",
        "dead",
        [{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 1}],
    )
    async with (
        kubelets(client, "alive", "dead") as k,
        run_controllers(client, "nodelifecycle", "taint-eviction-controller", **OPTIONS),
    ):
        await asyncio.sleep(1.5)
        dead = await client.get(f"{NODES}/dead")
        assert conditions(dead)["Ready"]["status"] == "True"  # the Lease keeps it alive
        k.alive.discard("dead")
        stopped = time.monotonic()

        async def unknown() -> dict[str, Any] | None:
            node = await client.get(f"{NODES}/dead")
            return node if conditions(node)["Ready"]["status"] == "Unknown" else None

        node = await eventually(unknown, within=10)
        assert time.monotonic() - stopped < 4.5  # grace 2 s + monitor period 0.5 s
        cond = conditions(node)["Ready"]
        assert cond["reason"] == "NodeStatusUnknown"
        assert cond["message"] == "Kubelet stopped posting node status."
        assert conditions(node)["MemoryPressure"]["reason"] == "NodeStatusNeverUpdated"

        async def tainted() -> bool:
            node = await client.get(f"{NODES}/dead")
            return taints(node) == {(UNREACHABLE, "NoExecute"), (UNREACHABLE, "NoSchedule")}

        await eventually(tainted, within=10)
        alive = await client.get(f"{NODES}/alive")
        assert conditions(alive)["Ready"]["status"] == "True"
        assert taints(alive) == set()

        async def not_ready() -> bool:
            pod = await client.get(f"{PODS}/default-tolerations")
            return conditions(pod)["Ready"]["status"] == "False"

        await eventually(not_ready, within=5)

        async def one_second_gone() -> bool:
            return not await exists(client, f"{PODS}/one-second")

        await eventually(one_second_gone, within=10)
        assert await exists(client, f"{PODS}/default-tolerations")  # 300 s to go
        events = (await client.get("/api/v1/namespaces/default/events"))["items"]
        assert {"TaintManagerEviction", "NodeNotReady"} <= {e["reason"] for e in events}
        node_events = (await client.get("/api/v1/events"))["items"]
        reasons = {(e["involvedObject"]["name"], e["reason"]) for e in node_events}
        assert {("dead", "RegisteredNode"), ("dead", "NodeNotReady")} <= reasons

        # the kubelet comes back: it posts Ready and renews the Lease
        node = await client.get(f"{NODES}/dead")
        node["status"]["conditions"] = [ready()]
        await client.update(f"{NODES}/dead/status", node)
        k.alive.add("dead")

        async def untainted() -> bool:
            node = await client.get(f"{NODES}/dead")
            return not taints(node) and conditions(node)["Ready"]["status"] == "True"

        await eventually(untainted, within=10)
        await asyncio.sleep(1.0)
        assert conditions(await client.get(f"{NODES}/dead"))["Ready"]["status"] == "True"


@pytest.mark.timeout(30)
async def test_pod_not_tolerating_a_no_execute_taint_is_deleted_at_once(client: Client) -> None:
    await make_node(client, "n1")
    await make_pod(client, "victim", "n1")
    await make_pod(
        client,
        "tolerant",
        "n1",
        [{"key": "example.com/evict", "operator": "Exists", "effect": "NoExecute"}],
    )
    async with run_controllers(client, "taint-eviction-controller"):
        node = await client.get(f"{NODES}/n1")
        node.setdefault("spec", {})["taints"] = [
            {"key": "example.com/evict", "effect": "NoExecute"}
        ]
        await client.update(f"{NODES}/n1", node)
        started = time.monotonic()

        async def gone() -> bool:
            return not await exists(client, f"{PODS}/victim")

        await eventually(gone, within=5)
        assert time.monotonic() - started < 2
        assert await exists(client, f"{PODS}/tolerant")
