"""daemonset: node eligibility (name, nodeSelector, affinity, taints vs the template's and the
automatic tolerations), pinning, the rolling update plan, revisions, and syncs with a fake
client: pods created on eligible nodes, removed from ineligible ones, failed ones deleted with
back-off, status counts."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from pocketkube.api.labels import selector_from_set
from pocketkube.client import resources
from pocketkube.client.clock import FakeClock
from pocketkube.client.store import NAMESPACE_INDEX, namespace_index
from pocketkube.controllers.daemonset import history
from pocketkube.controllers.daemonset.controller import DaemonSetController
from pocketkube.controllers.daemonset.eligibility import (
    add_daemon_tolerations,
    node_should_run_daemon_pod,
    pin_to_node,
    target_node_name,
)
from pocketkube.controllers.daemonset.revisions import RevisionControl
from pocketkube.controllers.daemonset.update import limits, rolling_update_plan
from tests.unit.controllers.fakes import NOW, FakeClient, informer
from tests.unit.controllers.test_nodelifecycle import FakeRecorder

NS_PATH = "/api/v1/namespaces/default/pods"


def node(
    name: str = "n1",
    labels: dict[str, str] | None = None,
    taints: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"taints": taints or []},
    }


def ds(spec: dict[str, Any] | None = None, **strategy: Any) -> dict[str, Any]:
    pod_spec = {"containers": [{"name": "c", "image": "x"}], **(spec or {})}
    update = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    update["rollingUpdate"].update(strategy)
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "d", "namespace": "default", "uid": "ds-uid", "generation": 1},
        "spec": {
            "selector": {"matchLabels": {"app": "d"}},
            "template": {"metadata": {"labels": {"app": "d"}}, "spec": pod_spec},
            "updateStrategy": update,
        },
    }


def taint(key: str, effect: str, value: str = "") -> dict[str, Any]:
    return {"key": key, "value": value, "effect": effect}


def affinity(*terms: dict[str, Any]) -> dict[str, Any]:
    return {
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}
            }
        }
    }


@pytest.mark.parametrize(
    ("n", "spec", "expected"),
    [
        (node(), {}, (True, True)),
        (node(), {"nodeName": "other"}, (False, False)),
        (node(labels={"disk": "ssd"}), {"nodeSelector": {"disk": "ssd"}}, (True, True)),
        (node(), {"nodeSelector": {"disk": "ssd"}}, (False, False)),
        (
            node(labels={"zone": "a"}),
            affinity(
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}
            ),
            (True, True),
        ),
        (
            node(labels={"zone": "c"}),
            affinity({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}),
            (False, False),
        ),
        (
            node(),
            affinity({"matchExpressions": [{"key": "zone", "operator": "Bogus"}]}),
            (False, False),
        ),  # unparsable: never matches
        (
            node(),
            affinity(
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}
            ),
            (True, True),
        ),
        # a NoSchedule taint: do not place, but a pod already there stays
        (node(taints=[taint("dedicated", "NoSchedule")]), {}, (False, True)),
        # an untolerated NoExecute taint: not even stay
        (node(taints=[taint("dedicated", "NoExecute")]), {}, (False, False)),
        (
            node(taints=[taint("dedicated", "NoSchedule", "x")]),
            {"tolerations": [{"key": "dedicated", "value": "x", "effect": "NoSchedule"}]},
            (True, True),
        ),
        # the automatic tolerations
        (
            node(
                taints=[
                    taint("node.kubernetes.io/unreachable", "NoExecute"),
                    taint("node.kubernetes.io/unreachable", "NoSchedule"),
                ]
            ),
            {},
            (False, True),
        ),
        (
            node(
                taints=[
                    taint("node.kubernetes.io/not-ready", "NoExecute"),
                    taint("node.kubernetes.io/unschedulable", "NoSchedule"),
                    taint("node.kubernetes.io/disk-pressure", "NoSchedule"),
                ]
            ),
            {},
            (True, True),
        ),
        (
            node(taints=[taint("node.kubernetes.io/network-unavailable", "NoSchedule")]),
            {},
            (False, True),
        ),
        (
            node(taints=[taint("node.kubernetes.io/network-unavailable", "NoSchedule")]),
            {"hostNetwork": True},
            (True, True),
        ),
    ],
)
def test_node_should_run_daemon_pod(
    n: dict[str, Any], spec: dict[str, Any], expected: tuple[bool, bool]
) -> None:
    assert node_should_run_daemon_pod(n, ds(spec)) == expected


def test_daemon_tolerations_replace_matching_ones() -> None:
    spec: dict[str, Any] = {
        "tolerations": [
            {
                "key": "node.kubernetes.io/not-ready",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            },
            {"key": "mine", "operator": "Exists"},
        ]
    }
    add_daemon_tolerations(spec)
    keys = [(t.get("key"), t.get("effect")) for t in spec["tolerations"]]
    assert len(keys) == 7
    assert spec["tolerations"][0] == {
        "key": "node.kubernetes.io/not-ready",
        "operator": "Exists",
        "effect": "NoExecute",
    }


def test_pin_to_node_replaces_required_terms_only() -> None:
    spec: dict[str, Any] = {
        "affinity": {
            "podAntiAffinity": {"x": 1},
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "a", "operator": "Exists"}]}
                    ]
                },
                "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1}],
            },
        }
    }
    pin_to_node(spec, "n7")
    assert spec["affinity"]["podAntiAffinity"] == {"x": 1}
    node_affinity = spec["affinity"]["nodeAffinity"]
    assert node_affinity["preferredDuringSchedulingIgnoredDuringExecution"] == [{"weight": 1}]
    assert target_node_name({"spec": spec}) == "n7"
    assert target_node_name({"spec": {**spec, "nodeName": "bound"}}) == "bound"


@pytest.mark.parametrize(
    ("strategy", "desired", "expected"),
    [
        ({}, 10, (0, 1)),
        ({"maxUnavailable": "25%"}, 10, (0, 3)),
        ({"maxUnavailable": 0, "maxSurge": "10%"}, 10, (1, 0)),
        ({"maxUnavailable": 0, "maxSurge": 0}, 10, (0, 1)),
    ],
)
def test_limits(strategy: dict[str, Any], desired: int, expected: tuple[int, int]) -> None:
    assert limits(ds(**strategy), desired) == expected


def dpod(name: str, hash_: str, *, ready: bool = True, node_name: str | None = None) -> Any:
    conditions = [
        {
            "type": "Ready",
            "status": "True" if ready else "False",
            "lastTransitionTime": "2024-05-01T11:00:00Z",
        }
    ]
    return {
        "metadata": {
            "name": name,
            "namespace": "default",
            "labels": {"app": "d", history.REVISION_HASH_LABEL: hash_},
        },
        "spec": {"nodeName": node_name or name},
        "status": {"phase": "Running", "conditions": conditions},
    }


def names(pods: list[Any]) -> list[str]:
    return [p["metadata"]["name"] for p in pods]


def test_rolling_update_without_surge_deletes_within_max_unavailable() -> None:
    nodes = {"a": [dpod("a", "old")], "b": [dpod("b", "old")], "c": [dpod("c", "old")]}
    plan = rolling_update_plan(ds(), nodes, 3, "new", None, NOW)
    assert names(plan.delete) == ["a"]
    assert plan.create == []
    # a new pod not ready yet uses the budget
    nodes["a"] = [dpod("a", "new", ready=False)]
    assert rolling_update_plan(ds(), nodes, 3, "new", None, NOW).delete == []
    # an old pod that is not available may always go
    nodes["c"] = [dpod("c", "old", ready=False)]
    assert names(rolling_update_plan(ds(), nodes, 3, "new", None, NOW).delete) == ["c"]
    # a node that should run the pod but has none counts as unavailable
    nodes = {"a": [dpod("a", "old")], "b": []}
    assert rolling_update_plan(ds(), nodes, 2, "new", None, NOW).delete == []


def test_rolling_update_with_surge_creates_then_deletes() -> None:
    d = ds(maxUnavailable=0, maxSurge=1)
    nodes = {"a": [dpod("a", "old")], "b": [dpod("b", "old")]}
    plan = rolling_update_plan(d, nodes, 2, "new", None, NOW)
    assert plan.create == ["a"]
    assert plan.delete == []
    nodes["a"] = [dpod("a", "old"), dpod("a2", "new", node_name="a")]
    plan = rolling_update_plan(d, nodes, 2, "new", None, NOW)
    assert names(plan.delete) == ["a"]
    assert plan.create == ["b"]  # a's new pod is available: b may surge now
    nodes["a"] = [dpod("a", "old"), dpod("a2", "new", node_name="a", ready=False)]
    plan = rolling_update_plan(d, nodes, 2, "new", None, NOW)  # a surge in progress
    assert plan.create == []
    assert plan.delete == []


def test_revision_hash_and_cleanup() -> None:
    one = history.new_revision(ds(), 1, {"uid": "ds-uid"})
    changed = ds({"hostNetwork": True})
    two = history.new_revision(changed, 2, {"uid": "ds-uid"})
    assert one["metadata"]["name"].startswith("d-")
    assert history.revision_hash(one) != history.revision_hash(two)
    assert history.matches(ds(), one)
    assert not history.matches(changed, one)
    revs = [history.new_revision(ds({"x": i}), i, {}) for i in range(1, 5)]
    live = {history.revision_hash(revs[0])}
    doomed = history.revisions_to_delete(revs, 2, live)
    assert [history.revision_number(r) for r in doomed] == [2, 3]


# -- the controller with a fake client ---------------------------------------------------------
def controller(
    *objs: dict[str, Any], d: dict[str, Any] | None = None
) -> tuple[DaemonSetController, FakeClient, FakeRecorder, FakeClock]:
    client, recorder, clock = FakeClient(), FakeRecorder(), FakeClock()
    nodes = [o for o in objs if o["kind"] == "Node"]
    pods = [o for o in objs if o["kind"] == "Pod"]
    d = d or ds()
    rev = history.new_revision(d, 1, {"controller": True, "uid": "ds-uid", "kind": "DaemonSet"})
    client.answers[("POST", "/apis/apps/v1/namespaces/default/controllerrevisions")] = rev
    c = DaemonSetController(
        client=client,
        ds_informer=informer(client, resources.DAEMON_SETS, d),
        pod_informer=informer(client, resources.PODS, *pods),
        node_informer=informer(client, resources.NODES, *nodes),
        revision_informer=informer(client, resources.CONTROLLER_REVISIONS),
        recorder=recorder,
        clock=clock,
        now=lambda: NOW + dt.timedelta(seconds=clock.now()),
    )
    return c, client, recorder, clock


def owned(name: str, node_name: str, phase: str = "Running") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": f"uid-{name}",
            "labels": {"app": "d"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "DaemonSet",
                    "name": "d",
                    "uid": "ds-uid",
                    "controller": True,
                }
            ],
        },
        "spec": {"nodeName": node_name},
        "status": {"phase": phase},
    }


async def test_sync_creates_pods_on_eligible_nodes_pinned() -> None:
    c, client, recorder, _ = controller(
        node("n1"), node("n2"), node("t", taints=[taint("x", "NoSchedule")])
    )
    await c.sync("default/d")
    created = [call.body for call in client.writes() if call.path == NS_PATH]
    assert sorted(target_node_name(p) or "" for p in created) == ["n1", "n2"]
    labels = created[0]["metadata"]["labels"]
    assert labels["pod-template-generation"] == "1"
    assert history.REVISION_HASH_LABEL in labels
    assert created[0]["metadata"]["generateName"] == "d-"
    assert [e[1] for e in recorder.events].count("SuccessfulCreate") == 2
    status = next(call.body["status"] for call in client.writes() if call.path.endswith("/status"))
    assert status["desiredNumberScheduled"] == 2
    assert status["currentNumberScheduled"] == 0
    assert c.expectations.pending("default/d") == (2, 0)


async def test_sync_deletes_misscheduled_and_failed_pods_with_backoff() -> None:
    c, client, recorder, clock = controller(
        node("n1"),
        node("gone", taints=[taint("x", "NoExecute")]),
        owned("p-gone", "gone"),
        owned("p-failed", "n1", phase="Failed"),
    )
    await c.sync("default/d")
    deleted = sorted(
        call.path.rsplit("/", 1)[1] for call in client.writes() if call.verb == "DELETE"
    )
    assert deleted == ["p-failed", "p-gone"]
    assert (
        "Warning",
        "FailedDaemonPod",
        "d",
        "Found failed daemon pod default/p-failed on node n1, will try to kill it",
    ) in recorder.events
    # the pod failed again at once: within the 1 s back-off nothing is deleted
    client.calls.clear()
    c.expectations.delete("default/d")
    await c.sync("default/d")
    assert not any(
        call.path.endswith("/p-failed") for call in client.writes() if call.verb == "DELETE"
    )
    clock.advance(1.5)
    c.expectations.delete("default/d")
    await c.sync("default/d")
    assert any(call.path.endswith("/p-failed") for call in client.writes() if call.verb == "DELETE")


async def test_selecting_all_is_refused() -> None:
    d = ds()
    d["spec"]["selector"] = {}
    c, client, recorder, _ = controller(node("n1"), d=d)
    await c.sync("default/d")
    assert client.writes() == []
    assert recorder.events[0][1] == "SelectingAll"


async def test_revisions_are_adopted_and_released() -> None:

    client = FakeClient()
    mine = {"controller": True, "uid": "ds-uid", "kind": "DaemonSet", "name": "d"}
    orphan = {
        "metadata": {
            "name": "d-orphan",
            "namespace": "default",
            "uid": "r1",
            "labels": {"app": "d"},
        },
        "revision": 1,
    }
    stray = {
        "metadata": {
            "name": "d-stray",
            "namespace": "default",
            "uid": "r2",
            "labels": {"app": "other"},
            "ownerReferences": [mine],
        },
        "revision": 2,
    }
    owned = {
        "metadata": {
            "name": "d-owned",
            "namespace": "default",
            "uid": "r3",
            "labels": {"app": "d"},
            "ownerReferences": [mine],
        },
        "revision": 3,
    }
    foreign = {
        "metadata": {
            "name": "x",
            "namespace": "default",
            "uid": "r4",
            "labels": {"app": "d"},
            "ownerReferences": [{**mine, "uid": "other"}],
        },
        "revision": 4,
    }
    inf = informer(client, resources.CONTROLLER_REVISIONS, orphan, stray, owned, foreign)

    inf.add_indexer(NAMESPACE_INDEX, namespace_index)
    control = RevisionControl(client=client, store=inf.store)
    claimed = await control.claim(ds(), selector_from_set({"app": "d"}))
    assert sorted(r["metadata"]["name"] for r in claimed) == ["d-orphan", "d-owned"]
    patches = {c.path.rsplit("/", 1)[1]: c.body for c in client.writes()}
    assert set(patches) == {"d-orphan", "d-stray"}
    assert patches["d-orphan"]["metadata"]["ownerReferences"][0]["uid"] == "ds-uid"
    assert patches["d-stray"]["metadata"]["ownerReferences"] == [
        {"$patch": "delete", "uid": "ds-uid"}
    ]
