"""The disruption controller on fake informers and client: a budget's expected, desired and
current healthy pods, disruptions allowed and its condition; controllers' scales; evicted pods
pending deletion; failing safe; stale DisruptionTarget conditions."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from pocketkube.client import resources
from pocketkube.client.clock import FakeClock
from pocketkube.client.rest import ApiError, Obj
from pocketkube.controllers.disruption import DisruptionController
from pocketkube.controllers.disruptionbudget import scaled_value
from pocketkube.controllers.disruptionscales import ScaleFinder
from tests.unit.controllers.fakes import NOW, FakeClient, informer

STATUS = "/apis/policy/v1/namespaces/default/poddisruptionbudgets/pdb/status"


class Events:
    def __init__(self) -> None:
        self.posted: list[tuple[str, str, str]] = []

    def post(
        self, regarding: Obj, *, type: Any, reason: str, action: str, note: str, **_: Any
    ) -> None:
        self.posted.append((type, reason, note))

    def reasons(self) -> list[str]:
        return [reason for _, reason, _ in self.posted]


def owner(kind: str, name: str, api_version: str = "apps/v1") -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name,
        "uid": f"uid-{name}",
        "controller": True,
    }


def pod(
    name: str,
    *,
    ready: bool = True,
    labels: dict[str, str] | None = None,
    controller: dict[str, Any] | None = None,
    deleting: bool = False,
    conditions: list[dict[str, Any]] | None = None,
) -> Obj:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": "default",
        "labels": labels or {"app": "web"},
    }
    if controller is not None:
        meta["ownerReferences"] = [controller]
    if deleting:
        meta["deletionTimestamp"] = "2024-05-01T11:59:00Z"
    all_conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    all_conditions += conditions or []
    return {"metadata": meta, "status": {"phase": "Running", "conditions": all_conditions}}


def workload(kind: str, name: str, replicas: int, controller: dict[str, Any] | None = None) -> Obj:
    meta: dict[str, Any] = {"name": name, "namespace": "default", "uid": f"uid-{name}"}
    if controller is not None:
        meta["ownerReferences"] = [controller]
    return {"kind": kind, "metadata": meta, "spec": {"replicas": replicas}}


def pdb(status: dict[str, Any] | None = None, selector: Any = None, **spec: Any) -> Obj:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {
            "name": "pdb",
            "namespace": "default",
            "generation": 2,
            "resourceVersion": "7",
        },
        "spec": {"selector": selector or {"matchLabels": {"app": "web"}}, **spec},
        "status": status or {},
    }


def controller(
    client: FakeClient,
    budget: Obj,
    pods: list[Obj],
    workloads: list[Obj] = (),  # type: ignore[assignment]
) -> tuple[DisruptionController, Events, FakeClock]:
    events, clock = Events(), FakeClock()

    def kinds(kind: str) -> list[Obj]:
        return [w for w in workloads if w["kind"] == kind]

    scales = ScaleFinder(
        client=client,
        replica_sets=informer(client, resources.REPLICA_SETS, *kinds("ReplicaSet")),
        deployments=informer(client, resources.DEPLOYMENTS, *kinds("Deployment")),
        replication_controllers=informer(
            client, resources.REPLICATION_CONTROLLERS, *kinds("ReplicationController")
        ),
        stateful_sets=informer(client, resources.STATEFUL_SETS, *kinds("StatefulSet")),
    )
    dc = DisruptionController(
        client=client,
        pdb_informer=informer(client, resources.POD_DISRUPTION_BUDGETS, budget),
        pod_informer=informer(client, resources.PODS, *pods),
        scales=scales,
        recorder=events,
        clock=clock,
        now=lambda: NOW + dt.timedelta(seconds=clock.now()),
    )
    return dc, events, clock


async def synced_status(budget: Obj, pods: list[Obj], workloads: list[Obj] = ()) -> Obj:  # type: ignore[assignment]
    client = FakeClient()
    dc, _, _ = controller(client, budget, pods, workloads)
    await dc.sync("default/pdb")
    [write] = client.writes()
    assert (write.verb, write.path) == ("PUT", STATUS)
    status: Obj = write.body["status"]
    return status


RS = owner("ReplicaSet", "rs")
THREE_READY = [pod(f"p{i}", controller=RS) for i in range(3)]


@pytest.mark.parametrize(
    ("spec", "pods", "workloads", "expected", "desired", "healthy", "allowed"),
    [
        ({"minAvailable": 2}, THREE_READY, [], 3, 2, 3, 1),
        ({"minAvailable": 3}, THREE_READY, [], 3, 3, 3, 0),
        ({"minAvailable": 5}, THREE_READY, [], 3, 5, 3, 0),
        ({"minAvailable": "50%"}, THREE_READY, [workload("ReplicaSet", "rs", 4)], 4, 2, 3, 1),
        ({"minAvailable": "50%"}, THREE_READY, [workload("ReplicaSet", "rs", 3)], 3, 2, 3, 1),
        ({"maxUnavailable": 1}, THREE_READY, [workload("ReplicaSet", "rs", 3)], 3, 2, 3, 1),
        ({"maxUnavailable": "30%"}, THREE_READY, [workload("ReplicaSet", "rs", 5)], 5, 3, 3, 0),
        ({"maxUnavailable": 10}, THREE_READY, [workload("ReplicaSet", "rs", 3)], 3, 0, 3, 3),
        ({"minAvailable": 1}, [], [], 0, 1, 0, 0),
        ({"maxUnavailable": 1}, [], [], 0, 0, 0, 0),  # nothing expected: nothing allowed
        (
            {"minAvailable": 1},
            [
                pod("a"),
                pod("b", ready=False),
                pod("c", deleting=True),
                pod("x", labels={"app": "db"}),
            ],
            [],
            3,
            1,
            1,
            0,
        ),
    ],
)
async def test_status(
    spec: dict[str, Any],
    pods: list[Obj],
    workloads: list[Obj],
    expected: int,
    desired: int,
    healthy: int,
    allowed: int,
) -> None:
    status = await synced_status(pdb(**spec), pods, workloads)
    assert (
        status["expectedPods"],
        status["desiredHealthy"],
        status["currentHealthy"],
        status["disruptionsAllowed"],
        status["observedGeneration"],
    ) == (expected, desired, healthy, allowed, 2)
    [condition] = status["conditions"]
    assert condition["type"] == "DisruptionAllowed"
    assert (condition["status"], condition["reason"]) == (
        ("True", "SufficientPods") if allowed else ("False", "InsufficientPods")
    )
    assert condition["observedGeneration"] == 2
    assert condition["lastTransitionTime"] == "2024-05-01T12:00:00Z"
    assert "disruptedPods" not in status


@pytest.mark.parametrize(
    ("pods", "workloads", "expected"),
    [
        # a Deployment's pods count its replicas, once
        (
            [pod(f"d{i}", controller=owner("ReplicaSet", "web-1")) for i in range(2)]
            + [pod("d9", controller=owner("ReplicaSet", "web-2"))],
            [
                workload("Deployment", "web", 6),
                workload("ReplicaSet", "web-1", 2, owner("Deployment", "web")),
                workload("ReplicaSet", "web-2", 1, owner("Deployment", "web")),
            ],
            6,
        ),
        # a ReplicaSet whose Deployment is not known counts itself
        (
            [pod("r", controller=owner("ReplicaSet", "orphan-rs"))],
            [workload("ReplicaSet", "orphan-rs", 2, owner("Deployment", "gone"))],
            2,
        ),
        (
            [pod("s", controller=owner("StatefulSet", "db"))],
            [workload("StatefulSet", "db", 7)],
            7,
        ),
        (
            [pod("c", controller=owner("ReplicationController", "rc", "v1"))],
            [workload("ReplicationController", "rc", 4)],
            4,
        ),
        # unmanaged pods are left out (with a warning)
        (
            [pod("lone"), pod("s", controller=owner("StatefulSet", "db"))],
            [workload("StatefulSet", "db", 2)],
            2,
        ),
    ],
)
async def test_expected_pods_from_controllers(
    pods: list[Obj], workloads: list[Obj], expected: int
) -> None:
    status = await synced_status(pdb(maxUnavailable=0), pods, workloads)
    assert status["expectedPods"] == expected


async def test_unmanaged_pods_are_reported() -> None:
    client = FakeClient()
    dc, events, _ = controller(client, pdb(minAvailable="100%"), [pod("lone")])
    await dc.sync("default/pdb")
    assert events.reasons() == ["UnmanagedPods"]
    assert '".spec.minAvailable" field of the PDB to an integer value' in events.posted[0][2]


async def test_other_controllers_are_asked_for_their_scale() -> None:
    client = FakeClient()
    client.answers[("GET", "/apis/example.com/v1")] = {
        "resources": [
            {"name": "widgets", "kind": "Widget", "namespaced": True},
            {"name": "widgets/scale", "kind": "Scale", "group": "autoscaling", "version": "v1"},
        ]
    }
    scale_path = "/apis/example.com/v1/namespaces/default/widgets/w/scale"
    client.answers[("GET", scale_path)] = {"metadata": {"uid": "uid-w"}, "spec": {"replicas": 9}}
    widget = owner("Widget", "w", "example.com/v1")
    dc, _, _ = controller(client, pdb(maxUnavailable="10%"), [pod("a", controller=widget)])
    await dc.sync("default/pdb")
    [write] = client.writes()
    assert write.body["status"]["expectedPods"] == 9
    assert write.body["status"]["desiredHealthy"] == 8


@pytest.mark.parametrize(
    ("pods", "answers", "message"),
    [
        (
            [pod("a", controller=owner("ReplicaSet", "missing"))],
            {},
            "found no controllers for pod 'a'",
        ),
        (
            [pod("a", controller=owner("Gadget", "g", "example.com/v1"))],
            {
                "/apis/example.com/v1": {"resources": [{"name": "gadgets", "kind": "Gadget"}]},
                "/apis/example.com/v1/namespaces/default/gadgets/g/scale": ApiError(
                    404, "NotFound", ""
                ),
            },
            "gadgets.example.com does not implement the scale subresource",
        ),
        (
            [pod("a", controller=owner("Gizmo", "g", "example.com/v1"))],
            {"/apis/example.com/v1": {"resources": []}},
            'no matches for kind "Gizmo" in version "example.com/v1"',
        ),
    ],
)
async def test_a_pod_whose_controller_cannot_be_found_fails_safe(
    pods: list[Obj], answers: dict[str, Any], message: str
) -> None:
    client = FakeClient()
    for path, answer in answers.items():
        client.answers[("GET", path)] = answer
    sufficient = {
        "disruptionsAllowed": 2,
        "observedGeneration": 2,
        "conditions": [
            {
                "type": "DisruptionAllowed",
                "status": "True",
                "reason": "SufficientPods",
                "message": "",
                "observedGeneration": 2,
                "lastTransitionTime": "2024-05-01T10:00:00Z",
            }
        ],
    }
    dc, events, _ = controller(client, pdb(status=sufficient, minAvailable="50%"), pods)
    await dc.sync("default/pdb")
    [write] = client.writes()
    status = write.body["status"]
    assert status["disruptionsAllowed"] == 0
    [condition] = status["conditions"]
    assert (condition["status"], condition["reason"]) == ("False", "SyncFailed")
    assert message in condition["message"]
    assert condition["lastTransitionTime"] == "2024-05-01T12:00:00Z"
    assert events.reasons() == ["CalculateExpectedPodCountFailed"]


async def test_a_bad_selector_fails_safe() -> None:
    bad = {"matchExpressions": [{"key": "app", "operator": "Near", "values": ["x"]}]}
    client = FakeClient()
    dc, events, _ = controller(client, pdb(selector=bad, minAvailable=1), [pod("a")])
    await dc.sync("default/pdb")
    [write] = client.writes()
    assert write.body["status"]["conditions"][0]["reason"] == "SyncFailed"
    assert events.reasons() == ["NoPods"]


async def test_a_conflict_is_retried_without_failing_safe() -> None:
    client = FakeClient()
    client.answers[("PUT", STATUS)] = ApiError(409, "Conflict", "modified")
    dc, _, _ = controller(client, pdb(minAvailable=1), THREE_READY)
    with pytest.raises(ApiError):
        await dc.sync("default/pdb")
    assert len(client.writes()) == 1


async def test_no_matching_pods_is_an_event() -> None:
    client = FakeClient()
    dc, events, _ = controller(client, pdb(minAvailable=1), [pod("x", labels={"app": "db"})])
    await dc.sync("default/pdb")
    assert events.posted == [("Normal", "NoPods", "No matching pods found")]


async def test_an_up_to_date_status_is_not_written_again() -> None:
    client = FakeClient()
    status = await synced_status(pdb(minAvailable=2), THREE_READY)
    dc, _, _ = controller(client, pdb(status=status, minAvailable=2), THREE_READY)
    await dc.sync("default/pdb")
    assert client.writes() == []


def stamp(seconds_ago: float) -> str:
    return (NOW - dt.timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_evicted_pods_count_as_gone_until_deleted_or_two_minutes_pass() -> None:
    pods = [*THREE_READY, pod("going", deleting=True)]
    disrupted = {"p0": stamp(30), "p1": stamp(150), "going": stamp(10), "vanished": stamp(5)}
    client = FakeClient()
    dc, events, clock = controller(
        client, pdb(status={"disruptedPods": disrupted}, minAvailable=1), pods
    )
    [key] = _ready(dc)  # the informer's add
    await dc.sync(key)
    [write] = client.writes()
    status = write.body["status"]
    # p0 evicted 30 s ago: still pending; p1 never deleted (NotDeleted); the others left
    assert status["disruptedPods"] == {"p0": stamp(30)}
    assert status["currentHealthy"] == 2
    assert status["disruptionsAllowed"] == 1
    [(kind, reason, note)] = events.posted
    assert (kind, reason) == ("Warning", "NotDeleted")
    assert note == "Pod was expected by PDB default/pdb to be deleted but it wasn't"
    # looked at again when p0's entry expires
    assert dc.queue.waiting == 1
    clock.advance(89)
    assert "default/pdb" not in _ready(dc)
    clock.advance(1)
    assert "default/pdb" in _ready(dc)


def _ready(dc: DisruptionController) -> list[str]:
    """Take the keys ready now (and mark them done, as a worker would)."""
    keys = []
    while len(dc.queue):
        keys.append(dc.queue.get_nowait())
    for key in keys:
        dc.queue.done(key)
    return keys


async def test_a_condition_keeps_its_transition_time_while_its_status_holds() -> None:
    client = FakeClient()
    old = {
        "currentHealthy": 3,
        "desiredHealthy": 2,
        "expectedPods": 3,
        "disruptionsAllowed": 1,
        "observedGeneration": 1,  # the spec changed since
        "conditions": [
            {
                "type": "DisruptionAllowed",
                "status": "True",
                "reason": "SufficientPods",
                "message": "",
                "observedGeneration": 1,
                "lastTransitionTime": "2024-05-01T10:00:00Z",
            }
        ],
    }
    dc, _, _ = controller(client, pdb(status=old, minAvailable=1), THREE_READY)
    await dc.sync("default/pdb")
    [write] = client.writes()
    [condition] = write.body["status"]["conditions"]
    assert condition["lastTransitionTime"] == "2024-05-01T10:00:00Z"
    assert condition["observedGeneration"] == 2
    assert write.body["status"]["disruptionsAllowed"] == 2
    # the informer's copy is never touched
    assert old["conditions"][0]["observedGeneration"] == 1


def test_pod_events_enqueue_their_budgets() -> None:
    client = FakeClient()
    dc, _, _ = controller(client, pdb(minAvailable=1), [])
    _ready(dc)
    dc._pod_changed(pod("other", labels={"app": "db"}))
    assert _ready(dc) == []
    dc._pod_deleted(pod("mine"))
    assert _ready(dc) == ["default/pdb"]


@pytest.mark.parametrize(
    ("condition", "deleting", "reset_after"),
    [
        (
            {"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI"},
            False,
            60.0,
        ),
        (
            {"type": "DisruptionTarget", "status": "True", "reason": "TerminationByKubelet"},
            False,
            None,
        ),
        ({"type": "DisruptionTarget", "status": "False"}, False, None),
        (
            {"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI"},
            True,
            None,
        ),
    ],
)
async def test_stale_disruption_target_conditions_are_reset(
    condition: dict[str, Any], deleting: bool, reset_after: float | None
) -> None:
    condition = {**condition, "lastTransitionTime": stamp(60)}
    target = pod("t", conditions=[condition], deleting=deleting, labels={"app": "none"})
    client = FakeClient()
    dc, _, clock = controller(client, pdb(minAvailable=1), [target])
    _ready(dc)
    if reset_after is None:
        assert dc.queue.waiting == 0
        return
    clock.advance(reset_after)
    [key] = _ready(dc)
    assert key == "pod:default/t"
    await dc.sync(key)
    [write] = client.writes()
    assert write.path == "/api/v1/namespaces/default/pods/t/status"
    [reset] = [c for c in write.body["status"]["conditions"] if c["type"] == "DisruptionTarget"]
    assert reset["status"] == "False"


@pytest.mark.parametrize(
    ("value", "total", "scaled"),
    [(3, 10, 3), ("50%", 3, 2), ("0%", 5, 0), ("100%", 7, 7), ("33%", 10, 4)],
)
def test_scaled_value(value: int | str, total: int, scaled: int) -> None:
    assert scaled_value(value, total) == scaled


@pytest.mark.parametrize("value", ["50", "x%", "%"])
def test_scaled_value_refuses(value: str) -> None:
    with pytest.raises(Exception, match="invalid value for IntOrString"):
        scaled_value(value, 3)
