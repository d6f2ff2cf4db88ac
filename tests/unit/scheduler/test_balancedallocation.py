"""NodeResourcesBalancedAllocation: (1 - std of the requested fractions) * 100."""

from __future__ import annotations

from typing import Any

import pytest

from pocketkube.scheduler.framework.cyclestate import CycleState
from pocketkube.scheduler.framework.fake import FakeHandle, make_node, make_pod, node_info
from pocketkube.scheduler.framework.status import Code
from pocketkube.scheduler.framework.types import NodeInfo, PodInfo
from pocketkube.scheduler.plugins import balancedallocation
from pocketkube.scheduler.plugins.balancedallocation import balanced_score

Obj = dict[str, Any]


def pod_requesting(**requests: str) -> Obj:
    container = {"name": "c", "image": "busybox", "resources": {"requests": requests}}
    return make_pod("p", spec={"containers": [container]})


NODE = make_node("n", cpu="4", memory="10000", extra={"ephemeral-storage": "1000"})
THREE = {"resources": [{"name": "cpu"}, {"name": "memory"}, {"name": "ephemeral-storage"}]}


@pytest.mark.parametrize(
    ("args", "incoming", "node", "expected"),
    [
        # fractions 0.75 and 0.5: std 0.125
        pytest.param({}, pod_requesting(cpu="3", memory="5000"), node_info(NODE), 87, id="two"),
        # 0.25 and 0.2: std 0.025
        pytest.param({}, pod_requesting(cpu="1", memory="2000"), node_info(NODE), 97, id="close"),
        pytest.param({}, pod_requesting(cpu="2", memory="5000"), node_info(NODE), 100, id="equal"),
        pytest.param(
            {},
            pod_requesting(cpu="1", memory="5000"),
            node_info(NODE, make_pod("x", cpu="4", memory="1", node_name="n")),
            75,  # cpu capped at 1.0, memory 0.5
            id="fraction-capped",
        ),
        pytest.param(
            {},
            pod_requesting(cpu="1"),
            node_info(NODE, make_pod("x", memory="4000", node_name="n")),
            92,  # real requests, not the 100m/200Mi defaults: 0.25 and 0.4
            id="uses-real-requests",
        ),
        pytest.param(
            THREE,
            pod_requesting(cpu="2", memory="2000", **{"ephemeral-storage": "800"}),
            node_info(NODE),
            75,  # 0.5, 0.2, 0.8: std sqrt(0.06) = 0.2449
            id="three-resources",
        ),
        pytest.param(
            {"resources": [{"name": "cpu"}, {"name": "memory"}, {"name": "example.com/gpu"}]},
            pod_requesting(cpu="3", memory="5000"),
            node_info(make_node("n", cpu="4", memory="10000", extra={"example.com/gpu": "2"})),
            87,
            id="unrequested-extended-left-out",
        ),
        pytest.param(
            {},
            pod_requesting(cpu="3", memory="5000"),
            node_info(make_node("n", cpu="4", memory="0")),
            100,
            id="one-fraction",
        ),
    ],
)
def test_score(args: Obj, incoming: Obj, node: NodeInfo, expected: int) -> None:
    plugin = balancedallocation.new(args, FakeHandle(nodes=[node]))
    state = CycleState()
    info = PodInfo(incoming)
    assert plugin.pre_score(state, info, [node]) is None
    assert plugin.score(state, info, node) == (expected, None)


def test_best_effort_pods_are_skipped() -> None:
    plugin = balancedallocation.new({}, FakeHandle())
    status = plugin.pre_score(CycleState(), PodInfo(make_pod("p")), [])
    assert status is not None
    assert status.code == Code.SKIP


def test_balanced_score_ignores_missing_resources() -> None:
    assert balanced_score([5, 0, 1], [10, 0, 10]) == 80


@pytest.mark.parametrize(
    "resources",
    [[{"name": "cpu", "weight": 2}], [{"name": "cpu"}, {"name": "cpu"}]],
)
def test_invalid_args(resources: list[Obj]) -> None:
    with pytest.raises(ValueError, match="resources"):
        balancedallocation.new({"resources": resources}, FakeHandle())


def test_no_events() -> None:
    assert balancedallocation.new({}, FakeHandle()).events_to_register() == []
