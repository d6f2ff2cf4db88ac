"""The namespace controller with a fake client: discovery filtering, the NamespaceDeletion*
conditions, and deletion passes (content gone → finalize; pods in their grace period or objects
held by finalizers → requeue with upstream's estimate; leftovers → ContentDeletionFailed)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from pocketkube.client import resources
from pocketkube.client.clock import FakeClock
from pocketkube.client.rest import ApiError
from pocketkube.controllers.namespace import NamespaceController
from pocketkube.controllers.namespace.conditions import ConditionUpdater
from pocketkube.controllers.namespace.deleter import DeletionFailed, ResourcesRemaining
from pocketkube.controllers.namespace.discovery import Discovered, deletable, preferred_versions
from tests.unit.controllers.fakes import NOW, FakeClient, informer

NS = "/api/v1/namespaces/team"
CORE = {
    "groupVersion": "v1",
    "resources": [
        {
            "name": "pods",
            "namespaced": True,
            "kind": "Pod",
            "verbs": ["delete", "deletecollection", "list"],
        },
        {"name": "pods/status", "namespaced": True, "kind": "Pod", "verbs": ["get", "patch"]},
        {"name": "bindings", "namespaced": True, "kind": "Binding", "verbs": ["create"]},
        {"name": "nodes", "namespaced": False, "kind": "Node", "verbs": ["delete", "list"]},
        {
            "name": "configmaps",
            "namespaced": True,
            "kind": "ConfigMap",
            "verbs": ["delete", "list"],
        },
    ],
}
GROUPS = {
    "groups": [
        {
            "name": "example.com",
            "versions": [{"groupVersion": "example.com/v1"}, {"groupVersion": "example.com/v2"}],
            "preferredVersion": {"groupVersion": "example.com/v2"},
        }
    ]
}
WIDGETS = {
    "groupVersion": "example.com/v2",
    "resources": [
        {"name": "widgets", "namespaced": True, "kind": "Widget", "verbs": ["delete", "list"]}
    ],
}


def namespace(
    *, deleting: bool = True, phase: str = "Terminating", **status: Any
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "team", "uid": "u1", "resourceVersion": "3"}
    if deleting:
        meta["deletionTimestamp"] = "2024-05-01T12:00:00Z"
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": meta,
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": phase, **status},
    }


def fake(ns: dict[str, Any], **lists: list[dict[str, Any]]) -> FakeClient:
    client = FakeClient()
    client.answers[("GET", "/api")] = {"versions": ["v1"]}
    client.answers[("GET", "/apis")] = GROUPS
    client.answers[("GET", "/api/v1")] = CORE
    client.answers[("GET", "/apis/example.com/v2")] = WIDGETS
    client.answers[("GET", NS)] = ns
    for plural, items in lists.items():
        path = (
            f"{NS}/{plural}"
            if plural != "widgets"
            else "/apis/example.com/v2/namespaces/team/widgets"
        )
        client.answers[("GET", path)] = {"items": items}
    return client


def controller(
    client: FakeClient, ns: dict[str, Any], *, seconds: float = 1
) -> NamespaceController:
    return NamespaceController(
        client=client,
        namespace_informer=informer(client, resources.NAMESPACES, ns),
        clock=FakeClock(),
        now=lambda: NOW + dt.timedelta(seconds=seconds),
    )


def pod(name: str, grace: int = 30, phase: str = "Running") -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"terminationGracePeriodSeconds": grace},
        "status": {"phase": phase},
    }


# -- discovery ---------------------------------------------------------------------------------
def test_discovery_keeps_namespaced_deletable_top_level_resources() -> None:
    found = Discovered()
    deletable("v1", CORE, found)
    deletable("example.com/v2", WIDGETS, found)
    deletable("a/b/c", WIDGETS, found)
    assert [r.gvr for r in found.resources] == ["pods.", "configmaps.", "widgets.example.com"]
    assert found.unparsable == ["a/b/c"]
    assert preferred_versions(GROUPS) == ["example.com/v2"]


# -- conditions --------------------------------------------------------------------------------
def test_conditions_ok_then_failing_then_ok() -> None:
    status: dict[str, Any] = {}
    assert ConditionUpdater(now="t1").update(status)
    assert [(c["type"], c["status"], c["reason"]) for c in status["conditions"]] == [
        ("NamespaceDeletionDiscoveryFailure", "False", "ResourcesDiscovered"),
        ("NamespaceDeletionGroupVersionParsingFailure", "False", "ParsedGroupVersions"),
        ("NamespaceDeletionContentFailure", "False", "ContentDeleted"),
        ("NamespaceContentRemaining", "False", "ContentRemoved"),
        ("NamespaceFinalizersRemaining", "False", "ContentHasNoFinalizers"),
    ]
    assert not ConditionUpdater(now="t2").update(status)
    failing = ConditionUpdater(now="t3")
    failing.content_totals({"pods.": 2, "widgets.example.com": 1}, {"example.com/hold": 1})
    failing.delete_content_failed("b")
    failing.delete_content_failed("a")
    assert failing.update(status)
    by_type = {c["type"]: c for c in status["conditions"]}
    remaining = by_type["NamespaceContentRemaining"]
    assert remaining["message"] == (
        "Some resources are remaining: pods. has 2 resource instances, "
        "widgets.example.com has 1 resource instances"
    )
    assert (remaining["status"], remaining["reason"], remaining["lastTransitionTime"]) == (
        "True",
        "SomeResourcesRemain",
        "t3",
    )
    held = by_type["NamespaceFinalizersRemaining"]
    assert held["reason"] == "SomeFinalizersRemain"
    assert held["message"] == (
        "Some content in the namespace has finalizers remaining: "
        "example.com/hold in 1 resource instances"
    )
    failed = by_type["NamespaceDeletionContentFailure"]
    assert failed["message"] == "Failed to delete all resource types, 2 remaining: a, b"
    assert by_type["NamespaceDeletionDiscoveryFailure"]["lastTransitionTime"] == "t1"


# -- passes ------------------------------------------------------------------------------------
async def test_a_namespace_not_being_deleted_is_left_alone() -> None:
    ns = namespace(deleting=False, phase="Active")
    client = fake(ns)
    await controller(client, ns).sync("team")
    assert client.writes() == []


async def test_empty_namespace_is_finalized() -> None:
    ns = namespace()
    client = fake(ns, pods=[], configmaps=[], widgets=[])
    await controller(client, ns).sync("team")
    writes = [(c.verb, c.path) for c in client.writes()]
    assert ("DELETE", f"{NS}/pods") in writes  # deletecollection
    deletes = [c.body for c in client.writes() if c.verb == "DELETE"]
    assert {d["propagationPolicy"] for d in deletes} == {"Background"}
    assert writes[-2:] == [("PUT", f"{NS}/status"), ("PUT", f"{NS}/finalize")]
    finalize = client.writes()[-1].body
    assert finalize["spec"]["finalizers"] == []
    conditions = client.writes()[-2].body["status"]["conditions"]
    assert all(c["status"] == "False" for c in conditions)


async def test_sets_terminating_phase_first() -> None:
    ns = namespace(phase="Active")
    client = fake(ns, pods=[], configmaps=[], widgets=[])
    client.answers[("PUT", f"{NS}/status")] = lambda body: body
    await controller(client, ns).sync("team")
    first = client.writes()[0]
    assert (first.verb, first.path, first.body["status"]["phase"]) == (
        "PUT",
        f"{NS}/status",
        "Terminating",
    )


async def test_items_without_deletecollection_are_deleted_one_by_one() -> None:
    ns = namespace()
    client = fake(ns, pods=[], configmaps=[{"metadata": {"name": "a"}}], widgets=[])
    calls = {"n": 0}

    def listing(_: Any) -> dict[str, Any]:
        calls["n"] += 1
        return {"items": [{"metadata": {"name": "a"}}] if calls["n"] == 1 else []}

    client.answers[("GET", f"{NS}/configmaps")] = listing
    await controller(client, ns).sync("team")
    assert ("DELETE", f"{NS}/configmaps/a") in [(c.verb, c.path) for c in client.writes()]
    assert client.writes()[-1].path == f"{NS}/finalize"


@pytest.mark.parametrize(
    ("pods", "seconds", "delay"),
    [
        ([pod("a", 30), pod("b", 10)], 1, 16),  # 30 s grace: again after 30/2+1
        ([pod("a", 30)], 31, None),  # the grace period has passed: an error, retried
        ([pod("a", 30, phase="Succeeded")], 1, None),  # terminal pods have no grace
    ],
)
async def test_pods_in_their_grace_period(
    pods: list[dict[str, Any]], seconds: float, delay: int | None
) -> None:
    ns = namespace()
    client = fake(ns, pods=pods, configmaps=[], widgets=[])
    ctl = controller(client, ns, seconds=seconds)
    if delay is None:
        with pytest.raises(DeletionFailed, match="unexpected items still remain"):
            await ctl.sync("team")
    else:
        await ctl.sync("team")
        assert ctl.queue.waiting == 1
    assert f"{NS}/finalize" not in [c.path for c in client.writes()]
    status = next(c.body for c in client.writes() if c.path == f"{NS}/status")
    remaining = {c["type"]: c for c in status["status"]["conditions"]}["NamespaceContentRemaining"]
    assert (
        remaining["message"]
        == f"Some resources are remaining: pods. has {len(pods)} resource instances"
    )


async def test_objects_held_by_finalizers_wait_15_seconds() -> None:
    ns = namespace()
    held = {"metadata": {"name": "w", "finalizers": ["example.com/hold"]}}
    client = fake(ns, pods=[], configmaps=[], widgets=[held])
    deleter = controller(client, ns).deleter
    with pytest.raises(ResourcesRemaining) as remaining:
        await deleter.delete("team")
    assert remaining.value.estimate == 15
    status = next(c.body for c in client.writes() if c.path == f"{NS}/status")
    by_type = {c["type"]: c for c in status["status"]["conditions"]}
    assert by_type["NamespaceFinalizersRemaining"]["status"] == "True"


async def test_a_failing_group_is_a_discovery_failure_but_the_rest_is_deleted() -> None:
    ns = namespace()
    client = fake(ns, pods=[], configmaps=[])
    client.answers[("GET", "/apis/example.com/v2")] = ApiError(503, "ServiceUnavailable", "down")
    with pytest.raises(DeletionFailed):
        await controller(client, ns).sync("team")
    assert ("DELETE", f"{NS}/pods") in [(c.verb, c.path) for c in client.writes()]
    status = next(c.body for c in client.writes() if c.path == f"{NS}/status")
    failure = status["status"]["conditions"][0]
    assert (failure["status"], failure["reason"]) == ("True", "DiscoveryFailed")
    assert failure["message"].startswith("Discovery failed for some groups, 1 failing: ")
    assert f"{NS}/finalize" not in [c.path for c in client.writes()]


async def test_a_namespace_gone_meanwhile_is_done() -> None:
    ns = namespace()
    client = fake(ns)
    client.answers[("GET", NS)] = ApiError(404, "NotFound", "gone")
    await controller(client, ns).sync("team")
    assert client.writes() == []


async def test_finalize_retries_a_conflict_on_a_fresh_read() -> None:
    ns = namespace()
    client = fake(ns, pods=[], configmaps=[], widgets=[])
    attempts: list[dict[str, Any]] = []

    def finalize(body: dict[str, Any]) -> dict[str, Any]:
        attempts.append(body)
        if len(attempts) == 1:
            raise ApiError(409, "Conflict", "the object has been modified")
        return body

    client.answers[("PUT", f"{NS}/finalize")] = finalize
    await controller(client, ns).sync("team")
    assert len(attempts) == 2
    assert attempts[1]["spec"]["finalizers"] == []


async def test_finalize_stops_when_the_namespace_was_replaced() -> None:
    ns = namespace()
    client = fake(ns, pods=[], configmaps=[], widgets=[])
    client.answers[("PUT", f"{NS}/finalize")] = ApiError(409, "Conflict", "modified")
    reads = {"n": 0}

    def read(_: Any) -> dict[str, Any]:
        reads["n"] += 1
        if reads["n"] == 1:
            return ns
        other = namespace()
        other["metadata"]["uid"] = "u2"
        return other

    client.answers[("GET", NS)] = read
    with pytest.raises(DeletionFailed, match="uid has changed"):
        await controller(client, ns).sync("team")
