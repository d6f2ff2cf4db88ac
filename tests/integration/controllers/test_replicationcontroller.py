"""The ReplicationController controller against the real API server: a plain-map selector,
pods owned by the ReplicationController, scaling, and status written through /status."""

from __future__ import annotations

from typing import Any

from pocketkube.client import Client
from tests.integration.controllers.conftest import eventually, run_controllers

PODS = "/api/v1/namespaces/default/pods"
RCS = "/api/v1/namespaces/default/replicationcontrollers"


async def live_pods(client: Client) -> list[dict[str, Any]]:
    items = (await client.get(PODS, params={"labelSelector": "app=rc"}))["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


async def test_replication_controller(client: Client) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": "rc"},
        "spec": {
            "replicas": 2,
            "selector": {"app": "rc"},
            "template": {
                "metadata": {"labels": {"app": "rc"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            },
        },
    }
    async with run_controllers(client, "replicationcontroller"):
        rc = await client.create(RCS, body)

        async def two() -> Any:
            pods = await live_pods(client)
            return pods if len(pods) == 2 else None

        for pod in await eventually(two):
            (ref,) = pod["metadata"]["ownerReferences"]
            assert (ref["apiVersion"], ref["kind"], ref["uid"]) == (
                "v1",
                "ReplicationController",
                rc["metadata"]["uid"],
            )
        await client.patch(f"{RCS}/rc", {"spec": {"replicas": 1}})

        async def scaled() -> Any:
            status = (await client.get(f"{RCS}/rc")).get("status") or {}
            pods = await live_pods(client)
            return len(pods) == 1 and status.get("replicas") == 1

        await eventually(scaled)

        async def events() -> Any:
            items = (await client.get("/api/v1/namespaces/default/events"))["items"]
            return {e["reason"] for e in items} >= {"SuccessfulCreate", "SuccessfulDelete"}

        await eventually(events)
