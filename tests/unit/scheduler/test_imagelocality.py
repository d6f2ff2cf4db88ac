"""ImageLocality: image sizes scaled by spread, clamped to 23MB..1000MB per container."""

from __future__ import annotations

from typing import Any

import pytest

from pocketkube.scheduler.framework.cyclestate import CycleState
from pocketkube.scheduler.framework.fake import FakeHandle, make_node, make_pod
from pocketkube.scheduler.framework.types import ImageStateSummary, NodeInfo, PodInfo
from pocketkube.scheduler.plugins import imagelocality
from pocketkube.scheduler.plugins.imagelocality import (
    image_states,
    node_image_states,
    normalized_image_name,
)

Obj = dict[str, Any]
MB = 1024 * 1024


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("nginx", "nginx:latest"),
        ("nginx:1.25", "nginx:1.25"),
        ("localhost:5000/app", "localhost:5000/app:latest"),
        ("localhost:5000/app:v1", "localhost:5000/app:v1"),
        ("gcr.io/team/app", "gcr.io/team/app:latest"),
    ],
)
def test_normalized_image_name(name: str, expected: str) -> None:
    assert normalized_image_name(name) == expected


def image(size_mb: int, *names: str) -> Obj:
    return {"names": list(names), "sizeBytes": size_mb * MB}


IMAGE_40 = image(40, "gcr.io/40:latest", "gcr.io/40:v1")
NODES = [
    make_node("n1", images=[IMAGE_40, image(300, "gcr.io/300:latest")]),
    make_node("n2", images=[image(250, "gcr.io/250:latest"), image(41, "gcr.io/40:latest")]),
    make_node("n3", images=[image(2000, "gcr.io/2000:latest")]),
    make_node("n4"),
]


def test_image_states() -> None:
    states = image_states(NODES)
    assert states == {
        "gcr.io/40:latest": ImageStateSummary(40 * MB, 2),  # the first size seen wins
        "gcr.io/40:v1": ImageStateSummary(40 * MB, 1),
        "gcr.io/300:latest": ImageStateSummary(300 * MB, 1),
        "gcr.io/250:latest": ImageStateSummary(250 * MB, 1),
        "gcr.io/2000:latest": ImageStateSummary(2000 * MB, 1),
    }
    assert set(node_image_states(NODES[1], states)) == {"gcr.io/250:latest", "gcr.io/40:latest"}
    assert node_image_states(NODES[3], states) == {}


def infos() -> list[NodeInfo]:
    states = image_states(NODES)
    result = []
    for node in NODES:
        info = NodeInfo(node)
        info.image_states = node_image_states(node, states)
        result.append(info)
    return result


def pod(*images: str, init: tuple[str, ...] = ()) -> Obj:
    spec: Obj = {"containers": [{"name": f"c{i}", "image": im} for i, im in enumerate(images)]}
    if init:
        spec["initContainers"] = [{"name": f"i{i}", "image": im} for i, im in enumerate(init)]
    return make_pod("p", spec=spec)


@pytest.mark.parametrize(
    ("incoming", "expected"),
    [
        # 250MB on 1 of 4 nodes: 62.5MB; 100 * (62.5 - 23) / (1000 - 23) = 4
        pytest.param(pod("gcr.io/250"), [0, 4, 0, 0], id="spread-scaled"),
        # 40MB on 2 of 4 nodes: 20MB, below the 23MB threshold
        pytest.param(pod("gcr.io/40"), [0, 0, 0, 0], id="below-threshold"),
        # (20 + 75)MB for two containers: 100 * (95 - 23) / (2000 - 23) = 3
        pytest.param(pod("gcr.io/40", "gcr.io/300"), [3, 0, 0, 0], id="two-containers"),
        # 2000MB / 4 = 500MB of 1000MB: 100 * 477 / 977 = 48
        pytest.param(pod("gcr.io/2000"), [0, 0, 48, 0], id="big"),
        pytest.param(pod("gcr.io/2000", init=("busybox",)), [0, 0, 24, 0], id="init-counts"),
    ],
)
def test_score(incoming: Obj, expected: list[int]) -> None:
    nodes = infos()
    plugin = imagelocality.new({}, FakeHandle(nodes=nodes))
    info = PodInfo(incoming)
    assert [plugin.score(CycleState(), info, n) for n in nodes] == [(e, None) for e in expected]


def test_score_clamps_at_max() -> None:
    node = make_node("n", images=[image(4000, "big:latest")])
    info = NodeInfo(node)
    info.image_states = node_image_states(node, image_states([node]))
    plugin = imagelocality.new({}, FakeHandle(nodes=[info]))
    assert plugin.score(CycleState(), PodInfo(pod("big")), info) == (100, None)
