"""The scheduler running against the shared test API server (tests/integration/conftest.py) in
the test's event loop with its own client, as ``pocketkube scheduler`` would."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from pocketkube.apiserver.app import APIServer
from pocketkube.client import ApiError, Client, load_kubeconfig
from pocketkube.scheduler.config import SchedulerConfig, parse_config
from pocketkube.scheduler.plugins import in_tree_registry
from pocketkube.scheduler.scheduler import Scheduler

Obj = dict[str, Any]


StartScheduler = Callable[..., Awaitable[Scheduler]]


@pytest.fixture
async def start_scheduler(apiserver: APIServer) -> AsyncIterator[StartScheduler]:
    """Start a scheduler (default config, or a KubeSchedulerConfiguration dict)."""
    stack = contextlib.AsyncExitStack()
    tasks: list[asyncio.Task[None]] = []

    async def start(config: Obj | None = None) -> Scheduler:
        kubeconfig = load_kubeconfig(apiserver.kubeconfig_path, user_agent="scheduler-test")
        client = await stack.enter_async_context(Client(config=kubeconfig))
        parsed = parse_config(config) if config is not None else SchedulerConfig()
        scheduler = Scheduler(client=client, config=parsed, registry=in_tree_registry())
        tasks.append(asyncio.create_task(scheduler.run()))
        return scheduler

    try:
        yield start
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await stack.aclose()


def node(
    name: str,
    *,
    cpu: str = "4",
    memory: str = "8Gi",
    pods: str = "110",
    labels: Obj | None = None,
    taints: list[Obj] | None = None,
) -> Obj:
    allocatable = {"cpu": cpu, "memory": memory, "pods": pods}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
        "spec": {"taints": taints} if taints else {},
        "status": {
            "capacity": allocatable,
            "allocatable": allocatable,
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def pod(
    name: str,
    *,
    cpu: str | None = None,
    labels: Obj | None = None,
    spec: Obj | None = None,
    container: Obj | None = None,
) -> Obj:
    c: Obj = {"name": "app", "image": "busybox", **(container or {})}
    if cpu:
        c["resources"] = {"requests": {"cpu": cpu}}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"containers": [c], **(spec or {})},
    }


async def create_node(client: Client, obj: Obj) -> Obj:
    created = await client.create("/api/v1/nodes", obj)
    # A node's status is written by its kubelet through /status; do the same.
    created["status"] = obj["status"]
    return await client.update(f"/api/v1/nodes/{obj['metadata']['name']}/status", created)


async def create_pod(client: Client, obj: Obj, namespace: str = "default") -> Obj:
    return await client.create(f"/api/v1/namespaces/{namespace}/pods", obj)


async def wait_for(
    check: Callable[[], Awaitable[Any]], *, seconds: float = 20.0, what: str = ""
) -> Any:
    deadline = time.monotonic() + seconds
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or check}: last {last!r}")


async def get_pod(client: Client, name: str, namespace: str = "default") -> Obj | None:
    try:
        return await client.get(f"/api/v1/namespaces/{namespace}/pods/{name}")
    except ApiError as err:
        if err.status == 404:
            return None
        raise


async def wait_scheduled(client: Client, name: str, namespace: str = "default") -> str:
    async def bound() -> str:
        obj = await get_pod(client, name, namespace)
        return str(((obj or {}).get("spec") or {}).get("nodeName") or "")

    return str(await wait_for(bound, what=f"pod {name} bound"))


async def wait_unschedulable(client: Client, name: str, namespace: str = "default") -> str:
    """The PodScheduled=False message once the scheduler gave up on the pod."""

    async def message() -> str:
        obj = await get_pod(client, name, namespace) or {}
        for condition in (obj.get("status") or {}).get("conditions") or ():
            if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
                return str(condition.get("message") or "")
        return ""

    return str(await wait_for(message, what=f"pod {name} unschedulable"))


async def events_for(client: Client, name: str, namespace: str = "default") -> list[Obj]:
    listed = await client.list(
        f"/api/v1/namespaces/{namespace}/events",
        params={"fieldSelector": f"involvedObject.name={name}"},
    )
    return list(listed.get("items") or [])
