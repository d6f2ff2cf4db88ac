"""nodeipam against a real API server: existing nodes keep their pod CIDRs, new ones get the
next free /24 (the service range skipped), a deleted node's block is handed out again."""

from __future__ import annotations

from typing import Any

import pytest

from pocketkube.client import Client
from tests.integration.controllers.conftest import eventually, run_controllers

NODES = "/api/v1/nodes"
OPTIONS = {
    "allocate_node_cidrs": True,
    "cluster_cidr": "10.244.0.0/16",
    "service_cluster_ip_range": "10.244.0.0/24",
}


def node(name: str, cidr: str | None = None) -> dict[str, Any]:
    spec = {"podCIDR": cidr, "podCIDRs": [cidr]} if cidr else {}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "spec": spec}


async def cidr_of(client: Client, name: str) -> list[str] | None:
    spec = (await client.get(f"{NODES}/{name}")).get("spec") or {}
    return spec.get("podCIDRs")


@pytest.mark.timeout(60)
async def test_nodes_get_pod_cidrs(client: Client) -> None:
    await client.create(NODES, node("old", "10.244.1.0/24"))
    await client.create(NODES, node("a"))
    async with run_controllers(client, "nodeipam", **OPTIONS):
        assert await eventually(lambda: cidr_of(client, "a")) == ["10.244.2.0/24"]
        await client.create(NODES, node("b"))
        assert await eventually(lambda: cidr_of(client, "b")) == ["10.244.3.0/24"]
        found = await client.get(f"{NODES}/b")
        assert found["spec"]["podCIDR"] == "10.244.3.0/24"
        assert await cidr_of(client, "old") == ["10.244.1.0/24"]
        await client.delete(f"{NODES}/old")
        await client.create(NODES, node("c"))
        assert await eventually(lambda: cidr_of(client, "c")) == ["10.244.4.0/24"]
    async with run_controllers(
        client, "nodeipam", allocate_node_cidrs=True, cluster_cidr="10.244.0.0/22"
    ):
        # a new allocator on 10.244.0.0/22 (four /24s): a and b hold 2 and 3, the deleted
        # node's 1 and the unused 0 are handed out, then nothing is left
        await client.create(NODES, node("d"))
        await client.create(NODES, node("e"))
        got = {
            tuple(await eventually(lambda: cidr_of(client, "d")) or ()),
            tuple(await eventually(lambda: cidr_of(client, "e")) or ()),
        }
        assert got == {("10.244.0.0/24",), ("10.244.1.0/24",)}
        await client.create(NODES, node("f"))

        async def not_available() -> bool:
            events = (await client.get("/api/v1/events"))["items"]
            return any(
                e["reason"] == "CIDRNotAvailable" and e["involvedObject"]["name"] == "f"
                for e in events
            )

        await eventually(not_available)
