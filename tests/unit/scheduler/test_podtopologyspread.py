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
from pocketkube.scheduler.plugins.podtopologyspread import (
    ERR_CONSTRAINTS_NOT_MATCH,
    ERR_NODE_LABEL_NOT_MATCH,
    NAME,
    PodTopologySpread,
    new,
)
from pocketkube.scheduler.plugins.topology import default_selector

Obj = dict[str, Any]
ZONE = "topology.kubernetes.io/zone"
HOST = "kubernetes.io/hostname"
# Two nodes in z1, two in z2, one in z3, and x without a zone label.
ZONES = {"a1": "z1", "a2": "z1", "b1": "z2", "b2": "z2", "c1": "z3", "x": None}

OK = None
SKEW = (Code.UNSCHEDULABLE, ERR_CONSTRAINTS_NOT_MATCH)
LABEL = (Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ERR_NODE_LABEL_NOT_MATCH)
NO_SCHEDULE_TAINT = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
IN_Z1_OR_Z2 = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": ZONE, "operator": "In", "values": ["z1", "z2"]}]}
            ]
        }
    }
}


def spread(max_skew: int = 1, key: str = ZONE, action: str = "DoNotSchedule", **extra: Any) -> Obj:
    return {
        "maxSkew": max_skew,
        "topologyKey": key,
        "whenUnsatisfiable": action,
        "labelSelector": {"matchLabels": {"app": "web"}},
        **extra,
    }


def pod(
    name: str,
    app: str = "web",
    *,
    namespace: str = "default",
    constraints: Sequence[Obj] = (),
    spec: Mapping[str, Any] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> Obj:
    full_spec = dict(spec or {})
    if constraints:
        full_spec["topologySpreadConstraints"] = list(constraints)
    obj = make_pod(name, namespace=namespace, labels={"app": app}, spec=full_spec)
    obj["metadata"].update(meta or {})
    return obj


def webs(count: int, prefix: str = "w", **kwargs: Any) -> list[Obj]:
    return [pod(f"{prefix}{i}", **kwargs) for i in range(count)]


def cluster(
    placed: Mapping[str, Sequence[Obj]], taints: Mapping[str, list[Obj]] | None = None
) -> list[NodeInfo]:
    infos = []
    for name, zone in ZONES.items():
        node = make_node(
            name, labels={ZONE: zone} if zone else None, taints=(taints or {}).get(name)
        )
        bound = [{**p, "spec": {**p["spec"], "nodeName": name}} for p in placed.get(name, ())]
        infos.append(node_info(node, *bound))
    return infos


def setup(
    placed: Mapping[str, Sequence[Obj]],
    args: Mapping[str, Any] | None = None,
    taints: Mapping[str, list[Obj]] | None = None,
    objects: Mapping[str, list[Obj]] | None = None,
) -> tuple[PodTopologySpread, list[NodeInfo]]:
    nodes = cluster(placed, taints)
    return new(args or {}, FakeHandle(nodes=nodes, objects=objects)), nodes


def outcome(status: Status | None) -> tuple[Code, str] | None:
    if status is None or status.code == Code.SUCCESS:
        return None
    return status.code, status.message()


def filter_all(
    plugin: PodTopologySpread, state: CycleState, info: PodInfo, nodes: list[NodeInfo]
) -> dict[str, Any]:
    return {n.name: outcome(plugin.filter(state, info, n)) for n in nodes}


def run_filter(
    incoming: Obj,
    placed: Mapping[str, Sequence[Obj]],
    taints: Mapping[str, list[Obj]] | None = None,
) -> dict[str, Any]:
    plugin, nodes = setup(placed, taints=taints)
    state, info = CycleState(), PodInfo(incoming)
    _, status = plugin.pre_filter(state, info, nodes)
    assert status is None
    return filter_all(plugin, state, info, nodes)


def zones(z1: Any, z2: Any, z3: Any, x: Any = LABEL) -> dict[str, Any]:
    return {"a1": z1, "a2": z1, "b1": z2, "b2": z2, "c1": z3, "x": x}


@pytest.mark.parametrize(
    ("incoming", "placed", "taints", "expected"),
    [
        pytest.param(
            pod("new", constraints=[spread()]),
            {"a1": webs(1)},
            None,
            zones(SKEW, OK, OK),
            id="skew-above-max-skew",
        ),
        pytest.param(
            pod("new", constraints=[spread()]),
            {"a1": webs(1), "b2": webs(1), "c1": webs(1)},
            None,
            zones(OK, OK, OK),
            id="balanced",
        ),
        pytest.param(
            pod("new", constraints=[spread(max_skew=2)]),
            {"a1": webs(1)},
            None,
            zones(OK, OK, OK),
            id="max-skew-2",
        ),
        pytest.param(
            pod("new", constraints=[spread()]),
            {"a1": webs(1), "a2": webs(1), "b1": webs(1)},
            None,
            zones(SKEW, SKEW, OK),
            id="two-zones-ahead",
        ),
        pytest.param(
            pod("new", "other", constraints=[spread()]),
            {"a1": webs(1)},
            None,
            zones(OK, OK, OK),
            id="incoming-pod-not-matching-its-own-selector",
        ),
        pytest.param(
            pod("new", constraints=[spread()]),
            {"a1": webs(2, namespace="other")},
            None,
            zones(OK, OK, OK),
            id="pods-of-other-namespaces-not-counted",
        ),
        pytest.param(
            pod("new", constraints=[spread()]),
            {"a1": webs(1, meta={"deletionTimestamp": "2024-01-01T00:00:00Z"})},
            None,
            zones(OK, OK, OK),
            id="terminating-pods-not-counted",
        ),
        pytest.param(
            pod("new", constraints=[spread(minDomains=4)]),
            {"a1": webs(1), "b1": webs(1), "c1": webs(1)},
            None,
            zones(SKEW, SKEW, SKEW),
            id="fewer-domains-than-min-domains-means-global-minimum-0",
        ),
        pytest.param(
            pod("new", constraints=[spread(minDomains=3)]),
            {"a1": webs(1), "b1": webs(1), "c1": webs(1)},
            None,
            zones(OK, OK, OK),
            id="min-domains-reached",
        ),
        pytest.param(
            pod("new", constraints=[spread(key=HOST)]),
            {"a1": webs(1)},
            None,
            {"a1": SKEW, "a2": OK, "b1": OK, "b2": OK, "c1": OK, "x": OK},
            id="spread-over-hostnames",
        ),
        pytest.param(
            pod("new", constraints=[spread()], spec={"affinity": IN_Z1_OR_Z2}),
            {"a1": webs(1), "b1": webs(1)},
            None,
            zones(OK, OK, OK),
            id="node-affinity-policy-honor-leaves-out-z3",
        ),
        pytest.param(
            pod(
                "new",
                constraints=[spread(nodeAffinityPolicy="Ignore")],
                spec={"affinity": IN_Z1_OR_Z2},
            ),
            {"a1": webs(1), "b1": webs(1)},
            None,
            zones(SKEW, SKEW, OK),
            id="node-affinity-policy-ignore-counts-z3",
        ),
        pytest.param(
            pod("new", constraints=[spread()], spec={"nodeSelector": {ZONE: "z1"}}),
            {"a1": webs(1)},
            None,
            # only z1 is a domain: its count is the minimum
            zones(OK, OK, OK),
            id="node-selector-honored",
        ),
        pytest.param(
            pod("new", constraints=[spread()]),
            {"a1": webs(1), "b1": webs(1)},
            {"c1": [NO_SCHEDULE_TAINT]},
            zones(SKEW, SKEW, OK),
            id="node-taints-policy-ignore-by-default",
        ),
        pytest.param(
            pod("new", constraints=[spread(nodeTaintsPolicy="Honor")]),
            {"a1": webs(1), "b1": webs(1)},
            {"c1": [NO_SCHEDULE_TAINT]},
            zones(OK, OK, OK),
            id="node-taints-policy-honor-leaves-out-tainted-node",
        ),
        pytest.param(
            pod(
                "new",
                constraints=[spread(nodeTaintsPolicy="Honor")],
                spec={"tolerations": [{"key": "dedicated", "operator": "Exists"}]},
            ),
            {"a1": webs(1), "b1": webs(1)},
            {"c1": [NO_SCHEDULE_TAINT]},
            zones(SKEW, SKEW, OK),
            id="node-taints-policy-honor-tolerated-taint",
        ),
        pytest.param(
            pod("new", constraints=[spread(max_skew=2), spread(key=HOST)]),
            {"a1": webs(1), "b1": webs(1)},
            None,
            {"a1": SKEW, "a2": OK, "b1": SKEW, "b2": OK, "c1": OK, "x": LABEL},
            id="zone-and-hostname",
        ),
        pytest.param(
            pod("new", constraints=[spread(), spread(action="ScheduleAnyway", key=HOST)]),
            {"a1": webs(1)},
            None,
            zones(SKEW, OK, OK),
            id="schedule-anyway-constraints-do-not-filter",
        ),
    ],
)
def test_filter(
    incoming: Obj,
    placed: Mapping[str, Sequence[Obj]],
    taints: Mapping[str, list[Obj]] | None,
    expected: dict[str, Any],
) -> None:
    assert run_filter(incoming, placed, taints) == expected


@pytest.mark.parametrize(
    "incoming",
    [
        pytest.param(pod("new"), id="no-constraints"),
        pytest.param(pod("new", constraints=[spread(action="ScheduleAnyway")]), id="scores-only"),
    ],
)
def test_pre_filter_skips_without_hard_constraints(incoming: Obj) -> None:
    plugin, nodes = setup({"a1": webs(1)})
    _, status = plugin.pre_filter(CycleState(), PodInfo(incoming), nodes)
    assert status is not None
    assert status.code == Code.SKIP


def test_six_pods_over_three_zones_with_max_skew_1() -> None:
    """Scheduling one pod after another on the first node that fits ends up 2/2/2."""
    placed: dict[str, list[Obj]] = {}
    chosen = []
    for i in range(6):
        incoming = pod(f"web-{i}", constraints=[spread()])
        plugin, nodes = setup(placed)
        state, info = CycleState(), PodInfo(incoming)
        _, status = plugin.pre_filter(state, info, nodes)
        assert status is None
        fits = [n.name for n in nodes if plugin.filter(state, info, n) is None]
        placed.setdefault(fits[0], []).append(incoming)
        chosen.append(fits[0])
    assert chosen == ["a1", "b1", "c1", "a1", "b1", "c1"]
    per_zone: dict[str, int] = {}
    for name, pods in placed.items():
        zone = ZONES[name]
        assert zone is not None
        per_zone[zone] = per_zone.get(zone, 0) + len(pods)
    assert per_zone == {"z1": 2, "z2": 2, "z3": 2}


def find(nodes: list[NodeInfo], name: str) -> NodeInfo:
    return next(n for n in nodes if n.name == name)


@pytest.mark.parametrize(
    ("incoming", "placed", "change", "before", "after"),
    [
        pytest.param(
            pod("new", constraints=[spread()]),
            {"a1": webs(1), "a2": webs(1, prefix="v"), "b1": webs(1), "c1": webs(1)},
            ("remove", "a1", pod("w0")),
            zones(SKEW, OK, OK),
            zones(OK, OK, OK),
            id="removing-a-pod-from-the-crowded-zone",
        ),
        pytest.param(
            pod("new", constraints=[spread()]),
            {"a1": webs(1)},
            ("add", "b1", pod("w9")),
            zones(SKEW, OK, OK),
            zones(SKEW, SKEW, OK),
            id="adding-a-pod",
        ),
        pytest.param(
            pod("new", constraints=[spread()]),
            {"a1": webs(1), "b1": webs(1), "c1": webs(1)},
            ("remove", "c1", pod("w0")),
            zones(OK, OK, OK),
            zones(SKEW, SKEW, OK),
            id="removing-lowers-the-global-minimum",
        ),
        pytest.param(
            pod("new", constraints=[spread()]),
            {"a1": webs(1)},
            ("add", "b1", pod("w9", namespace="other")),
            zones(SKEW, OK, OK),
            zones(SKEW, OK, OK),
            id="pods-of-other-namespaces-ignored",
        ),
        pytest.param(
            pod("new", constraints=[spread()]),
            {"a1": webs(1)},
            ("add", "b1", pod("db", "db")),
            zones(SKEW, OK, OK),
            zones(SKEW, OK, OK),
            id="pods-not-selected-ignored",
        ),
        pytest.param(
            pod("new", constraints=[spread()], spec={"affinity": IN_Z1_OR_Z2}),
            {"a1": webs(1)},
            ("add", "c1", pod("w9")),
            zones(SKEW, OK, OK),
            zones(SKEW, OK, OK),
            id="pods-on-excluded-nodes-ignored",
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
    other = {**other, "spec": {**other["spec"], "nodeName": node_name}}
    node = find(nodes, node_name)
    if action == "add":
        assert plugin.add_pod(trial, info, PodInfo(other), node) is None
    else:
        assert plugin.remove_pod(trial, info, PodInfo(other), node) is None
    assert filter_all(plugin, state, info, nodes) == before
    assert filter_all(plugin, trial, info, nodes) == after


def test_remove_then_add_restores_the_state() -> None:
    plugin, nodes = setup({"a1": webs(2), "b1": webs(1)})
    state, info = CycleState(), PodInfo(pod("new", constraints=[spread()]))
    plugin.pre_filter(state, info, nodes)
    trial = state.clone()
    victim = PodInfo({**pod("w0"), "spec": {**pod("w0")["spec"], "nodeName": "a1"}})
    a1 = find(nodes, "a1")
    plugin.remove_pod(trial, info, victim, a1)
    plugin.remove_pod(trial, info, victim, a1)
    assert filter_all(plugin, trial, info, nodes) == zones(OK, SKEW, OK)
    plugin.add_pod(trial, info, victim, a1)
    plugin.add_pod(trial, info, victim, a1)
    assert filter_all(plugin, trial, info, nodes) == filter_all(plugin, state, info, nodes)


def test_extensions_and_filter_need_pre_filter_state() -> None:
    plugin, nodes = setup({})
    info = PodInfo(pod("new"))
    for status in (
        plugin.add_pod(CycleState(), info, info, nodes[0]),
        plugin.remove_pod(CycleState(), info, info, nodes[0]),
        plugin.filter(CycleState(), info, nodes[0]),
    ):
        assert status is not None
        assert status.code == Code.ERROR
        assert status.message() == 'reading "PreFilterPodTopologySpread" from cycleState: not found'


def run_score(
    incoming: Obj,
    placed: Mapping[str, Sequence[Obj]],
    *,
    args: Mapping[str, Any] | None = None,
    objects: Mapping[str, list[Obj]] | None = None,
    candidates: Sequence[str] | None = None,
) -> dict[str, int] | str:
    plugin, nodes = setup(placed, args, objects=objects)
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


RS_OWNER = {
    "ownerReferences": [
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-rs", "controller": True}
    ]
}
RS = {
    "metadata": {"name": "web-rs", "namespace": "default"},
    "spec": {"selector": {"matchLabels": {"app": "web"}}},
}
SERVICE = {
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {"selector": {"app": "web"}},
}
LIST_DEFAULTS = {
    "defaultingType": "List",
    "defaultConstraints": [
        {"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "ScheduleAnyway"}
    ],
}


@pytest.mark.parametrize(
    ("incoming", "placed", "kwargs", "expected"),
    [
        pytest.param(
            pod("new", constraints=[spread(action="ScheduleAnyway")]),
            {"a1": webs(1), "a2": webs(1, prefix="v"), "b1": webs(1)},
            {},
            # weight log(3 zones + 2); raw a=round(2w)=3, b=round(w)=2, c=0; x lacks the key
            {"a1": 0, "a2": 0, "b1": 33, "b2": 33, "c1": 100, "x": 0},
            id="zone-counts",
        ),
        pytest.param(
            pod("new", constraints=[spread(max_skew=2, key=HOST, action="ScheduleAnyway")]),
            {"a1": webs(2), "b1": webs(1)},
            {},
            # weight log(6 + 2); raw a1=round(2w+1)=5, b1=round(w+1)=3, others 1
            {"a1": 20, "a2": 100, "b1": 60, "b2": 100, "c1": 100, "x": 100},
            id="hostname-counts-per-node",
        ),
        pytest.param(
            pod("new", constraints=[spread(action="ScheduleAnyway")]),
            {"a1": webs(2), "b2": webs(1)},
            {"candidates": ["a2", "b1", "c1"]},
            {"a2": 0, "b1": 33, "c1": 100},
            id="pods-on-non-candidate-nodes-count",
        ),
        pytest.param(
            pod("new", constraints=[spread(action="ScheduleAnyway")]),
            {},
            {},
            {"a1": 100, "a2": 100, "b1": 100, "b2": 100, "c1": 100, "x": 0},
            id="no-matching-pods-anywhere",
        ),
        pytest.param(
            pod("new", constraints=[spread()]),
            {"a1": webs(1)},
            {"objects": {"services": [SERVICE]}},
            "skip",
            id="own-constraints-replace-the-defaults",
        ),
        pytest.param(
            pod("new"),
            {"a1": webs(2)},
            {},
            "skip",
            id="system-defaults-need-a-selecting-service-or-controller",
        ),
        pytest.param(
            pod("new", meta=RS_OWNER),
            {"a1": webs(2)},
            {"objects": {"replicasets": [RS]}},
            # hostname: maxSkew 3, weight log(8); zone: maxSkew 5, weight log(4 values + 2), the
            # node without a zone is scored by hostname only
            {"a1": 14, "a2": 42, "b1": 71, "b2": 71, "c1": 71, "x": 100},
            id="system-defaults-from-replicaset",
        ),
        pytest.param(
            pod("new"),
            {"a1": webs(2)},
            {"objects": {"services": [SERVICE]}},
            {"a1": 14, "a2": 42, "b1": 71, "b2": 71, "c1": 71, "x": 100},
            id="system-defaults-from-service",
        ),
        pytest.param(
            pod("new"),
            {"a1": webs(1), "a2": webs(1, prefix="v"), "b1": webs(1)},
            {"args": LIST_DEFAULTS, "objects": {"services": [SERVICE]}},
            {"a1": 0, "a2": 0, "b1": 33, "b2": 33, "c1": 100, "x": 0},
            id="list-defaults-require-every-key",
        ),
    ],
)
def test_score(
    incoming: Obj, placed: Mapping[str, Sequence[Obj]], kwargs: dict[str, Any], expected: Any
) -> None:
    assert run_score(incoming, placed, **kwargs) == expected


def test_list_default_hard_constraint_filters() -> None:
    args = {
        "defaultingType": "List",
        "defaultConstraints": [
            {"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule"}
        ],
    }
    plugin, nodes = setup({"a1": webs(1)}, args, objects={"services": [SERVICE]})
    state, info = CycleState(), PodInfo(pod("new"))
    _, status = plugin.pre_filter(state, info, nodes)
    assert status is None
    assert filter_all(plugin, state, info, nodes) == zones(SKEW, OK, OK)


@pytest.mark.parametrize(
    ("meta", "objects", "expected"),
    [
        pytest.param({}, {}, "", id="nothing-selects-the-pod"),
        pytest.param({}, {"services": [SERVICE]}, "app=web", id="service"),
        pytest.param(
            {},
            {
                "services": [
                    {
                        "metadata": {"name": "s", "namespace": "other"},
                        "spec": {"selector": {"a": "b"}},
                    },
                    {"metadata": {"name": "t", "namespace": "default"}, "spec": {}},
                    {
                        "metadata": {"name": "u", "namespace": "default"},
                        "spec": {"selector": {"app": "db"}},
                    },
                ]
            },
            "",
            id="services-elsewhere-without-selector-or-not-matching",
        ),
        pytest.param(
            {
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "StatefulSet",
                        "name": "ss",
                        "controller": True,
                    }
                ]
            },
            {
                "services": [SERVICE],
                "statefulsets": [
                    {
                        "metadata": {"name": "ss", "namespace": "default"},
                        "spec": {
                            "selector": {
                                "matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]
                            }
                        },
                    }
                ],
            },
            "app=web,!tier",
            id="service-and-statefulset",
        ),
        pytest.param(
            {
                "ownerReferences": [
                    {
                        "apiVersion": "v1",
                        "kind": "ReplicationController",
                        "name": "rc",
                        "controller": True,
                    }
                ]
            },
            {
                "replicationcontrollers": [
                    {
                        "metadata": {"name": "rc", "namespace": "default"},
                        "spec": {"selector": {"app": "web"}},
                    }
                ]
            },
            "app=web",
            id="replication-controller",
        ),
        pytest.param(
            {
                "ownerReferences": [
                    {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-rs"}
                ]
            },
            {"replicasets": [RS]},
            "",
            id="owner-that-is-not-the-controller",
        ),
    ],
)
def test_default_selector(meta: Obj, objects: Mapping[str, list[Obj]], expected: str) -> None:
    handle = FakeHandle(objects=objects)
    assert str(default_selector(PodInfo(pod("new", meta=meta)), handle)) == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            {
                "defaultConstraints": [
                    {"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule"}
                ]
            },
            'defaultingType: Invalid value: "System": when .defaultConstraints are not empty',
        ),
        (
            {"defaultingType": "Sometimes"},
            'defaultingType: Unsupported value: "Sometimes": supported values: "System", "List"',
        ),
        (
            {
                "defaultingType": "List",
                "defaultConstraints": [
                    {
                        "maxSkew": 0,
                        "topologyKey": ZONE,
                        "whenUnsatisfiable": "DoNotSchedule",
                        "labelSelector": {},
                    }
                ],
            },
            "[defaultConstraints[0].maxSkew: Invalid value: 0: not in valid range (0, inf), "
            "defaultConstraints[0].labelSelector: Forbidden: constraint must not define a "
            "selector, as they deduced for each pod]",
        ),
    ],
)
def test_invalid_args(args: Mapping[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        new(args, FakeHandle())


def test_defaults_and_events() -> None:
    plugin = new({}, FakeHandle())
    assert plugin.name == NAME == "PodTopologySpread"
    assert plugin.system_defaulted
    assert [(c.topology_key, c.max_skew, c.action) for c in plugin.default_constraints] == [
        (HOST, 3, "ScheduleAnyway"),
        (ZONE, 5, "ScheduleAnyway"),
    ]
    events = plugin.events_to_register()
    for wanted in (
        ClusterEvent("Pod", ActionType.ADD),
        ClusterEvent("Pod", ActionType.DELETE),
        ClusterEvent("Pod", ActionType.UPDATE),
        ClusterEvent("Node", ActionType.ADD),
        ClusterEvent("Node", ActionType.DELETE),
        ClusterEvent("Node", ActionType.UPDATE),
    ):
        assert any(e.covers(wanted) for e in events)
