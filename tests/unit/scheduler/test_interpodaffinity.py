from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from pocketkube.scheduler.framework.cyclestate import CycleState
from pocketkube.scheduler.framework.fake import FakeHandle, make_node, make_pod, node_info
from pocketkube.scheduler.framework.interface import ActionType, ClusterEvent, NodeScore
from pocketkube.scheduler.framework.status import Code, Status
from pocketkube.scheduler.framework.types import NodeInfo, PodInfo
from pocketkube.scheduler.plugins.interpodaffinity import (
    ERR_AFFINITY_RULES,
    ERR_ANTI_AFFINITY_RULES,
    ERR_EXISTING_ANTI_AFFINITY_RULES,
    NAME,
    InterPodAffinity,
    new,
)

Obj = dict[str, Any]
ZONE = "topology.kubernetes.io/zone"
HOST = "kubernetes.io/hostname"
# a and b share zone z1, c is alone in z2, d has no zone label at all.
ZONES = {"a": "z1", "b": "z1", "c": "z2", "d": None}

OK = None
AFF = (Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ERR_AFFINITY_RULES)
ANTI = (Code.UNSCHEDULABLE, ERR_ANTI_AFFINITY_RULES)
EXIST = (Code.UNSCHEDULABLE, ERR_EXISTING_ANTI_AFFINITY_RULES)

NAMESPACES: list[Obj] = [
    {"metadata": {"name": "default", "labels": {"team": "core"}}},
    {"metadata": {"name": "blue-ns", "labels": {"team": "blue"}}},
    {"metadata": {"name": "red-ns", "labels": {"team": "red"}}},
    {"metadata": {"name": "other"}},
]


def term(app: str, key: str = ZONE, **extra: Any) -> Obj:
    return {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key, **extra}


def weighted(weight: int, app: str, key: str = ZONE, **extra: Any) -> Obj:
    return {"weight": weight, "podAffinityTerm": term(app, key, **extra)}


def pod(
    name: str,
    app: str | None = None,
    *,
    namespace: str = "default",
    labels: Mapping[str, str] | None = None,
    affinity: Sequence[Obj] = (),
    anti: Sequence[Obj] = (),
    preferred: Sequence[Obj] = (),
    preferred_anti: Sequence[Obj] = (),
) -> Obj:
    spec: Obj = {}
    pod_affinity: Obj = {}
    if affinity:
        pod_affinity.setdefault("podAffinity", {})[
            "requiredDuringSchedulingIgnoredDuringExecution"
        ] = list(affinity)
    if preferred:
        pod_affinity.setdefault("podAffinity", {})[
            "preferredDuringSchedulingIgnoredDuringExecution"
        ] = list(preferred)
    if anti:
        pod_affinity.setdefault("podAntiAffinity", {})[
            "requiredDuringSchedulingIgnoredDuringExecution"
        ] = list(anti)
    if preferred_anti:
        pod_affinity.setdefault("podAntiAffinity", {})[
            "preferredDuringSchedulingIgnoredDuringExecution"
        ] = list(preferred_anti)
    if pod_affinity:
        spec["affinity"] = pod_affinity
    all_labels = {**({"app": app} if app else {}), **(labels or {})}
    return make_pod(name, namespace=namespace, labels=all_labels, spec=spec)


def cluster(placed: Mapping[str, Sequence[Obj]]) -> list[NodeInfo]:
    infos = []
    for name, zone in ZONES.items():
        node = make_node(name, labels={ZONE: zone} if zone else None)
        infos.append(
            node_info(
                node,
                *({**p, "spec": {**p["spec"], "nodeName": name}} for p in placed.get(name, ())),
            )
        )
    return infos


def setup(
    placed: Mapping[str, Sequence[Obj]], args: Mapping[str, Any] | None = None
) -> tuple[InterPodAffinity, list[NodeInfo]]:
    nodes = cluster(placed)
    handle = FakeHandle(nodes=nodes, objects={"namespaces": NAMESPACES})
    return new(args or {}, handle), nodes


def outcome(status: Status | None) -> tuple[Code, str] | None:
    if status is None or status.code == Code.SUCCESS:
        return None
    return status.code, status.message()


def run_filter(incoming: Obj, placed: Mapping[str, Sequence[Obj]]) -> dict[str, Any]:
    plugin, nodes = setup(placed)
    state, info = CycleState(), PodInfo(incoming)
    _, status = plugin.pre_filter(state, info, nodes)
    if status is not None and status.code == Code.SKIP:
        return {n.name: OK for n in nodes}
    assert status is None
    return {n.name: outcome(plugin.filter(state, info, n)) for n in nodes}


FILTER_CASES = [
    pytest.param(
        pod("web", "web", affinity=[term("db")]),
        {"a": [pod("db", "db")]},
        {"a": OK, "b": OK, "c": AFF, "d": AFF},
        id="affinity-same-zone-as-matching-pod",
    ),
    pytest.param(
        pod("web", "web", affinity=[term("db", HOST)]),
        {"a": [pod("db", "db")]},
        {"a": OK, "b": AFF, "c": AFF, "d": AFF},
        id="affinity-same-host",
    ),
    pytest.param(
        pod("web", "web", affinity=[term("db")]),
        {},
        {"a": AFF, "b": AFF, "c": AFF, "d": AFF},
        id="affinity-no-matching-pod-anywhere",
    ),
    pytest.param(
        pod("web", "web", affinity=[term("web")]),
        {},
        {"a": OK, "b": OK, "c": OK, "d": AFF},
        id="first-pod-of-self-affine-group-goes-anywhere-with-the-key",
    ),
    pytest.param(
        pod("web", "web", affinity=[term("web")]),
        {"c": [pod("web-0", "web")]},
        {"a": AFF, "b": AFF, "c": OK, "d": AFF},
        id="self-affine-group-already-started",
    ),
    pytest.param(
        pod("web", "web", affinity=[term("db"), term("cache", HOST)]),
        {"a": [pod("db", "db")], "b": [pod("cache", "cache")]},
        {"a": AFF, "b": AFF, "c": AFF, "d": AFF},
        id="affinity-terms-must-all-match-one-pod",
    ),
    pytest.param(
        pod("web", "web", affinity=[term("db"), term("db", HOST)]),
        {"a": [pod("db", "db")]},
        {"a": OK, "b": AFF, "c": AFF, "d": AFF},
        id="affinity-every-term-topology-checked",
    ),
    pytest.param(
        pod("web", "web", anti=[term("web")]),
        {"a": [pod("web-0", "web")]},
        {"a": ANTI, "b": ANTI, "c": OK, "d": OK},
        id="anti-affinity-across-zones",
    ),
    pytest.param(
        pod("web", "web", anti=[term("web", HOST)]),
        {"a": [pod("web-0", "web")]},
        {"a": ANTI, "b": OK, "c": OK, "d": OK},
        id="anti-affinity-by-host",
    ),
    pytest.param(
        pod("web", "web", anti=[term("web")]),
        {"a": [pod("web-0", "web", namespace="other")]},
        {"a": OK, "b": OK, "c": OK, "d": OK},
        id="anti-affinity-defaults-to-own-namespace",
    ),
    pytest.param(
        pod("web", "web", anti=[term("web", namespaces=["other"])]),
        {"a": [pod("web-0", "web", namespace="other")], "c": [pod("web-1", "web")]},
        {"a": ANTI, "b": ANTI, "c": OK, "d": OK},
        id="anti-affinity-namespaces-list",
    ),
    pytest.param(
        pod("web", "web", anti=[term("web", namespaceSelector={"matchLabels": {"team": "blue"}})]),
        {"a": [pod("w0", "web", namespace="blue-ns")], "c": [pod("w1", "web", namespace="red-ns")]},
        {"a": ANTI, "b": ANTI, "c": OK, "d": OK},
        id="anti-affinity-namespace-selector",
    ),
    pytest.param(
        pod("web", "web", anti=[term("web", namespaceSelector={})]),
        {"c": [pod("w1", "web", namespace="red-ns")]},
        {"a": OK, "b": OK, "c": ANTI, "d": OK},
        id="empty-namespace-selector-means-all-namespaces",
    ),
    pytest.param(
        pod("web", "web"),
        {"a": [pod("db", "db", anti=[term("web", HOST)])]},
        {"a": EXIST, "b": OK, "c": OK, "d": OK},
        id="symmetric-existing-pod-anti-affinity-by-host",
    ),
    pytest.param(
        pod("web", "web"),
        {"a": [pod("db", "db", anti=[term("web")])]},
        {"a": EXIST, "b": EXIST, "c": OK, "d": OK},
        id="symmetric-existing-pod-anti-affinity-by-zone",
    ),
    pytest.param(
        pod("web", "web"),
        {"a": [pod("db", "db", namespace="other", anti=[term("web")])]},
        {"a": OK, "b": OK, "c": OK, "d": OK},
        id="existing-anti-affinity-only-covers-its-namespace",
    ),
    pytest.param(
        pod("web", "web", namespace="blue-ns"),
        {
            "a": [
                pod(
                    "db",
                    "db",
                    namespace="other",
                    anti=[term("web", HOST, namespaceSelector={"matchLabels": {"team": "blue"}})],
                )
            ]
        },
        {"a": EXIST, "b": OK, "c": OK, "d": OK},
        id="existing-anti-affinity-namespace-selector-reads-incoming-namespace-labels",
    ),
    pytest.param(
        pod("web", "web", affinity=[term("db")], anti=[term("web")]),
        {"a": [pod("web-0", "web")], "c": [pod("db", "db")]},
        {"a": AFF, "b": AFF, "c": OK, "d": AFF},
        id="affinity-checked-before-anti-affinity",
    ),
    pytest.param(
        pod("web", "web", anti=[term("web")]),
        {"c": [pod("db", "db", anti=[term("web", HOST)])], "a": [pod("web-0", "web")]},
        {"a": ANTI, "b": ANTI, "c": EXIST, "d": OK},
        id="own-anti-affinity-and-existing-anti-affinity",
    ),
]


@pytest.mark.parametrize(("incoming", "placed", "expected"), FILTER_CASES)
def test_filter(
    incoming: Obj, placed: Mapping[str, Sequence[Obj]], expected: dict[str, Any]
) -> None:
    assert run_filter(incoming, placed) == expected


@pytest.mark.parametrize(
    ("incoming", "placed", "skipped"),
    [
        pytest.param(pod("web", "web"), {"a": [pod("db", "db")]}, True, id="nothing-to-check"),
        pytest.param(
            pod("web", "web"),
            {"a": [pod("db", "db", anti=[term("cache")])]},
            True,
            id="existing-anti-affinity-not-matching",
        ),
        pytest.param(pod("web", "web", anti=[term("x")]), {}, False, id="own-terms"),
    ],
)
def test_pre_filter_skips_when_nothing_applies(
    incoming: Obj, placed: Mapping[str, Sequence[Obj]], skipped: bool
) -> None:
    plugin, nodes = setup(placed)
    _, status = plugin.pre_filter(CycleState(), PodInfo(incoming), nodes)
    assert (status is not None and status.code == Code.SKIP) == skipped


def find(nodes: list[NodeInfo], name: str) -> NodeInfo:
    return next(n for n in nodes if n.name == name)


@pytest.mark.parametrize(
    ("incoming", "placed", "change", "before", "after"),
    [
        pytest.param(
            pod("web", "web", anti=[term("web")]),
            {"a": [pod("web-0", "web")]},
            ("remove", "a", pod("web-0", "web")),
            {"a": ANTI, "b": ANTI, "c": OK},
            {"a": OK, "b": OK, "c": OK},
            id="removing-the-repelling-pod",
        ),
        pytest.param(
            pod("web", "web", anti=[term("web")]),
            {},
            ("add", "c", pod("web-0", "web")),
            {"a": OK, "b": OK, "c": OK},
            {"a": OK, "b": OK, "c": ANTI},
            id="adding-a-repelling-pod",
        ),
        pytest.param(
            pod("web", "web"),
            {"a": [pod("db", "db", anti=[term("web", HOST)])]},
            ("remove", "a", pod("db", "db", anti=[term("web", HOST)])),
            {"a": EXIST, "b": OK, "c": OK},
            {"a": OK, "b": OK, "c": OK},
            id="removing-existing-anti-affinity-pod",
        ),
        pytest.param(
            pod("web", "web", anti=[term("nobody")]),
            {},
            ("add", "b", pod("db", "db", anti=[term("web")])),
            {"a": OK, "b": OK, "c": OK},
            {"a": EXIST, "b": EXIST, "c": OK},
            id="adding-existing-anti-affinity-pod",
        ),
        pytest.param(
            pod("web", "web", affinity=[term("db")]),
            {"a": [pod("db", "db")]},
            ("add", "c", pod("db-1", "db")),
            {"a": OK, "b": OK, "c": AFF},
            {"a": OK, "b": OK, "c": OK},
            id="adding-a-pod-that-satisfies-affinity",
        ),
        pytest.param(
            pod("web", "web", affinity=[term("db")]),
            {"a": [pod("db", "db")]},
            ("remove", "a", pod("db", "db")),
            {"a": OK, "b": OK, "c": AFF},
            {"a": AFF, "b": AFF, "c": AFF},
            id="removing-the-only-pod-affinity-needs",
        ),
    ],
)
def test_preemption_extensions(
    incoming: Obj,
    placed: Mapping[str, Sequence[Obj]],
    change: tuple[str, str, Obj],
    before: dict[str, Any],
    after: dict[str, Any],
) -> None:
    plugin, nodes = setup(placed)
    state, info = CycleState(), PodInfo(incoming)
    _, status = plugin.pre_filter(state, info, nodes)
    assert status is None
    trial = state.clone()
    action, node_name, other = change
    node = find(nodes, node_name)
    other = {**other, "spec": {**other["spec"], "nodeName": node_name}}
    if action == "add":
        assert plugin.add_pod(trial, info, PodInfo(other), node) is None
    else:
        assert plugin.remove_pod(trial, info, PodInfo(other), node) is None
    checked = [find(nodes, name) for name in before]
    assert {n.name: outcome(plugin.filter(state, info, n)) for n in checked} == before
    assert {n.name: outcome(plugin.filter(trial, info, n)) for n in checked} == after


def test_extensions_and_filter_need_pre_filter_state() -> None:
    plugin, nodes = setup({})
    info = PodInfo(pod("web", "web"))
    for status in (
        plugin.add_pod(CycleState(), info, info, nodes[0]),
        plugin.remove_pod(CycleState(), info, info, nodes[0]),
        plugin.filter(CycleState(), info, nodes[0]),
    ):
        assert status is not None
        assert status.code == Code.ERROR
        assert (
            status.message()
            == 'error reading "PreFilterInterPodAffinity" from cycleState: not found'
        )


def run_score(
    incoming: Obj,
    placed: Mapping[str, Sequence[Obj]],
    args: Mapping[str, Any] | None = None,
    candidates: Sequence[str] | None = None,
) -> dict[str, int] | str:
    plugin, nodes = setup(placed, args)
    if candidates is not None:
        nodes = [find(nodes, name) for name in candidates]
    state, info = CycleState(), PodInfo(incoming)
    status = plugin.pre_score(state, info, nodes)
    if status is not None and status.code == Code.SKIP:
        return "skip"
    assert status is None
    scores = []
    for n in nodes:
        value, status = plugin.score(state, info, n)
        assert status is None
        scores.append(NodeScore(n.name, value))
    assert plugin.normalize_score(state, info, scores) is None
    return {s.name: s.score for s in scores}


@pytest.mark.parametrize(
    ("incoming", "placed", "args", "expected"),
    [
        pytest.param(
            pod("web", "web", preferred=[weighted(5, "db")]),
            {"a": [pod("db", "db")]},
            {},
            {"a": 100, "b": 100, "c": 0, "d": 0},
            id="preferred-affinity",
        ),
        pytest.param(
            pod("web", "web", preferred_anti=[weighted(5, "db")]),
            {"a": [pod("db", "db")]},
            {},
            {"a": 0, "b": 0, "c": 100, "d": 100},
            id="preferred-anti-affinity",
        ),
        pytest.param(
            pod(
                "web",
                "web",
                preferred=[weighted(10, "db", HOST)],
                preferred_anti=[weighted(5, "cache")],
            ),
            {"a": [pod("db", "db")], "c": [pod("cache", "cache")]},
            {},
            # raw a=10, b=0, c=-5, d=0: min-max normalized and truncated
            {"a": 100, "b": 33, "c": 0, "d": 33},
            id="weights-add-up-and-normalize",
        ),
        pytest.param(
            pod("web", "web", preferred=[weighted(5, "db"), weighted(2, "db", HOST)]),
            {"a": [pod("db", "db")], "c": [pod("db-1", "db")]},
            {},
            # raw a=7, b=5, c=7, d=0
            {"a": 100, "b": 71, "c": 100, "d": 0},
            id="several-terms-and-pods",
        ),
        pytest.param(
            pod("web", "web"),
            {"a": [pod("db", "db", affinity=[term("web", HOST)])]},
            {},
            {"a": 100, "b": 0, "c": 0, "d": 0},
            id="existing-required-affinity-with-default-hard-weight",
        ),
        pytest.param(
            pod("web", "web"),
            {"a": [pod("db", "db", affinity=[term("web", HOST)])]},
            {"hardPodAffinityWeight": 0},
            "skip",
            id="hard-weight-zero-ignores-existing-required-affinity",
        ),
        pytest.param(
            pod("web", "web"),
            {
                "a": [pod("db", "db", affinity=[term("web", HOST)])],
                "c": [pod("cache", "cache", preferred_anti=[weighted(3, "web")])],
            },
            {"hardPodAffinityWeight": 7},
            # raw a=7, b=0, c=-3, d=0
            {"a": 100, "b": 30, "c": 0, "d": 30},
            id="hard-weight-and-existing-preferred-anti-affinity",
        ),
        pytest.param(
            pod("web", "web"),
            {"c": [pod("db", "db", preferred=[weighted(4, "web")])]},
            {},
            {"a": 0, "b": 0, "c": 100, "d": 0},
            id="existing-preferred-affinity-symmetry",
        ),
        pytest.param(
            pod("web", "web"),
            {"c": [pod("db", "db", preferred=[weighted(4, "web")])]},
            {"ignorePreferredTermsOfExistingPods": True},
            "skip",
            id="ignore-preferred-terms-of-existing-pods",
        ),
        pytest.param(
            pod("web", "web", preferred=[weighted(5, "db", HOST)]),
            {"a": [pod("db", "db")], "c": [pod("x", "x", preferred=[weighted(50, "web")])]},
            {"ignorePreferredTermsOfExistingPods": True},
            # with terms of its own the pod is scored as usual, existing pods included
            {"a": 10, "b": 0, "c": 100, "d": 0},
            id="ignore-flag-without-effect-when-pod-has-preferred-terms",
        ),
        pytest.param(
            pod(
                "web",
                "web",
                preferred=[weighted(5, "db", namespaceSelector={"matchLabels": {"team": "blue"}})],
            ),
            {"a": [pod("db", "db")], "c": [pod("db", "db", namespace="blue-ns")]},
            {},
            {"a": 0, "b": 0, "c": 100, "d": 0},
            id="preferred-affinity-namespace-selector",
        ),
        pytest.param(
            pod("web", "web"),
            {"a": [pod("db", "db")]},
            {},
            "skip",
            id="no-affinity-anywhere",
        ),
    ],
)
def test_score(
    incoming: Obj, placed: Mapping[str, Sequence[Obj]], args: Mapping[str, Any], expected: Any
) -> None:
    assert run_score(incoming, placed, args) == expected


def test_score_counts_pods_on_nodes_that_are_not_candidates() -> None:
    # The db pod runs on a, which is not a candidate; b shares its zone and wins.
    scores = run_score(
        pod("web", "web", preferred=[weighted(5, "db")]),
        {"a": [pod("db", "db")]},
        candidates=["b", "c"],
    )
    assert scores == {"b": 100, "c": 0}


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ([-5, 0, 10], [0, 33, 100]),
        ([3, 3, 3], [0, 0, 0]),
        ([0, 1, 2], [0, 50, 100]),
        ([-7, -1], [0, 100]),
    ],
)
def test_normalize_score(raw: list[int], normalized: list[int]) -> None:
    plugin, nodes = setup({"a": [pod("db", "db")]})
    state, info = CycleState(), PodInfo(pod("web", "web", preferred=[weighted(1, "db")]))
    assert plugin.pre_score(state, info, nodes) is None
    scores = [NodeScore(f"n{i}", value) for i, value in enumerate(raw)]
    assert plugin.normalize_score(state, info, scores) is None
    assert [s.score for s in scores] == normalized


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            {"hardPodAffinityWeight": 101},
            "hardPodAffinityWeight: Invalid value: 101: not in valid range [0, 100]",
        ),
        (
            {"hardPodAffinityWeight": -1},
            "hardPodAffinityWeight: Invalid value: -1: not in valid range [0, 100]",
        ),
    ],
)
def test_invalid_args(args: Mapping[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        new(args, FakeHandle())


def test_defaults_and_events() -> None:
    plugin = new({}, FakeHandle())
    assert plugin.name == NAME == "InterPodAffinity"
    assert plugin.hard_pod_affinity_weight == 1
    assert plugin.ignore_preferred_terms_of_existing_pods is False
    events = plugin.events_to_register()
    for wanted in (
        ClusterEvent("Pod", ActionType.ADD),
        ClusterEvent("Pod", ActionType.DELETE),
        ClusterEvent("Pod", ActionType.UPDATE),
        ClusterEvent("Node", ActionType.ADD),
        ClusterEvent("Node", ActionType.UPDATE),
    ):
        assert any(e.covers(wanted) for e in events)
