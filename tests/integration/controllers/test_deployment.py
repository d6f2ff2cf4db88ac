"""The Deployment controller with the ReplicaSet controller against the real API server (no
kubelet: a stand-in marks pods Running and Ready): a Deployment of 3 becomes an owned
ReplicaSet and 3 pods, then Available; a template change rolls out while, on every watch event
of ReplicaSets and pods, the total stays within replicas + maxSurge and the available pods at or
above replicas - maxUnavailable; Recreate; going back to an old template revives its
ReplicaSet; scaling in the middle of a rollout is shared out in proportion; pausing;
minReadySeconds passed on to the ReplicaSet."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from pocketkube.client import Client
from pocketkube.controllers.deployment import conditions as cond
from pocketkube.controllers.deployment import util as du
from tests.integration.controllers.conftest import eventually, run_controllers

PODS = "/api/v1/namespaces/default/pods"
RSS = "/apis/apps/v1/namespaces/default/replicasets"
DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"
NOW = "2024-01-01T00:00:00Z"


def deployment_body(
    name: str = "web",
    replicas: int = 3,
    *,
    image: str = "v1",
    strategy: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": image}]},
            },
        },
    }
    if strategy is not None:
        body["spec"]["strategy"] = strategy
    return body


def image_of(pod: dict[str, Any]) -> str:
    return str(pod["spec"]["containers"][0]["image"])


def is_ready(pod: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or ()
    )


async def mark_ready(client: Client, pod: dict[str, Any]) -> None:
    status = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": NOW}],
    }
    with contextlib.suppress(Exception):  # gone meanwhile
        await client.patch(f"{PODS}/{pod['metadata']['name']}/status", {"status": status})


@contextlib.asynccontextmanager
async def kubelet(
    client: Client, ready: Callable[[dict[str, Any]], bool] = lambda pod: True
) -> AsyncIterator[None]:
    """Marks every new pod for which ``ready(pod)`` holds Running and Ready."""

    async def loop() -> None:
        while True:
            for pod in (await client.get(PODS))["items"]:
                meta = pod["metadata"]
                if not meta.get("deletionTimestamp") and not is_ready(pod) and ready(pod):
                    await mark_ready(client, pod)
            await asyncio.sleep(0.05)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def get_deployment(client: Client, name: str = "web") -> dict[str, Any]:
    return await client.get(f"{DEPLOYMENTS}/{name}")


async def replica_sets(client: Client) -> list[dict[str, Any]]:
    items = (await client.get(RSS))["items"]
    return sorted(items, key=lambda rs: du.revision(rs))


async def live_pods(client: Client) -> list[dict[str, Any]]:
    items = (await client.get(PODS))["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def condition(d: dict[str, Any], type_: str) -> dict[str, Any]:
    return cond.get_condition(d.get("status") or {}, type_) or {}


async def rolled_out(client: Client, image: str, replicas: int) -> dict[str, Any] | None:
    """The Deployment once ``kubectl rollout status`` would say it is done."""
    d = await get_deployment(client)
    st = d.get("status") or {}
    pods = await live_pods(client)
    done = (
        st.get("observedGeneration", 0) >= d["metadata"]["generation"]
        and st.get("updatedReplicas") == replicas
        and st.get("replicas") == replicas
        and st.get("availableReplicas") == replicas
        and len(pods) == replicas
        and all(image_of(p) == image for p in pods)
        and condition(d, "Progressing").get("reason") == "NewReplicaSetAvailable"
    )
    return d if done else None


async def set_image(client: Client, image: str) -> None:
    await client.patch(
        f"{DEPLOYMENTS}/web",
        {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}},
        patch_type="strategic",
    )


async def test_deployment_creates_replica_set_and_becomes_available(client: Client) -> None:
    async with run_controllers(client, "deployment", "replicaset"):
        d = await client.create(DEPLOYMENTS, deployment_body())

        async def three_pods() -> Any:
            pods = await live_pods(client)
            return pods if len(pods) == 3 else None

        pods = await eventually(three_pods)
        (rs,) = await replica_sets(client)
        template_hash = rs["metadata"]["labels"][du.HASH_LABEL]
        assert rs["metadata"]["name"] == f"web-{template_hash}"
        assert rs["metadata"]["ownerReferences"][0]["uid"] == d["metadata"]["uid"]
        assert rs["metadata"]["ownerReferences"][0]["controller"] is True
        assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", du.HASH_LABEL: template_hash}
        assert rs["spec"]["template"]["metadata"]["labels"][du.HASH_LABEL] == template_hash
        notes = rs["metadata"]["annotations"]
        assert notes[du.REVISION] == "1"
        assert notes[du.DESIRED_REPLICAS] == "3"
        assert notes[du.MAX_REPLICAS] == "4"  # 25% surge of 3, rounded up
        assert all(p["metadata"]["labels"][du.HASH_LABEL] == template_hash for p in pods)

        for pod in pods:
            await mark_ready(client, pod)

        done = await eventually(lambda: rolled_out(client, "v1", 3))
        assert done["metadata"]["annotations"][du.REVISION] == "1"
        st = done["status"]
        assert st["readyReplicas"] == 3
        assert st.get("unavailableReplicas", 0) == 0
        available = condition(done, "Available")
        assert available["status"] == "True"
        assert available["reason"] == "MinimumReplicasAvailable"
        assert available["message"] == "Deployment has minimum availability."
        progressing = condition(done, "Progressing")
        assert (
            progressing["message"]
            == f'ReplicaSet "web-{template_hash}" has successfully progressed.'
        )

        async def scaling_event() -> Any:
            events = (await client.get("/api/v1/namespaces/default/events"))["items"]
            notes = [e.get("message") for e in events if e.get("reason") == "ScalingReplicaSet"]
            return notes

        notes = await eventually(scaling_event)
        assert f"Scaled up replica set web-{template_hash} from 0 to 3" in notes


class Invariants:
    """Checks the rollout bounds on every watch event of ReplicaSets and pods."""

    def __init__(self, *, replicas: int, surge: int, unavailable: int) -> None:
        self.max_total = replicas + surge
        self.min_available = replicas - unavailable
        self.rss: dict[str, dict[str, Any]] = {}
        self.pods: dict[str, dict[str, Any]] = {}
        self.violations: list[str] = []
        self.events = 0

    def check(self, what: str) -> None:
        self.events += 1
        spec_total = sum(du.replicas(rs) for rs in self.rss.values())
        live = [p for p in self.pods.values() if not p["metadata"].get("deletionTimestamp")]
        available = sum(1 for p in live if is_ready(p))
        if spec_total > self.max_total:
            self.violations.append(f"{what}: ReplicaSets want {spec_total} > {self.max_total}")
        if len(live) > self.max_total:
            self.violations.append(f"{what}: {len(live)} pods > {self.max_total}")
        if available < self.min_available:
            self.violations.append(f"{what}: {available} available < {self.min_available}")

    async def watch(self, client: Client, path: str, into: dict[str, dict[str, Any]]) -> None:
        listed = await client.get(path)
        for item in listed["items"]:
            into[item["metadata"]["name"]] = item
        version = listed["metadata"]["resourceVersion"]
        async for event in client.watch(path, params={"resourceVersion": version}):
            name = event.object["metadata"]["name"]
            if event.type == "DELETED":
                into.pop(name, None)
            elif event.type in ("ADDED", "MODIFIED"):
                into[name] = event.object
            else:
                continue
            self.check(f"{event.type} {name}")


@pytest.mark.parametrize(
    ("replicas", "surge", "unavailable", "bounds"),
    [
        (4, 1, 1, (1, 1)),
        (10, "25%", "25%", (3, 2)),  # surge rounded up, unavailability down
        (5, 0, 2, (0, 2)),  # no surge: old pods go first
        (3, 2, 0, (2, 0)),  # no unavailability: new pods come first
    ],
)
async def test_rolling_update_stays_within_surge_and_unavailability(
    client: Client, replicas: int, surge: Any, unavailable: Any, bounds: tuple[int, int]
) -> None:
    rolling = {"maxSurge": surge, "maxUnavailable": unavailable}
    strategy = {"type": "RollingUpdate", "rollingUpdate": rolling}
    async with run_controllers(client, "deployment", "replicaset"), kubelet(client):
        await client.create(DEPLOYMENTS, deployment_body(replicas=replicas, strategy=strategy))
        await eventually(lambda: rolled_out(client, "v1", replicas), within=20)
        check = Invariants(replicas=replicas, surge=bounds[0], unavailable=bounds[1])
        async with asyncio.TaskGroup() as group:
            watchers = [
                group.create_task(check.watch(client, RSS, check.rss)),
                group.create_task(check.watch(client, PODS, check.pods)),
            ]
            await asyncio.sleep(0.3)
            await set_image(client, "v2")
            done = await eventually(lambda: rolled_out(client, "v2", replicas), within=30)
            await asyncio.sleep(0.3)
            for watcher in watchers:
                watcher.cancel()
        assert check.violations == []
        assert check.events > 2 * replicas
        old, new = await replica_sets(client)
        assert (du.revision(old), du.replicas(old)) == (1, 0)
        assert (du.revision(new), du.replicas(new)) == (2, replicas)
        assert done["metadata"]["annotations"][du.REVISION] == "2"


async def test_recreate_scales_old_down_before_creating_new(client: Client) -> None:
    async with run_controllers(client, "deployment", "replicaset"), kubelet(client):
        body = deployment_body(replicas=2, strategy={"type": "Recreate"})
        await client.create(DEPLOYMENTS, body)
        await eventually(lambda: rolled_out(client, "v1", 2))
        images: list[set[str]] = []

        async def record() -> None:
            while True:
                images.append({image_of(p) for p in await live_pods(client)})
                await asyncio.sleep(0.02)

        recorder = asyncio.create_task(record())
        await set_image(client, "v2")
        await eventually(lambda: rolled_out(client, "v2", 2))
        recorder.cancel()
        assert all(len(seen) <= 1 for seen in images), "old and new pods ran together"
        old, new = await replica_sets(client)
        assert du.replicas(old) == 0
        assert du.replicas(new) == 2


async def test_going_back_to_an_old_template_revives_its_replica_set(client: Client) -> None:
    async with run_controllers(client, "deployment", "replicaset"), kubelet(client):
        await client.create(DEPLOYMENTS, deployment_body(replicas=2))
        await eventually(lambda: rolled_out(client, "v1", 2))
        (first,) = await replica_sets(client)
        await set_image(client, "v2")
        await eventually(lambda: rolled_out(client, "v2", 2))
        # what kubectl rollout undo sends: the old ReplicaSet's template without the hash
        template = copy.deepcopy(first["spec"]["template"])
        del template["metadata"]["labels"][du.HASH_LABEL]
        await client.patch(
            f"{DEPLOYMENTS}/web",
            [{"op": "replace", "path": "/spec/template", "value": template}],
            patch_type="json",
        )
        done = await eventually(lambda: rolled_out(client, "v1", 2))
        rss = await replica_sets(client)
        assert len(rss) == 2
        revived = next(rs for rs in rss if rs["metadata"]["name"] == first["metadata"]["name"])
        assert revived["metadata"]["annotations"][du.REVISION] == "3"
        assert revived["metadata"]["annotations"][du.REVISION_HISTORY] == "1"
        assert du.replicas(revived) == 2
        assert done["metadata"]["annotations"][du.REVISION] == "3"


async def test_scaling_in_the_middle_of_a_rollout_is_proportional(client: Client) -> None:
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 3, "maxUnavailable": 2}}
    async with (
        run_controllers(client, "deployment", "replicaset"),
        kubelet(client, lambda pod: image_of(pod) == "v1"),
    ):
        await client.create(DEPLOYMENTS, deployment_body(replicas=10, strategy=strategy))
        await eventually(lambda: rolled_out(client, "v1", 10), within=20)
        await set_image(client, "v2")  # its pods never become ready: the rollout stalls

        async def stalled() -> Any:
            sizes = [du.replicas(rs) for rs in await replica_sets(client)]
            return sizes if sizes == [8, 5] else None

        await eventually(stalled, within=20)
        await client.patch(f"{DEPLOYMENTS}/web", {"spec": {"replicas": 20}})

        async def scaled() -> Any:
            rss = await replica_sets(client)
            sizes = [du.replicas(rs) for rs in rss]
            desired = {rs["metadata"]["annotations"].get(du.DESIRED_REPLICAS) for rs in rss}
            return sizes if sizes == [14, 9] and desired == {"20"} else None

        await eventually(scaled, within=20)


async def test_paused_deployment_does_not_roll_out(client: Client) -> None:
    async with run_controllers(client, "deployment", "replicaset"), kubelet(client):
        await client.create(DEPLOYMENTS, deployment_body(replicas=1))
        await eventually(lambda: rolled_out(client, "v1", 1))
        await client.patch(f"{DEPLOYMENTS}/web", {"spec": {"paused": True}})

        async def paused() -> Any:
            d = await get_deployment(client)
            return condition(d, "Progressing").get("reason") == "DeploymentPaused"

        await eventually(paused)
        await set_image(client, "v2")
        await asyncio.sleep(0.5)
        assert len(await replica_sets(client)) == 1
        await client.patch(f"{DEPLOYMENTS}/web", {"spec": {"paused": False}})
        await eventually(lambda: rolled_out(client, "v2", 1))


async def test_min_ready_seconds_reaches_the_replica_set(client: Client) -> None:
    async with run_controllers(client, "deployment", "replicaset"), kubelet(client):
        body = deployment_body(replicas=1)
        body["spec"]["minReadySeconds"] = 1
        await client.create(DEPLOYMENTS, body)
        await eventually(lambda: rolled_out(client, "v1", 1))
        (rs,) = await replica_sets(client)
        assert rs["spec"]["minReadySeconds"] == 1
        await client.patch(f"{DEPLOYMENTS}/web", {"spec": {"minReadySeconds": 0}})

        async def updated() -> Any:
            (rs,) = await replica_sets(client)
            return rs["spec"].get("minReadySeconds", 0) == 0

        await eventually(updated)
        assert len(await replica_sets(client)) == 1  # not a new template: no new ReplicaSet
