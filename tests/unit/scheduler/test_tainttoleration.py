"""TaintToleration: toleration matching, the Filter message, and the reversed score."""

from __future__ import annotations

from typing import Any

import pytest

from pocketkube.scheduler.framework.cyclestate import CycleState
from pocketkube.scheduler.framework.fake import FakeHandle, make_node, make_pod, node_info
from pocketkube.scheduler.framework.interface import ActionType, ClusterEvent, NodeScore
from pocketkube.scheduler.framework.status import Code
from pocketkube.scheduler.framework.types import PodInfo
from pocketkube.scheduler.plugins import tainttoleration
from pocketkube.scheduler.plugins.nodehelpers import find_untolerated_taint, tolerates

Obj = dict[str, Any]


def taint(key: str, value: str = "", effect: str = "NoSchedule") -> Obj:
    result = {"key": key, "effect": effect}
    if value:
        result["value"] = value
    return result


@pytest.mark.parametrize(
    ("toleration", "expected"),
    [
        ({"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"}, True),
        ({"key": "k", "value": "v"}, True),  # empty operator is Equal, empty effect is all
        ({"key": "k", "value": "w"}, False),
        ({"key": "k", "operator": "Exists"}, True),
        ({"operator": "Exists"}, True),
        ({"operator": "Exists", "effect": "NoExecute"}, False),
        ({"key": "j", "operator": "Exists"}, False),
        ({"key": "k", "operator": "Gt", "value": "v"}, False),
    ],
)
def test_tolerates(toleration: Obj, expected: bool) -> None:
    assert tolerates(toleration, taint("k", "v")) is expected


def test_find_untolerated_taint_returns_the_first() -> None:
    taints = [taint("a", effect="PreferNoSchedule"), taint("b"), taint("c", effect="NoExecute")]
    assert find_untolerated_taint(taints, []) == taint("b")
    assert find_untolerated_taint(taints, [{"key": "b", "operator": "Exists"}]) == taint(
        "c", effect="NoExecute"
    )
    assert find_untolerated_taint(taints, [{"operator": "Exists"}]) is None
    assert find_untolerated_taint(taints, [], {"PreferNoSchedule"}) == taint(
        "a", effect="PreferNoSchedule"
    )


@pytest.mark.parametrize(
    ("taints", "tolerations", "reason"),
    [
        ([], [], None),
        ([taint("dedicated", "gpu")], [], "node(s) had untolerated taint {dedicated: gpu}"),
        ([taint("dedicated")], [], "node(s) had untolerated taint {dedicated: }"),
        (
            [taint("gone", effect="NoExecute")],
            [{"key": "other", "operator": "Exists"}],
            "node(s) had untolerated taint {gone: }",
        ),
        ([taint("soft", effect="PreferNoSchedule")], [], None),
        ([taint("dedicated", "gpu")], [{"key": "dedicated", "value": "gpu"}], None),
    ],
)
def test_filter(taints: list[Obj], tolerations: list[Obj], reason: str | None) -> None:
    plugin = tainttoleration.new({}, FakeHandle())
    incoming = PodInfo(make_pod("p", spec={"tolerations": tolerations}))
    status = plugin.filter(CycleState(), incoming, node_info(make_node("n", taints=taints)))
    if reason is None:
        assert status is None
    else:
        assert status is not None
        assert status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
        assert status.reasons == [reason]


SOFT = "PreferNoSchedule"


@pytest.mark.parametrize(
    ("node_taints", "tolerations", "raw", "normalized"),
    [
        pytest.param(
            [[], [taint("a", effect=SOFT)], [taint("a", effect=SOFT), taint("b", effect=SOFT)]],
            [],
            [0, 1, 2],
            [100, 50, 0],
            id="fewest-wins",
        ),
        pytest.param(
            [[taint("a", effect=SOFT)], [taint("b", effect=SOFT)], [taint("c")]],
            [{"key": "a", "operator": "Exists", "effect": SOFT}, {"key": "b", "operator": "Exists",
             "effect": "NoSchedule"}],
            [0, 1, 0],
            [100, 0, 100],
            id="only-prefer-no-schedule-tolerations-count",
        ),
        pytest.param([[], []], [], [0, 0], [100, 100], id="all-zero"),
    ],
)  # fmt: skip
def test_score(
    node_taints: list[list[Obj]], tolerations: list[Obj], raw: list[int], normalized: list[int]
) -> None:
    infos = [node_info(make_node(f"n{i}", taints=t)) for i, t in enumerate(node_taints)]
    plugin = tainttoleration.new({}, FakeHandle(nodes=infos))
    state = CycleState()
    incoming = PodInfo(make_pod("p", spec={"tolerations": tolerations}))
    status = plugin.pre_score(state, incoming, infos)
    # No PreferNoSchedule taint anywhere: the same score everywhere, so the plugin skips.
    assert (status is not None and status.code == Code.SKIP) == (not any(raw))
    scores = [NodeScore(n.name, plugin.score(state, incoming, n)[0]) for n in infos]
    assert [s.score for s in scores] == raw
    plugin.normalize_score(state, incoming, scores)
    assert [s.score for s in scores] == normalized


def test_events() -> None:
    events = tainttoleration.new({}, FakeHandle()).events_to_register()
    assert any(e.covers(ClusterEvent("Node", ActionType.UPDATE)) for e in events)
    assert any(e.covers(ClusterEvent("Node", ActionType.ADD)) for e in events)
