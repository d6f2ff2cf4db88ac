"""DefaultPreemption: victims, reprieve order, PDBs, node choice, messages and API calls."""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from pocketkube.scheduler.framework.cyclestate import CycleState
from pocketkube.scheduler.framework.fake import FakeHandle, make_node, make_pod, node_info
from pocketkube.scheduler.framework.interface import PostFilterResult, PreFilterResult
from pocketkube.scheduler.framework.runtime import Framework
from pocketkube.scheduler.framework.status import Code, Status, unresolvable, unschedulable
from pocketkube.scheduler.framework.types import NodeInfo, PodInfo
from pocketkube.scheduler.framework.waiting import WaitingPod
from pocketkube.scheduler.plugins import defaultpreemption
from pocketkube.scheduler.plugins.defaultpreemption import DefaultPreemption
from pocketkube.scheduler.plugins.preemption import (
    Candidate,
    budgets,
    no_candidate_message,
    pick_one_node,
    split_by_pdb_violation,
)

Obj = dict[str, Any]


# -- fakes ---------------------------------------------------------------------------------
class FakeApiError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"{status} failure")
        self.status = status


class FakeClient:
    def __init__(self, errors: Mapping[tuple[str, str], int] | None = None) -> None:
        self.calls: list[tuple[str, str, Any]] = []
        self.errors = dict(errors or {})

    def _call(self, method: str, path: str, body: Any) -> Obj:
        self.calls.append((method, path, body))
        if (method, path) in self.errors:
            raise FakeApiError(self.errors[(method, path)])
        return {}

    async def patch(
        self, path: str, patch: Any, *, patch_type: str = "merge", params: Any = None
    ) -> Obj:
        assert patch_type == "strategic"
        return self._call("PATCH", path, patch)

    async def delete(self, path: str, *, body: Any = None, params: Any = None) -> Obj:
        return self._call("DELETE", path, body)


class CpuFit:
    """Filter: the pod's CPU request fits in what the node has left."""

    name = "CpuFit"

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if node.requested.milli_cpu + pod.requests.milli_cpu > node.allocatable.milli_cpu:
            return unschedulable("Insufficient cpu")
        return None


class Unresolvable:
    """Filter: nodes labelled ``broken`` can never take the pod."""

    name = "Unresolvable"

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if "broken" in node.labels:
            return unresolvable("node(s) are broken")
        return None


class PodSlots:
    """PreFilter + Filter keeping pod counts in the cycle state: fits only if preemption
    keeps the state in step through the PreFilter extensions."""

    name = "PodSlots"
    key = "PreFilterPodSlots"

    class Counts(dict[str, int]):
        def clone(self) -> PodSlots.Counts:
            return PodSlots.Counts(self)

    def __init__(self, slots: int) -> None:
        self.slots = slots

    def pre_filter(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> tuple[PreFilterResult | None, Status | None]:
        state.write(self.key, PodSlots.Counts({n.name: len(n.pods) for n in nodes}))
        return None, None

    def add_pod(
        self, state: CycleState, pod: PodInfo, to_add: PodInfo, node: NodeInfo
    ) -> Status | None:
        state.read(self.key)[node.name] += 1
        return None

    def remove_pod(
        self, state: CycleState, pod: PodInfo, to_remove: PodInfo, node: NodeInfo
    ) -> Status | None:
        state.read(self.key)[node.name] -= 1
        return None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if state.read(self.key)[node.name] >= self.slots:
            return unschedulable("Too many pods")
        return None


class Sort:
    name = "Sort"

    def less(self, a: Any, b: Any) -> bool:
        return False


class Binder:
    name = "Binder"

    async def bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        return None


class FixedRng(random.Random):
    def __init__(self, offset: int) -> None:
        super().__init__(0)
        self.offset = offset

    def randrange(self, *args: Any, **kwargs: Any) -> int:
        return self.offset


# -- builders ------------------------------------------------------------------------------
def pod(
    name: str,
    *,
    cpu: str = "1",
    priority: int = 0,
    node: str = "",
    labels: Mapping[str, str] | None = None,
    started: str | None = None,
    namespace: str = "default",
) -> Obj:
    obj = make_pod(
        name, cpu=cpu, priority=priority, node_name=node, labels=labels, namespace=namespace
    )
    if started:
        obj["status"]["startTime"] = started
    return obj


def pdb(
    name: str, match: Mapping[str, str] | None, allowed: int, *, disrupted: Sequence[str] = ()
) -> Obj:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"selector": None if match is None else {"matchLabels": dict(match)}},
        "status": {
            "disruptionsAllowed": allowed,
            "disruptedPods": {p: "2024-01-01T00:00:00Z" for p in disrupted},
        },
    }


class Env:
    """A handle, a real Framework with fake filters, and the plugin under test."""

    def __init__(
        self,
        nodes: Sequence[NodeInfo],
        *,
        pdbs: Sequence[Obj] = (),
        nominated: Mapping[str, list[PodInfo]] | None = None,
        args: Mapping[str, Any] | None = None,
        offset: int = 0,
        slots: int | None = None,
        client: FakeClient | None = None,
    ) -> None:
        self.client = client or FakeClient()
        self.handle = FakeHandle(
            nodes=nodes,
            objects={"poddisruptionbudgets": pdbs},
            client=self.client,
            nominated=nominated,
        )
        self.plugin = DefaultPreemption(args or {}, self.handle, rng=FixedRng(offset))
        filters: list[Any] = [Unresolvable(), CpuFit()]
        pre_filters: list[Any] = []
        if slots is not None:
            slot_plugin = PodSlots(slots)
            filters.append(slot_plugin)
            pre_filters.append(slot_plugin)
        self.framework = Framework(
            profile_name="default-scheduler",
            plugins={
                "queue_sort": [Sort()],
                "bind": [Binder()],
                "pre_filter": pre_filters,
                "filter": filters,
                "post_filter": [self.plugin],
            },
            weights={},
            handle=self.handle,
        )
        self.handle.set_framework(self.framework)

    async def run(
        self, preemptor: Obj, statuses: Mapping[str, Status] | None = None
    ) -> tuple[PostFilterResult | None, Status]:
        """One failed scheduling cycle for ``preemptor``, then PostFilter."""
        info = PodInfo(preemptor)
        state = CycleState()
        _, status = self.framework.run_pre_filter_plugins(state, info)
        assert status is None
        if statuses is None:
            statuses = {
                n.name: self.framework.run_filter_plugins(state, info, n)
                for n in self.handle.snapshot.list()
            }
        return await self.plugin.post_filter(state, info, statuses)

    def deleted(self) -> list[str]:
        return [
            path.rsplit("/", 1)[1] for method, path, _ in self.client.calls if method == "DELETE"
        ]


def victims_of(env: Env) -> set[str]:
    return set(env.deleted())


# -- victim selection ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pods", "preemptor", "victims"),
    [
        pytest.param(
            [pod("low1", priority=1), pod("low2", priority=2), pod("high", cpu="2", priority=100)],
            pod("p", cpu="2", priority=10),
            {"low1", "low2"},
            id="both-lower-priority-pods-go",
        ),
        pytest.param(
            [pod("low1", priority=1), pod("low2", priority=2), pod("high", cpu="2", priority=100)],
            pod("p", cpu="1", priority=10),
            {"low1"},
            id="higher-priority-reprieved-first",
        ),
        pytest.param(
            [
                pod("old", priority=1, started="2024-01-01T00:00:00Z"),
                pod("young", priority=1, started="2024-06-01T00:00:00Z"),
                pod("high", cpu="2", priority=100),
            ],
            pod("p", cpu="1", priority=10),
            {"young"},
            id="equal-priority-older-reprieved-first",
        ),
        pytest.param(
            [pod("big", cpu="3", priority=1), pod("small", priority=2)],
            pod("p", cpu="2", priority=10),
            {"big"},
            id="reprieve-keeps-what-still-fits",
        ),
    ],
)
async def test_victim_selection(pods: list[Obj], preemptor: Obj, victims: set[str]) -> None:
    env = Env([node_info(make_node("n1", cpu="4"), *pods)])
    result, status = await env.run(preemptor)
    assert status.success, status
    assert result == PostFilterResult("n1")
    assert victims_of(env) == victims


async def test_prefilter_extensions_keep_state_in_step() -> None:
    pods = [pod("a", cpu="0", priority=1), pod("b", cpu="0", priority=2)]
    env = Env([node_info(make_node("n1"), *pods)], slots=2)
    result, status = await env.run(pod("p", cpu="0", priority=5))
    assert status.success
    assert result == PostFilterResult("n1")
    assert env.deleted() == ["a"]


async def test_no_lower_priority_pods_message() -> None:
    env = Env(
        [
            node_info(make_node("n1", cpu="1"), pod("same", priority=10)),
            node_info(make_node("n2", cpu="1", labels={"broken": "y"}), pod("low", priority=0)),
            node_info(make_node("n3", cpu="1", labels={"broken": "y"})),
        ]
    )
    result, status = await env.run(pod("p", priority=10))
    assert result == PostFilterResult("")
    assert status.code == Code.UNSCHEDULABLE
    assert status.reasons == [
        "preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, "
        "2 Preemption is not helpful for scheduling."
    ]
    assert env.client.calls == []


async def test_does_not_fit_even_without_victims() -> None:
    env = Env([node_info(make_node("n1", cpu="2"), pod("low", priority=1))])
    result, status = await env.run(pod("p", cpu="3", priority=10))
    assert result == PostFilterResult("")
    assert status.reasons == ["preemption: 0/1 nodes are available: 1 Insufficient cpu."]


async def test_unresolvable_nodes_are_not_candidates() -> None:
    env = Env(
        [
            node_info(make_node("n1", cpu="1", labels={"broken": "y"}), pod("low", priority=1)),
            node_info(make_node("n2", cpu="1"), pod("low2", priority=1)),
        ]
    )
    result, status = await env.run(pod("p", priority=10))
    assert status.success
    assert result == PostFilterResult("n2")
    assert env.deleted() == ["low2"]


async def test_nodes_missing_from_statuses_are_not_candidates() -> None:
    env = Env([node_info(make_node("n1", cpu="1"), pod("low", priority=1))])
    result, status = await env.run(pod("p", priority=10), statuses={})
    assert result == PostFilterResult("")
    assert status.reasons == [
        "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
    ]


@pytest.mark.parametrize(
    ("counts", "total", "expected"),
    [
        ({}, 2, "0/2 nodes are available: 2 Preemption is not helpful for scheduling."),
        (
            {"Insufficient cpu": 10, "Too many pods": 2},
            12,
            "0/12 nodes are available: 10 Insufficient cpu, 2 Too many pods.",
        ),
        (
            {"b reason": 1, "a reason": 1},
            3,
            "0/3 nodes are available: 1 Preemption is not helpful for scheduling, "
            "1 a reason, 1 b reason.",
        ),
    ],
)
def test_no_candidate_message_sorts_as_strings(
    counts: dict[str, int], total: int, expected: str
) -> None:
    failures: dict[str, Status] = {}
    index = 0
    for reason, n in counts.items():
        for _ in range(n):
            failures[f"n{index}"] = unschedulable(reason)
            index += 1
    assert no_candidate_message(total, failures) == expected


# -- eligibility ---------------------------------------------------------------------------
def terminating(obj: Obj, *, marked: bool = True) -> Obj:
    obj["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    if marked:
        obj["status"]["conditions"] = [
            {"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler"}
        ]
    return obj


async def test_preemption_policy_never() -> None:
    env = Env([node_info(make_node("n1", cpu="1"), pod("low", priority=1))])
    preemptor = pod("p", priority=10)
    preemptor["spec"]["preemptionPolicy"] = "Never"
    result, status = await env.run(preemptor)
    assert result is None
    assert status.code == Code.UNSCHEDULABLE
    assert status.reasons == ["preemption: not eligible due to preemptionPolicy=Never."]
    assert env.client.calls == []


@pytest.mark.parametrize(
    ("victim", "nominated_status", "eligible"),
    [
        pytest.param(terminating(pod("low", priority=1)), None, False, id="waits-for-victims"),
        pytest.param(
            terminating(pod("low", priority=1), marked=False), None, True, id="not-by-preemption"
        ),
        pytest.param(terminating(pod("same", priority=10)), None, True, id="not-lower-priority"),
        pytest.param(
            terminating(pod("low", priority=1)),
            unresolvable("gone bad"),
            True,
            id="nominated-node-unresolvable",
        ),
    ],
)
async def test_terminating_victims_on_nominated_node(
    victim: Obj, nominated_status: Status | None, eligible: bool
) -> None:
    env = Env(
        [
            node_info(make_node("n1", cpu="2"), victim, pod("other", priority=1)),
            node_info(make_node("n2", cpu="1"), pod("low2", priority=1)),
        ]
    )
    preemptor = pod("p", priority=10)
    preemptor["status"]["nominatedNodeName"] = "n1"
    statuses = None
    if nominated_status is not None:
        statuses = {"n1": nominated_status, "n2": unschedulable("Insufficient cpu")}
    result, status = await env.run(preemptor, statuses)
    if eligible:
        assert result is not None
        assert result.nominated_node_name
    else:
        assert result is None
        assert status.reasons == [
            "preemption: not eligible due to a terminating pod on the nominated node."
        ]


# -- PDBs ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pdbs", "victim"),
    [
        pytest.param([], "guarded", id="no-pdb-lower-priority-goes"),
        pytest.param([pdb("x", {"app": "db"}, 0)], "free", id="pdb-violator-reprieved-first"),
        pytest.param([pdb("x", {"app": "db"}, 1)], "guarded", id="pdb-allows-one"),
        pytest.param(
            [pdb("x", {"app": "db"}, 0, disrupted=["guarded"])], "guarded", id="already-disrupted"
        ),
        pytest.param([pdb("x", None, 0)], "guarded", id="nil-selector-matches-nothing"),
        pytest.param([pdb("x", {}, 0)], "guarded", id="empty-selector-matches-nothing"),
    ],
)
async def test_pdb_preference(pdbs: list[Obj], victim: str) -> None:
    pods = [
        pod("guarded", priority=1, labels={"app": "db"}),
        pod("free", priority=5),
    ]
    env = Env([node_info(make_node("n1", cpu="2"), *pods)], pdbs=pdbs)
    _, status = await env.run(pod("p", priority=10))
    assert status.success
    assert env.deleted() == [victim]


def test_split_by_pdb_violation_spends_budgets_in_order() -> None:
    pods = [
        PodInfo(pod(name, labels={"app": "web"}, namespace=ns))
        for name, ns in (("a", "default"), ("b", "default"), ("c", "other"), ("d", "default"))
    ]
    pods.append(PodInfo(pod("unlabelled")))
    violating, fine = split_by_pdb_violation(pods, budgets([pdb("web", {"app": "web"}, 1)]))
    assert [p.key for p in violating] == ["default/b", "default/d"]
    assert [p.key for p in fine] == ["default/a", "other/c", "default/unlabelled"]


async def test_node_without_pdb_violations_preferred() -> None:
    env = Env(
        [
            node_info(make_node("n1", cpu="1"), pod("guarded", priority=1, labels={"app": "db"})),
            node_info(make_node("n2", cpu="1"), pod("free", priority=5)),
        ],
        pdbs=[pdb("x", {"app": "db"}, 0)],
    )
    result, _ = await env.run(pod("p", priority=10))
    assert result == PostFilterResult("n2")


# -- choosing the node ---------------------------------------------------------------------
def cand(name: str, *priorities: int, violations: int = 0, started: str | None = None) -> Candidate:
    victims = [
        PodInfo(pod(f"{name}-{i}", priority=p, started=started)) for i, p in enumerate(priorities)
    ]
    victims.sort(key=lambda v: -v.priority)
    return Candidate(name, victims, violations)


@pytest.mark.parametrize(
    ("candidates", "best"),
    [
        pytest.param([cand("a", 1, violations=1), cand("b", 50)], "b", id="fewest-pdb-violations"),
        pytest.param([cand("a", 5, 1), cand("b", 4, 4, 4)], "b", id="lowest-top-priority"),
        pytest.param([cand("a", 5, 3), cand("b", 5, 1, 1)], "a", id="smallest-priority-sum"),
        pytest.param([cand("a", -10, -10), cand("b", -10)], "b", id="sum-shifted-for-negatives"),
        pytest.param(
            [cand("a", 0, -(2**31)), cand("b", 0)], "b", id="fewest-victims-on-equal-sums"
        ),
        pytest.param(
            [
                cand("a", 5, started="2024-06-01T00:00:00Z"),
                cand("b", 5, started="2024-01-01T00:00:00Z"),
            ],
            "a",
            id="latest-start-time",
        ),
        pytest.param(
            [cand("a", 5, started="2024-06-01T00:00:00Z"), cand("b", 5)],
            "b",
            id="not-started-counts-as-now",
        ),
        pytest.param([cand("a", 5), cand("b", 5)], "a", id="first-on-full-tie"),
    ],
)
def test_pick_one_node(candidates: list[Candidate], best: str) -> None:
    assert pick_one_node(candidates).node_name == best


async def test_lowest_priority_victims_node_chosen() -> None:
    env = Env(
        [
            node_info(make_node("n1", cpu="1"), pod("mid", priority=5)),
            node_info(make_node("n2", cpu="1"), pod("low", priority=1)),
        ]
    )
    result, _ = await env.run(pod("p", priority=10))
    assert result == PostFilterResult("n2")
    assert env.deleted() == ["low"]


@pytest.mark.parametrize(("offset", "node"), [(0, "n1"), (1, "n2"), (2, "n3")])
async def test_search_starts_at_random_offset_and_stops_early(offset: int, node: str) -> None:
    env = Env(
        [node_info(make_node(f"n{i}", cpu="1"), pod(f"low{i}", priority=1)) for i in (1, 2, 3)],
        args={"minCandidateNodesPercentage": 0, "minCandidateNodesAbsolute": 1},
        offset=offset,
    )
    result, _ = await env.run(pod("p", priority=10))
    assert result == PostFilterResult(node)


async def test_search_goes_on_past_pdb_violating_candidates() -> None:
    env = Env(
        [
            node_info(make_node("n1", cpu="1"), pod("guarded", priority=1, labels={"app": "db"})),
            node_info(make_node("n2", cpu="1"), pod("free", priority=1)),
        ],
        pdbs=[pdb("x", {"app": "db"}, 0)],
        args={"minCandidateNodesAbsolute": 1},
    )
    result, _ = await env.run(pod("p", priority=10))
    assert result == PostFilterResult("n2")


@pytest.mark.parametrize(
    ("nodes", "percentage", "absolute", "expected"),
    [
        (5000, 10, 100, 500),
        (500, 10, 100, 100),
        (50, 10, 100, 50),
        (1000, 0, 1, 1),
        (1000, 100, 0, 1000),
    ],
)
def test_num_candidates(nodes: int, percentage: int, absolute: int, expected: int) -> None:
    plugin = DefaultPreemption(
        {"minCandidateNodesPercentage": percentage, "minCandidateNodesAbsolute": absolute},
        FakeHandle(),
    )
    assert plugin.num_candidates(nodes) == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"minCandidateNodesPercentage": 101}, "not in valid range [0, 100]"),
        ({"minCandidateNodesAbsolute": -1}, "not in valid range [0, inf)"),
        (
            {"minCandidateNodesPercentage": 0, "minCandidateNodesAbsolute": 0},
            "cannot be zero at the same time as minCandidateNodesAbsolute",
        ),
    ],
)
def test_invalid_args(args: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        defaultpreemption.new(args, FakeHandle())


# -- the API calls -------------------------------------------------------------------------
async def test_victims_marked_deleted_and_told() -> None:
    preemptor = pod("p", priority=10)
    preemptor["metadata"]["uid"] = "uid-p"
    preemptor["spec"]["schedulerName"] = "my-scheduler"
    env = Env([node_info(make_node("n1", cpu="1"), pod("low", priority=1))])
    result, status = await env.run(preemptor)
    assert status == Status()
    assert result == PostFilterResult("n1")
    (patch_call, delete_call) = env.client.calls
    method, path, body = patch_call
    assert (method, path) == ("PATCH", "/api/v1/namespaces/default/pods/low/status")
    (condition,) = body["status"]["conditions"]
    assert condition.pop("lastTransitionTime")
    assert condition == {
        "type": "DisruptionTarget",
        "status": "True",
        "reason": "PreemptionByScheduler",
        "message": "my-scheduler: preempting to accommodate a higher priority pod",
    }
    assert delete_call == (
        "DELETE",
        "/api/v1/namespaces/default/pods/low",
        {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": "uid-default-low"}},
    )
    assert env.handle.recorder.events == [
        {
            "regarding": "low",
            "type": "Normal",
            "reason": "Preempted",
            "action": "Preempting",
            "note": "Preempted by pod uid-p on node n1",
        }
    ]


async def test_victim_already_terminating_gets_no_calls() -> None:
    env = Env(
        [
            node_info(
                make_node("n1", cpu="2"),
                terminating(pod("going", priority=1), marked=False),
                pod("low", priority=2),
            )
        ]
    )
    _, status = await env.run(pod("p", cpu="2", priority=10))
    assert status.success
    assert env.deleted() == ["low"]


@pytest.mark.parametrize(
    ("errors", "success", "calls", "events"),
    [
        pytest.param({("PATCH", "status"): 404}, True, 1, 0, id="patch-404-gone"),
        pytest.param({("DELETE", ""): 404}, True, 2, 0, id="delete-404-gone"),
        pytest.param({("DELETE", ""): 500}, False, 2, 0, id="delete-500-fails"),
    ],
)
async def test_api_errors(
    errors: dict[tuple[str, str], int], success: bool, calls: int, events: int
) -> None:
    base = "/api/v1/namespaces/default/pods/low"
    client = FakeClient(
        {(method, f"{base}/{sub}" if sub else base): code for (method, sub), code in errors.items()}
    )
    env = Env([node_info(make_node("n1", cpu="1"), pod("low", priority=1))], client=client)
    result, status = await env.run(pod("p", priority=10))
    assert len(client.calls) == calls
    assert len(env.handle.recorder.events) == events
    if success:
        assert result == PostFilterResult("n1")
    else:
        assert result is None
        assert status.code == Code.ERROR
        assert status.reasons == ["preemption: 500 failure"]


async def test_waiting_victim_is_rejected_not_deleted() -> None:
    victim = pod("low", priority=1)
    env = Env([node_info(make_node("n1", cpu="1"), victim)])
    waiting = WaitingPod(PodInfo(victim), {"Gate": 30.0})
    env.framework.waiting_pods["default/low"] = waiting
    result, _ = await env.run(pod("p", priority=10))
    assert result == PostFilterResult("n1")
    assert env.client.calls == []
    assert waiting.result == Status(Code.UNSCHEDULABLE, ["preempted"], "DefaultPreemption")
    assert [e["reason"] for e in env.handle.recorder.events] == ["Preempted"]


async def test_lower_priority_nominations_cleared() -> None:
    def nominated(name: str, priority: int) -> PodInfo:
        obj = pod(name, cpu="0", priority=priority)
        obj["status"]["nominatedNodeName"] = "n1"
        return PodInfo(obj)

    in_memory_only = PodInfo(pod("fresh", cpu="0", priority=1))
    env = Env(
        [node_info(make_node("n1", cpu="1"), pod("low", priority=1))],
        nominated={"n1": [nominated("waiter", 2), nominated("boss", 20), in_memory_only]},
    )
    _, status = await env.run(pod("p", priority=10))
    assert status.success
    patches = [(path, body) for method, path, body in env.client.calls if method == "PATCH"]
    assert patches[-1] == (
        "/api/v1/namespaces/default/pods/waiter/status",
        {"status": {"nominatedNodeName": None}},
    )
    assert [p for p, _ in patches].count("/api/v1/namespaces/default/pods/boss/status") == 0
    assert len(patches) == 2  # the victim's condition, then the one nomination
