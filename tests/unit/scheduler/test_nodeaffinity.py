"""NodeAffinity and the node selector rules it shares with other components."""

from __future__ import annotations

from typing import Any

import pytest

from pocketkube.scheduler.framework.cyclestate import CycleState
from pocketkube.scheduler.framework.fake import FakeHandle, make_node, make_pod, node_info
from pocketkube.scheduler.framework.interface import (
    ActionType,
    ClusterEvent,
    NodeScore,
    PreFilterResult,
)
from pocketkube.scheduler.framework.status import Code
from pocketkube.scheduler.framework.types import PodInfo
from pocketkube.scheduler.plugins import nodeaffinity
from pocketkube.scheduler.plugins.nodehelpers import (
    NodeSelector,
    NodeSelectorError,
    pod_matches_node_selector_and_affinity,
)

Obj = dict[str, Any]
NODE = make_node("node-1", labels={"zone": "a", "gen": "5", "disk": "ssd"})


def expr(key: str, operator: str, *values: str) -> Obj:
    return {"key": key, "operator": operator, "values": list(values)}


def required(*terms: Obj) -> Obj:
    return {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}


def pod(node_selector: Obj | None = None, node_affinity: Obj | None = None) -> Obj:
    spec: Obj = {}
    if node_selector is not None:
        spec["nodeSelector"] = node_selector
    if node_affinity is not None:
        spec["affinity"] = {"nodeAffinity": node_affinity}
    return make_pod("p", spec=spec)


def labels(*exprs: Obj) -> Obj:
    return {"matchExpressions": list(exprs)}


def fields(*exprs: Obj) -> Obj:
    return {"matchFields": list(exprs)}


@pytest.mark.parametrize(
    ("incoming", "matches"),
    [
        pytest.param(pod(), True, id="nothing"),
        pytest.param(pod({"zone": "a"}), True, id="selector"),
        pytest.param(pod({"zone": "a", "disk": "hdd"}), False, id="selector-all-keys"),
        pytest.param(pod(node_affinity=required(labels(expr("zone", "In", "a", "b")))), True),
        pytest.param(pod(node_affinity=required(labels(expr("zone", "In", "b")))), False),
        pytest.param(pod(node_affinity=required(labels(expr("zone", "NotIn", "b")))), True),
        pytest.param(pod(node_affinity=required(labels(expr("rack", "NotIn", "b")))), True),
        pytest.param(pod(node_affinity=required(labels(expr("zone", "Exists")))), True),
        pytest.param(pod(node_affinity=required(labels(expr("zone", "DoesNotExist")))), False),
        pytest.param(pod(node_affinity=required(labels(expr("gen", "Gt", "4")))), True),
        pytest.param(pod(node_affinity=required(labels(expr("gen", "Gt", "5")))), False),
        pytest.param(pod(node_affinity=required(labels(expr("gen", "Lt", "6")))), True),
        pytest.param(pod(node_affinity=required(labels(expr("zone", "Lt", "6")))), False),
        pytest.param(
            pod(node_affinity=required(labels(expr("zone", "In", "a"), expr("disk", "In", "hdd")))),
            False,
            id="expressions-anded",
        ),
        pytest.param(
            pod(node_affinity=required(
                labels(expr("zone", "In", "b")), labels(expr("disk", "Exists")))),
            True,
            id="terms-ored",
        ),
        pytest.param(pod(node_affinity=required()), False, id="no-terms-match-nothing"),
        pytest.param(pod(node_affinity=required({})), False, id="empty-term-matches-nothing"),
        pytest.param(
            pod(node_affinity=required(
                labels(expr("gen", "Gt", "x")), labels(expr("zone", "Exists")))),
            True,
            id="bad-term-ignored",
        ),
        pytest.param(
            pod(node_affinity=required(fields(expr("metadata.name", "In", "node-1")))), True
        ),
        pytest.param(
            pod(node_affinity=required(fields(expr("metadata.name", "NotIn", "node-1")))), False
        ),
        pytest.param(
            pod(node_affinity=required(fields(expr("metadata.name", "In", "node-1", "node-2")))),
            False,
            id="fields-need-one-value",
        ),
        pytest.param(
            pod(node_affinity=required(
                labels(expr("zone", "In", "a")) | fields(expr("metadata.name", "In", "node-2"))
            )),
            False,
            id="labels-and-fields-anded",
        ),
        pytest.param(
            pod({"zone": "b"}, required(labels(expr("zone", "Exists")))),
            False,
            id="selector-and-affinity-both-required",
        ),
    ],
)  # fmt: skip
def test_filter(incoming: Obj, matches: bool) -> None:
    assert pod_matches_node_selector_and_affinity(incoming, NODE) is matches
    node = node_info(NODE)
    plugin = nodeaffinity.new({}, FakeHandle(nodes=[node]))
    state = CycleState()
    info = PodInfo(incoming)
    _, status = plugin.pre_filter(state, info, [node])
    if status is not None and status.code == Code.SKIP:
        assert matches
        return
    status = plugin.filter(state, info, node)
    if matches:
        assert status is None
    else:
        assert status is not None
        assert status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
        assert status.reasons == ["node(s) didn't match Pod's node affinity/selector"]


def name_in(*names: str) -> Obj:
    return fields(expr("metadata.name", "In", *names))


@pytest.mark.parametrize(
    ("incoming", "result", "code"),
    [
        pytest.param(pod(), None, Code.SKIP, id="skip"),
        pytest.param(pod({"zone": "a"}), None, None, id="selector-only"),
        pytest.param(pod(node_affinity=required(name_in("a"))), {"a"}, None),
        pytest.param(pod(node_affinity=required(name_in("a"), name_in("b"))), {"a", "b"}, None),
        pytest.param(
            pod(node_affinity=required(name_in("a", "b") | {"matchFields": [
                expr("metadata.name", "In", "a", "b"), expr("metadata.name", "In", "b", "c")]})),
            {"b"},
            None,
            id="intersect-within-term",
        ),
        pytest.param(
            pod(node_affinity=required(name_in("a"), labels(expr("zone", "Exists")))),
            None,
            None,
            id="open-term",
        ),
        pytest.param(
            pod(node_affinity=required({"matchFields": [
                expr("metadata.name", "In", "a"), expr("metadata.name", "In", "b")]})),
            None,
            Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
            id="conflict",
        ),
    ],
)  # fmt: skip
def test_pre_filter(incoming: Obj, result: set[str] | None, code: Code | None) -> None:
    plugin = nodeaffinity.new({}, FakeHandle())
    got, status = plugin.pre_filter(CycleState(), PodInfo(incoming), [])
    assert got == (PreFilterResult(result) if result is not None else None)
    assert (status.code if status is not None else None) == code
    if code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
        assert status is not None
        assert status.reasons == ["pod affinity terms conflict"]


def test_added_affinity() -> None:
    args = {"addedAffinity": required(labels(expr("disk", "In", "hdd")))}
    node = node_info(NODE)
    plugin = nodeaffinity.new(args, FakeHandle(nodes=[node]))
    state = CycleState()
    info = PodInfo(pod())
    _, status = plugin.pre_filter(state, info, [node])
    assert status is None
    status = plugin.filter(state, info, node)
    assert status is not None
    assert status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    assert status.reasons == ["node(s) didn't match scheduler-enforced node affinity"]


def test_invalid_added_affinity() -> None:
    with pytest.raises(ValueError, match="addedAffinity"):
        nodeaffinity.new({"addedAffinity": required(labels(expr("a", "Gt", "x")))}, FakeHandle())
    with pytest.raises(NodeSelectorError):
        NodeSelector({"nodeSelectorTerms": [labels(expr("a", "Bogus"))]}, strict=True)


def preferred(*weighted: tuple[int, Obj]) -> Obj:
    return {
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": w, "preference": term} for w, term in weighted
        ]
    }


NODES = [
    make_node("n1", labels={"zone": "a", "disk": "ssd"}),
    make_node("n2", labels={"zone": "a"}),
    make_node("n3", labels={"zone": "b"}),
]


@pytest.mark.parametrize(
    ("args", "incoming", "raw", "normalized"),
    [
        pytest.param(
            {},
            pod(node_affinity=preferred(
                (2, labels(expr("zone", "In", "a"))), (6, labels(expr("disk", "Exists"))))),
            [8, 2, 0],
            [100, 25, 0],
            id="weights-summed",
        ),
        pytest.param(
            {},
            pod(node_affinity=preferred(
                (0, labels(expr("zone", "In", "a"))), (5, {}), (3, name_in("n3")))),
            [0, 0, 3],
            [0, 0, 100],
            id="zero-weight-and-empty-ignored",
        ),
        pytest.param(
            {"addedAffinity": preferred((4, labels(expr("zone", "In", "b"))))},
            pod(node_affinity=preferred((1, labels(expr("zone", "In", "a"))))),
            [1, 1, 4],
            [25, 25, 100],
            id="added-preferred",
        ),
    ],
)  # fmt: skip
def test_score(args: Obj, incoming: Obj, raw: list[int], normalized: list[int]) -> None:
    infos = [node_info(n) for n in NODES]
    plugin = nodeaffinity.new(args, FakeHandle(nodes=infos))
    state = CycleState()
    info = PodInfo(incoming)
    assert plugin.pre_score(state, info, infos) is None
    scores = []
    for node in infos:
        value, status = plugin.score(state, info, node)
        assert status is None
        scores.append(NodeScore(node.name, value))
    assert [s.score for s in scores] == raw
    assert plugin.normalize_score(state, info, scores) is None
    assert [s.score for s in scores] == normalized


def test_pre_score_skips_without_preferences() -> None:
    status = nodeaffinity.new({}, FakeHandle()).pre_score(CycleState(), PodInfo(pod()), [])
    assert status is not None
    assert status.code == Code.SKIP


def test_pre_score_reports_bad_preferred_terms() -> None:
    incoming = pod(node_affinity=preferred((1, labels(expr("a", "Gt", "x")))))
    status = nodeaffinity.new({}, FakeHandle()).pre_score(CycleState(), PodInfo(incoming), [])
    assert status is not None
    assert status.code == Code.ERROR


def test_events() -> None:
    events = nodeaffinity.new({}, FakeHandle()).events_to_register()
    assert any(e.covers(ClusterEvent("Node", ActionType.UPDATE)) for e in events)
    assert not any(e.covers(ClusterEvent("Pod", ActionType.DELETE)) for e in events)
