"""The ReplicaSet controller against the real API server (no kubelet: pod status is set by
hand): pods with owner references, scaling up and down, replacing a deleted pod, ready and
available counts, adopting an orphan, and ReplicaFailure for a template the API refuses."""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
from typing import Any

from pocketkube.client import ApiError, Client
from tests.integration.controllers.conftest import eventually, run_controllers

PODS = "/api/v1/namespaces/default/pods"
RSS = "/apis/apps/v1/namespaces/default/replicasets"
NOW = "2024-01-01T00:00:00Z"


def rs_body(name: str = "web", replicas: int = 3, **template_extra: Any) -> dict[str, Any]:
    template: dict[str, Any] = {
        "metadata": {"labels": {"app": name}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }
    for key, value in template_extra.items():
        template[key].update(value)
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": template,
        },
    }


async def live_pods(client: Client, app: str = "web") -> list[dict[str, Any]]:
    items = (await client.get(PODS, params={"labelSelector": f"app={app}"}))["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


async def count_is(client: Client, n: int, app: str = "web") -> list[dict[str, Any]] | None:
    pods = await live_pods(client, app)
    return pods if len(pods) == n else None


async def scale(client: Client, name: str, replicas: int) -> None:
    await client.patch(f"{RSS}/{name}", {"spec": {"replicas": replicas}})


async def set_ready(client: Client, pod: dict[str, Any]) -> None:
    status = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": NOW}],
    }
    await client.patch(f"{PODS}/{pod['metadata']['name']}/status", {"status": status})


async def test_replicas_scale_and_replace(client: Client) -> None:
    async with run_controllers(client, "replicaset"):
        rs = await client.create(RSS, rs_body())

        async def three() -> Any:
            return await count_is(client, 3)

        pods = await eventually(three)
        for pod in pods:
            (ref,) = pod["metadata"]["ownerReferences"]
            assert ref == {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": "web",
                "uid": rs["metadata"]["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
            assert pod["metadata"]["name"].startswith("web-")

        await scale(client, "web", 5)

        async def five() -> Any:
            return await count_is(client, 5)

        await eventually(five)
        await scale(client, "web", 1)

        async def one() -> Any:
            return await count_is(client, 1)

        (survivor,) = await eventually(one)
        await client.delete(f"{PODS}/{survivor['metadata']['name']}")

        async def replaced() -> Any:
            pods = await live_pods(client)
            return len(pods) == 1 and pods[0]["metadata"]["uid"] != survivor["metadata"]["uid"]

        await eventually(replaced)

        async def status_settled() -> Any:
            status = (await client.get(f"{RSS}/web"))["status"]
            return status if status.get("replicas") == 1 else None

        status = await eventually(status_settled)
        assert status["observedGeneration"] == 3  # created, scaled twice
        assert status["fullyLabeledReplicas"] == 1


async def test_ready_and_available(client: Client) -> None:
    async with run_controllers(client, "replicaset"):
        await client.create(RSS, rs_body(replicas=2))

        async def two() -> Any:
            return await count_is(client, 2)

        for pod in await eventually(two):
            await set_ready(client, pod)

        async def ready() -> Any:
            status = (await client.get(f"{RSS}/web"))["status"]
            return status.get("readyReplicas") == 2 and status.get("availableReplicas") == 2

        await eventually(ready)


async def test_adopts_an_orphan(client: Client) -> None:
    orphan = await client.create(
        PODS,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "orphan", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        },
    )
    async with run_controllers(client, "replicaset"):
        rs = await client.create(RSS, rs_body(replicas=2))

        async def adopted() -> Any:
            pod = await client.get(f"{PODS}/orphan")
            refs = pod["metadata"].get("ownerReferences") or []
            return refs and refs[0]["uid"] == rs["metadata"]["uid"]

        await eventually(adopted)

        async def two() -> Any:
            return await count_is(client, 2)

        pods = await eventually(two)
        assert orphan["metadata"]["uid"] in {p["metadata"]["uid"] for p in pods}

        # a pod whose labels stop matching is released
        await client.patch(f"{PODS}/orphan", {"metadata": {"labels": {"app": "gone"}}})

        async def released() -> Any:
            pod = await client.get(f"{PODS}/orphan")
            return not pod["metadata"].get("ownerReferences")

        await eventually(released)
        await eventually(two)


async def test_failed_creations_report_replica_failure(client: Client) -> None:
    # the ServiceAccount admission refuses a mirror pod that names an account
    bad = rs_body(
        "bad",
        replicas=2,
        metadata={"annotations": {"kubernetes.io/config.mirror": "x"}},
        spec={"serviceAccountName": "builder"},
    )
    async with run_controllers(client, "replicaset"):
        await client.create(RSS, bad)

        async def failure() -> Any:
            status = (await client.get(f"{RSS}/bad")).get("status") or {}
            conds = [c for c in status.get("conditions") or () if c["type"] == "ReplicaFailure"]
            return conds[0] if conds else None

        cond = await eventually(failure)
        assert cond["status"] == "True"
        assert cond["reason"] == "FailedCreate"
        assert "mirror pod" in cond["message"]

        async def warned() -> Any:
            events = (await client.get("/api/v1/namespaces/default/events"))["items"]
            return [e for e in events if e.get("reason") == "FailedCreate"]

        (event, *_) = await eventually(warned)
        assert event["message"].startswith("Error creating: ")
        assert event["involvedObject"]["name"] == "bad"
        assert (event.get("reportingComponent") or event["source"]["component"]) == (
            "replicaset-controller"
        )

        # fixed template: the pods come and the condition goes
        fixed = copy.deepcopy(await client.get(f"{RSS}/bad"))
        fixed["spec"]["template"]["metadata"].pop("annotations")
        await client.update(f"{RSS}/bad", fixed)

        async def recovered() -> Any:
            status = (await client.get(f"{RSS}/bad")).get("status") or {}
            return status.get("replicas") == 2 and not status.get("conditions")

        await eventually(recovered)


async def test_invalid_updates_do_not_stop_the_controller(client: Client) -> None:
    async with run_controllers(client, "replicaset"):
        await client.create(RSS, rs_body("a", replicas=1))
        with contextlib.suppress(ApiError):  # the API refuses a ReplicaSet without a selector
            await client.create(RSS, {**rs_body("b"), "spec": {"replicas": 1}})

        async def one() -> Any:
            return await count_is(client, 1, "a")

        await eventually(one)


async def test_min_ready_seconds_delays_availability(client: Client) -> None:
    body = rs_body(replicas=1)
    body["spec"]["minReadySeconds"] = 4
    async with run_controllers(client, "replicaset"):
        await client.create(RSS, body)

        async def one() -> Any:
            return await count_is(client, 1)

        (pod,) = await eventually(one)
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        status = {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}],
        }
        await client.patch(f"{PODS}/{pod['metadata']['name']}/status", {"status": status})

        async def ready_not_available() -> Any:
            status = (await client.get(f"{RSS}/web"))["status"]
            return status.get("readyReplicas") == 1 and not status.get("availableReplicas")

        await eventually(ready_not_available, within=2.5)

        async def available() -> Any:
            return (await client.get(f"{RSS}/web"))["status"].get("availableReplicas") == 1

        await eventually(available, within=10)  # requeued, no other event needed
