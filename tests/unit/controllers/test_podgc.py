"""podgc on fake informers and client: terminated pods over the threshold (evicted, then oldest
first), orphaned pods after the quarantine and a fresh GET, unscheduled terminating pods,
terminating pods on out-of-service nodes."""

from __future__ import annotations

from typing import Any

import pytest

from pocketkube.client import resources
from pocketkube.client.clock import FakeClock
from pocketkube.client.rest import ApiError, TransportError
from pocketkube.controllers.podgc import PodGC
from tests.unit.controllers.fakes import NOW, FakeClient, informer


def pod(
    name: str,
    *,
    phase: str = "Running",
    node: str = "n1",
    created: str = "2024-05-01T10:00:00Z",
    deleting: bool = False,
    reason: str = "",
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": "default",
        "uid": f"uid-{name}",
        "creationTimestamp": created,
    }
    if deleting:
        meta["deletionTimestamp"] = "2024-05-01T11:00:00Z"
    status: dict[str, Any] = {"phase": phase}
    if reason:
        status["reason"] = reason
    return {"metadata": meta, "spec": {"nodeName": node} if node else {}, "status": status}


def node(name: str, *, ready: bool = True, taints: list[dict[str, str]] | None = None) -> Any:
    return {
        "metadata": {"name": name},
        "spec": {"taints": taints or []},
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def controller(
    client: FakeClient, pods: list[Any], nodes: list[Any], *, threshold: int = 12500
) -> tuple[PodGC, FakeClock]:
    clock = FakeClock()
    gc = PodGC(
        client=client,
        pod_informer=informer(client, resources.PODS, *pods),
        node_informer=informer(client, resources.NODES, *nodes),
        terminated_pod_threshold=threshold,
        clock=clock,
        now=lambda: NOW,
    )
    return gc, clock


def deleted(client: FakeClient) -> list[str]:
    return [c.path.rsplit("/", 1)[1] for c in client.calls if c.verb == "DELETE"]


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [
        (0, []),  # turned off
        (5, []),  # not over
        (4, ["evicted"]),  # evicted first, whatever its age
        (3, ["evicted", "old"]),
        (2, ["evicted", "old", "mid-a"]),  # equal ages: by name
        (1, ["evicted", "old", "mid-a", "mid-b"]),
    ],
)
async def test_terminated_pods_over_the_threshold(threshold: int, expected: list[str]) -> None:
    pods = [
        pod("new", phase="Succeeded", created="2024-05-01T11:00:00Z"),
        pod("mid-b", phase="Failed", created="2024-05-01T10:00:00Z"),
        pod("mid-a", phase="Succeeded", created="2024-05-01T10:00:00Z"),
        pod("old", phase="Failed", created="2024-05-01T09:00:00Z"),
        pod("evicted", phase="Failed", created="2024-05-01T11:30:00Z", reason="Evicted"),
        pod("running", phase="Running", created="2024-05-01T08:00:00Z"),
        pod("pending", phase="Pending", created="2024-05-01T08:00:00Z"),
    ]
    client = FakeClient()
    gc, _ = controller(client, pods, [node("n1")], threshold=threshold)
    await gc.gc()
    assert sorted(deleted(client)) == sorted(expected)
    for call in client.calls:
        assert call.verb == "DELETE"  # already terminal: no status patch
        assert call.body["gracePeriodSeconds"] == 0
        assert call.body["preconditions"]["uid"].startswith("uid-")


async def test_orphaned_pods_are_deleted_after_the_quarantine_and_a_get() -> None:
    client = FakeClient()
    client.answers[("GET", "/api/v1/nodes/gone")] = ApiError(404, "NotFound", "not found")
    pods = [pod("orphan", node="gone"), pod("fine", node="n1"), pod("done", node="gone")]
    pods[2]["status"]["phase"] = "Succeeded"
    gc, clock = controller(client, pods, [node("n1")])
    await gc.gc()
    assert client.calls == []  # quarantined: the node may not have reached the informer yet
    clock.advance(39)
    await gc.gc()
    assert client.calls == []
    clock.advance(1)
    await gc.gc()
    assert ("GET", "/api/v1/nodes/gone") in [(c.verb, c.path) for c in client.calls]
    assert sorted(deleted(client)) == ["done", "orphan"]
    [patch] = [c for c in client.calls if c.verb == "PATCH"]  # the terminal one is not patched
    assert patch.path == "/api/v1/namespaces/default/pods/orphan/status"
    assert patch.body["status"]["phase"] == "Failed"
    assert patch.body["metadata"]["uid"] == "uid-orphan"
    assert patch.body["status"]["conditions"] == [
        {
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "DeletionByPodGC",
            "message": "PodGC: node no longer exists",
            "lastTransitionTime": "2024-05-01T12:00:00Z",
        }
    ]


@pytest.mark.parametrize(
    "answer",
    [
        {"metadata": {"name": "late"}},  # exists after all: just slow to reach the informer
        TransportError("refused"),  # unknown: checked again after another quarantine
    ],
)
async def test_an_orphan_whose_node_is_not_proven_gone_is_kept(answer: Any) -> None:
    client = FakeClient()
    client.answers[("GET", "/api/v1/nodes/late")] = answer
    gc, clock = controller(client, [pod("p", node="late")], [])
    await gc.gc()
    clock.advance(40)
    await gc.gc()
    assert deleted(client) == []
    # back in quarantine: the next GET waits another 40 s
    gets = len(client.calls)
    clock.advance(20)
    await gc.gc()
    assert len(client.calls) == gets
    clock.advance(20)
    await gc.gc()
    assert len(client.calls) == gets + 1


async def test_a_node_that_arrives_during_quarantine_is_not_checked() -> None:
    client = FakeClient()
    gc, clock = controller(client, [pod("p", node="late")], [])
    await gc.gc()
    gc._nodes.put(node("late"))
    clock.advance(40)
    await gc.gc()
    assert client.calls == []


async def test_unscheduled_terminating_pods_are_deleted() -> None:
    client = FakeClient()
    pods = [
        pod("unbound-going", node="", deleting=True),
        pod("unbound", node="", phase="Pending"),
        pod("bound-going", node="n1", deleting=True),
    ]
    gc, _ = controller(client, pods, [node("n1")])
    await gc.gc()
    assert deleted(client) == ["unbound-going"]
    [patch] = [c for c in client.calls if c.verb == "PATCH"]
    assert patch.body["status"] == {"phase": "Failed"}


@pytest.mark.parametrize(
    ("ready", "taint", "collected"),
    [
        (False, "node.kubernetes.io/out-of-service", True),
        (True, "node.kubernetes.io/out-of-service", False),  # ready: its kubelet finishes it
        (False, "node.kubernetes.io/unreachable", False),  # no out-of-service taint
    ],
)
async def test_terminating_pods_on_out_of_service_nodes(
    ready: bool, taint: str, collected: bool
) -> None:
    client = FakeClient()
    taints = [{"key": taint, "effect": "NoExecute"}]
    pods = [pod("going", node="n1", deleting=True), pod("staying", node="n1")]
    gc, _ = controller(client, pods, [node("n1", ready=ready, taints=taints)])
    await gc.gc()
    assert deleted(client) == (["going"] if collected else [])


async def test_failed_deletes_do_not_stop_the_pass() -> None:
    client = FakeClient()
    path = "/api/v1/namespaces/default/pods/a"
    client.answers[("DELETE", path)] = ApiError(500, "InternalError", "boom")
    client.answers[("DELETE", path.replace("/a", "/b"))] = ApiError(404, "NotFound", "gone")
    pods = [
        pod(name, phase="Failed", created=f"2024-05-01T0{i}:00:00Z") for i, name in enumerate("abc")
    ]
    gc, _ = controller(client, pods, [node("n1")], threshold=1)
    await gc.gc()
    assert sorted(deleted(client)) == ["a", "b"]


async def test_the_pass_is_requeued_every_period() -> None:
    client = FakeClient()
    gc, clock = controller(client, [], [])
    await gc.sync("gc")
    assert len(gc.queue) == 0
    clock.advance(20)
    await gc.queue.get()
