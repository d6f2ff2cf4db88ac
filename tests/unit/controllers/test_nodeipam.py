"""nodeipam: /24 blocks of the cluster CIDR handed out in order, the service range and existing
nodes' blocks skipped, released on delete, CIDRNotAvailable when none is left; declines without
--allocate-node-cidrs."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from pocketkube.client import resources
from pocketkube.controllers.context import ConfigError, Context, Options
from pocketkube.controllers.informers import SharedInformers
from pocketkube.controllers.nodeipam import CIDRSet, NodeIpamController, build
from tests.unit.controllers.fakes import FakeClient, informer
from tests.unit.controllers.test_nodelifecycle import FakeRecorder


def net(text: str) -> Any:
    return ipaddress.ip_network(text)


def node(name: str, cidr: str | None = None) -> dict[str, Any]:
    spec = {"podCIDR": cidr, "podCIDRs": [cidr]} if cidr else {}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "resourceVersion": "1"},
        "spec": spec,
    }


@pytest.mark.parametrize(
    ("cluster", "mask", "occupied", "expected"),
    [
        ("10.244.0.0/16", 24, [], ["10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24"]),
        (
            "10.244.0.0/16",
            24,
            ["10.244.1.0/24"],
            ["10.244.0.0/24", "10.244.2.0/24", "10.244.3.0/24"],
        ),
        (
            "10.244.0.0/16",
            24,
            ["10.244.0.0/23"],
            ["10.244.2.0/24", "10.244.3.0/24", "10.244.4.0/24"],
        ),
        ("10.0.0.0/22", 24, [], ["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"]),
        ("10.0.0.0/23", 24, [], ["10.0.0.0/24", "10.0.1.0/24", None]),
        ("fd00::/48", 64, [], ["fd00::/64", "fd00:0:0:1::/64", "fd00:0:0:2::/64"]),
    ],
)
def test_cidr_set_allocates_in_order(
    cluster: str, mask: int, occupied: list[str], expected: list[str | None]
) -> None:
    cidr_set = CIDRSet(net(cluster), mask)
    for cidr in occupied:
        cidr_set.occupy(net(cidr))
    got = [cidr_set.allocate_next() for _ in expected]
    assert [str(c) if c else None for c in got] == expected


def test_cidr_set_release_and_rotating_cursor() -> None:
    cidr_set = CIDRSet(net("10.0.0.0/22"), 24)
    first = cidr_set.allocate_next()
    assert first is not None
    cidr_set.release(first)
    assert str(cidr_set.allocate_next()) == "10.0.1.0/24"  # the cursor moves on
    assert cidr_set.used == 1


@pytest.mark.parametrize(("cluster", "mask"), [("10.0.0.0/24", 16), ("10.0.0.0/8", 25)])
def test_bad_mask_sizes(cluster: str, mask: int) -> None:
    with pytest.raises(ConfigError):
        CIDRSet(net(cluster), mask)


def make(
    *nodes: dict[str, Any], cluster: str = "10.244.0.0/16", service: str = "10.244.0.0/24"
) -> tuple[NodeIpamController, FakeClient, FakeRecorder]:
    client, recorder = FakeClient(), FakeRecorder()
    controller = NodeIpamController(
        client=client,
        node_informer=informer(client, resources.NODES, *nodes),
        recorder=recorder,
        cidr_sets=[CIDRSet(net(cluster), 24)],
        service_cidrs=[net(service)] if service else [],
    )
    return controller, client, recorder


async def test_node_without_cidr_gets_the_next_free_one() -> None:
    controller, client, _ = make(node("old", "10.244.1.0/24"), node("new"))
    await controller.sync("new")
    (write,) = client.writes()
    assert write.path == "/api/v1/nodes/new"
    # 10.244.0.0/24 is the service range, 10.244.1.0/24 the old node's
    assert write.body["spec"]["podCIDR"] == "10.244.2.0/24"
    assert write.body["spec"]["podCIDRs"] == ["10.244.2.0/24"]
    await controller.sync("old")
    assert len(client.writes()) == 1


async def test_deleted_node_releases_its_cidr() -> None:
    controller, _, _ = make(node("a", "10.244.1.0/24"), service="")
    controller.occupy_existing()
    assert controller.cidr_sets[0].used == 1
    controller._nodes.delete("a")
    await controller.sync("a")
    assert controller.cidr_sets[0].used == 0


async def test_exhausted_range_reports_cidr_not_available() -> None:
    controller, client, recorder = make(
        node("a", "10.0.0.0/24"), node("b"), cluster="10.0.0.0/24", service=""
    )
    with pytest.raises(Exception, match="no remaining CIDRs"):
        await controller.sync("b")
    assert client.writes() == []
    assert recorder.events == [
        ("Normal", "CIDRNotAvailable", "b", "Node b status is now: CIDRNotAvailable")
    ]


def test_declines_without_allocate_node_cidrs() -> None:
    client = FakeClient()
    ctx = Context(client=client, informers=SharedInformers(client=client), options=Options())
    assert build(ctx) is None
    on = Options(allocate_node_cidrs=True, cluster_cidr="10.244.0.0/16")
    ctx = Context(client=client, informers=SharedInformers(client=client), options=on)
    assert isinstance(build(ctx), NodeIpamController)
    with pytest.raises(ConfigError):
        build(
            Context(
                client=client,
                informers=SharedInformers(client=client),
                options=Options(allocate_node_cidrs=True),
            )
        )
