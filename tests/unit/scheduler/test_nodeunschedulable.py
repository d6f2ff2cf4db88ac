"""NodeUnschedulable: cordoned nodes reject pods that do not tolerate the unschedulable taint."""

from __future__ import annotations

from typing import Any

import pytest

from pocketkube.scheduler.framework.cyclestate import CycleState
from pocketkube.scheduler.framework.fake import FakeHandle, make_node, make_pod, node_info
from pocketkube.scheduler.framework.interface import ActionType, ClusterEvent
from pocketkube.scheduler.framework.status import Code
from pocketkube.scheduler.framework.types import NodeInfo, PodInfo
from pocketkube.scheduler.plugins import nodeunschedulable

KEY = "node.kubernetes.io/unschedulable"


@pytest.mark.parametrize(
    ("unschedulable", "tolerations", "fits"),
    [
        (False, [], True),
        (True, [], False),
        (True, [{"key": KEY, "operator": "Exists", "effect": "NoSchedule"}], True),
        (True, [{"key": KEY, "operator": "Exists"}], True),
        (True, [{"operator": "Exists"}], True),
        (True, [{"key": KEY, "operator": "Exists", "effect": "NoExecute"}], False),
        (True, [{"key": KEY, "operator": "Equal", "value": "", "effect": "NoSchedule"}], True),
        (True, [{"key": KEY, "operator": "Equal", "value": "x"}], False),
        (True, [{"key": "other", "operator": "Exists"}], False),
    ],
)
def test_filter(unschedulable: bool, tolerations: list[dict[str, Any]], fits: bool) -> None:
    plugin = nodeunschedulable.new({}, FakeHandle())
    pod = make_pod("p", spec={"tolerations": tolerations})
    node = node_info(make_node("n", unschedulable=unschedulable))
    status = plugin.filter(CycleState(), PodInfo(pod), node)
    if fits:
        assert status is None
    else:
        assert status is not None
        assert status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
        assert status.reasons == ["node(s) were unschedulable"]


def test_missing_node() -> None:
    status = nodeunschedulable.new({}, FakeHandle()).filter(
        CycleState(), PodInfo(make_pod("p")), NodeInfo()
    )
    assert status is not None
    assert status.reasons == ["node(s) had unknown conditions"]


def test_events() -> None:
    events = nodeunschedulable.new({}, FakeHandle()).events_to_register()
    assert any(e.covers(ClusterEvent("Node", ActionType.UPDATE)) for e in events)
