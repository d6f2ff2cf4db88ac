"""The node Lease against a real API server: created owned by the Node, renewed in place."""

from __future__ import annotations

import asyncio
from typing import Any

from pocketkube.client import Client
from pocketkube.client.resources import LEASES, NODES
from pocketkube.kubelet.node import LeaseRenewer

LEASE = LEASES.path(namespace="kube-node-lease", name="node-a")


async def node(client: Client) -> dict[str, Any]:
    return await client.create(
        NODES.path(), {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a"}}
    )


async def test_lease_is_created_owned_by_the_node_and_renewed(client: Client) -> None:
    created = await node(client)
    renewer = LeaseRenewer(client=client, node_name="node-a", renew_interval=0.05)
    task = asyncio.create_task(renewer.run())
    try:
        for _ in range(200):
            if renewer.lease is not None:
                break
            await asyncio.sleep(0.01)
        lease = await client.get(LEASE)
        assert lease["spec"]["holderIdentity"] == "node-a"
        assert lease["spec"]["leaseDurationSeconds"] == 40
        assert lease["metadata"]["ownerReferences"] == [
            {
                "apiVersion": "v1",
                "kind": "Node",
                "name": "node-a",
                "uid": created["metadata"]["uid"],
            }
        ]
        first = lease["spec"]["renewTime"]
        for _ in range(300):
            renewed = await client.get(LEASE)
            if renewed["spec"]["renewTime"] != first:
                break
            await asyncio.sleep(0.01)
        assert renewed["spec"]["renewTime"] > first
        assert renewed["metadata"]["uid"] == lease["metadata"]["uid"]  # renewed, not replaced
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_lease_waits_for_the_node(client: Client) -> None:
    renewer = LeaseRenewer(client=client, node_name="node-a")
    await renewer.sync()
    assert renewer.lease is None
    created = await node(client)
    await renewer.sync()
    lease = await client.get(LEASE)
    assert lease["metadata"]["ownerReferences"][0]["uid"] == created["metadata"]["uid"]


async def test_conflicting_writer_is_survived(client: Client) -> None:
    await node(client)
    renewer = LeaseRenewer(client=client, node_name="node-a")
    await renewer.sync()
    await client.patch(LEASE, {"metadata": {"labels": {"touched": "yes"}}})
    await renewer.sync()
    lease = await client.get(LEASE)
    assert lease["metadata"]["labels"] == {"touched": "yes"}
    assert renewer.lease is not None
    assert renewer.lease["metadata"]["resourceVersion"] == lease["metadata"]["resourceVersion"]
