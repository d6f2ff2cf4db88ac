"""NodeName: a pod with spec.nodeName fits only that node."""

from __future__ import annotations

import pytest

from pocketkube.scheduler.framework.cyclestate import CycleState
from pocketkube.scheduler.framework.fake import FakeHandle, make_node, make_pod, node_info
from pocketkube.scheduler.framework.interface import ActionType, ClusterEvent
from pocketkube.scheduler.framework.status import Code
from pocketkube.scheduler.framework.types import PodInfo
from pocketkube.scheduler.plugins import nodename


@pytest.mark.parametrize(
    ("wanted", "node", "fits"),
    [("", "a", True), ("a", "a", True), ("b", "a", False)],
)
def test_filter(wanted: str, node: str, fits: bool) -> None:
    plugin = nodename.new({}, FakeHandle())
    status = plugin.filter(
        CycleState(), PodInfo(make_pod("p", node_name=wanted)), node_info(make_node(node))
    )
    if fits:
        assert status is None
    else:
        assert status is not None
        assert status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
        assert status.reasons == ["node(s) didn't match the requested node name"]


def test_events() -> None:
    events = nodename.new({}, FakeHandle()).events_to_register()
    assert any(e.covers(ClusterEvent("Node", ActionType.ADD)) for e in events)
    assert not any(e.covers(ClusterEvent("Pod", ActionType.DELETE)) for e in events)
