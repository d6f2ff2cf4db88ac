"""The disruption controller against the real API server (pod readiness set by hand): a budget's
status follows its pods, the eviction subresource spends it and refuses with 429 once spent,
controllers' replicas count as the expected pods, and a pod whose controller is unknown fails
the budget safe."""

from __future__ import annotations

from typing import Any

from pocketkube.client import ApiError, Client
from tests.integration.controllers.conftest import eventually, run_controllers

PODS = "/api/v1/namespaces/default/pods"
PDBS = "/apis/policy/v1/namespaces/default/poddisruptionbudgets"
REPLICA_SETS = "/apis/apps/v1/namespaces/default/replicasets"


async def ready_pod(client: Client, name: str, owner: dict[str, Any] | None = None) -> None:
    meta: dict[str, Any] = {"name": name, "labels": {"app": "web"}}
    if owner is not None:
        meta["ownerReferences"] = [owner]
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }
    await client.create(PODS, body)
    status = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    await client.patch(f"{PODS}/{name}/status", {"status": status})


async def budget(client: Client, **spec: Any) -> None:
    body = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "pdb"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec},
    }
    await client.create(PDBS, body)


def status_is(client: Client, **wanted: Any) -> Any:
    async def check() -> Any:
        status = (await client.get(f"{PDBS}/pdb")).get("status") or {}
        if all(status.get(field) == value for field, value in wanted.items()):
            return status
        return None

    return check


async def evict(client: Client, name: str) -> int:
    body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name}}
    try:
        await client.create(f"{PODS}/{name}/eviction", body)
    except ApiError as err:
        return err.status
    return 201


async def test_a_budget_follows_its_pods_and_evictions_spend_it(client: Client) -> None:
    for name in ("a", "b", "c"):
        await ready_pod(client, name)
    await budget(client, minAvailable=2)
    async with run_controllers(client, "disruption"):
        status = await eventually(
            status_is(
                client,
                expectedPods=3,
                desiredHealthy=2,
                currentHealthy=3,
                disruptionsAllowed=1,
                observedGeneration=1,
            )
        )
        [condition] = status["conditions"]
        assert (condition["type"], condition["status"], condition["reason"]) == (
            "DisruptionAllowed",
            "True",
            "SufficientPods",
        )
        assert await evict(client, "a") == 201
        assert await evict(client, "b") == 429  # the one disruption is spent
        status = await eventually(
            status_is(client, expectedPods=2, currentHealthy=2, disruptionsAllowed=0)
        )
        assert status["conditions"][0]["reason"] == "InsufficientPods"
        assert not status.get("disruptedPods")  # "a" is gone: its record is dropped
        # a pod that stops being ready counts no more; a raised budget is observed
        await client.patch(
            f"{PODS}/b/status", {"status": {"conditions": [{"type": "Ready", "status": "False"}]}}
        )
        await eventually(status_is(client, currentHealthy=1))
        await client.patch(f"{PDBS}/pdb", {"spec": {"minAvailable": 0}})
        await eventually(status_is(client, observedGeneration=2, disruptionsAllowed=1))


async def test_controllers_replicas_are_the_expected_pods(client: Client) -> None:
    rs = await client.create(
        REPLICA_SETS,
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 4,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}]},
                },
            },
        },
    )
    owner = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "name": "web",
        "uid": rs["metadata"]["uid"],
        "controller": True,
    }
    for name in ("a", "b", "c"):
        await ready_pod(client, name, owner)
    await budget(client, maxUnavailable="25%")
    async with run_controllers(client, "disruption"):
        # 4 expected (the ReplicaSet's replicas, though only 3 pods exist): 3 must stay healthy
        await eventually(
            status_is(
                client, expectedPods=4, desiredHealthy=3, currentHealthy=3, disruptionsAllowed=0
            )
        )


async def test_a_pod_with_an_unknown_controller_fails_the_budget_safe(client: Client) -> None:
    ghost = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "name": "ghost",
        "uid": "3c5e0b0c-0000-4000-8000-000000000000",
        "controller": True,
    }
    await ready_pod(client, "a", ghost)
    await budget(client, minAvailable="50%")
    async with run_controllers(client, "disruption"):

        async def failed() -> Any:
            status = (await client.get(f"{PDBS}/pdb")).get("status") or {}
            for condition in status.get("conditions") or ():
                if condition.get("reason") == "SyncFailed":
                    return condition
            return None

        condition = await eventually(failed)
        assert condition["status"] == "False"
        assert condition["message"] == "found no controllers for pod 'a'"
        assert await evict(client, "a") == 429
