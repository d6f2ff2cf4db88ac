"""Cache, algorithm, config and runtime of the scheduler, with fakes only."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from pocketkube.api.quantity import QuantityError, milli_value, parse_quantity, value
from pocketkube.scheduler.algorithm import (
    Algorithm,
    Diagnosis,
    FitError,
    NoNodesAvailable,
    num_feasible_nodes_to_find,
)
from pocketkube.scheduler.cache import Cache
from pocketkube.scheduler.config import ConfigError, ProfileConfig, parse_config
from pocketkube.scheduler.framework.cyclestate import CycleState
from pocketkube.scheduler.framework.fake import FakeHandle, make_node, make_pod, node_info
from pocketkube.scheduler.framework.resources import pod_non_zero_requests, pod_requests
from pocketkube.scheduler.framework.runtime import Framework
from pocketkube.scheduler.framework.status import Code, Status, unresolvable, unschedulable
from pocketkube.scheduler.framework.types import NodeInfo, PodInfo
from pocketkube.scheduler.framework.waiting import WaitingPod
from pocketkube.scheduler.plugins import in_tree_registry
from pocketkube.scheduler.profile import build_framework


# -- quantities and requests ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "milli", "whole"),
    [
        ("1", 1000, 1),
        ("100m", 100, 1),
        ("1.5", 1500, 2),
        ("1Ki", 1024000, 1024),
        ("64Mi", 64 * 2**20 * 1000, 64 * 2**20),
        ("1e3", 1_000_000, 1000),
        ("2k", 2_000_000, 2000),
        ("1n", 1, 1),
        (3, 3000, 3),
    ],
)
def test_quantities(text: Any, milli: int, whole: int) -> None:
    assert milli_value(text) == milli
    assert value(text) == whole


@pytest.mark.parametrize("bad", ["", "1x", "abc", "1.2.3", True, None])
def test_bad_quantities(bad: Any) -> None:
    with pytest.raises(QuantityError):
        parse_quantity(bad)


def _container(cpu: str, *, sidecar: bool = False) -> dict[str, Any]:
    c: dict[str, Any] = {"name": f"c{cpu}", "resources": {"requests": {"cpu": cpu}}}
    if sidecar:
        c["restartPolicy"] = "Always"
    return c


@pytest.mark.parametrize(
    ("containers", "init", "overhead", "expected"),
    [
        (["100m", "200m"], [], None, 300),
        (["100m"], ["500m"], None, 500),  # the largest init container wins
        (["100m"], ["50m"], None, 100),
        (["100m"], [("200m", True), "300m"], None, 500),  # sidecar runs beside the next init
        (["100m"], [("200m", True)], None, 300),  # and beside the app containers
        (["100m"], [], {"cpu": "250m"}, 350),
    ],
)
def test_pod_requests(
    containers: list[str], init: list[Any], overhead: dict[str, str] | None, expected: int
) -> None:
    spec: dict[str, Any] = {"containers": [_container(c) for c in containers]}
    spec["initContainers"] = [
        _container(c[0], sidecar=c[1]) if isinstance(c, tuple) else _container(c) for c in init
    ]
    if overhead:
        spec["overhead"] = overhead
    assert pod_requests({"spec": spec}).milli_cpu == expected


def test_non_zero_requests_default_cpu_and_memory() -> None:
    pod = make_pod("p")
    assert pod_non_zero_requests(pod) == (100, 200 * 2**20)
    assert pod_non_zero_requests(make_pod("q", cpu="1", memory="1Gi")) == (1000, 2**30)


# -- cache --------------------------------------------------------------------------------------
def test_cache_assume_confirm_and_forget() -> None:
    cache = Cache()
    cache.add_node(make_node("n1", cpu="2"))
    pod = make_pod("p", cpu="500m", node_name="n1")
    cache.assume_pod(PodInfo(pod), "n1")
    snapshot = cache.snapshot()
    info = snapshot.get("n1")
    assert info is not None
    assert info.requested.milli_cpu == 500
    assert cache.is_assumed(pod)
    cache.add_pod(pod)  # the informer saw the binding
    assert not cache.is_assumed(pod)
    assert info.requested.milli_cpu == 500
    other = make_pod("o", cpu="1", node_name="n1")
    cache.assume_pod(PodInfo(other), "n1")
    cache.forget_pod(other)
    assert info.requested.milli_cpu == 500
    cache.remove_pod(pod)
    assert info.requested.milli_cpu == 0
    assert not info.pods


def test_cache_snapshot_tracks_nodes_affinity_and_images() -> None:
    cache = Cache()
    cache.add_node(make_node("a", images=[{"names": ["nginx:1"], "sizeBytes": 100}]))
    cache.add_node(make_node("b", images=[{"names": ["nginx:1"], "sizeBytes": 100}]))
    snapshot = cache.snapshot()
    assert [n.name for n in snapshot.list()] == ["a", "b"]
    a = snapshot.get("a")
    assert a is not None
    assert a.image_states["nginx:1"].num_nodes == 2
    affinity = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "labelSelector": {"matchLabels": {"x": "y"}},
                    "topologyKey": "kubernetes.io/hostname",
                }
            ]
        }
    }
    cache.add_pod(make_pod("anti", node_name="b", spec={"affinity": affinity}))
    snapshot = cache.snapshot()
    assert [n.name for n in snapshot.have_pods_with_required_anti_affinity()] == ["b"]
    cache.remove_node(make_node("a"))
    assert [n.name for n in cache.snapshot().list()] == ["b"]
    b = cache.snapshot().get("b")
    assert b is not None
    assert b.image_states["nginx:1"].num_nodes == 1
    # a node with pods left keeps counting them until they go
    cache.remove_node(make_node("b"))
    assert cache.snapshot().list() == []
    assert cache.pod_count() == 1


# -- algorithm ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("nodes", "percentage", "expected"),
    [
        (10, None, 10),
        (99, None, 99),
        (100, None, 100),
        (1000, None, 420),
        (5000, None, 500),
        (5000, 100, 5000),
        (1000, 5, 100),
        (20000, None, 1000),
    ],
)
def test_num_feasible_nodes_to_find(nodes: int, percentage: int | None, expected: int) -> None:
    assert num_feasible_nodes_to_find(nodes, percentage) == expected


def test_fit_error_message_is_a_sorted_histogram() -> None:
    diagnosis = Diagnosis(
        node_statuses={
            "a": unschedulable("Insufficient cpu"),
            "b": unschedulable("Insufficient cpu", "Insufficient memory"),
            "c": unresolvable("node(s) had untolerated taint {k: v}"),
        },
        post_filter_message="preemption: 0/3 nodes are available: 3 Preemption is not helpful",
    )
    err = FitError(PodInfo(make_pod("p")), 3, diagnosis)
    assert str(err) == (
        "0/3 nodes are available: 1 Insufficient memory, 1 node(s) had untolerated taint {k: v}, "
        "2 Insufficient cpu. preemption: 0/3 nodes are available: 3 Preemption is not helpful."
    )
    prefilter = FitError(PodInfo(make_pod("p")), 2, Diagnosis(pre_filter_message="no claim"))
    assert str(prefilter) == "0/2 nodes are available: no claim."


def test_select_host_breaks_ties_evenly() -> None:
    algorithm = Algorithm(rng=random.Random(1))
    abc = [node_info(make_node(name)) for name in "abc"]
    picks = {algorithm.select_host(abc, [5, 5, 1]) for _ in range(50)}
    assert picks == {"a", "b"}
    assert algorithm.select_host(abc[:2], [1, 7]) == "b"


class _FitsCpu:
    name = "FitsCpu"

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        free = node.allocatable.milli_cpu - node.requested.milli_cpu
        return None if pod.requests.milli_cpu <= free else unschedulable("Insufficient cpu")


class _Sort:
    name = "Sort"

    def less(self, a: Any, b: Any) -> bool:
        return True


class _Bind:
    name = "Bind"

    async def bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        return None


class _MostFree:
    name = "MostFree"

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> tuple[int, Status | None]:
        return (node.allocatable.milli_cpu - node.requested.milli_cpu) // 1000, None


def _framework(nodes: list[NodeInfo]) -> Framework:
    return Framework(
        profile_name="test",
        plugins={
            "queue_sort": [_Sort()],
            "filter": [_FitsCpu()],
            "score": [_MostFree()],
            "bind": [_Bind()],
        },
        weights={"MostFree": 2},
        handle=FakeHandle(nodes=nodes),
    )


def test_schedule_filters_scores_and_rotates() -> None:
    nodes = [
        node_info(make_node("small", cpu="1")),
        node_info(make_node("big", cpu="8")),
        node_info(make_node("mid", cpu="4")),
    ]
    framework = _framework(nodes)
    algorithm = Algorithm(rng=random.Random(0))
    result = algorithm.schedule(framework, CycleState(), PodInfo(make_pod("p", cpu="2")))
    assert result.suggested_host == "big"
    assert result.feasible_nodes == 2
    with pytest.raises(FitError) as caught:
        algorithm.schedule(framework, CycleState(), PodInfo(make_pod("q", cpu="16")))
    assert str(caught.value) == "0/3 nodes are available: 3 Insufficient cpu."
    assert caught.value.diagnosis.unschedulable_plugins == {"FitsCpu"}
    with pytest.raises(NoNodesAvailable):
        algorithm.schedule(_framework([]), CycleState(), PodInfo(make_pod("r")))


def test_scores_are_weighted_and_checked() -> None:
    nodes = [node_info(make_node("a", cpu="3")), node_info(make_node("b", cpu="1"))]
    framework = _framework(nodes)
    totals, status = framework.run_score_plugins(CycleState(), PodInfo(make_pod("p")), nodes)
    assert status is None
    assert totals == [6, 2]
    too_big = [node_info(make_node("huge", cpu="500"))]
    _, status = _framework(too_big).run_score_plugins(CycleState(), PodInfo(make_pod("p")), too_big)
    assert status is not None
    assert status.code == Code.ERROR


# -- config ---------------------------------------------------------------------------------------
def _config(**extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kubescheduler.config.k8s.io/v1",
        "kind": "KubeSchedulerConfiguration",
        **extra,
    }


def test_default_profile_builds_every_point() -> None:
    config = parse_config(_config())
    framework = build_framework(
        config.profiles[0],
        registry=in_tree_registry(),
        handle=FakeHandle(),
        percentage_of_nodes_to_score=None,
    )
    names = {p: [x.name for x in plugins] for p, plugins in framework.points.items()}
    assert names["queue_sort"] == ["PrioritySort"]
    assert names["bind"] == ["DefaultBinder"]
    assert names["post_filter"] == ["DefaultPreemption"]
    assert names["filter"][:4] == [
        "NodeUnschedulable",
        "NodeName",
        "TaintToleration",
        "NodeAffinity",
    ]
    assert "PodTopologySpread" in names["score"]
    assert "ImageLocality" in names["score"]
    assert framework.weights["TaintToleration"] == 3


def test_profile_plugins_can_be_disabled_and_weighted() -> None:
    config = parse_config(
        _config(
            profiles=[
                {
                    "schedulerName": "custom",
                    "plugins": {
                        "score": {
                            "disabled": [{"name": "*"}],
                            "enabled": [{"name": "NodeResourcesFit", "weight": 5}],
                        },
                        "multiPoint": {"disabled": [{"name": "DefaultPreemption"}]},
                    },
                    "pluginConfig": [
                        {
                            "name": "NodeResourcesFit",
                            "args": {"scoringStrategy": {"type": "MostAllocated"}},
                        }
                    ],
                }
            ],
            percentageOfNodesToScore=50,
        )
    )
    profile = config.profiles[0]
    assert profile.scheduler_name == "custom"
    framework = build_framework(
        profile,
        registry=in_tree_registry(),
        handle=FakeHandle(),
        percentage_of_nodes_to_score=config.percentage_of_nodes_to_score,
    )
    assert [p.name for p in framework.points["score"]] == ["NodeResourcesFit"]
    assert framework.weights["NodeResourcesFit"] == 5
    assert framework.points["post_filter"] == []
    assert framework.percentage_of_nodes_to_score == 50


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"apiVersion": "v1", "kind": "Pod"}, "no kind"),
        (_config(profiles=[{"schedulerName": "a"}, {"schedulerName": "a"}]), "duplicate"),
        (_config(percentageOfNodesToScore=101), "percentageOfNodesToScore"),
        (_config(podInitialBackoffSeconds=0), "podInitialBackoffSeconds"),
        (_config(podInitialBackoffSeconds=5, podMaxBackoffSeconds=2), "podMaxBackoffSeconds"),
        ("not a mapping", "YAML object"),
    ],
)
def test_config_errors(config: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(config)


def test_unknown_plugin_is_a_config_error() -> None:
    profile = ProfileConfig(multi_point=["PrioritySort", "DefaultBinder", "NoSuchPlugin"])
    with pytest.raises(ConfigError, match="NoSuchPlugin"):
        build_framework(
            profile,
            registry=in_tree_registry(),
            handle=FakeHandle(),
            percentage_of_nodes_to_score=None,
        )


@pytest.mark.parametrize("plugin_name", ["NodeResourcesFit", "NodeResourcesBalancedAllocation"])
@pytest.mark.parametrize(
    "args",
    [{}, {"scoringStrategy": {"type": "MostAllocated"}}],
)
def test_batch_scores_equal_per_node_scores(plugin_name: str, args: dict[str, Any]) -> None:
    rng = random.Random(7)
    nodes = []
    for i in range(40):
        pods = [
            make_pod(f"p{i}-{j}", cpu=f"{rng.randint(0, 900)}m", memory=f"{rng.randint(1, 900)}Mi")
            for j in range(rng.randint(0, 4))
        ]
        cpu = str(rng.choice([1, 2, 4, 0]))
        nodes.append(node_info(make_node(f"n{i}", cpu=cpu, memory=f"{rng.randint(0, 4)}Gi"), *pods))
    handle = FakeHandle(nodes=nodes)
    plugin_args = args if plugin_name == "NodeResourcesFit" else {}
    plugin: Any = in_tree_registry()[plugin_name](plugin_args, handle)
    for pod in (make_pod("x"), make_pod("y", cpu="300m", memory="64Mi")):
        info = PodInfo(pod)
        state = CycleState()
        if plugin.pre_score(state, info, nodes) is not None:
            continue
        per_node = [plugin.score(state, info, n)[0] for n in nodes]
        columns = handle.snapshot.columns
        rows = np.arange(len(nodes), dtype=np.intp)
        by_columns = plugin.score_array(state, info, columns, rows)
        if by_columns is None:  # strategies without a column form are scored node by node
            assert args
            continue
        assert by_columns.tolist() == per_node


def test_filter_nodes_equals_filter_for_node_resources_fit() -> None:
    rng = random.Random(3)
    nodes = [
        node_info(
            make_node(f"n{i}", cpu=str(rng.choice([1, 2])), pods=rng.choice([1, 3, 110])),
            *[make_pod(f"p{i}-{j}", cpu="400m", memory="1Gi") for j in range(rng.randint(0, 3))],
        )
        for i in range(60)
    ]
    plugin: Any = in_tree_registry()["NodeResourcesFit"]({}, FakeHandle(nodes=nodes))
    for pod in (make_pod("a", cpu="700m"), make_pod("b", memory="7Gi"), make_pod("c")):
        info, state = PodInfo(pod), CycleState()
        plugin.pre_filter(state, info, nodes)
        one_by_one = [plugin.filter(state, info, n) for n in nodes]
        batched = plugin.filter_nodes(state, info, nodes)
        assert [None if s is None else s.reasons for s in batched] == [
            None if s is None else s.reasons for s in one_by_one
        ]


def test_sampling_stops_at_enough_feasible_nodes_and_rotates() -> None:
    nodes = [node_info(make_node(f"n{i:03d}", cpu="1" if i % 2 else "8")) for i in range(400)]
    framework = _framework(nodes)
    framework.percentage_of_nodes_to_score = 10  # 10 % of 400 -> 100 (the minimum)
    algorithm = Algorithm(rng=random.Random(0))
    pod = PodInfo(make_pod("p", cpu="2"))
    feasible, diagnosis = algorithm.find_nodes_that_fit(framework, CycleState(), pod)
    assert len(feasible) == 100
    assert all(int(n.name[1:]) % 2 == 0 for n in feasible)
    # 100 fitting nodes among the even ones: 199 nodes looked at, 99 of them too small.
    assert len(diagnosis.node_statuses) == 99
    assert algorithm.next_start_node_index == 199
    again, _ = algorithm.find_nodes_that_fit(framework, CycleState(), pod)
    assert again[0].name == "n200"


def _random_cluster(seed: int, size: int) -> list[NodeInfo]:
    rng = random.Random(seed)
    nodes = []
    for i in range(size):
        taints = [{"key": "k", "effect": "NoSchedule"}] if rng.random() < 0.2 else None
        node = make_node(
            f"n{i:03d}",
            cpu=str(rng.choice([0, 1, 2, 4])),
            memory=f"{rng.choice([0, 1, 2, 8])}Gi",
            pods=rng.choice([1, 2, 110]),
            taints=taints,
            unschedulable=rng.random() < 0.1,
        )
        pods = [
            make_pod(f"p{i}-{j}", cpu=f"{rng.randint(0, 1500)}m", memory=f"{rng.randint(0, 900)}Mi")
            for j in range(rng.randint(0, 3))
        ]
        nodes.append(node_info(node, *pods))
    return nodes


@pytest.mark.parametrize("seed", range(8))
def test_column_path_equals_the_node_by_node_path(seed: int) -> None:
    """Same feasible nodes, same rotation, same scores, with and without the columns."""
    nodes = _random_cluster(seed, 150)
    handle = FakeHandle(nodes=nodes)
    framework = build_framework(
        parse_config(_config()).profiles[0],
        registry=in_tree_registry(),
        handle=handle,
        percentage_of_nodes_to_score=None,
    )
    handle.set_framework(framework)
    rng = random.Random(seed)
    for i in range(6):
        spec = {"tolerations": [{"key": "k", "operator": "Exists"}]} if i % 2 else None
        pod = PodInfo(
            make_pod(f"x{i}", cpu=f"{rng.randint(0, 2000)}m", memory=f"{rng.randint(0, 3)}Gi",
                     spec=spec)
        )  # fmt: skip
        start = rng.randrange(len(nodes))
        results = []
        for path in ("_filter_columns", "_filter_in_chunks"):
            algorithm = Algorithm(rng=random.Random(0))
            state = CycleState()
            framework.run_pre_filter_plugins(state, pod)
            diagnosis = Diagnosis()
            found = getattr(algorithm, path)(
                framework, state, pod, handle.snapshot.list(), start, 100, diagnosis
            )
            assert found is not None
            feasible, processed = found
            names = [n.name for n in feasible]
            totals: list[int] = []
            if feasible:
                framework.run_pre_score_plugins(state, pod, feasible)
                totals, status = framework.run_score_plugins(
                    state, pod, feasible, columns=path == "_filter_columns"
                )
                assert status is None
            reasons = sorted((n, s.reasons) for n, s in diagnosis.node_statuses.items())
            results.append((names, processed, totals, reasons if not feasible else None))
        assert results[0] == results[1]


def test_non_zero_defaults_only_for_missing_requests_and_sidecar_host_ports() -> None:
    zero = make_pod("z", cpu="0", memory="0")
    assert pod_non_zero_requests(zero) == (0, 0)
    sidecar = {
        "name": "proxy",
        "restartPolicy": "Always",
        "ports": [{"containerPort": 15000, "hostPort": 15000}],
    }
    info = PodInfo(make_pod("s", spec={"initContainers": [sidecar]}))
    node = node_info(make_node("n"))
    node.add_pod(info)
    assert node.used_ports.conflicts("0.0.0.0", "TCP", 15000)
    # the sidecar runs beside the app container: both get the default request
    assert info.non_zero_cpu == 200


async def test_waiting_pod_allow_reject_and_timeout() -> None:

    pod = PodInfo(make_pod("w"))
    allowed = WaitingPod(pod, {"A": 5.0, "B": 5.0})
    allowed.allow("A")
    allowed.allow("B")
    assert (await allowed.wait()).success
    rejected = WaitingPod(pod, {"A": 5.0})
    rejected.reject("A", "no")
    status = await rejected.wait()
    assert status.code == Code.UNSCHEDULABLE
    assert status.plugin == "A"
    late = WaitingPod(pod, {"Slow": 0.01})
    status = await late.wait()
    assert status.reasons == ["rejected due to timeout after waiting 0.01s at plugin Slow"]
