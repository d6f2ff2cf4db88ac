"""The garbage collector's graph and decisions, with a fake client (no informers: events are
fed to the graph by hand)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pocketkube.client import resources
from pocketkube.client.rest import ApiError
from pocketkube.controllers.garbagecollector import discovery
from pocketkube.controllers.garbagecollector.collector import GarbageCollector
from pocketkube.controllers.garbagecollector.graph import (
    Graph,
    Identity,
    Node,
    OwnerRef,
    references_diffs,
)
from pocketkube.controllers.garbagecollector.monitors import trim
from tests.unit.controllers.fakes import FakeClient

NOT_FOUND = ApiError(404, "NotFound", "not found")
TS = "2024-05-01T12:00:00Z"


def meta(name: str, uid: str, *owners: dict[str, Any], ns: str = "default", **extra: Any) -> Any:
    out: dict[str, Any] = {"name": name, "uid": uid, "namespace": ns, **extra}
    if not ns:
        del out["namespace"]
    if owners:
        out["ownerReferences"] = list(owners)
    return out


def oref(name: str, uid: str, kind: str = "ReplicaSet", api: str = "apps/v1", **kw: Any) -> Any:
    return {"apiVersion": api, "kind": kind, "name": name, "uid": uid, **kw}


class Recorder:
    def __init__(self) -> None:
        self.deletes: list[str] = []
        self.orphans: list[str] = []
        self.reports: list[tuple[str, str]] = []

    def graph(self) -> Graph:
        return Graph(
            attempt_to_delete=lambda n: self.deletes.append(n.identity.name),
            attempt_to_orphan=lambda n: self.orphans.append(n.identity.name),
            report_invalid_namespace=lambda n, r: self.reports.append((n.identity.name, r.name)),
        )


# -- the graph ---------------------------------------------------------------------------------
def test_unknown_owner_gets_a_virtual_node_to_verify() -> None:
    rec = Recorder()
    g = rec.graph()
    g.process("add", "v1", "Pod", meta("p", "u-p", oref("rs", "u-rs")))
    owner = g.get("u-rs")
    assert owner is not None
    assert owner.virtual
    assert owner.identity == Identity("apps/v1", "ReplicaSet", "rs", "u-rs", "default")
    assert rec.deletes == ["rs"]
    g.process("add", "apps/v1", "ReplicaSet", meta("rs", "u-rs"))
    assert owner.observed
    assert rec.reports == []
    assert [d.identity.name for d in owner.dependents] == ["p"]


@pytest.mark.parametrize(
    ("owner_first", "reported"),
    [(True, [("p", "cm")]), (False, [("p", "cm")])],
    ids=["owner-observed-first", "dependent-observed-first"],
)
def test_owner_in_another_namespace_is_reported(owner_first: bool, reported: Any) -> None:
    rec = Recorder()
    g = rec.graph()
    owner = ("add", "v1", "ConfigMap", meta("cm", "u-cm", ns="a"))
    dep = ("add", "v1", "Pod", meta("p", "u-p", oref("cm", "u-cm", "ConfigMap", "v1"), ns="b"))
    for event in (owner, dep) if owner_first else (dep, owner):
        g.process(*event)  # type: ignore[arg-type]
    assert rec.reports == reported
    assert "p" in rec.deletes


def test_deleting_an_owner_queues_its_dependents_and_marks_it_absent() -> None:
    rec = Recorder()
    g = rec.graph()
    g.process("add", "apps/v1", "ReplicaSet", meta("rs", "u-rs"))
    g.process("add", "v1", "Pod", meta("p1", "u-1", oref("rs", "u-rs")))
    g.process("add", "v1", "Pod", meta("p2", "u-2", oref("rs", "u-rs")))
    rec.deletes.clear()
    g.process("delete", "apps/v1", "ReplicaSet", meta("rs", "u-rs"))
    assert sorted(rec.deletes) == ["p1", "p2"]
    assert g.get("u-rs") is None
    assert Identity("apps/v1", "ReplicaSet", "rs", "u-rs", "default") in g.absent_owners


def test_transitions_into_foreground_and_orphan_deletion() -> None:
    rec = Recorder()
    g = rec.graph()
    rs = meta("rs", "u-rs")
    g.process("add", "apps/v1", "ReplicaSet", rs)
    g.process("add", "v1", "Pod", meta("p", "u-p", oref("rs", "u-rs", blockOwnerDeletion=True)))
    rec.deletes.clear()
    fg = {**rs, "deletionTimestamp": TS, "finalizers": ["foregroundDeletion"]}
    g.process("update", "apps/v1", "ReplicaSet", fg, rs)
    node = g.get("u-rs")
    assert node is not None
    assert node.deleting_dependents
    assert node.being_deleted
    assert sorted(rec.deletes) == ["p", "rs"]
    assert [d.identity.name for d in node.blocking_dependents()] == ["p"]
    # the same state again is no transition
    rec.deletes.clear()
    g.process("update", "apps/v1", "ReplicaSet", fg, fg)
    assert rec.deletes == []
    cm = meta("cm", "u-cm")
    g.process("add", "v1", "ConfigMap", cm)
    g.process(
        "update", "v1", "ConfigMap", {**cm, "deletionTimestamp": TS, "finalizers": ["orphan"]}, cm
    )
    assert rec.orphans == ["cm"]


def test_unblocking_a_dependent_requeues_the_owner() -> None:
    rec = Recorder()
    g = rec.graph()
    g.process("add", "apps/v1", "ReplicaSet", meta("rs", "u-rs"))
    blocked = meta("p", "u-p", oref("rs", "u-rs", blockOwnerDeletion=True))
    g.process("add", "v1", "Pod", blocked)
    rec.deletes.clear()
    unblocked = meta("p", "u-p", oref("rs", "u-rs", blockOwnerDeletion=False))
    g.process("update", "v1", "Pod", unblocked, blocked)
    assert rec.deletes == ["rs"]
    rec.deletes.clear()
    g.process("update", "v1", "Pod", meta("p", "u-p"), unblocked)
    assert rec.deletes == []  # a non-blocking reference removed does not matter
    owner = g.get("u-rs")
    assert owner is not None
    assert not owner.dependents


def test_virtual_delete_of_a_virtual_owner_tries_the_other_identity() -> None:
    later: list[Identity] = []
    rec = Recorder()
    g = Graph(
        attempt_to_delete=lambda n: rec.deletes.append(n.identity.name),
        attempt_to_orphan=lambda n: None,
        attempt_to_delete_later=lambda n: later.append(n.identity),
    )
    node_ref = oref("n1", "u-n", "Node", "v1")
    g.process("add", "v1", "Pod", meta("p", "u-p", node_ref, ns="a"))
    g.process("add", "v1", "Pod", meta("q", "u-q", node_ref, ns="b"))
    rec.deletes.clear()
    g.process("delete", "v1", "Node", meta("n1", "u-n", ns="a"), virtual=True)
    assert rec.deletes == ["p"]  # the dependent that agrees on the coordinates
    assert later == [Identity("v1", "Node", "n1", "u-n", "b")]
    g.process("delete", "v1", "Node", meta("n1", "u-n", ns="b"), virtual=True)
    assert rec.deletes == ["p", "q"]
    # the collector deletes both dependents; then the virtual owner can go
    g.process("delete", "v1", "Pod", meta("p", "u-p", node_ref, ns="a"))
    g.process("delete", "v1", "Pod", meta("q", "u-q", node_ref, ns="b"))
    assert g.get("u-n") is not None
    g.process("delete", "v1", "Node", meta("n1", "u-n", ns="a"), virtual=True)
    assert g.get("u-n") is None


def test_references_diffs() -> None:
    a, b = OwnerRef("v1", "X", "a", "1"), OwnerRef("v1", "X", "b", "2")
    b2 = OwnerRef("v1", "X", "b", "2", block_owner_deletion=True)
    c = OwnerRef("v1", "X", "c", "3")
    assert references_diffs([a, b], [b2, c]) == ([c], [a], [(b, b2)])


def test_trim_keeps_only_the_graphs_metadata() -> None:
    obj = {
        "apiVersion": "meta.k8s.io/v1",
        "kind": "PartialObjectMetadata",
        "metadata": {
            "name": "p",
            "uid": "u",
            "managedFields": [{}],
            "annotations": {"a": "b"},
            "finalizers": ["x"],
        },
        "spec": {},
    }
    assert trim(obj, resources.PODS) == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "uid": "u", "finalizers": ["x"]},
    }


def test_discovery_keeps_deletable_preferred_resources() -> None:
    doc = {
        "groupVersion": "apps/v1",
        "resources": [
            {"name": "deployments", "namespaced": True, "kind": "Deployment",
             "verbs": ["create", "delete", "get", "list", "watch"]},
            {"name": "deployments/scale", "namespaced": True, "kind": "Scale",
             "verbs": ["get", "update"]},
            {"name": "controllerrevisions", "namespaced": True, "kind": "ControllerRevision",
             "verbs": ["get", "list"]},
        ],
    }  # fmt: skip
    found = discovery.Discovered()
    discovery._add(found, doc, preferred=True)
    assert {r.plural for r in found.deletable} == {"deployments"}
    assert found.resource_for("apps/v1", "ControllerRevision").plural == "controllerrevisions"
    events = {"groupVersion": "v1", "resources": [
        {"name": "events", "namespaced": True, "kind": "Event",
         "verbs": ["delete", "list", "watch"]}]}  # fmt: skip
    discovery._add(found, events, preferred=True)
    assert {r.plural for r in found.deletable} == {"deployments"}


# -- decisions ---------------------------------------------------------------------------------
POD_PATH = "/api/v1/namespaces/default/pods/p"
RS_PATH = "/apis/apps/v1/namespaces/default/replicasets/rs"
CM_PATH = "/api/v1/namespaces/default/configmaps/cm"


def collector(client: FakeClient) -> GarbageCollector:
    gc = GarbageCollector(client=client, list_watcher=client, workers=1)
    for r in (resources.PODS, resources.REPLICA_SETS, resources.CONFIGMAPS, resources.NODES):
        gc.discovered.by_kind[(r.api_version, r.kind)] = r
    return gc


def obj(m: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": m}


RS_REF = oref("rs", "u-rs")
CM_REF = oref("cm", "u-cm", "ConfigMap", "v1")
FOREGROUND = {"deletionTimestamp": TS, "finalizers": ["foregroundDeletion"]}

CASES: list[tuple[str, dict[str, Any], dict[str, Any], list[tuple[str, str, Any]]]] = [
    # (id, pod metadata extras, live owners by path (None: 404), expected writes)
    ("owner-gone", {"ownerReferences": [RS_REF]}, {RS_PATH: None},
     [("DELETE", POD_PATH, "Background")]),
    ("owner-alive", {"ownerReferences": [RS_REF]}, {RS_PATH: meta("rs", "u-rs")}, []),
    ("owner-replaced", {"ownerReferences": [RS_REF]}, {RS_PATH: meta("rs", "other")},
     [("DELETE", POD_PATH, "Background")]),
    ("one-of-two-gone", {"ownerReferences": [RS_REF, CM_REF]},
     {RS_PATH: None, CM_PATH: meta("cm", "u-cm")},
     [("PATCH", POD_PATH, [{"$patch": "delete", "uid": "u-rs"}])]),
    ("owner-waiting-no-deps", {"ownerReferences": [RS_REF]},
     {RS_PATH: meta("rs", "u-rs", **FOREGROUND)}, [("DELETE", POD_PATH, "Background")]),
    ("orphan-finalizer", {"ownerReferences": [RS_REF], "finalizers": ["orphan"]},
     {RS_PATH: None}, [("DELETE", POD_PATH, "Orphan")]),
    ("no-owners", {}, {}, []),
]  # fmt: skip


@pytest.mark.parametrize(
    ("extras", "owners", "writes"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
async def test_attempt_to_delete(extras: Any, owners: Any, writes: Any) -> None:  # fmt: skip
    client = FakeClient()
    pod = meta("p", "u-p", **extras)
    client.answers[("GET", POD_PATH)] = obj(pod)
    for path, owner in owners.items():
        client.answers[("GET", path)] = NOT_FOUND if owner is None else obj(owner)
    gc = collector(client)
    gc.graph.process("add", "v1", "Pod", pod)
    await gc.attempt_to_delete_item(_node(gc, "u-p"))
    got = []
    for call in client.writes():
        if call.verb == "DELETE":
            assert call.body["preconditions"] == {"uid": "u-p"}
            got.append((call.verb, call.path, call.body["propagationPolicy"]))
        else:
            assert call.body["metadata"]["uid"] == "u-p"
            got.append((call.verb, call.path, call.body["metadata"]["ownerReferences"]))
    assert got == writes


def _node(gc: GarbageCollector, uid: str) -> Node:
    node = gc.graph.get(uid)
    assert node is not None
    return node


async def test_waiting_owner_and_own_dependents_delete_in_the_foreground() -> None:
    client = FakeClient()
    pod = meta("p", "u-p", RS_REF)
    client.answers[("GET", POD_PATH)] = obj(pod)
    client.answers[("GET", RS_PATH)] = obj(meta("rs", "u-rs", **FOREGROUND))
    gc = collector(client)
    gc.graph.process("add", "v1", "Pod", pod)
    gc.graph.process("add", "v1", "ConfigMap", meta("cm", "u-cm", oref("p", "u-p", "Pod", "v1")))
    await gc.attempt_to_delete_item(_node(gc, "u-p"))
    assert [(c.verb, c.body["propagationPolicy"]) for c in client.writes()] == [
        ("DELETE", "Foreground")
    ]


async def test_cluster_scoped_dependent_of_a_namespaced_owner_is_left_alone() -> None:
    client = FakeClient()
    node_meta = meta("n1", "u-n", CM_REF, ns="")
    client.answers[("GET", "/api/v1/nodes/n1")] = obj(node_meta)
    gc = collector(client)
    gc.graph.process("add", "v1", "Node", node_meta)
    await gc.sync("delete/u-n")
    assert client.writes() == []


async def test_vanished_object_is_removed_by_a_virtual_delete() -> None:
    client = FakeClient()
    client.answers[("GET", RS_PATH)] = NOT_FOUND
    gc = collector(client)
    gc.graph.process("add", "v1", "Pod", meta("p", "u-p", RS_REF))
    assert _node(gc, "u-rs").virtual
    await gc.sync("delete/u-rs")
    assert gc.graph.get("u-rs") is None
    queued = {gc.queue.get_nowait() for _ in range(len(gc.queue))}
    assert "delete/u-p" in queued  # the pod, to be collected


async def test_foreground_owner_loses_its_finalizer_once_unblocked() -> None:
    client = FakeClient()
    rs = meta("rs", "u-rs", resourceVersion="7", **FOREGROUND)
    client.answers[("GET", RS_PATH)] = obj(rs)
    gc = collector(client)
    gc.graph.process("add", "apps/v1", "ReplicaSet", rs)
    blocked = meta("p", "u-p", oref("rs", "u-rs", blockOwnerDeletion=True))
    gc.graph.process("add", "v1", "Pod", blocked)
    await gc.attempt_to_delete_item(_node(gc, "u-rs"))
    assert client.writes() == []
    gc.graph.process("delete", "v1", "Pod", blocked)
    await gc.attempt_to_delete_item(_node(gc, "u-rs"))
    [patch] = client.writes()
    assert patch.body == {"metadata": {"resourceVersion": "7", "finalizers": None}}


@pytest.mark.parametrize("strategic", [True, False], ids=["strategic", "merge-fallback"])
async def test_orphaning_removes_references_then_the_finalizer(strategic: bool) -> None:
    client = FakeClient()
    cm = meta("cm", "u-cm", resourceVersion="3", deletionTimestamp=TS, finalizers=["orphan", "x"])
    client.answers[("GET", CM_PATH)] = obj(cm)
    pod = meta("p", "u-p", CM_REF, oref("rs", "u-rs"), resourceVersion="9")
    client.answers[("GET", POD_PATH)] = obj(pod)
    if not strategic:
        client.answers[("PATCH", POD_PATH)] = _refuse_strategic
    gc = collector(client)
    gc.graph.process("add", "v1", "ConfigMap", meta("cm", "u-cm"))
    gc.graph.process("add", "v1", "Pod", pod)
    await gc.sync("orphan/u-cm")
    patches = [c.body for c in client.writes()]
    if strategic:
        assert patches[0]["metadata"]["ownerReferences"] == [{"$patch": "delete", "uid": "u-cm"}]
    else:
        assert patches[1] == {"metadata": {"resourceVersion": "9", "ownerReferences": [RS_REF]}}
    assert patches[-1] == {"metadata": {"resourceVersion": "3", "finalizers": ["x"]}}


def _refuse_strategic(body: Any) -> Any:
    if "uid" in body["metadata"]:
        raise ApiError(415, "UnsupportedMediaType", "strategic merge patch is not supported")
    return body


# -- discovery and monitors -------------------------------------------------------------------
def _resource_list(group_version: str, *items: tuple[str, str, bool]) -> dict[str, Any]:
    verbs = ["create", "delete", "get", "list", "watch"]
    return {
        "groupVersion": group_version,
        "resources": [
            {"name": name, "kind": kind, "namespaced": namespaced, "verbs": verbs}
            for name, kind, namespaced in items
        ],
    }


async def _until(check: Any, within: float = 5.0) -> None:
    for _ in range(int(within / 0.01)):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


async def test_informers_follow_discovery() -> None:
    client = FakeClient()
    client.answers[("GET", "/api")] = {"versions": ["v1"]}
    client.answers[("GET", "/api/v1")] = _resource_list(
        "v1", ("pods", "Pod", True), ("events", "Event", True), ("pods/status", "Pod", True)
    )
    widgets_group = {
        "name": "example.com",
        "versions": [{"groupVersion": "example.com/v1", "version": "v1"}],
        "preferredVersion": {"groupVersion": "example.com/v1", "version": "v1"},
    }
    client.answers[("GET", "/apis")] = {"groups": [widgets_group]}
    client.answers[("GET", "/apis/example.com/v1")] = _resource_list(
        "example.com/v1", ("widgets", "Widget", True)
    )
    widget = meta("w", "u-w", resourceVersion="1")
    client.lists["/apis/example.com/v1/widgets"] = [obj(widget)]
    client.answers[("GET", "/apis/example.com/v1/namespaces/default/widgets/w")] = obj(widget)
    owner = oref("w", "u-w", "Widget", "example.com/v1")
    client.lists["/api/v1/pods"] = [obj(meta("p", "u-p", owner, resourceVersion="2"))]
    gc = GarbageCollector(client=client, list_watcher=client, workers=1)
    async with asyncio.TaskGroup() as group:
        task = group.create_task(gc.run())
        await _until(lambda: gc.graph.get("u-p") is not None and gc.graph.get("u-w") is not None)
        assert {r.plural for r in gc.monitors.resources} == {"pods", "widgets"}
        assert [d.identity.name for d in _node(gc, "u-w").dependents] == ["p"]
        client.answers[("GET", "/apis")] = {"groups": []}  # the CRD is gone
        gc._rediscover.set()
        await _until(lambda: {r.plural for r in gc.monitors.resources} == {"pods"})
        assert client.writes() == []
        task.cancel()
