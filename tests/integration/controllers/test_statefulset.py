"""The StatefulSet controller against the real API server (no kubelet: pods are made Running
and Ready by hand): ordered creation one pod at a time, claims per ordinal, scale-down from the
highest ordinal, a ControllerRevision and the status."""

from __future__ import annotations

from typing import Any

from pocketkube.client import Client
from tests.integration.controllers.conftest import eventually, run_controllers

PODS = "/api/v1/namespaces/default/pods"
PVCS = "/api/v1/namespaces/default/persistentvolumeclaims"
STS = "/apis/apps/v1/namespaces/default/statefulsets"
REVS = "/apis/apps/v1/namespaces/default/controllerrevisions"


def sts_body(replicas: int = 3, policy: str = "OrderedReady") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "serviceName": "web",
            "podManagementPolicy": policy,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}},
                    },
                }
            ],
        },
    }


async def pod_names(client: Client) -> list[str]:
    items = (await client.get(PODS, params={"labelSelector": "app=web"}))["items"]
    return sorted(
        p["metadata"]["name"] for p in items if not p["metadata"].get("deletionTimestamp")
    )


async def make_ready(client: Client, name: str) -> None:
    status = {
        "phase": "Running",
        "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z"}
        ],
    }
    await client.patch(f"{PODS}/{name}/status", {"status": status})


async def test_ordered_creation_claims_and_scale_down(client: Client) -> None:
    async with run_controllers(client, "statefulset"):
        await client.create(STS, sts_body())
        for i in range(3):
            expected = [f"web-{j}" for j in range(i + 1)]

            async def created(expected: list[str] = expected) -> Any:
                return await pod_names(client) == expected

            await eventually(created)
            # not the next one until this one is Running and Ready
            pod = await client.get(f"{PODS}/web-{i}")
            assert pod["spec"]["hostname"] == f"web-{i}"
            assert pod["spec"]["subdomain"] == "web"
            assert pod["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] == f"web-{i}"
            assert pod["metadata"]["labels"]["apps.kubernetes.io/pod-index"] == str(i)
            (volume,) = pod["spec"]["volumes"]
            assert volume == {
                "name": "data",
                "persistentVolumeClaim": {"claimName": f"data-web-{i}"},
            }
            await client.get(f"{PVCS}/data-web-{i}")
            assert await pod_names(client) == expected
            await make_ready(client, f"web-{i}")

        async def ready() -> Any:
            status = (await client.get(f"{STS}/web")).get("status") or {}
            return status if status.get("readyReplicas") == 3 else None

        status = await eventually(ready)
        assert status["replicas"] == 3
        assert status["availableReplicas"] == 3
        assert status["currentRevision"] == status["updateRevision"]
        assert status["observedGeneration"] == 1
        (rev,) = (await client.get(REVS))["items"]
        assert rev["metadata"]["name"] == status["updateRevision"]
        assert rev["revision"] == 1
        pod = await client.get(f"{PODS}/web-0")
        assert pod["metadata"]["labels"]["controller-revision-hash"] == rev["metadata"]["name"]

        await client.patch(f"{STS}/web", {"spec": {"replicas": 1}})

        async def scaled_down() -> Any:
            return await pod_names(client) == ["web-0"]

        await eventually(scaled_down)
        claims = sorted(c["metadata"]["name"] for c in (await client.get(PVCS))["items"])
        assert claims == ["data-web-0", "data-web-1", "data-web-2"]  # retained

        async def events() -> Any:
            items = (await client.get("/api/v1/namespaces/default/events"))["items"]
            return {e["message"] for e in items}

        messages = await eventually(events)
        assert "create Pod web-0 in StatefulSet web successful" in messages
        assert "create Claim data-web-0 Pod web-0 in StatefulSet web success" in messages


async def test_parallel_and_rolling_update(client: Client) -> None:
    async with run_controllers(client, "statefulset"):
        await client.create(STS, sts_body(2, policy="Parallel"))

        async def both() -> Any:
            return await pod_names(client) == ["web-0", "web-1"]

        await eventually(both)
        for name in ("web-0", "web-1"):
            await make_ready(client, name)
        old = (await client.get(f"{PODS}/web-1"))["metadata"]["uid"]
        await client.patch(
            f"{STS}/web",
            {"spec": {"template": {"metadata": {"labels": {"app": "web", "v": "2"}}}}},
        )

        async def web1_replaced() -> Any:
            pods = (await client.get(PODS))["items"]
            web1 = [p for p in pods if p["metadata"]["name"] == "web-1"]
            return web1 and web1[0]["metadata"]["uid"] != old

        await eventually(web1_replaced)
        pod = await client.get(f"{PODS}/web-1")
        assert pod["metadata"]["labels"]["v"] == "2"
        status = (await client.get(f"{STS}/web"))["status"]
        assert status["currentRevision"] != status["updateRevision"]
        assert pod["metadata"]["labels"]["controller-revision-hash"] == status["updateRevision"]


async def test_claims_follow_the_retention_policy(client: Client) -> None:
    body = sts_body(2, policy="Parallel")
    body["spec"]["persistentVolumeClaimRetentionPolicy"] = {
        "whenDeleted": "Delete",
        "whenScaled": "Delete",
    }
    async with run_controllers(client, "statefulset"):
        created = await client.create(STS, body)

        async def both() -> Any:
            return await pod_names(client) == ["web-0", "web-1"]

        await eventually(both)
        for name in ("web-0", "web-1"):
            await make_ready(client, name)
        claim = await client.get(f"{PVCS}/data-web-1")
        (ref,) = claim["metadata"]["ownerReferences"]
        assert (ref["kind"], ref["uid"]) == ("StatefulSet", created["metadata"]["uid"])
        web1 = await client.get(f"{PODS}/web-1")
        await client.patch(f"{STS}/web", {"spec": {"replicas": 1}})

        async def owned_by_the_pod() -> Any:
            claim = await client.get(f"{PVCS}/data-web-1")
            refs = claim["metadata"].get("ownerReferences") or []
            return [(r["kind"], r["uid"]) for r in refs] == [("Pod", web1["metadata"]["uid"])]

        await eventually(owned_by_the_pod)
