from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pocketkube.client.clock import FakeClock
from pocketkube.client.rest import ApiError, TransportError
from pocketkube.kubelet.node.fake import FakeApi
from pocketkube.kubelet.node.lease import LeaseRenewer

from .conftest import EPOCH, eventually

LEASE = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-1"
NODE = "/api/v1/nodes/node-1"


async def add_node(api: FakeApi) -> str:
    node = await api.create(
        "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"}}
    )
    return str(node["metadata"]["uid"])


def renewer(api: FakeApi, clock: FakeClock, **options: Any) -> LeaseRenewer:
    return LeaseRenewer(
        client=api,
        node_name="node-1",
        clock=clock,
        wall_clock=lambda: EPOCH + clock.now(),
        jitter=0.0,
        **options,
    )


async def test_creates_the_lease_owned_by_the_node(api: FakeApi, clock: FakeClock) -> None:
    uid = await add_node(api)
    lease = renewer(api, clock)
    await lease.sync()
    stored = api.objects[LEASE]
    assert stored["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Node", "name": "node-1", "uid": uid}
    ]
    assert stored["spec"] == {
        "holderIdentity": "node-1",
        "leaseDurationSeconds": 40,
        "renewTime": "2023-11-14T22:13:20.000000Z",
    }
    assert api.count("update") == 0  # just created: nothing to renew
    assert lease.lease == stored


async def test_renewal_updates_without_reading(api: FakeApi, clock: FakeClock) -> None:
    await add_node(api)
    lease = renewer(api, clock)
    await lease.sync()
    gets = api.count("get")
    clock.advance(10)
    await lease.sync()
    assert api.count("get") == gets
    assert api.count("update", LEASE) == 1
    assert api.objects[LEASE]["spec"]["renewTime"] == "2023-11-14T22:13:30.000000Z"


async def test_no_lease_until_the_node_exists(api: FakeApi, clock: FakeClock) -> None:
    lease = renewer(api, clock)
    await lease.sync()
    assert LEASE not in api.objects
    assert lease.lease is None
    await add_node(api)
    await lease.sync()
    assert api.objects[LEASE]["metadata"]["ownerReferences"][0]["name"] == "node-1"


async def test_an_existing_lease_gets_its_owner(api: FakeApi, clock: FakeClock) -> None:
    await api.create(
        "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
        {
            "metadata": {"name": "node-1"},
            "spec": {"holderIdentity": "someone", "leaseDurationSeconds": 5},
        },
    )
    lease = renewer(api, clock)
    await lease.sync()  # the Node is missing: renewed anyway, without owner
    assert api.objects[LEASE]["spec"]["holderIdentity"] == "node-1"
    assert api.objects[LEASE]["spec"]["leaseDurationSeconds"] == 40
    assert "ownerReferences" not in api.objects[LEASE]["metadata"]
    uid = await add_node(api)
    await lease.sync()
    assert api.objects[LEASE]["metadata"]["ownerReferences"][0]["uid"] == uid


async def test_conflict_rereads_the_lease(api: FakeApi, clock: FakeClock) -> None:
    await add_node(api)
    lease = renewer(api, clock)
    await lease.sync()
    api.objects[LEASE]["metadata"]["resourceVersion"] = "999"  # someone else wrote it
    api.objects[LEASE]["metadata"]["labels"] = {"by": "other"}
    clock.advance(10)
    await lease.sync()
    assert api.count("update", LEASE) == 2  # the conflict, then the retry
    assert api.objects[LEASE]["metadata"]["labels"] == {"by": "other"}
    assert api.objects[LEASE]["spec"]["renewTime"] == "2023-11-14T22:13:30.000000Z"


async def test_failed_updates_fall_back_to_ensure(api: FakeApi, clock: FakeClock) -> None:
    await add_node(api)
    failures: list[int] = []
    lease = renewer(api, clock, on_repeated_failure=lambda: failures.append(1))
    await lease.sync()
    api.fail("update", ApiError(500, "InternalError", "etcd"), times=5)
    await lease.sync()
    assert api.count("update", LEASE) == 6  # 5 failures, then a renewal of the re-read lease
    assert failures == [1, 1, 1, 1]  # from the second failure of the round on


class RecordingClock(FakeClock):
    """Sleeps return at once, remembering how long they would have been."""

    def __init__(self) -> None:
        super().__init__()
        self.slept: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.advance(seconds)
        await asyncio.sleep(0)


async def test_ensure_backs_off_up_to_the_cap(api: FakeApi) -> None:
    clock = RecordingClock()
    await add_node(api)
    api.fail("get", TransportError("connection refused"), times=7)
    await renewer(api, clock, max_backoff=7.0).sync()
    assert clock.slept == [0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 7.0]
    assert LEASE in api.objects


async def test_run_renews_every_interval(api: FakeApi, clock: FakeClock) -> None:
    await add_node(api)
    task = asyncio.create_task(renewer(api, clock, renew_interval=10.0).run())
    try:
        await eventually(lambda: clock.sleepers == 1)
        assert LEASE in api.objects
        for renewals in (1, 2, 3):
            clock.advance(10)
            await eventually(lambda n=renewals: api.count("update", LEASE) == n)  # type: ignore[misc]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
