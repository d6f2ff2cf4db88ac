"""NodeResourcesFit: the fit check with upstream's messages, and the three scoring strategies."""

from __future__ import annotations

import re
from typing import Any

import pytest

from pocketkube.scheduler.framework.cyclestate import CycleState
from pocketkube.scheduler.framework.fake import FakeHandle, make_node, make_pod, node_info
from pocketkube.scheduler.framework.interface import ActionType, ClusterEvent
from pocketkube.scheduler.framework.status import Code
from pocketkube.scheduler.framework.types import NodeInfo, PodInfo
from pocketkube.scheduler.plugins import noderesources
from pocketkube.scheduler.plugins.resourcescoring import (
    ResourceSpec,
    broken_linear,
    ratio_scorer,
)

Obj = dict[str, Any]


def container(cpu: str | None = None, memory: str | None = None, **extra: str) -> Obj:
    requests = {k: v for k, v in {"cpu": cpu, "memory": memory, **extra}.items() if v}
    result: Obj = {"name": "c", "image": "busybox"}
    if requests:
        result["resources"] = {"requests": requests}
    return result


def pod(*containers: Obj, init: list[Obj] | None = None, overhead: Obj | None = None) -> Obj:
    spec: Obj = {"containers": list(containers) or [container()]}
    if init:
        spec["initContainers"] = init
    if overhead:
        spec["overhead"] = overhead
    return make_pod("p", spec=spec)


def run_filter(args: Obj, incoming: Obj, node: NodeInfo) -> Any:
    plugin = noderesources.new(args, FakeHandle(nodes=[node]))
    state = CycleState()
    info = PodInfo(incoming)
    assert plugin.pre_filter(state, info, [node]) == (None, None)
    return plugin.filter(state, info, node)


FULL_CPU = make_pod("busy", cpu="3500m", memory="1Gi", node_name="n")
GPU_NODE = make_node("n", extra={"example.com/gpu": "1", "hugepages-2Mi": "0"})


@pytest.mark.parametrize(
    ("args", "incoming", "node", "reasons"),
    [
        pytest.param({}, pod(container("1", "1Gi")), node_info(make_node("n")), [], id="fits"),
        pytest.param(
            {}, pod(container("1")), node_info(make_node("n"), FULL_CPU), ["Insufficient cpu"]
        ),
        pytest.param(
            {},
            pod(container("1", "8Gi")),
            node_info(make_node("n"), FULL_CPU),
            ["Insufficient cpu", "Insufficient memory"],
            id="one-reason-per-resource",
        ),
        pytest.param(
            {},
            pod(),
            node_info(make_node("n", pods=1), make_pod("other", node_name="n")),
            ["Too many pods"],
            id="too-many-pods",
        ),
        pytest.param(
            {},
            pod(container("1")),
            node_info(make_node("n", pods=1), FULL_CPU),
            ["Too many pods", "Insufficient cpu"],
            id="pods-first",
        ),
        pytest.param(
            {},
            pod(),
            node_info(make_node("n", cpu="0", memory="0")),
            [],
            id="request-nothing-fits-anything",
        ),
        pytest.param(
            {},
            pod(container("1"), init=[container("5")]),
            node_info(make_node("n")),
            ["Insufficient cpu"],
            id="largest-init-container",
        ),
        pytest.param(
            {},
            pod(container("3")),
            node_info(make_node("n"), make_pod("x", cpu="500m", node_name="n")),
            [],
            id="exactly-full",
        ),
        pytest.param(
            {},
            pod(container("3"), overhead={"cpu": "600m"}),
            node_info(make_node("n"), make_pod("x", cpu="500m", node_name="n")),
            ["Insufficient cpu"],
            id="overhead-counts",
        ),
        pytest.param(
            {},
            pod(container(**{"ephemeral-storage": "1Gi"})),
            node_info(make_node("n")),
            ["Insufficient ephemeral-storage"],
            id="ephemeral-storage",
        ),
        pytest.param(
            {},
            pod(container(**{"example.com/gpu": "2"})),
            node_info(GPU_NODE),
            ["Insufficient example.com/gpu"],
            id="extended",
        ),
        pytest.param(
            {},
            pod(container(**{"example.com/fpga": "1"})),
            node_info(GPU_NODE),
            ["Insufficient example.com/fpga"],
            id="extended-not-on-node",
        ),
        pytest.param(
            {"ignoredResources": ["example.com/gpu"]},
            pod(container(**{"example.com/gpu": "2"})),
            node_info(GPU_NODE),
            [],
            id="ignored-resource",
        ),
        pytest.param(
            {"ignoredResourceGroups": ["example.com"]},
            pod(container(**{"example.com/gpu": "2"})),
            node_info(GPU_NODE),
            [],
            id="ignored-group",
        ),
        pytest.param(
            {"ignoredResources": ["hugepages-2Mi"]},
            pod(container(**{"hugepages-2Mi": "2Mi"})),
            node_info(GPU_NODE),
            ["Insufficient hugepages-2Mi"],
            id="only-extended-resources-can-be-ignored",
        ),
    ],
)
def test_filter(args: Obj, incoming: Obj, node: NodeInfo, reasons: list[str]) -> None:
    status = run_filter(args, incoming, node)
    if not reasons:
        assert status is None
    else:
        assert status.code == Code.UNSCHEDULABLE
        assert status.reasons == reasons


def test_filter_without_pre_filter_is_an_error() -> None:
    node = node_info(make_node("n"))
    plugin = noderesources.new({}, FakeHandle(nodes=[node]))
    status = plugin.filter(CycleState(), PodInfo(pod()), node)
    assert status is not None
    assert status.code == Code.ERROR


def score(args: Obj, incoming: Obj, node: NodeInfo) -> int:
    plugin = noderesources.new(args, FakeHandle(nodes=[node]))
    state = CycleState()
    info = PodInfo(incoming)
    assert plugin.pre_score(state, info, [node]) is None
    value, status = plugin.score(state, info, node)
    assert status is None
    return value


NODE_4_10 = make_node("n", cpu="4", memory="10000")
POD_3_5 = pod(container("3", "5000"))
RTCR_MOST = {"type": "RequestedToCapacityRatio", "requestedToCapacityRatio": {"shape": [
    {"utilization": 0, "score": 0},
    {"utilization": 100, "score": 10},
]}}  # fmt: skip
RTCR_LEAST = {"type": "RequestedToCapacityRatio", "requestedToCapacityRatio": {"shape": [
    {"utilization": 0, "score": 10},
    {"utilization": 100, "score": 0},
]}}  # fmt: skip


@pytest.mark.parametrize(
    ("strategy", "incoming", "node", "expected"),
    [
        # cpu (4000-3000)*100/4000 = 25, memory (10000-5000)*100/10000 = 50
        pytest.param(None, POD_3_5, node_info(NODE_4_10), 37, id="least-default"),
        pytest.param(
            {
                "type": "LeastAllocated",
                "resources": [{"name": "cpu", "weight": 2}, {"name": "memory"}],
            },
            POD_3_5,
            node_info(NODE_4_10),
            33,
            id="least-weighted",
        ),
        # a pod without requests counts as 100m / 200Mi
        pytest.param(
            None, pod(), node_info(make_node("n", cpu="1", memory="2000Mi")), 90, id="non-zero"
        ),
        pytest.param(
            None,
            POD_3_5,
            node_info(NODE_4_10, make_pod("x", cpu="2", memory="1", node_name="n")),
            24,  # cpu over capacity: 0; memory (10000-5001)*100/10000 = 49
            id="least-over-capacity-is-zero",
        ),
        pytest.param({"type": "MostAllocated"}, POD_3_5, node_info(NODE_4_10), 62, id="most"),
        pytest.param(
            {"type": "MostAllocated"},
            POD_3_5,
            node_info(NODE_4_10, make_pod("x", cpu="2", memory="1", node_name="n")),
            75,  # cpu capped at 100; memory 5001*100/10000 = 50
            id="most-over-capacity-is-full",
        ),
        pytest.param(
            {
                "type": "LeastAllocated",
                "resources": [{"name": "cpu"}, {"name": "memory"}, {"name": "example.com/gpu"}],
            },
            POD_3_5,
            node_info(make_node("n", cpu="4", memory="10000", extra={"example.com/gpu": "4"})),
            37,
            id="unrequested-extended-resource-left-out",
        ),
        pytest.param(
            {
                "type": "MostAllocated",
                "resources": [{"name": "cpu"}, {"name": "memory"}, {"name": "example.com/gpu"}],
            },
            pod(container("3", "5000", **{"example.com/gpu": "1"})),
            node_info(make_node("n", cpu="4", memory="10000", extra={"example.com/gpu": "4"})),
            50,  # (75 + 50 + 25) / 3
            id="requested-extended-resource",
        ),
        pytest.param(RTCR_MOST, POD_3_5, node_info(NODE_4_10), 63, id="ratio-rounds-half-up"),
        pytest.param(RTCR_LEAST, POD_3_5, node_info(NODE_4_10), 38, id="ratio-least"),
    ],
)
def test_score(strategy: Obj | None, incoming: Obj, node: NodeInfo, expected: int) -> None:
    args = {"scoringStrategy": strategy} if strategy else {}
    assert score(args, incoming, node) == expected


def test_score_without_pre_score() -> None:
    node = node_info(NODE_4_10)
    plugin = noderesources.new({}, FakeHandle(nodes=[node]))
    assert plugin.score(CycleState(), PodInfo(POD_3_5), node) == (37, None)


@pytest.mark.parametrize(
    ("shape", "point", "expected"),
    [
        ([(0, 0), (100, 100)], 37, 37),
        ([(20, 50)], 0, 50),
        ([(20, 50)], 90, 50),
        ([(0, 100), (30, 0)], 10, 67),  # Go truncates toward zero: 100 + (-1000 / 30)
        ([(0, 0), (50, 100), (100, 0)], 75, 50),
    ],
)
def test_broken_linear(shape: list[tuple[int, int]], point: int, expected: int) -> None:
    assert broken_linear(shape)(point) == expected


def test_ratio_scorer_drops_zero_scores_from_the_mean() -> None:
    scorer = ratio_scorer([ResourceSpec("cpu", 1), ResourceSpec("memory", 1)], [(0, 0), (100, 10)])
    assert scorer([0, 75], [100, 100]) == 75
    assert scorer([0, 0], [100, 100]) == 0


def most_with(**resource: Any) -> Obj:
    return {"scoringStrategy": {"type": "MostAllocated", "resources": [resource]}}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"scoringStrategy": {"type": "Balanced"}}, 'Unsupported value: "Balanced"'),
        ({"scoringStrategy": {"resources": [{"name": "cpu"}]}}, 'Unsupported value: ""'),
        (
            most_with(name="a", weight=-1),
            "resource weight of a not in valid range (0, 100]",
        ),
        (
            most_with(name="b", weight=101),
            "resource weight of b not in valid range (0, 100]",
        ),
        ({"scoringStrategy": {"type": "RequestedToCapacityRatio"}}, "shape: Required value"),
        (
            {"scoringStrategy": RTCR_MOST | {"requestedToCapacityRatio": {"shape": [
                {"utilization": 50, "score": 1}, {"utilization": 10, "score": 2}]}}},
            "sorted in increasing order",
        ),
        ({"ignoredResourceGroups": ["example.com/gpu"]}, "can't contain '/'"),
    ],
)  # fmt: skip
def test_invalid_args(args: Obj, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        noderesources.new(args, FakeHandle())


def test_events() -> None:
    events = noderesources.new({}, FakeHandle()).events_to_register()
    assert ClusterEvent("Pod", ActionType.DELETE) in events
    assert any(e.covers(ClusterEvent("Node", ActionType.UPDATE)) for e in events)
    assert any(e.covers(ClusterEvent("Node", ActionType.ADD)) for e in events)
    assert not any(e.covers(ClusterEvent("Pod", ActionType.ADD)) for e in events)
