"""endpoint (legacy Endpoints) and endpointslicemirroring on fake informers and client: subsets
repacked by port set, ready/notReady, terminating pods, truncation past 1000, labels, deletion
with the Service; mirrored slices per subset and address family, skip-mirror, invalid IPs."""

from __future__ import annotations

from typing import Any

import pytest

from pocketkube.client import resources
from pocketkube.controllers import endpoint_subsets as es
from pocketkube.controllers.endpoint import EndpointsController, desired_subsets
from pocketkube.controllers.endpointslice import util
from pocketkube.controllers.endpointslicemirroring import (
    CONTROLLER_NAME,
    EndpointSliceMirroringController,
    plan_for,
)
from tests.unit.controllers.fakes import FakeClient, informer
from tests.unit.controllers.test_endpointslice import Server, pod, service

ENDPOINTS = "/api/v1/namespaces/default/endpoints"


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def post(
        self, regarding: Any, *, type: str, reason: str, action: str, note: str, **_: Any
    ) -> None:
        self.events.append((reason, note))


def addr(name: str, ip: str) -> dict[str, Any]:
    return {
        "ip": ip,
        "nodeName": "n1",
        "targetRef": {"kind": "Pod", "namespace": "default", "name": name, "uid": f"uid-{name}"},
    }


def test_subsets_group_by_port_set_and_readiness() -> None:
    pods = [
        pod("a", "10.1.0.1"),
        pod("b", "10.1.0.2", ready=False),
        pod("c", "10.1.0.3", port=9090),
        pod("d", "10.1.0.4", deleting=True),
    ]
    subsets = desired_subsets(service(), pods)
    assert subsets == [
        {
            "addresses": [addr("a", "10.1.0.1")],
            "notReadyAddresses": [addr("b", "10.1.0.2")],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        },
        {
            "addresses": [addr("c", "10.1.0.3")],
            "ports": [{"name": "http", "port": 9090, "protocol": "TCP"}],
        },
    ]


def test_publish_not_ready_addresses_keeps_terminating_pods_ready() -> None:
    svc = service(publishNotReadyAddresses=True)
    subsets = desired_subsets(svc, [pod("a", ready=False), pod("d", "10.1.0.4", deleting=True)])
    assert [a["ip"] for a in subsets[0]["addresses"]] == ["10.1.0.1", "10.1.0.4"]


def test_repack_merges_ports_of_the_same_addresses() -> None:
    a = addr("a", "10.1.0.1")
    subsets = [
        {"addresses": [a], "ports": [{"name": "x", "port": 1, "protocol": "TCP"}]},
        {"addresses": [a], "ports": [{"name": "y", "port": 2, "protocol": "TCP"}]},
    ]
    (merged,) = es.repack(subsets)
    assert [p["name"] for p in merged["ports"]] == ["x", "y"]


@pytest.mark.parametrize(
    ("ready", "not_ready", "kept"),
    [(900, 200, (900, 100)), (1200, 50, (1000, 0)), (10, 10, (10, 10))],
)
def test_truncate(ready: int, not_ready: int, kept: tuple[int, int]) -> None:
    subsets = [
        {
            "addresses": [{"ip": f"r{i}"} for i in range(ready)],
            "notReadyAddresses": [{"ip": f"n{i}"} for i in range(not_ready)],
        }
    ]
    assert es.truncate(subsets) == (ready + not_ready > 1000)
    counts = (
        len(subsets[0].get("addresses") or []),
        len(subsets[0].get("notReadyAddresses") or []),
    )
    assert counts == kept


def endpoints_controller(
    services: list[Any], pods: list[Any], endpoints: list[Any] | None = None
) -> tuple[EndpointsController, FakeClient]:
    client = Server()
    ctrl = EndpointsController(
        client=client,
        service_informer=informer(client, resources.SERVICES, *services),
        pod_informer=informer(client, resources.PODS, *pods),
        endpoints_informer=informer(client, resources.ENDPOINTS, *(endpoints or [])),
        recorder=Recorder(),
    )
    return ctrl, client


async def test_endpoints_created_with_labels_and_trigger_time() -> None:
    svc = service(clusterIP="None")
    ctrl, client = endpoints_controller([svc], [pod("a")])
    await ctrl.sync("default/web")
    (call,) = client.writes()
    assert (call.verb, call.path) == ("POST", ENDPOINTS)
    assert call.body["metadata"]["name"] == "web"
    assert call.body["metadata"]["labels"] == {"team": "a", util.HEADLESS_LABEL: ""}
    assert call.body["metadata"]["annotations"] == {
        util.TRIGGER_TIME_ANNOTATION: "2024-05-01T10:00:00Z"
    }
    assert call.body["subsets"][0]["addresses"] == [addr("a", "10.1.0.1")]


async def test_endpoints_unchanged_are_not_written() -> None:
    svc = service()
    current = {
        "metadata": {
            "name": "web",
            "namespace": "default",
            "labels": {"team": "a"},
            "resourceVersion": "5",
        },
        "subsets": desired_subsets(svc, [pod("a")]),
    }
    ctrl, client = endpoints_controller([svc], [pod("a")], [current])
    await ctrl.sync("default/web")
    assert client.writes() == []


async def test_over_capacity_is_truncated_and_annotated() -> None:
    pods = [pod(f"p{i}", f"10.1.{i // 250}.{i % 250}") for i in range(1001)]
    ctrl, client = endpoints_controller([service()], pods)
    await ctrl.sync("default/web")
    (call,) = client.writes()
    assert call.body["metadata"]["annotations"][util.OVER_CAPACITY_ANNOTATION] == "truncated"
    assert es.count(call.body["subsets"]) == 1000


async def test_endpoints_of_a_gone_service_are_deleted_and_selectorless_left_alone() -> None:
    current = {"metadata": {"name": "web", "namespace": "default"}}
    ctrl, client = endpoints_controller([], [], [current])
    await ctrl.sync("default/web")
    assert [(c.verb, c.path) for c in client.writes()] == [("DELETE", f"{ENDPOINTS}/web")]
    svc = service()
    del svc["spec"]["selector"]
    ctrl, client = endpoints_controller([svc], [pod("a")], [current])
    await ctrl.sync("default/web")
    assert client.writes() == []


# -- mirroring -----------------------------------------------------------------------------------
def hand_made(**labels: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "ext",
            "namespace": "default",
            "uid": "uid-ext",
            "labels": dict(labels),
            "annotations": {"note": "x", util.TRIGGER_TIME_ANNOTATION: "t"},
        },
        "subsets": [
            {
                "addresses": [{"ip": "192.0.2.1"}, {"ip": "2001:db8::1"}, {"ip": "bogus"}],
                "notReadyAddresses": [{"ip": "192.0.2.2"}],
                "ports": [{"name": "db", "port": 5432, "protocol": "TCP"}],
            }
        ],
    }


def test_mirroring_plan_per_family() -> None:
    plan, desired = plan_for(hand_made(), [], 1000)
    assert desired.invalid == 1
    by_type = {s["addressType"]: s for s in plan.create}
    assert sorted(by_type) == ["IPv4", "IPv6"]
    v4 = by_type["IPv4"]
    assert v4["metadata"]["labels"] == {
        util.SERVICE_NAME_LABEL: "ext",
        util.MANAGED_BY_LABEL: CONTROLLER_NAME,
    }
    assert v4["metadata"]["annotations"] == {"note": "x"}
    assert v4["metadata"]["ownerReferences"][0]["kind"] == "Endpoints"
    assert [(e["addresses"], e["conditions"]["ready"]) for e in v4["endpoints"]] == [
        (["192.0.2.1"], True),
        (["192.0.2.2"], False),
    ]
    assert v4["ports"] == [{"name": "db", "port": 5432, "protocol": "TCP"}]


def test_mirroring_caps_addresses_per_subset() -> None:
    plan, desired = plan_for(hand_made(), [], 1)
    assert desired.skipped == 3  # one IPv6, one not-ready, one invalid
    assert len(plan.create) == 1


async def test_mirroring_controller() -> None:
    selectorless = service("ext")
    del selectorless["spec"]["selector"]
    client = Server()
    recorder = Recorder()
    ctrl = EndpointSliceMirroringController(
        client=client,
        service_informer=informer(client, resources.SERVICES, selectorless),
        endpoints_informer=informer(client, resources.ENDPOINTS, hand_made()),
        slice_informer=informer(client, resources.ENDPOINT_SLICES),
        recorder=recorder,
    )
    await ctrl.sync("default/ext")
    assert sorted(c.verb for c in client.writes()) == ["POST", "POST"]
    assert recorder.events == [
        ("InvalidIPAddress", "Skipped 1 invalid IP addresses when mirroring to EndpointSlices")
    ]
    for call in client.writes():
        ctrl._slices.put(
            call.body | {"metadata": call.body["metadata"] | {"name": call.body["addressType"]}}
        )
    client.calls.clear()
    ctrl.tracker.forget("default/ext")
    await ctrl.sync("default/ext")
    assert client.writes() == []  # mirrored already
    ctrl._endpoints.put(hand_made(**{util.SKIP_MIRROR_LABEL: "true"}))
    await ctrl.sync("default/ext")
    assert sorted(c.path.rsplit("/", 1)[1] for c in client.writes()) == ["IPv4", "IPv6"]
