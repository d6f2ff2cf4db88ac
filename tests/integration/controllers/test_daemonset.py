"""The DaemonSet controller against a real API server (no scheduler, no kubelet: the test
plays the kubelet by setting pod status): one pod per eligible hand-made node, pinned by node
affinity; a tainted node is skipped, a node added gets a pod; status counts; a ControllerRevision
per template; a rolling update replaces the pods one at a time."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

import pytest

from pocketkube.client import ApiError, Client
from pocketkube.controllers.daemonset.eligibility import target_node_name
from tests.integration.controllers.conftest import eventually, run_controllers

NODES = "/api/v1/nodes"
PODS = "/api/v1/namespaces/default/pods"
DSS = "/apis/apps/v1/namespaces/default/daemonsets"
REVISIONS = "/apis/apps/v1/namespaces/default/controllerrevisions"


def node(name: str, taints: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"disk": "ssd"}},
        "spec": {"taints": taints} if taints else {},
    }


def daemonset(image: str = "img:1") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent"},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {
                "metadata": {"labels": {"app": "agent"}},
                "spec": {
                    "nodeSelector": {"disk": "ssd"},
                    "containers": [{"name": "c", "image": image}],
                },
            },
        },
    }


async def daemon_pods(client: Client) -> list[dict[str, Any]]:
    pods = (await client.get(PODS, params={"labelSelector": "app=agent"}))["items"]
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


async def by_node(client: Client) -> dict[str, list[dict[str, Any]]]:
    result: dict[str, list[dict[str, Any]]] = {}
    for pod in await daemon_pods(client):
        result.setdefault(target_node_name(pod) or "", []).append(pod)
    return result


async def play_kubelet(client: Client) -> None:
    """Every daemon pod runs and is ready (as if bound and started)."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for pod in await daemon_pods(client):
        if (pod.get("status") or {}).get("phase") == "Running":
            continue
        pod["status"] = {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}],
        }
        with contextlib.suppress(ApiError):
            await client.update(f"{PODS}/{pod['metadata']['name']}/status", pod)


async def status(client: Client) -> dict[str, Any]:
    return (await client.get(f"{DSS}/agent")).get("status") or {}


@pytest.mark.timeout(90)
async def test_daemonset_runs_on_eligible_nodes_and_rolls(client: Client) -> None:
    await client.create(NODES, node("n1"))
    await client.create(NODES, node("n2"))
    await client.create(
        NODES, node("tainted", [{"key": "dedicated", "value": "x", "effect": "NoSchedule"}])
    )
    await client.create(DSS, daemonset())
    async with run_controllers(client, "daemonset"):

        async def two() -> dict[str, list[dict[str, Any]]] | None:
            nodes = await by_node(client)
            return nodes if sorted(nodes) == ["n1", "n2"] else None

        placed = await eventually(two)
        pod = placed["n1"][0]
        assert pod["metadata"]["ownerReferences"][0]["kind"] == "DaemonSet"
        labels = pod["metadata"]["labels"]
        assert labels["pod-template-generation"] == "1"
        assert labels["controller-revision-hash"]
        tolerations = {(t["key"], t["effect"]) for t in pod["spec"]["tolerations"]}
        assert ("node.kubernetes.io/unreachable", "NoExecute") in tolerations
        assert ("node.kubernetes.io/unschedulable", "NoSchedule") in tolerations
        terms = pod["spec"]["affinity"]["nodeAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"
        ]["nodeSelectorTerms"]
        assert terms == [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}
        ]
        (revision,) = (await client.get(REVISIONS))["items"]
        assert revision["revision"] == 1
        assert (
            revision["metadata"]["labels"]["controller-revision-hash"]
            == labels["controller-revision-hash"]
        )

        await client.create(NODES, node("n3"))

        async def three() -> bool:
            return sorted(await by_node(client)) == ["n1", "n2", "n3"]

        await eventually(three)

        async def all_ready() -> dict[str, Any] | None:
            await play_kubelet(client)
            s = await status(client)
            return s if s.get("numberReady") == 3 and s.get("numberAvailable") == 3 else None

        s = await eventually(all_ready)
        assert s["desiredNumberScheduled"] == 3
        assert s["currentNumberScheduled"] == 3
        assert s["updatedNumberScheduled"] == 3
        assert s["numberMisscheduled"] == 0
        assert s["numberUnavailable"] == 0
        assert s["observedGeneration"] == 1

        # a rolling update, maxUnavailable 1: never more than one node without a ready pod
        ds = await client.get(f"{DSS}/agent")
        ds["spec"]["template"]["spec"]["containers"][0]["image"] = "img:2"
        await client.update(f"{DSS}/agent", ds)
        worst = 3

        async def rolled() -> bool:
            nonlocal worst
            nodes = await by_node(client)
            ready = sum(
                1
                for pods in nodes.values()
                if any(p.get("status", {}).get("phase") == "Running" for p in pods)
            )
            worst = min(worst, ready)
            await play_kubelet(client)
            s = await status(client)
            return (
                s.get("observedGeneration") == 2
                and s.get("updatedNumberScheduled") == 3
                and s.get("numberAvailable") == 3
            )

        await eventually(rolled, within=30)
        assert worst >= 2, worst
        images = {p["spec"]["containers"][0]["image"] for p in await daemon_pods(client)}
        assert images == {"img:2"}
        revisions = sorted(r["revision"] for r in (await client.get(REVISIONS))["items"])
        assert revisions == [1, 2]

        # the node label goes: its pod goes
        n3 = await client.get(f"{NODES}/n3")
        n3["metadata"]["labels"] = {}
        await client.update(f"{NODES}/n3", n3)

        async def two_again() -> bool:
            return sorted(await by_node(client)) == ["n1", "n2"]

        await eventually(two_again)


@pytest.mark.timeout(60)
async def test_orphaned_revision_is_adopted(client: Client) -> None:
    await client.create(
        REVISIONS,
        {
            "apiVersion": "apps/v1",
            "kind": "ControllerRevision",
            "metadata": {"name": "agent-old", "labels": {"app": "agent"}},
            "data": {"spec": {"template": {"$patch": "replace"}}},
            "revision": 5,
        },
    )
    created = await client.create(DSS, daemonset())
    async with run_controllers(client, "daemonset"):

        async def adopted() -> bool:
            refs = (await client.get(f"{REVISIONS}/agent-old"))["metadata"].get(
                "ownerReferences"
            ) or []
            return [r["uid"] for r in refs] == [created["metadata"]["uid"]]

        await eventually(adopted)

        async def current() -> list[int] | None:
            numbers = sorted(r["revision"] for r in (await client.get(REVISIONS))["items"])
            return numbers if len(numbers) == 2 else None

        assert await eventually(current) == [5, 6]  # the current one numbered after the old
