"""endpointslice, endpoint and endpointslicemirroring against the real API server (no kubelet:
pod IPs, phases and Ready are set through pods/<name>/status): a Service's three pods make one
slice with the port resolved by name and one Endpoints subset; a readiness flip shows within a
second; a terminating pod is not ready but serving; over 100 pods take two slices; a selectorless
Service's hand-made Endpoints are mirrored; a dual-stack headless Service gets one slice per
family."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from typing import Any

from pocketkube.client import ApiError, Client, resources
from tests.integration.controllers.conftest import eventually, run_controllers

PODS = "/api/v1/namespaces/default/pods"
SERVICES = "/api/v1/namespaces/default/services"
ENDPOINTS = "/api/v1/namespaces/default/endpoints"
SLICES = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
KEEP = "test.pocketkube.io/keep"


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def make_node(client: Client) -> None:
    body = {"metadata": {"name": "n1", "labels": {"topology.kubernetes.io/zone": "zone-a"}}}
    await client.create(resources.NODES.path(), body)


async def make_service(client: Client, name: str = "web", **spec: Any) -> dict[str, Any]:
    body = {
        "metadata": {"name": name, "labels": {"team": "blue"}},
        "spec": {
            "selector": {"app": name},
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
            **spec,
        },
    }
    return await client.create(SERVICES, body)


async def make_pod(client: Client, name: str, ip: str, *, app: str = "web") -> None:
    body = {
        "metadata": {"name": name, "labels": {"app": app}, "finalizers": [KEEP]},
        "spec": {
            "nodeName": "n1",
            "containers": [
                {"name": "c", "image": "x", "ports": [{"name": "http", "containerPort": 8080}]}
            ],
        },
    }
    await client.create(PODS, body)
    await set_ready(client, name, True, ip=ip)


async def set_ready(client: Client, name: str, ready: bool, *, ip: str | None = None) -> None:
    status: dict[str, Any] = {
        "phase": "Running",
        "conditions": [
            {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": now()}
        ],
    }
    if ip:
        status |= {"podIP": ip, "podIPs": [{"ip": ip}]}
    await client.patch(f"{PODS}/{name}/status", {"status": status})


async def release_all(client: Client) -> None:
    for item in (await client.get(PODS))["items"]:
        with contextlib.suppress(ApiError):
            await client.patch(
                f"{PODS}/{item['metadata']['name']}", {"metadata": {"finalizers": None}}
            )


async def slices_of(client: Client, service: str) -> list[dict[str, Any]]:
    params = {"labelSelector": f"kubernetes.io/service-name={service}"}
    return list((await client.get(SLICES, params=params))["items"])


def by_pod(slices: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["targetRef"]["name"]: e for s in slices for e in s.get("endpoints") or []}


async def test_slices_and_endpoints_follow_pods(client: Client) -> None:
    await make_node(client)
    service = await make_service(client)
    for i in range(3):
        await make_pod(client, f"web-{i}", f"10.244.0.{i + 10}")
    await make_pod(client, "other", "10.244.0.99", app="other")
    try:
        async with run_controllers(client, "endpointslice", "endpoint"):

            async def three_ready() -> list[dict[str, Any]] | None:
                slices = await slices_of(client, "web")
                eps = by_pod(slices)
                ok = len(eps) == 3 and all(e["conditions"]["ready"] for e in eps.values())
                return slices if ok else None

            (slice_,) = await eventually(three_ready)
            meta = slice_["metadata"]
            assert meta["name"].startswith("web-")
            assert meta["labels"] == {
                "team": "blue",
                "kubernetes.io/service-name": "web",
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
            }
            assert meta["ownerReferences"][0]["uid"] == service["metadata"]["uid"]
            assert "endpoints.kubernetes.io/last-change-trigger-time" in meta["annotations"]
            assert slice_["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
            endpoint = by_pod([slice_])["web-0"]
            assert endpoint["addresses"] == ["10.244.0.10"]
            assert endpoint["nodeName"] == "n1"
            assert endpoint["zone"] == "zone-a"

            async def endpoints() -> dict[str, Any] | None:
                with contextlib.suppress(ApiError):
                    eps = await client.get(f"{ENDPOINTS}/web")
                    subsets = eps.get("subsets") or []
                    if subsets and len(subsets[0].get("addresses") or []) == 3:
                        return eps
                return None

            eps = await eventually(endpoints)
            assert eps["subsets"][0]["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
            assert eps["metadata"]["labels"] == {"team": "blue"}

            # settled: nothing is rewritten while nothing changes
            before = [s["metadata"]["resourceVersion"] for s in await slices_of(client, "web")]
            await asyncio.sleep(1.0)
            after = [s["metadata"]["resourceVersion"] for s in await slices_of(client, "web")]
            assert after == before
            again = await client.get(f"{ENDPOINTS}/web")
            assert again["metadata"]["resourceVersion"] == eps["metadata"]["resourceVersion"]

            # readiness flip, measured
            started = time.monotonic()
            await set_ready(client, "web-1", False)

            async def flipped() -> bool:
                eps = by_pod(await slices_of(client, "web"))
                return eps["web-1"]["conditions"]["ready"] is False

            await eventually(flipped, within=5.0, every=0.02)
            latency = time.monotonic() - started
            print(f"the slice followed readiness after {latency:.3f} s")
            assert latency < 1.0, f"the slice followed readiness after {latency:.2f} s"

            async def not_ready_address() -> bool:
                subsets = (await client.get(f"{ENDPOINTS}/web")).get("subsets") or []
                names = [
                    a["targetRef"]["name"]
                    for s in subsets
                    for a in s.get("notReadyAddresses") or []
                ]
                return names == ["web-1"]

            await eventually(not_ready_address)
            await set_ready(client, "web-1", True)

            # a terminating pod: not ready, still serving, terminating; gone from Endpoints
            await client.delete(f"{PODS}/web-2")

            async def terminating() -> dict[str, Any] | None:
                eps = by_pod(await slices_of(client, "web"))
                conditions = eps["web-2"]["conditions"]
                return conditions if conditions["terminating"] else None

            conditions = await eventually(terminating)
            assert conditions == {"ready": False, "serving": True, "terminating": True}

            async def dropped() -> bool:
                subsets = (await client.get(f"{ENDPOINTS}/web")).get("subsets") or []
                ips = [a["ip"] for s in subsets for a in s.get("addresses") or []]
                return sorted(ips) == ["10.244.0.10", "10.244.0.11"]

            await eventually(dropped)

            # the Service goes: its Endpoints and slices go too
            await client.delete(f"{SERVICES}/web")

            async def gone() -> bool:
                try:
                    await client.get(f"{ENDPOINTS}/web")
                except ApiError as err:
                    return err.not_found and not await slices_of(client, "web")
                return False

            await eventually(gone)
    finally:
        await release_all(client)


async def test_over_100_pods_take_two_slices_and_an_empty_service_a_placeholder(
    client: Client,
) -> None:
    await make_node(client)
    await make_service(client)
    await make_service(client, "empty")
    for i in range(120):
        await make_pod(client, f"web-{i}", f"10.244.{i // 200}.{i % 200 + 1}")
    try:
        async with run_controllers(client, "endpointslice"):

            async def packed() -> list[int] | None:
                sizes = sorted(
                    len(s.get("endpoints") or []) for s in await slices_of(client, "web")
                )
                return sizes if sum(sizes) == 120 else None

            sizes = await eventually(packed)
            assert len(sizes) == 2
            assert max(sizes) == 100

            async def placeholder() -> list[dict[str, Any]]:
                return await slices_of(client, "empty")

            (empty,) = await eventually(placeholder)
            assert empty.get("endpoints") in (None, [])
            assert empty.get("ports") in (None, [])
    finally:
        await release_all(client)


async def test_mirroring_of_a_selectorless_service(client: Client) -> None:
    await client.create(
        SERVICES, {"metadata": {"name": "ext"}, "spec": {"ports": [{"name": "db", "port": 5432}]}}
    )
    await client.create(
        ENDPOINTS,
        {
            "metadata": {"name": "ext", "labels": {"tier": "db"}},
            "subsets": [
                {
                    "addresses": [{"ip": "192.0.2.1"}],
                    "notReadyAddresses": [{"ip": "192.0.2.2"}],
                    "ports": [{"name": "db", "port": 5432, "protocol": "TCP"}],
                }
            ],
        },
    )
    async with run_controllers(client, "endpointslicemirroring", "endpoint", "endpointslice"):

        async def mirrored() -> list[dict[str, Any]]:
            return await slices_of(client, "ext")

        (slice_,) = await eventually(mirrored)
        assert slice_["metadata"]["labels"] == {
            "tier": "db",
            "kubernetes.io/service-name": "ext",
            "endpointslice.kubernetes.io/managed-by": "endpointslicemirroring-controller.k8s.io",
        }
        assert slice_["metadata"]["ownerReferences"][0]["kind"] == "Endpoints"
        assert [(e["addresses"], e["conditions"]["ready"]) for e in slice_["endpoints"]] == [
            (["192.0.2.1"], True),
            (["192.0.2.2"], False),
        ]
        # the hand-made Endpoints is left alone; the API server's own is not mirrored
        eps = await client.get(f"{ENDPOINTS}/ext")
        assert len(eps["subsets"][0]["addresses"]) == 1
        kube = await client.get(
            "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices",
            params={"labelSelector": "kubernetes.io/service-name=kubernetes"},
        )
        assert [s["metadata"]["name"] for s in kube["items"]] == ["kubernetes"]

        await client.delete(f"{ENDPOINTS}/ext")

        async def cleaned() -> bool:
            return not await slices_of(client, "ext")

        await eventually(cleaned)


async def test_dual_stack_headless_service_gets_a_slice_per_family(client: Client) -> None:
    await make_node(client)
    await make_service(
        client,
        clusterIP="None",
        ipFamilies=["IPv4", "IPv6"],
        ipFamilyPolicy="RequireDualStack",
    )
    await make_pod(client, "web-0", "10.244.0.10")
    await client.patch(
        f"{PODS}/web-0/status",
        {"status": {"podIPs": [{"ip": "10.244.0.10"}, {"ip": "fd00:10:244::10"}]}},
    )
    try:
        async with run_controllers(client, "endpointslice"):

            async def both() -> dict[str, list[str]] | None:
                families = {
                    s["addressType"]: [a for e in s.get("endpoints") or [] for a in e["addresses"]]
                    for s in await slices_of(client, "web")
                }
                return families if all(families.get(f) for f in ("IPv4", "IPv6")) else None

            families = await eventually(both)
            assert families == {"IPv4": ["10.244.0.10"], "IPv6": ["fd00:10:244::10"]}
            for slice_ in await slices_of(client, "web"):
                assert slice_["metadata"]["labels"]["service.kubernetes.io/headless"] == ""
    finally:
        await release_all(client)


async def test_leftover_endpoints_are_deleted_on_start(client: Client) -> None:
    orphan = {"metadata": {"name": "orphan"}, "subsets": [{"addresses": [{"ip": "192.0.2.7"}]}]}
    await client.create(ENDPOINTS, orphan)
    async with run_controllers(client, "endpoint"):

        async def deleted() -> bool:
            try:
                await client.get(f"{ENDPOINTS}/orphan")
            except ApiError as err:
                return err.not_found
            return False

        await eventually(deleted)
        # made while the controller runs (say, before its Service): left alone
        await client.create(ENDPOINTS, orphan | {"metadata": {"name": "later"}})
        await asyncio.sleep(0.5)
        await client.get(f"{ENDPOINTS}/later")
        kube = await client.get(f"{ENDPOINTS}/kubernetes")
        assert kube["subsets"]


async def test_prefer_close_traffic_distribution_hints_the_zone(client: Client) -> None:
    await make_node(client)
    await make_service(client, trafficDistribution="PreferClose")
    await make_pod(client, "web-0", "10.244.0.10")
    try:
        async with run_controllers(client, "endpointslice"):

            async def hinted() -> Any:
                endpoint = by_pod(await slices_of(client, "web")).get("web-0") or {}
                return endpoint.get("hints")

            assert await eventually(hinted) == {"forZones": [{"name": "zone-a"}]}
    finally:
        await release_all(client)
