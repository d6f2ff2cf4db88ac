"""podgc against the real API server (short period and quarantine): terminated pods over the
threshold go oldest first; a pod bound to a node that does not exist is marked Failed with a
DisruptionTarget condition and force-deleted, one on an existing node is kept; an unscheduled
terminating pod is finished."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from pocketkube.client import ApiError, Client, resources
from pocketkube.controllers import manager
from pocketkube.controllers.context import Context, Options
from pocketkube.controllers.informers import SharedInformers
from pocketkube.controllers.podgc import PodGC
from tests.integration.controllers.conftest import eventually, run_controllers

PODS = "/api/v1/namespaces/default/pods"
KEEP = "test.pocketkube.io/keep"  # a finalizer: lets the test look at a deleted pod


@contextlib.asynccontextmanager
async def podgc(client: Client, *, threshold: int = 12500) -> AsyncIterator[PodGC]:
    ctx = Context(client=client, informers=SharedInformers(client=client), options=Options())
    gc = PodGC(
        client=client,
        pod_informer=ctx.informers.informer(resources.PODS),
        node_informer=ctx.informers.informer(resources.NODES),
        terminated_pod_threshold=threshold,
        gc_check_period=0.2,
        quarantine_time=0.5,
    )
    task = asyncio.create_task(manager.run(ctx, [gc]))
    try:
        yield gc
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def pod_body(name: str, *, node: str = "", finalizer: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if finalizer:
        meta["finalizers"] = [KEEP]
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


async def set_phase(client: Client, name: str, phase: str) -> None:
    await client.patch(f"{PODS}/{name}/status", {"status": {"phase": phase}})


async def names(client: Client) -> list[str]:
    return sorted(p["metadata"]["name"] for p in (await client.get(PODS))["items"])


async def release(client: Client, name: str) -> None:
    with contextlib.suppress(ApiError):
        await client.patch(f"{PODS}/{name}", {"metadata": {"finalizers": None}})


async def test_terminated_pods_over_the_threshold_are_deleted_oldest_first(
    client: Client,
) -> None:
    for i in range(5):
        await client.create(PODS, pod_body(f"t-{i}", node="n1"))
        await set_phase(client, f"t-{i}", "Succeeded" if i % 2 else "Failed")
    await client.create(PODS, pod_body("running", node="n1"))
    await set_phase(client, "running", "Running")
    await client.create(resources.NODES.path(), {"metadata": {"name": "n1"}})
    async with podgc(client, threshold=2):

        async def collected() -> bool:
            return await names(client) == ["running", "t-3", "t-4"]

        await eventually(collected)
        await asyncio.sleep(0.5)  # and no more than that
        assert await names(client) == ["running", "t-3", "t-4"]


async def test_orphaned_pods_are_marked_and_force_deleted(client: Client) -> None:
    await client.create(resources.NODES.path(), {"metadata": {"name": "n1"}})
    await client.create(PODS, pod_body("orphan", node="ghost", finalizer=True))
    await set_phase(client, "orphan", "Running")
    await client.create(PODS, pod_body("housed", node="n1"))
    try:
        async with podgc(client):

            async def marked() -> Any:
                pod = await client.get(f"{PODS}/orphan")
                return pod if pod["metadata"].get("deletionTimestamp") else None

            pod = await eventually(marked)
            assert pod["metadata"]["deletionGracePeriodSeconds"] == 0
            assert pod["status"]["phase"] == "Failed"
            [condition] = [
                c for c in pod["status"]["conditions"] if c["type"] == "DisruptionTarget"
            ]
            assert condition["status"] == "True"
            assert condition["reason"] == "DeletionByPodGC"
            assert condition["message"] == "PodGC: node no longer exists"
            await asyncio.sleep(0.5)
            housed = await client.get(f"{PODS}/housed")
            assert not housed["metadata"].get("deletionTimestamp")
    finally:
        await release(client, "orphan")


async def test_unscheduled_terminating_pods_are_finished(client: Client) -> None:
    await client.create(PODS, pod_body("unbound", finalizer=True))
    await client.delete(f"{PODS}/unbound")
    try:
        async with podgc(client):

            async def failed() -> bool:
                pod = await client.get(f"{PODS}/unbound")
                return bool(pod["status"].get("phase") == "Failed")

            await eventually(failed)
    finally:
        await release(client, "unbound")


async def test_podgc_runs_in_the_controller_manager(client: Client) -> None:
    async with run_controllers(client, "podgc") as [gc]:
        assert isinstance(gc, PodGC)
