"""taint-eviction-controller: pods not tolerating a NoExecute taint go at once, tolerating ones
when their tolerationSeconds run out (on the controller's clock), forever-tolerating ones
never; taints going away cancel; a deletion sets DisruptionTarget first."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from pocketkube.client import resources
from pocketkube.client.clock import FakeClock
from pocketkube.client.rest import ApiError
from pocketkube.controllers.nodelifecycle.tainteviction import TaintEvictionController
from pocketkube.controllers.nodelifecycle.tolerations import (
    matching_tolerations,
    min_toleration_seconds,
    tolerates,
)
from tests.unit.controllers.fakes import NOW, FakeClient, informer
from tests.unit.controllers.test_nodelifecycle import FakeRecorder

UNREACHABLE = {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}
POD_PATH = "/api/v1/namespaces/default/pods/p1"


def node(taints: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "n1"},
        "spec": {"taints": taints},
    }


def pod(tolerations: list[dict[str, Any]] | None = None, name: str = "p1") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
        "spec": {"nodeName": "n1", "tolerations": tolerations or []},
        "status": {"phase": "Running"},
    }


def tol(seconds: int | None = None, key: str = "node.kubernetes.io/unreachable") -> Any:
    t: dict[str, Any] = {"key": key, "operator": "Exists", "effect": "NoExecute"}
    if seconds is not None:
        t["tolerationSeconds"] = seconds
    return t


@pytest.mark.parametrize(
    ("toleration", "taint", "ok"),
    [
        ({"operator": "Exists"}, UNREACHABLE, True),
        ({"key": "node.kubernetes.io/unreachable", "operator": "Exists"}, UNREACHABLE, True),
        ({"key": "other", "operator": "Exists"}, UNREACHABLE, False),
        (
            {"key": "k", "value": "v", "effect": "NoExecute"},
            {"key": "k", "value": "v", "effect": "NoExecute"},
            True,
        ),
        ({"key": "k", "value": "w"}, {"key": "k", "value": "v", "effect": "NoExecute"}, False),
        (
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoSchedule"},
            UNREACHABLE,
            False,
        ),
    ],
)
def test_tolerates(toleration: Any, taint: Any, ok: bool) -> None:
    assert tolerates(toleration, taint) is ok


@pytest.mark.parametrize(
    ("tolerations", "seconds"),
    [([tol()], -1.0), ([tol(300), tol(5)], 5.0), ([tol(-3)], 0.0), ([tol(), tol(7)], 7.0)],
)
def test_min_toleration_seconds(tolerations: list[Any], seconds: float) -> None:
    assert min_toleration_seconds(tolerations) == seconds


def test_matching_tolerations_needs_every_taint_tolerated() -> None:
    other = {"key": "x", "effect": "NoExecute"}
    assert matching_tolerations([UNREACHABLE, other], [tol(5)]) is None
    assert matching_tolerations([UNREACHABLE], [tol(5)]) == [tol(5)]


def make(
    n: dict[str, Any], *pods: dict[str, Any]
) -> tuple[TaintEvictionController, FakeClient, FakeClock, FakeRecorder]:
    client, clock, recorder = FakeClient(), FakeClock(), FakeRecorder()
    for p in pods:
        client.answers[("GET", f"/api/v1/namespaces/default/pods/{p['metadata']['name']}")] = p
    controller = TaintEvictionController(
        client=client,
        node_informer=informer(client, resources.NODES, n),
        pod_informer=informer(client, resources.PODS, *pods),
        recorder=recorder,
        clock=clock,
        now=lambda: NOW + dt.timedelta(seconds=clock.now()),
    )
    return controller, client, clock, recorder


async def drain(controller: TaintEvictionController) -> None:
    while len(controller.queue):
        key = controller.queue.get_nowait()
        await controller.process(key)


async def test_pod_without_toleration_is_deleted_at_once() -> None:
    controller, client, _, recorder = make(node([UNREACHABLE]), pod())
    await drain(controller)
    verbs = [(c.verb, c.path) for c in client.writes()]
    assert verbs == [("PUT", f"{POD_PATH}/status"), ("DELETE", POD_PATH)]
    (target,) = client.writes()[0].body["status"]["conditions"]
    assert target["type"] == "DisruptionTarget"
    assert target["reason"] == "DeletionByTaintManager"
    assert target["message"] == "Taint manager: deleting due to NoExecute taint"
    assert (
        "Normal",
        "TaintManagerEviction",
        "p1",
        "Marking for deletion Pod default/p1",
    ) in recorder.events


async def test_tolerating_pod_is_deleted_when_its_seconds_run_out() -> None:
    controller, client, clock, _ = make(node([UNREACHABLE]), pod([tol(300)]), pod([tol()], "p2"))
    await drain(controller)
    assert controller.pending == {"default/p1": 300.0}
    assert client.writes() == []
    clock.advance(299)
    await drain(controller)
    assert client.writes() == []
    clock.advance(1)
    await drain(controller)
    assert [(c.verb, c.path) for c in client.writes()][-1] == ("DELETE", POD_PATH)
    assert controller.pending == {}


async def test_taint_removed_cancels_the_pending_deletion() -> None:
    controller, client, clock, recorder = make(node([UNREACHABLE]), pod([tol(10)]))
    await drain(controller)
    assert "default/p1" in controller.pending
    healthy = node([])
    controller._nodes.put(healthy)
    controller._node_updated(node([UNREACHABLE]), healthy)
    await drain(controller)
    assert controller.pending == {}
    assert (
        "Normal",
        "TaintManagerEviction",
        "p1",
        "Cancelling deletion of Pod default/p1",
    ) in recorder.events
    clock.advance(20)
    await drain(controller)
    assert client.writes() == []


async def test_a_second_update_keeps_the_first_timer() -> None:
    controller, _, clock, _ = make(node([UNREACHABLE]), pod([tol(10)]))
    await drain(controller)
    clock.advance(4)
    controller.queue.add("pod:default/p1")
    await drain(controller)
    assert controller.pending == {"default/p1": 10.0}


async def test_failed_delete_is_retried() -> None:
    controller, client, clock, _ = make(node([UNREACHABLE]), pod())
    client.answers[("DELETE", POD_PATH)] = ApiError(500, "InternalError", "boom")
    await drain(controller)
    assert controller.queue.waiting == 1
    del client.answers[("DELETE", POD_PATH)]
    clock.advance(1)
    await drain(controller)
    assert [c.verb for c in client.writes()].count("DELETE") == 2
