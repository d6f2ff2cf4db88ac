"""endpointslice on fake informers and client: port resolution, endpoint conditions, packing
into slices of at most N, minimal churn on change, placeholders, address families, labels,
stale-cache waits, trigger times."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from pocketkube.client import resources
from pocketkube.controllers.base import IgnorableError
from pocketkube.controllers.endpointslice import slices as sl
from pocketkube.controllers.endpointslice import util
from pocketkube.controllers.endpointslice.controller import EndpointSliceController
from tests.unit.controllers.fakes import FakeClient, informer

SLICES = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
_rv = itertools.count(100)


def service(
    name: str = "web",
    *,
    ports: list[dict[str, Any]] | None = None,
    selector: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ports": ports
        if ports is not None
        else [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        "clusterIP": "10.0.0.10",
        "ipFamilies": ["IPv4"],
        **spec,
    }
    body["selector"] = selector if selector is not None else {"app": name}
    return {
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": f"uid-{name}",
            "creationTimestamp": "2024-05-01T10:00:00Z",
            "labels": {"team": "a"},
        },
        "spec": body,
    }


def pod(
    name: str,
    ip: str | list[str] = "10.1.0.1",
    *,
    ready: bool = True,
    labels: dict[str, str] | None = None,
    port: int = 8080,
    deleting: bool = False,
    phase: str = "Running",
    node: str = "n1",
    **spec: Any,
) -> dict[str, Any]:
    ips = [ip] if isinstance(ip, str) else ip
    meta: dict[str, Any] = {
        "name": name,
        "namespace": "default",
        "uid": f"uid-{name}",
        "labels": labels if labels is not None else {"app": "web"},
        "resourceVersion": str(next(_rv)),
    }
    if deleting:
        meta["deletionTimestamp"] = "2024-05-01T11:00:00Z"
    return {
        "metadata": meta,
        "spec": {
            "nodeName": node,
            "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": port}]}],
            **spec,
        },
        "status": {
            "phase": phase,
            "podIP": ips[0] if ips else "",
            "podIPs": [{"ip": i} for i in ips],
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True" if ready else "False",
                    "lastTransitionTime": "2024-05-01T10:30:00Z",
                }
            ],
        },
    }


def node(name: str = "n1", zone: str = "z1") -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {util.ZONE_LABEL: zone}}}


class Server(FakeClient):
    """A FakeClient that names created slices and bumps resourceVersions."""

    def __init__(self) -> None:
        super().__init__()
        self.serial = 0

    def _answer(self, verb: str, path: str, body: Any) -> Any:
        reply = super()._answer(verb, path, body)
        if verb in ("POST", "PUT") and isinstance(reply, dict):
            reply = dict(reply)
            reply["metadata"] = dict(reply.get("metadata") or {})
            if verb == "POST" and "name" not in reply["metadata"]:
                self.serial += 1
                reply["metadata"]["name"] = reply["metadata"]["generateName"] + str(self.serial)
            reply["metadata"]["resourceVersion"] = str(next(_rv))
        return reply


def controller(
    services: list[Any], pods: list[Any], slices: list[Any] | None = None, **kwargs: Any
) -> tuple[EndpointSliceController, Server]:
    client = Server()
    ctrl = EndpointSliceController(
        client=client,
        service_informer=informer(client, resources.SERVICES, *services),
        pod_informer=informer(client, resources.PODS, *pods),
        node_informer=informer(client, resources.NODES, node("n1"), node("n2", "z2")),
        slice_informer=informer(client, resources.ENDPOINT_SLICES, *(slices or [])),
        **kwargs,
    )
    return ctrl, client


def created(client: FakeClient) -> list[dict[str, Any]]:
    return [c.body for c in client.writes() if c.verb == "POST"]


# -- ports and endpoints -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("target", "protocol", "expected"),
    [
        ("http", "TCP", 8080),
        ("http", "UDP", None),
        ("nope", "TCP", None),
        (9000, "TCP", 9000),
        (None, "TCP", 80),
    ],
)
def test_find_port(target: Any, protocol: str, expected: int | None) -> None:
    port = {"port": 80, "protocol": protocol}
    if target is not None:
        port["targetPort"] = target
    assert util.find_port(pod("a"), port) == expected


def test_endpoint_ports_skip_unresolved_and_keep_app_protocol() -> None:
    svc = service(
        ports=[
            {
                "name": "http",
                "port": 80,
                "targetPort": "http",
                "protocol": "TCP",
                "appProtocol": "h2c",
            },
            {"name": "metrics", "port": 81, "targetPort": "metrics", "protocol": "TCP"},
        ]
    )
    assert sl.endpoint_ports(svc, pod("a")) == [
        {"name": "http", "port": 8080, "protocol": "TCP", "appProtocol": "h2c"}
    ]


@pytest.mark.parametrize(
    ("kwargs", "publish", "conditions"),
    [
        ({}, False, {"ready": True, "serving": True, "terminating": False}),
        ({"ready": False}, False, {"ready": False, "serving": False, "terminating": False}),
        ({"deleting": True}, False, {"ready": False, "serving": True, "terminating": True}),
        ({"ready": False}, True, {"ready": True, "serving": False, "terminating": False}),
    ],
)
def test_endpoint_conditions(kwargs: dict[str, Any], publish: bool, conditions: Any) -> None:
    svc = service(publishNotReadyAddresses=publish)
    endpoint = sl.pod_endpoint(pod("a", **kwargs), node(), svc, "IPv4")
    assert endpoint["conditions"] == conditions
    assert endpoint["zone"] == "z1"
    assert endpoint["nodeName"] == "n1"
    assert endpoint["targetRef"] == {
        "kind": "Pod",
        "namespace": "default",
        "name": "a",
        "uid": "uid-a",
    }


def test_hostname_only_when_the_subdomain_is_the_service() -> None:
    svc = service()
    with_sub = pod("a", hostname="h", subdomain="web")
    other = pod("b", hostname="h", subdomain="other")
    assert sl.pod_endpoint(with_sub, None, svc, "IPv4")["hostname"] == "h"
    assert "hostname" not in sl.pod_endpoint(other, None, svc, "IPv4")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"ipFamilies": ["IPv4", "IPv6"]}, {"IPv4", "IPv6"}),
        ({"ipFamilies": [], "clusterIP": "fd00::1"}, {"IPv6"}),
        ({"ipFamilies": [], "clusterIP": "None"}, {"IPv4", "IPv6"}),
    ],
)
def test_address_types(spec: dict[str, Any], expected: set[str]) -> None:
    assert sl.address_types(service(**spec)) == expected


# -- syncs ---------------------------------------------------------------------------------------
async def test_three_pods_make_one_slice() -> None:
    pods = [pod(f"p{i}", f"10.1.0.{i}") for i in range(3)] + [pod("other", labels={"app": "x"})]
    ctrl, client = controller([service()], pods)
    await ctrl.sync("default/web")
    (made,) = created(client)
    assert made["metadata"]["generateName"] == "web-"
    assert made["metadata"]["labels"] == {
        "team": "a",
        util.SERVICE_NAME_LABEL: "web",
        util.MANAGED_BY_LABEL: sl.CONTROLLER_NAME,
    }
    assert made["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "name": "web",
            "uid": "uid-web",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert made["metadata"]["annotations"] == {util.TRIGGER_TIME_ANNOTATION: "2024-05-01T10:00:00Z"}
    assert made["addressType"] == "IPv4"
    assert made["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert sorted(e["addresses"][0] for e in made["endpoints"]) == [
        "10.1.0.0",
        "10.1.0.1",
        "10.1.0.2",
    ]


@pytest.mark.parametrize(
    ("pods", "sizes"),
    [
        (250, [100, 100, 50]),
        (100, [100]),
        (0, [0]),  # a placeholder
    ],
)
async def test_packing(pods: int, sizes: list[int]) -> None:
    items = [pod(f"p{i}", f"10.1.{i // 250}.{i % 250}") for i in range(pods)]
    ctrl, client = controller([service()], items)
    await ctrl.sync("default/web")
    assert sorted((len(s["endpoints"]) for s in created(client)), reverse=True) == sizes


async def test_pods_with_different_ports_get_different_slices() -> None:
    pods = [pod("a", "10.1.0.1", port=8080), pod("b", "10.1.0.2", port=9090)]
    ctrl, client = controller([service()], pods)
    await ctrl.sync("default/web")
    ports = sorted(s["ports"][0]["port"] for s in created(client))
    assert ports == [8080, 9090]


async def test_dual_stack_makes_one_slice_per_family() -> None:
    svc = service(ipFamilies=["IPv4", "IPv6"])
    ctrl, client = controller([svc], [pod("a", ["10.1.0.1", "fd00::1"])])
    await ctrl.sync("default/web")
    by_type = {s["addressType"]: s["endpoints"][0]["addresses"] for s in created(client)}
    assert by_type == {"IPv4": ["10.1.0.1"], "IPv6": ["fd00::1"]}


@pytest.mark.parametrize(
    "excluded",
    [
        pod("x", phase="Succeeded"),
        pod("x", phase="Failed"),
        pod("x", []),
        pod("x", node="gone"),
    ],
)
async def test_pods_left_out(excluded: dict[str, Any]) -> None:
    ctrl, client = controller([service()], [pod("a"), excluded])
    try:
        await ctrl.sync("default/web")
    except IgnorableError:
        assert excluded["spec"]["nodeName"] == "gone"  # retried until the node shows up
    (made,) = created(client)
    assert [e["targetRef"]["name"] for e in made["endpoints"]] == ["a"]


async def test_headless_label_and_no_ports() -> None:
    svc = service(ports=[], clusterIP="None")
    ctrl, client = controller([svc], [pod("a")])
    await ctrl.sync("default/web")
    (made,) = created(client)
    assert made["metadata"]["labels"][util.HEADLESS_LABEL] == ""
    assert made["ports"] == []
    assert len(made["endpoints"]) == 1


def selectorless() -> dict[str, Any]:
    svc = service()
    del svc["spec"]["selector"]
    return svc


@pytest.mark.parametrize("svc", [service(type="ExternalName"), selectorless()])
async def test_services_left_alone(svc: dict[str, Any]) -> None:
    ctrl, client = controller([svc], [pod("a")])
    await ctrl.sync("default/web")
    assert client.writes() == []


def managed(name: str, endpoints: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    slice_ = sl.new_slice(
        service(), "IPv4", [{"name": "http", "port": 8080, "protocol": "TCP"}], sl.CONTROLLER_NAME
    )
    slice_["metadata"].pop("generateName")
    slice_["metadata"].update(name=name, resourceVersion="1", **extra)
    slice_["endpoints"] = endpoints
    return slice_


def endpoint_of(p: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return sl.pod_endpoint(p, node(), service(), "IPv4")


async def test_no_change_no_write() -> None:
    pods = [pod("a")]
    ctrl, client = controller([service()], pods, [managed("web-1", [endpoint_of(pods[0])])])
    await ctrl.sync("default/web")
    assert client.writes() == []


async def test_readiness_change_updates_in_place() -> None:
    before = pod("a")
    ctrl, client = controller(
        [service()], [pod("a", ready=False)], [managed("web-1", [endpoint_of(before)])]
    )
    await ctrl.sync("default/web")
    (call,) = client.writes()
    assert call.verb == "PUT"
    assert call.path == f"{SLICES}/web-1"
    assert call.body["endpoints"][0]["conditions"]["ready"] is False
    assert call.body["metadata"]["resourceVersion"] == "1"


async def test_new_endpoints_fill_a_slice_being_updated_and_stale_slices_go() -> None:
    a, b, c = pod("a", "10.1.0.1"), pod("b", "10.1.0.2"), pod("c", "10.1.0.3")
    slices = [
        managed("web-1", [endpoint_of(a), endpoint_of(b)]),
        managed("web-2", [endpoint_of(pod("gone", "10.1.0.9"))]),
    ]
    ctrl, client = controller([service()], [a, pod("b", "10.1.0.2", ready=False), c], slices)
    await ctrl.sync("default/web")
    verbs = sorted((call.verb, call.path.rsplit("/", 1)[1]) for call in client.writes())
    assert verbs == [("DELETE", "web-2"), ("PUT", "web-1")]
    put = next(call.body for call in client.writes() if call.verb == "PUT")
    assert sorted(e["targetRef"]["name"] for e in put["endpoints"]) == ["a", "b", "c"]


async def test_a_create_reuses_a_slice_being_deleted() -> None:
    old = managed("web-1", [endpoint_of(pod("gone", "10.1.0.9"))])
    ctrl, client = controller([service()], [pod("a")], [old])
    await ctrl.sync("default/web")
    (call,) = client.writes()
    assert call.verb == "PUT"
    assert call.path == f"{SLICES}/web-1"
    assert [e["targetRef"]["name"] for e in call.body["endpoints"]] == ["a"]


async def test_placeholder_is_kept() -> None:
    placeholder = managed("web-1", [])
    placeholder["ports"] = []
    ctrl, client = controller([service()], [], [placeholder])
    await ctrl.sync("default/web")
    assert client.writes() == []


async def test_service_label_change_updates_slices() -> None:
    p = pod("a")
    svc = service()
    svc["metadata"]["labels"] = {"team": "b"}
    ctrl, client = controller([svc], [p], [managed("web-1", [endpoint_of(p)])])
    await ctrl.sync("default/web")
    (call,) = client.writes()
    assert call.body["metadata"]["labels"]["team"] == "b"


async def test_slices_of_another_service_by_that_name_are_deleted() -> None:
    p = pod("a")
    foreign = managed("web-1", [endpoint_of(p)])
    foreign["metadata"]["ownerReferences"][0]["uid"] = "old-uid"
    ctrl, client = controller([service()], [p], [foreign])
    await ctrl.sync("default/web")
    assert sorted(c.verb for c in client.writes()) == ["DELETE", "POST"]


async def test_gone_service_deletes_its_slices() -> None:
    ctrl, client = controller([], [], [managed("web-1", [])])
    await ctrl.sync("default/web")
    assert [(c.verb, c.path) for c in client.writes()] == [("DELETE", f"{SLICES}/web-1")]


async def test_waits_for_the_informer_to_show_its_own_writes() -> None:
    ctrl, client = controller([service()], [pod("a")])
    await ctrl.sync("default/web")
    with pytest.raises(IgnorableError):
        await ctrl.sync("default/web")
    made = client.writes()[0].body
    made["metadata"]["name"], made["metadata"]["resourceVersion"] = "web-1", "999"
    ctrl.tracker.wrote("default/web", made)
    ctrl._slices.put(made)
    ctrl._slice_changed(made)
    client.calls.clear()
    await ctrl.sync("default/web")
    assert client.writes() == []


def test_trigger_time_tracker() -> None:
    tracker = util.TriggerTimeTracker()
    svc = service()
    a = pod("a")
    first = tracker.compute("k", svc, [a])
    assert util.format_time(first) == "2024-05-01T10:00:00Z"  # type: ignore[arg-type]
    assert tracker.compute("k", svc, [a]) is None
    a["status"]["conditions"][0]["lastTransitionTime"] = "2024-05-01T10:45:00.5Z"
    changed = tracker.compute("k", svc, [a])
    assert util.format_time(changed) == "2024-05-01T10:45:00.5Z"  # type: ignore[arg-type]


def obj(name: str, rv: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "resourceVersion": rv}}


def test_stale_tracker() -> None:
    tracker = util.StaleTracker()
    tracker.wrote("s", obj("a", "5"))
    assert tracker.is_stale("s", [])
    assert tracker.is_stale("s", [obj("a", "4")])
    assert not tracker.is_stale("s", [obj("a", "6")])
    tracker.deleted("s", obj("a", "6"))
    assert tracker.is_stale("s", [obj("a", "6")])
    assert not tracker.is_stale("s", [])
    # the informer showed a deletion before the write that it undid returned
    tracker.gone("s", obj("b", "9"))
    tracker.wrote("s", obj("b", "9"))
    assert not tracker.is_stale("s", [])
    tracker.wrote("s", obj("b", "12"))  # a new object by that name
    assert tracker.is_stale("s", [])


async def test_a_failed_sync_is_reported_on_the_service() -> None:
    events: list[tuple[str, str]] = []

    class Recorder:
        def post(self, regarding: Any, *, type: str, reason: str, note: str, **_: Any) -> None:
            events.append((reason, note))

    ctrl, _ = controller([service()], [pod("a", node="gone")], recorder=Recorder())
    with pytest.raises(IgnorableError):
        await ctrl.sync("default/web")
    assert events == [
        (
            "FailedToUpdateEndpointSlices",
            "Error updating Endpoint Slices for Service default/web: "
            "skipping Pods a: Node not found",
        )
    ]


async def test_a_new_node_resyncs_the_services_waiting_for_it() -> None:
    ctrl, _ = controller([service()], [pod("a", node="n3")])
    assert await ctrl.queue.get() == "default/web"  # the handlers' replay of the Service
    with pytest.raises(IgnorableError):
        await ctrl.sync("default/web")
    ctrl.queue.done("default/web")
    assert len(ctrl.queue) == 0
    ctrl._node_added(node("n2"))
    assert len(ctrl.queue) == 0
    ctrl._node_added(node("n3"))
    assert await ctrl.queue.get() == "default/web"


# -- trafficDistribution -------------------------------------------------------------------------
async def test_prefer_close_hints_ready_endpoints_for_their_zone() -> None:
    svc = service(trafficDistribution="PreferClose")
    pods = [pod("a", "10.1.0.1"), pod("b", "10.1.0.2", ready=False, node="n2")]
    ctrl, client = controller([svc], pods)
    await ctrl.sync("default/web")
    (made,) = created(client)
    hints = {e["targetRef"]["name"]: e.get("hints") for e in made["endpoints"]}
    assert hints == {"a": {"forZones": [{"name": "z1"}]}, "b": None}


@pytest.mark.parametrize(
    ("distribution", "hinted", "writes"),
    [
        ("PreferClose", False, 1),  # an unchanged slice missing its hint
        ("PreferClose", True, 0),
        (None, True, 1),  # a stale hint
        (None, False, 0),
    ],
)
async def test_unchanged_slices_get_their_hints_fixed(
    distribution: str | None, hinted: bool, writes: int
) -> None:
    svc = service(trafficDistribution=distribution) if distribution else service()
    p = pod("a")
    endpoint = endpoint_of(p)
    if hinted:
        endpoint["hints"] = {"forZones": [{"name": "z1"}]}
    ctrl, client = controller([svc], [p], [managed("web-1", [endpoint])])
    await ctrl.sync("default/web")
    assert len(client.writes()) == writes
    for call in client.writes():
        got = call.body["endpoints"][0].get("hints")
        assert got == ({"forZones": [{"name": "z1"}]} if distribution else None)
