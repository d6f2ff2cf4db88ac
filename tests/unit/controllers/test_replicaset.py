"""replicaset / replicationcontroller on fake informers and client: the create/delete diff,
burst, expectations, status (ready, available, fully labeled, ReplicaFailure), adoption, bad
selectors, and the pod handlers."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pocketkube.client import resources
from pocketkube.client.clock import FakeClock
from pocketkube.client.rest import ApiError
from pocketkube.controllers import podcontrol as pc
from pocketkube.controllers.replicaset import ReplicaSetController, ReplicationManager
from tests.unit.controllers.fakes import NOW, FakeClient, informer
from tests.unit.controllers.test_podcontrol import FakeRecorder

PODS = "/api/v1/namespaces/default/pods"
RS_STATUS = "/apis/apps/v1/namespaces/default/replicasets/web/status"
RS_GET = "/apis/apps/v1/namespaces/default/replicasets/web"


def rs(
    replicas: int = 3,
    *,
    min_ready: int = 0,
    status: dict[str, Any] | None = None,
    selector: Any = None,
    deleting: bool = False,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": "web",
        "namespace": "default",
        "uid": "rs-uid",
        "generation": 2,
        "resourceVersion": "7",
    }
    if deleting:
        meta["deletionTimestamp"] = "2024-05-01T11:00:00Z"
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": meta,
        "spec": {
            "replicas": replicas,
            "minReadySeconds": min_ready,
            "selector": selector if selector is not None else {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web", "tier": "front"}},
                "spec": {"containers": [{"name": "c", "image": "i"}]},
            },
        },
        "status": status if status is not None else {},
    }


def pod(
    name: str,
    *,
    owned: bool = True,
    ready: bool = False,
    ready_since: str = "2024-05-01T11:00:00Z",
    labels: dict[str, str] | None = None,
    phase: str = "Running",
    kind: str = "ReplicaSet",
    created: str = "2024-05-01T10:00:00Z",
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": "default",
        "uid": f"uid-{name}",
        "resourceVersion": "1",
        "creationTimestamp": created,
        "labels": labels if labels is not None else {"app": "web", "tier": "front"},
    }
    if owned:
        meta["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": kind,
                "name": "web",
                "uid": "rs-uid",
                "controller": True,
            }
        ]
    status: dict[str, Any] = {"phase": phase}
    if ready:
        status["conditions"] = [
            {"type": "Ready", "status": "True", "lastTransitionTime": ready_since}
        ]
    return {"metadata": meta, "spec": {"nodeName": "n1"}, "status": status}


def controller(
    client: FakeClient,
    owner: dict[str, Any] | None,
    pods: list[dict[str, Any]],
    *,
    cls: type[ReplicaSetController] = ReplicaSetController,
    burst: int = 500,
) -> tuple[ReplicaSetController, FakeRecorder, FakeClock]:
    clock = FakeClock()
    recorder = FakeRecorder()
    owners = [owner] if owner is not None else []
    if owner is not None:
        path = cls.kind.resource.path(namespace="default", name=owner["metadata"]["name"])
        client.answers.setdefault(("GET", path), owner)
    ctl = cls(
        client=client,
        owner_informer=informer(client, cls.kind.resource, *owners),
        pod_informer=informer(client, resources.PODS, *pods),
        recorder=recorder,
        burst_replicas=burst,
        clock=clock,
        now=lambda: NOW,
    )
    while len(ctl.queue):  # the handlers' first adds
        ctl.queue.done(ctl.queue.get_nowait())
    return ctl, recorder, clock


def verbs(client: FakeClient, verb: str) -> list[str]:
    return [c.path for c in client.calls if c.verb == verb]


def status_written(client: FakeClient) -> dict[str, Any] | None:
    writes = [c.body for c in client.calls if c.verb == "PUT" and c.path.endswith("/status")]
    return writes[-1]["status"] if writes else None


@pytest.mark.parametrize(
    ("replicas", "existing", "creates", "deletes"),
    [
        (3, 0, 3, 0),
        (3, 1, 2, 0),
        (3, 3, 0, 0),
        (1, 3, 0, 2),
        (0, 2, 0, 2),
        (700, 0, 500, 0),  # burst
    ],
)
async def test_diff(replicas: int, existing: int, creates: int, deletes: int) -> None:
    client = FakeClient()
    pods = [pod(f"p{i}") for i in range(existing)]
    ctl, recorder, _ = controller(client, rs(replicas), pods)
    await ctl.sync("default/web")
    assert len(verbs(client, "POST")) == creates
    assert len(verbs(client, "DELETE")) == deletes
    reasons = [r for _, r, _ in recorder.events]
    assert reasons.count("SuccessfulCreate") == creates
    assert reasons.count("SuccessfulDelete") == deletes
    if creates:
        body = next(c.body for c in client.calls if c.verb == "POST")
        assert body["metadata"]["generateName"] == "web-"
        assert body["metadata"]["ownerReferences"][0]["uid"] == "rs-uid"


async def test_deletes_not_ready_pods_first() -> None:
    client = FakeClient()
    pods = [pod("ready1", ready=True), pod("notready"), pod("ready2", ready=True)]
    ctl, _, _ = controller(client, rs(2), pods)
    await ctl.sync("default/web")
    assert verbs(client, "DELETE") == [f"{PODS}/notready"]


async def test_expectations_hold_the_next_sync_until_pods_are_seen() -> None:
    client = FakeClient()
    ctl, _, _ = controller(client, rs(2), [])
    await ctl.sync("default/web")
    await ctl.sync("default/web")  # the informer has not seen them yet: no new creations
    assert len(verbs(client, "POST")) == 2
    for name in ("a", "b"):  # the informer catches up
        ctl._pods.put(pod(name))
        ctl._pod_added(pod(name))
    assert ctl.expectations.satisfied("default/web")
    await ctl.sync("default/web")
    assert len(verbs(client, "POST")) == 2


async def test_deletion_expectations() -> None:
    client = FakeClient()
    pods = [pod("a"), pod("b")]
    ctl, _, _ = controller(client, rs(1), pods)
    await ctl.sync("default/web")
    assert not ctl.expectations.satisfied("default/web")
    deleted = next(p for p in pods if f"{PODS}/{p['metadata']['name']}" in verbs(client, "DELETE"))
    ctl._pod_deleted(deleted)
    assert ctl.expectations.satisfied("default/web")


async def test_failed_creations_set_replica_failure_then_clear_it() -> None:
    client = FakeClient()
    client.answers[("POST", PODS)] = ApiError(403, "Forbidden", "exceeded quota")
    ctl, recorder, _ = controller(client, rs(3), [])
    with pytest.raises(ApiError):
        await ctl.sync("default/web")
    assert len(verbs(client, "POST")) == 1  # slow start: stopped after the first failure
    assert ctl.expectations.satisfied("default/web")  # the skipped ones are not awaited
    assert recorder.events == [("Warning", "FailedCreate", "Error creating: exceeded quota")]
    status = status_written(client)
    assert status is not None
    assert status["conditions"] == [
        {
            "type": "ReplicaFailure",
            "status": "True",
            "lastTransitionTime": "2024-05-01T12:00:00Z",
            "reason": "FailedCreate",
            "message": "exceeded quota",
        }
    ]
    # creating works again: the condition goes
    client2 = FakeClient()
    ctl2, _, _ = controller(
        client2, rs(3, status={"replicas": 0, "conditions": status["conditions"]}), []
    )
    await ctl2.sync("default/web")
    written = status_written(client2)
    assert written is not None
    assert "conditions" not in written


async def test_status_counts() -> None:
    client = FakeClient()
    pods = [
        pod("ready-old", ready=True, ready_since="2024-05-01T11:00:00Z"),
        pod("ready-new", ready=True, ready_since="2024-05-01T11:59:50Z"),
        pod("not-ready"),
        pod("partial", labels={"app": "web"}),  # matches the selector, not all template labels
        pod("done", phase="Succeeded"),  # not active: not counted
    ]
    ctl, _, clock = controller(client, rs(4, min_ready=30), pods)
    await ctl.sync("default/web")
    assert status_written(client) == {
        "replicas": 4,
        "fullyLabeledReplicas": 3,
        "readyReplicas": 2,
        "availableReplicas": 1,
        "observedGeneration": 2,
    }
    # requeued for when ready-new has been ready for 30 s (20 s from now)
    assert ctl.queue.waiting == 1
    clock.advance(19)
    assert len(ctl.queue) == 0
    clock.advance(1.1)
    assert len(ctl.queue) == 1


async def test_no_status_write_when_unchanged() -> None:
    client = FakeClient()
    status = {
        "replicas": 1,
        "readyReplicas": 1,
        "availableReplicas": 1,
        "fullyLabeledReplicas": 1,
        "observedGeneration": 2,
    }
    ctl, _, _ = controller(client, rs(1, status=status), [pod("a", ready=True)])
    await ctl.sync("default/web")
    assert client.writes() == []


async def test_adopts_orphans_and_releases_strays() -> None:
    client = FakeClient()
    pods = [pod("orphan", owned=False), pod("stray", labels={"app": "other"}), pod("mine")]
    ctl, _, _ = controller(client, rs(2), pods)
    await ctl.sync("default/web")
    assert verbs(client, "PATCH") == [f"{PODS}/orphan", f"{PODS}/stray"]
    assert verbs(client, "POST") == []  # orphan + mine = 2


async def test_deleting_owner_does_not_manage() -> None:
    client = FakeClient()
    ctl, _, _ = controller(client, rs(3, deleting=True), [])
    await ctl.sync("default/web")
    assert verbs(client, "POST") == []


@pytest.mark.parametrize(
    "selector",
    [
        {"matchExpressions": [{"key": "app", "operator": "Bogus"}]},
        {"matchLabels": {"bad key!": "x"}},
    ],
)
async def test_invalid_selector_does_not_crash(selector: Any) -> None:
    client = FakeClient()
    ctl, _, _ = controller(client, rs(3, selector=selector), [])
    await ctl.sync("default/web")
    assert client.writes() == []
    ctl._pod_added(pod("x", owned=False))  # the handlers skip it too


async def test_gone_owner_forgets_expectations() -> None:
    client = FakeClient()
    ctl, _, _ = controller(client, None, [])
    ctl.expectations.expect_creations("default/web", 3)
    await ctl.sync("default/web")
    assert ctl.expectations.pending("default/web") == (0, 0)
    assert client.calls == []


def test_handlers_enqueue_owners() -> None:
    client = FakeClient()
    ctl, _, _ = controller(client, rs(3), [])
    ctl._pod_added(pod("orphan", owned=False))
    assert ctl.queue.get_nowait() == "default/web"
    ctl.queue.done("default/web")
    ctl._pod_added(pod("unrelated", owned=False, labels={"app": "x"}))
    assert len(ctl.queue) == 0
    old = pod("a")
    new = copy.deepcopy(old)
    ctl._pod_updated(old, new)  # same resourceVersion: a resync, ignored
    assert len(ctl.queue) == 0
    new["metadata"]["resourceVersion"] = "2"
    new["metadata"]["deletionTimestamp"] = "2024-05-01T12:00:00Z"
    ctl.expectations.expect_deletions("default/web", ["default/a"])
    ctl._pod_updated(old, new)
    assert ctl.expectations.satisfied("default/web")
    assert len(ctl.queue) == 1


async def test_replication_controller() -> None:
    client = FakeClient()
    owner = rs(2)
    owner.update(apiVersion="v1", kind="ReplicationController")
    owner["spec"]["selector"] = {"app": "web"}
    ctl, recorder, _ = controller(
        client, owner, [pod("a", kind="ReplicationController")], cls=ReplicationManager
    )
    assert ctl.name == "replicationcontroller"
    await ctl.sync("default/web")
    post = next(c.body for c in client.calls if c.verb == "POST")
    assert post["metadata"]["ownerReferences"][0]["kind"] == "ReplicationController"
    assert post["metadata"]["ownerReferences"][0]["apiVersion"] == "v1"
    assert verbs(client, "PUT") == ["/api/v1/namespaces/default/replicationcontrollers/web/status"]
    assert [r for _, r, _ in recorder.events] == ["SuccessfulCreate"]


async def test_replication_controller_selector_defaults_to_template_labels() -> None:
    client = FakeClient()
    owner = rs(1)
    owner.update(apiVersion="v1", kind="ReplicationController")
    owner["spec"].pop("selector")
    ctl, _, _ = controller(
        client, owner, [pod("a", kind="ReplicationController")], cls=ReplicationManager
    )
    await ctl.sync("default/web")
    assert verbs(client, "POST") == []


def test_pod_deletion_rank_prefers_unready() -> None:
    assert pc.get_pods_to_delete([pod("r", ready=True), pod("n")], 1)[0]["metadata"]["name"] == "n"


async def test_claim_errors_fail_the_sync() -> None:
    client = FakeClient()
    client.answers[("GET", RS_GET)] = ApiError(404, "NotFound", "gone")
    ctl, _, _ = controller(client, rs(1), [pod("orphan", owned=False)])
    with pytest.raises(pc.AdoptionError):
        await ctl.sync("default/web")


async def test_deletion_rank_counts_sibling_replica_sets_pods() -> None:
    client = FakeClient()
    owner = rs(1)
    owner["metadata"]["ownerReferences"] = [{"kind": "Deployment", "uid": "d", "controller": True}]
    sibling = copy.deepcopy(owner)
    sibling["metadata"].update(name="web-old", uid="old-uid")
    mine = [pod("on-n1"), pod("on-n2")]
    mine[1]["spec"]["nodeName"] = "n2"
    theirs = [pod("old-a"), pod("old-b")]
    for p in theirs:
        p["spec"]["nodeName"] = "n2"
        p["metadata"]["ownerReferences"][0].update(name="web-old", uid="old-uid")
    ctl, _, _ = controller(client, owner, [*mine, *theirs])
    ctl._owners.put(sibling)
    await ctl.sync("default/web")
    assert verbs(client, "DELETE") == [f"{PODS}/on-n2"]  # n2 is crowded with the sibling's pods
