"""NodePorts: host port conflicts, with 0.0.0.0 conflicting with every address."""

from __future__ import annotations

from typing import Any

import pytest

from pocketkube.scheduler.framework.cyclestate import CycleState
from pocketkube.scheduler.framework.fake import FakeHandle, make_node, make_pod, node_info
from pocketkube.scheduler.framework.interface import ActionType, ClusterEvent
from pocketkube.scheduler.framework.status import Code
from pocketkube.scheduler.framework.types import PodInfo
from pocketkube.scheduler.plugins import nodeports

Obj = dict[str, Any]


def with_ports(name: str, *ports: Obj, node_name: str = "") -> Obj:
    container = {"name": "c", "image": "busybox", "ports": list(ports)}
    return make_pod(name, node_name=node_name, spec={"containers": [container]})


def port(host_port: int, ip: str = "", protocol: str = "") -> Obj:
    result: Obj = {"containerPort": 80, "hostPort": host_port}
    if ip:
        result["hostIP"] = ip
    if protocol:
        result["protocol"] = protocol
    return result


@pytest.mark.parametrize(
    ("existing", "wanted", "fits"),
    [
        ([], [port(80)], True),
        ([port(80)], [port(80)], False),
        ([port(80)], [port(8080)], True),
        ([port(80, protocol="UDP")], [port(80)], True),
        ([port(80, protocol="UDP")], [port(80, protocol="UDP")], False),
        ([port(80, "10.0.0.1")], [port(80, "10.0.0.2")], True),
        ([port(80, "10.0.0.1")], [port(80, "10.0.0.1")], False),
        ([port(80, "10.0.0.1")], [port(80)], False),  # wildcard wants every address
        ([port(80)], [port(80, "10.0.0.1")], False),  # every address is taken
        ([port(80)], [port(8080), port(80)], False),
    ],
)
def test_filter(existing: list[Obj], wanted: list[Obj], fits: bool) -> None:
    node = node_info(make_node("n"), with_ports("old", *existing, node_name="n"))
    plugin = nodeports.new({}, FakeHandle(nodes=[node]))
    state = CycleState()
    incoming = PodInfo(with_ports("new", *wanted))
    assert plugin.pre_filter(state, incoming, [node]) == (None, None)
    status = plugin.filter(state, incoming, node)
    if fits:
        assert status is None
    else:
        assert status is not None
        assert status.code == Code.UNSCHEDULABLE
        assert status.reasons == ["node(s) didn't have free ports for the requested pod ports"]


def test_pods_without_host_ports_skip() -> None:
    plugin = nodeports.new({}, FakeHandle())
    incoming = PodInfo(with_ports("new", {"containerPort": 80}))
    result, status = plugin.pre_filter(CycleState(), incoming, [])
    assert result is None
    assert status is not None
    assert status.code == Code.SKIP


def test_events() -> None:
    events = nodeports.new({}, FakeHandle()).events_to_register()
    assert ClusterEvent("Pod", ActionType.DELETE) in events
    assert any(e.covers(ClusterEvent("Node", ActionType.ADD)) for e in events)
