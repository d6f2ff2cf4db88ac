"""The garbage collector against the real API server (no kubelet, no ReplicaSet controller):
ReplicaSets, ConfigMaps and custom resources made by hand, with pods and ConfigMaps naming them
in ownerReferences.

Background deletion removes the dependents; foreground keeps the owner (deletionTimestamp and
the foregroundDeletion finalizer) until its blocking dependents are gone; orphan strips the
references and lets the owner go; a dependent whose owner never existed is collected; one with
a second, live owner only loses the dead reference; an owner in another namespace counts as
absent (with an OwnerRefInvalidNamespace event); custom resources own and are owned.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

from pocketkube.client import ApiError, Client
from pocketkube.controllers import garbagecollector, manager
from pocketkube.controllers.context import Context, Options
from pocketkube.controllers.garbagecollector.collector import GarbageCollector
from pocketkube.controllers.informers import SharedInformers
from tests.integration.controllers.conftest import eventually, run_controllers

NS = "default"
PODS = f"/api/v1/namespaces/{NS}/pods"
CONFIGMAPS = f"/api/v1/namespaces/{NS}/configmaps"
RSS = f"/apis/apps/v1/namespaces/{NS}/replicasets"
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
WIDGETS = f"/apis/example.com/v1/namespaces/{NS}/widgets"


@contextlib.asynccontextmanager
async def gc_running(client: Client, **kwargs: Any) -> AsyncIterator[GarbageCollector]:
    opts = dataclasses.replace(Options(leader_elect=False), controllers=("garbagecollector",))
    ctx = Context(client=client, informers=SharedInformers(client=client), options=opts)
    gc = garbagecollector.build(ctx)
    assert isinstance(gc, GarbageCollector)
    for key, value in kwargs.items():
        setattr(gc, key, value)
    task = asyncio.create_task(manager.run(ctx, [gc]))
    try:
        yield gc
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def ref(owner: dict[str, Any], *, block: bool | None = None) -> dict[str, Any]:
    out = {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
    }
    if block is not None:
        out["blockOwnerDeletion"] = block
    return out


async def make_rs(client: Client, name: str) -> dict[str, Any]:
    labels = {"app": name}
    body = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "x"}]},
            },
        },
    }
    created = await client.create(RSS, body)
    created.setdefault("apiVersion", "apps/v1")
    created.setdefault("kind", "ReplicaSet")
    return created


async def make_pod(
    client: Client, name: str, *owners: dict[str, Any], namespace: str = NS
) -> dict[str, Any]:
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "ownerReferences": list(owners)},
        "spec": {"containers": [{"name": "c", "image": "x"}]},
    }
    return await client.create(f"/api/v1/namespaces/{namespace}/pods", body)


async def make_cm(client: Client, name: str, *owners: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}
    if owners:
        body["metadata"]["ownerReferences"] = list(owners)
    created = await client.create(CONFIGMAPS, body)
    created.setdefault("apiVersion", "v1")
    created.setdefault("kind", "ConfigMap")
    return created


async def exists(client: Client, path: str) -> dict[str, Any] | None:
    try:
        return await client.get(path)
    except ApiError as err:
        if err.not_found:
            return None
        raise


async def _observed(gc: GarbageCollector, obj: dict[str, Any]) -> bool:
    node = gc.graph.get(obj["metadata"]["uid"])
    return node is not None and node.observed


async def delete(client: Client, path: str, policy: str) -> None:
    await client.delete(path, body={"kind": "DeleteOptions", "propagationPolicy": policy})


async def test_background_deletion_removes_dependents(client: Client) -> None:
    async with gc_running(client):
        rs = await make_rs(client, "web")
        for i in range(3):
            await make_pod(client, f"web-{i}", ref(rs, block=True))
        await delete(client, f"{RSS}/web", "Background")
        assert await exists(client, f"{RSS}/web") is None

        async def pods_gone() -> bool:
            return not (await client.get(PODS))["items"]

        await eventually(pods_gone)


async def test_foreground_blocks_owner_until_dependents_are_gone(client: Client) -> None:
    keep = "test.pocketkube.io/keep"
    async with gc_running(client):
        rs = await make_rs(client, "fg")
        await make_pod(client, "fg-free", ref(rs))
        pod = await make_pod(client, "fg-blocking", ref(rs, block=True))
        await client.patch(f"{PODS}/fg-blocking", {"metadata": {"finalizers": [keep]}})
        await delete(client, f"{RSS}/fg", "Foreground")

        async def blocking_pod_terminating() -> bool:
            got = await exists(client, f"{PODS}/fg-blocking")
            return bool(got and got["metadata"].get("deletionTimestamp"))

        await eventually(blocking_pod_terminating)
        await asyncio.sleep(0.5)
        owner = await exists(client, f"{RSS}/fg")
        assert owner is not None
        assert owner["metadata"]["deletionTimestamp"]
        assert "foregroundDeletion" in owner["metadata"]["finalizers"]
        # the pod's own finalizer goes: the pod goes, then the owner
        await client.patch(f"{PODS}/fg-blocking", {"metadata": {"finalizers": None}})

        async def owner_gone() -> bool:
            return await exists(client, f"{RSS}/fg") is None

        await eventually(owner_gone)
        assert await exists(client, f"{PODS}/{pod['metadata']['name']}") is None

        async def free_gone() -> bool:
            return await exists(client, f"{PODS}/fg-free") is None

        await eventually(free_gone)


async def test_orphan_leaves_dependents_without_the_reference(client: Client) -> None:
    async with gc_running(client):
        rs = await make_rs(client, "orph")
        await make_pod(client, "orph-0", ref(rs, block=True))
        await make_pod(client, "orph-1", ref(rs))
        await delete(client, f"{RSS}/orph", "Orphan")

        async def owner_gone() -> bool:
            return await exists(client, f"{RSS}/orph") is None

        await eventually(owner_gone)
        for name in ("orph-0", "orph-1"):
            pod = await client.get(f"{PODS}/{name}")
            assert not pod["metadata"].get("ownerReferences")
        await asyncio.sleep(0.5)
        assert len((await client.get(PODS))["items"]) == 2


async def test_dependent_of_a_never_existing_owner_is_collected(client: Client) -> None:
    async with gc_running(client):
        ghost = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "name": "ghost",
            "uid": "00000000-0000-0000-0000-000000000001",
        }
        await make_pod(client, "haunted", ghost)
        keeper = await make_rs(client, "alive")
        await make_pod(client, "kept", ref(keeper))

        async def haunted_gone() -> bool:
            return await exists(client, f"{PODS}/haunted") is None

        await eventually(haunted_gone)
        await asyncio.sleep(0.5)
        assert await exists(client, f"{PODS}/kept") is not None


async def test_second_live_owner_keeps_the_dependent(client: Client) -> None:
    async with gc_running(client):
        first = await make_rs(client, "first")
        second = await make_cm(client, "second")
        await make_pod(client, "shared", ref(first), ref(second))
        await delete(client, f"{RSS}/first", "Background")

        async def dead_ref_removed() -> Any:
            pod = await client.get(f"{PODS}/shared")
            refs = pod["metadata"].get("ownerReferences") or []
            return [r["name"] for r in refs] == ["second"]

        await eventually(dead_ref_removed)
        await delete(client, f"{CONFIGMAPS}/second", "Background")

        async def shared_gone() -> bool:
            return await exists(client, f"{PODS}/shared") is None

        await eventually(shared_gone)


async def test_owner_in_another_namespace_counts_as_absent(client: Client) -> None:
    await client.create("/api/v1/namespaces", {"metadata": {"name": "other"}})
    async with gc_running(client) as gc:
        owner = await make_cm(client, "owner-in-default")
        await eventually(lambda: _observed(gc, owner))  # the event needs the owner observed
        await make_pod(client, "stray", ref(owner), namespace="other")
        local = await make_pod(client, "local", ref(owner))

        async def stray_gone() -> bool:
            return await exists(client, "/api/v1/namespaces/other/pods/stray") is None

        await eventually(stray_gone)
        await asyncio.sleep(0.3)
        assert await exists(client, f"{PODS}/{local['metadata']['name']}") is not None

        async def invalid_namespace_event() -> bool:
            events = (await client.get("/api/v1/namespaces/other/events"))["items"]
            return any(e.get("reason") == "OwnerRefInvalidNamespace" for e in events)

        await eventually(invalid_namespace_event)


WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}


async def test_custom_resources_as_owners_and_dependents(client: Client) -> None:
    async with gc_running(client, _resync_period=2.0):
        await client.create(CRDS, WIDGET_CRD)

        async def widgets_served() -> Any:
            return await exists(client, WIDGETS)

        await eventually(widgets_served)
        body = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "top"}}
        top = await client.create(WIDGETS, body)
        cm = await make_cm(client, "owned-by-widget", ref(top))
        child = {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "child", "ownerReferences": [ref(cm)]},
        }
        await client.create(WIDGETS, child)
        await delete(client, f"{WIDGETS}/top", "Background")

        async def chain_gone() -> bool:
            cm_left = await exists(client, f"{CONFIGMAPS}/owned-by-widget")
            child_left = await exists(client, f"{WIDGETS}/child")
            return cm_left is None and child_left is None

        await eventually(chain_gone, within=15.0)

        # orphaning a custom resource's dependents goes through a JSON merge patch
        top = await client.create(WIDGETS, body)
        await make_cm(client, "kept-by-widget", ref(top))
        child["metadata"]["ownerReferences"] = [ref(top)]
        await client.create(WIDGETS, child)
        await delete(client, f"{WIDGETS}/top", "Orphan")

        async def orphaned() -> bool:
            if await exists(client, f"{WIDGETS}/top") is not None:
                return False
            kid = await client.get(f"{WIDGETS}/child")
            cm = await client.get(f"{CONFIGMAPS}/kept-by-widget")
            return not kid["metadata"].get("ownerReferences") and not cm["metadata"].get(
                "ownerReferences"
            )

        await eventually(orphaned)


async def test_default_propagation_orphans_for_replicationcontrollers(client: Client) -> None:
    """A delete without a policy: v1 ReplicationControllers orphan (upstream's default
    policy), apps/v1 ReplicaSets propagate in the background."""
    rcs = f"/api/v1/namespaces/{NS}/replicationcontrollers"
    body = {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": "legacy"},
        "spec": {
            "replicas": 0,
            "selector": {"app": "legacy"},
            "template": {
                "metadata": {"labels": {"app": "legacy"}},
                "spec": {"containers": [{"name": "c", "image": "x"}]},
            },
        },
    }
    rc = await client.create(rcs, body)
    rc.update(apiVersion="v1", kind="ReplicationController")
    await make_pod(client, "legacy-0", ref(rc, block=True))
    marked = await client.delete(f"{rcs}/legacy")
    assert marked["metadata"]["finalizers"] == ["orphan"]
    rs = await make_rs(client, "modern")
    await make_pod(client, "modern-0", ref(rs))
    async with gc_running(client):
        await client.delete(f"{RSS}/modern")

        async def settled() -> bool:
            rc_left = await exists(client, f"{rcs}/legacy")
            modern_left = await exists(client, f"{PODS}/modern-0")
            return rc_left is None and modern_left is None

        await eventually(settled)
        pod = await client.get(f"{PODS}/legacy-0")
        assert not pod["metadata"].get("ownerReferences")


async def test_a_second_delete_switches_the_propagation_finalizer(client: Client) -> None:
    cm = await make_cm(client, "switch")
    await make_cm(client, "switch-dep", ref(cm, block=True))
    first = await client.delete(
        f"{CONFIGMAPS}/switch", body={"kind": "DeleteOptions", "propagationPolicy": "Foreground"}
    )
    assert first["metadata"]["finalizers"] == ["foregroundDeletion"]
    second = await client.delete(
        f"{CONFIGMAPS}/switch", body={"kind": "DeleteOptions", "propagationPolicy": "Orphan"}
    )
    assert second["metadata"]["finalizers"] == ["orphan"]
    async with gc_running(client):

        async def owner_gone() -> bool:
            return await exists(client, f"{CONFIGMAPS}/switch") is None

        await eventually(owner_gone)
        dep = await client.get(f"{CONFIGMAPS}/switch-dep")
        assert not dep["metadata"].get("ownerReferences")


DEPLOYS = f"/apis/apps/v1/namespaces/{NS}/deployments"


def deployment(name: str, replicas: int = 2) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "x"}]},
            },
        },
    }


async def test_deployment_deletion_with_each_policy(client: Client) -> None:
    """With the deployment and ReplicaSet controllers: background and foreground remove the
    ReplicaSets and pods; orphan leaves them without references."""
    async with run_controllers(client, "deployment", "replicaset", "garbagecollector"):
        for policy in ("Background", "Foreground", "Orphan"):
            name = policy.lower()
            await client.create(DEPLOYS, deployment(name))

            async def running(name: str = name) -> bool:
                pods = (await client.get(PODS, params={"labelSelector": f"app={name}"}))["items"]
                return len(pods) == 2

            await eventually(running)
            await delete(client, f"{DEPLOYS}/{name}", policy)

            async def settled(name: str = name, policy: str = policy) -> bool:
                if await exists(client, f"{DEPLOYS}/{name}") is not None:
                    return False
                selector = {"labelSelector": f"app={name}"}
                rss = (await client.get(RSS, params=selector))["items"]
                pods = (await client.get(PODS, params=selector))["items"]
                if policy != "Orphan":
                    return not rss and not pods
                return (
                    len(rss) == 1
                    and len(pods) == 2
                    and not rss[0]["metadata"].get("ownerReferences")
                )

            await eventually(settled, within=15.0)
