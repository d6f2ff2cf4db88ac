"""The Deployment controller on fake informers and client: the pod-template-hash's encoding,
maxSurge/maxUnavailable, upstream's rolling-update and proportional-scaling tables, revision
annotations and history, status and the Progressing condition, a first sync, Recreate, pausing,
the rollback annotation, hash collisions and the informer handlers."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from pocketkube.client import resources
from pocketkube.client.clock import FakeClock
from pocketkube.client.rest import ApiError
from pocketkube.controllers.deployment import conditions as cond
from pocketkube.controllers.deployment import hashing, progress, recreate, rolling, sync
from pocketkube.controllers.deployment import util as du
from pocketkube.controllers.deployment.controller import DeploymentController
from tests.unit.controllers.fakes import NOW, FakeClient, informer


class FakeRecorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def post(
        self, regarding: Any, *, type: str, reason: str, action: str, note: str, **_: Any
    ) -> None:
        self.events.append((type, reason, note))


def deployment(
    replicas: int = 10,
    *,
    surge: Any = 0,
    unavailable: Any = 0,
    strategy: str = "RollingUpdate",
    image: str = "v2",
    generation: int = 1,
    status: dict[str, Any] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": image}]},
        },
        "strategy": {"type": strategy},
        "revisionHistoryLimit": 10,
        "progressDeadlineSeconds": 600,
    }
    if strategy == "RollingUpdate":
        spec["strategy"]["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "uid": "d-uid",
            "generation": generation,
            "resourceVersion": "7",
        },
        "spec": spec,
        "status": status or {},
    }


def replica_set(
    name: str,
    replicas: int,
    *,
    available: int | None = None,
    created: str = "2024-05-01T10:00:00Z",
    image: str = "v1",
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    available = replicas if available is None else available
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": f"uid-{name}",
            "creationTimestamp": created,
            "labels": {"app": "web", du.HASH_LABEL: name},
            "annotations": dict(annotations or {}),
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": "web",
                    "uid": "d-uid",
                    "controller": True,
                }
            ],
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web", du.HASH_LABEL: name}},
            "template": {
                "metadata": {"labels": {"app": "web", du.HASH_LABEL: name}},
                "spec": {"containers": [{"name": "c", "image": image}]},
            },
        },
        "status": {
            "replicas": replicas,
            "readyReplicas": available,
            "availableReplicas": available,
        },
    }


def controller(
    client: FakeClient, *objs: dict[str, Any]
) -> tuple[DeploymentController, FakeRecorder]:
    recorder = FakeRecorder()
    dc = DeploymentController(
        client=client,
        recorder=recorder,
        deployment_informer=informer(
            client, resources.DEPLOYMENTS, *(o for o in objs if o["kind"] == "Deployment")
        ),
        replicaset_informer=informer(
            client, resources.REPLICA_SETS, *(o for o in objs if o["kind"] == "ReplicaSet")
        ),
        pod_informer=informer(client, resources.PODS),
        clock=FakeClock(),
        now=lambda: NOW,
    )
    return dc, recorder


def rs_sizes(client: FakeClient) -> dict[str, int]:
    """The last size each ReplicaSet was written with."""
    sizes = {}
    for call in client.calls:
        if call.verb in ("PUT", "POST") and "/replicasets" in call.path:
            sizes[call.body["metadata"]["name"]] = call.body["spec"]["replicas"]
    return sizes


# -- the hash ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "expected"),
    [(b"", 0x811C9DC5), (b"a", 0xE40C292C), (b"foobar", 0xBF9CF968)],
)
def test_fnv32a(data: bytes, expected: int) -> None:
    assert hashing.fnv32a(data) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    # digits map to the ten characters every upstream pod-template-hash is made of
    [("0123456789", "456789bcdf"), ("3315589093", "77599df4f7"), ("", "")],
)
def test_safe_encode_string(text: str, expected: str) -> None:
    assert hashing.safe_encode_string(text) == expected


def test_compute_hash_is_stable_and_moves_with_the_collision_count() -> None:
    template = deployment()["spec"]["template"]
    reordered = {"spec": template["spec"], "metadata": template["metadata"]}
    first = hashing.compute_hash(template, None)
    assert first == hashing.compute_hash(reordered, None)
    assert set(first) <= set("456789bcdf")
    assert hashing.compute_hash(template, 1) not in (first, hashing.compute_hash(template, 2))
    other = deployment(image="v3")["spec"]["template"]
    assert hashing.compute_hash(other, None) != first


# -- fenceposts (upstream's TestResolveFenceposts) ---------------------------------------------
@pytest.mark.parametrize(
    ("surge", "unavailable", "desired", "expected"),
    [
        ("0%", "0%", 0, (0, 1)),
        ("39%", "39%", 10, (4, 3)),
        (None, "39%", 10, (0, 3)),
        ("39%", None, 10, (4, 0)),
        (None, None, 10, (0, 1)),
        ("25%", "25%", 3, (1, 0)),
        (2, 0, 10, (2, 0)),
    ],
)
def test_resolve_fenceposts(surge: Any, unavailable: Any, desired: int, expected: Any) -> None:
    assert du.resolve_fenceposts(surge, unavailable, desired) == expected


@pytest.mark.parametrize(("surge", "unavailable"), [("oops", "39%"), ("55%", "urg"), ("5", 1)])
def test_resolve_fenceposts_refuses_non_percentages(surge: Any, unavailable: Any) -> None:
    with pytest.raises(du.FencepostError):
        du.resolve_fenceposts(surge, unavailable, 10)


def test_max_unavailable_never_exceeds_replicas() -> None:
    assert du.max_unavailable(deployment(2, surge=0, unavailable=5)) == 2
    assert du.max_unavailable(deployment(0, surge=0, unavailable=5)) == 0
    assert du.max_unavailable(deployment(5, strategy="Recreate")) == 0


# -- rolling update (upstream's rolling_test.go tables) ----------------------------------------
@pytest.mark.parametrize(
    ("replicas", "surge", "old", "new", "expected"),
    [
        (10, 0, 10, 0, None),  # no surge: cannot scale up
        (10, 2, 10, 0, 2),
        (10, 2, 5, 0, 7),
        (10, 2, 10, 2, None),  # at the surge already
        (2, 0, 0, 3, 2),  # bigger than wanted: scaled down
        (10, "25%", 10, 0, 3),  # a percentage surge rounds up
    ],
)
async def test_reconcile_new_replica_set(
    replicas: int, surge: Any, old: int, new: int, expected: int | None
) -> None:
    client = FakeClient()
    dc, _ = controller(client)
    d = deployment(replicas, surge=surge, unavailable=0)
    old_rs = replica_set("old", old)
    new_rs = replica_set("new", new, created="2024-05-01T11:00:00Z", image="v2")
    scaled = await rolling.reconcile_new_replica_set(dc, [old_rs, new_rs], new_rs, d)
    assert scaled == (expected is not None)
    assert rs_sizes(client) == ({} if expected is None else {"new": expected})


@pytest.mark.parametrize(
    ("replicas", "unavailable", "old", "new", "old_ready", "new_ready", "expected"),
    [
        (10, 0, 10, 0, 10, 0, 9),  # both 0 resolve to one unavailable
        (10, 2, 10, 0, 10, 0, 8),
        (10, 2, 10, 0, 8, 0, 8),  # the unhealthy ones go first
        (10, 2, 10, 0, 9, 0, 8),  # one unhealthy, then one ready
        (10, 2, 8, 2, 8, 0, None),  # the new pods are not available yet: wait
    ],
)
async def test_reconcile_old_replica_sets(
    replicas: int,
    unavailable: int,
    old: int,
    new: int,
    old_ready: int,
    new_ready: int,
    expected: int | None,
) -> None:
    client = FakeClient()
    dc, _ = controller(client)
    d = deployment(replicas, surge=0, unavailable=unavailable)
    old_rs = replica_set("old", old, available=old_ready)
    new_rs = replica_set("new", new, available=new_ready, created="2024-05-01T11:00:00Z")
    scaled = await rolling.reconcile_old_replica_sets(
        dc, [old_rs, new_rs], du.filter_active([old_rs]), new_rs, d
    )
    assert scaled == (expected is not None)
    assert rs_sizes(client).get("old") == expected


def test_new_rs_new_replicas_counts_pods_still_to_be_deleted() -> None:
    d = deployment(4, surge=1, unavailable=1)
    old = replica_set("old", 3)
    old["status"]["replicas"] = 4  # scaled down, its pod not deleted yet
    new = replica_set("new", 1, image="v2")
    assert du.new_rs_new_replicas(d, [old, new], new) == 1
    old["status"]["replicas"] = 3
    assert du.new_rs_new_replicas(d, [old, new], new) == 2


# -- proportional scaling (upstream's TestScale) -----------------------------------------------
@pytest.mark.parametrize(
    ("before", "after", "surge", "old", "new", "expected_old", "expected_new"),
    [
        (5, 10, 0, 3, 2, 6, 4),
        (5, 3, 0, 3, 2, 2, 1),
        (9, 4, 0, 1, 8, 0, 4),
        (10, 20, 3, 8, 5, 14, 9),  # the integration test's stalled rollout
    ],
)
async def test_proportional_scaling(
    before: int, after: int, surge: int, old: int, new: int, expected_old: int, expected_new: int
) -> None:
    client = FakeClient()
    dc, recorder = controller(client)
    d = deployment(after, surge=surge, unavailable=2)
    notes = {du.DESIRED_REPLICAS: str(before), du.MAX_REPLICAS: str(before + surge)}
    old_rs = replica_set("old", old, annotations=notes)
    new_rs = replica_set("new", new, created="2024-05-01T11:00:00Z", annotations=notes)
    assert await sync.is_scaling_event(dc, d, [old_rs, new_rs])
    await sync.scale(dc, d, new_rs, [old_rs])
    assert rs_sizes(client) == {"old": expected_old, "new": expected_new}
    put = [c.body for c in client.calls if c.verb == "PUT"]
    assert all(b["metadata"]["annotations"][du.DESIRED_REPLICAS] == str(after) for b in put)
    direction = "up" if after > before else "down"
    assert (
        "Normal",
        "ScalingReplicaSet",
        f"Scaled {direction} replica set old from {old} to {expected_old}",
    ) in recorder.events


async def test_only_active_replica_set_takes_the_whole_scale() -> None:
    client = FakeClient()
    dc, _ = controller(client)
    d = deployment(7)
    await sync.scale(dc, d, replica_set("new", 3), [replica_set("old", 0)])
    assert rs_sizes(client) == {"new": 7}


# -- revisions ---------------------------------------------------------------------------------
def test_rollback_raises_the_revision_and_keeps_history() -> None:
    d = deployment()
    d["metadata"]["annotations"] = {"kubernetes.io/change-cause": "undo", du.LAST_APPLIED: "{}"}
    rs = replica_set("old", 0, annotations={du.REVISION: "1", du.REVISION_HISTORY: ""})
    assert du.set_new_replica_set_annotations(d, rs, "3", exists=True)
    notes = rs["metadata"]["annotations"]
    assert notes[du.REVISION] == "3"
    assert notes[du.REVISION_HISTORY] == "1"
    assert notes["kubernetes.io/change-cause"] == "undo"
    assert du.LAST_APPLIED not in notes
    assert du.set_new_replica_set_annotations(d, rs, "5", exists=True)
    assert notes[du.REVISION_HISTORY] == "1,3"
    assert not du.set_new_replica_set_annotations(d, rs, "4", exists=True)  # never lowered


async def test_cleanup_keeps_revision_history_limit() -> None:
    client = FakeClient()
    dc, _ = controller(client)
    d = deployment()
    d["spec"]["revisionHistoryLimit"] = 1
    old = [replica_set(f"r{i}", 0, annotations={du.REVISION: str(i)}) for i in (3, 1, 2)]
    old[0]["spec"]["replicas"] = 0
    await sync.cleanup_deployment(dc, old, d)
    deleted = [c.path.rsplit("/", 1)[1] for c in client.calls if c.verb == "DELETE"]
    assert deleted == ["r1", "r2"]


# -- status ------------------------------------------------------------------------------------
async def test_complete_rollout_reports_available_and_progressed() -> None:
    client = FakeClient()
    dc, _ = controller(client)
    d = deployment(3, surge="25%", unavailable="25%")
    new_rs = replica_set("web-5b8f75cb99", 3, image="v2")
    await progress.sync_rollout_status(dc, [new_rs], new_rs, d)
    (call,) = client.writes()
    assert call.path.endswith("/deployments/web/status")
    st = call.body["status"]
    assert (st["replicas"], st["updatedReplicas"], st["availableReplicas"]) == (3, 3, 3)
    assert st["observedGeneration"] == 1
    available = cond.get_condition(st, "Available")
    assert available is not None
    assert (available["status"], available["reason"]) == ("True", "MinimumReplicasAvailable")
    progressing = cond.get_condition(st, "Progressing")
    assert progressing is not None
    assert progressing["reason"] == "NewReplicaSetAvailable"
    assert progressing["message"] == 'ReplicaSet "web-5b8f75cb99" has successfully progressed.'


async def test_no_progress_past_the_deadline_times_out() -> None:
    client = FakeClient()
    dc, _ = controller(client)
    stale = cond.rfc3339(NOW - dt.timedelta(seconds=601))
    progressing = {
        "type": "Progressing",
        "status": "True",
        "reason": "ReplicaSetUpdated",
        "message": 'ReplicaSet "new" is progressing.',
        "lastUpdateTime": stale,
        "lastTransitionTime": stale,
    }
    old_rs, new_rs = replica_set("old", 3), replica_set("new", 1, available=0)
    counts = {"replicas": 4, "updatedReplicas": 1, "readyReplicas": 3, "availableReplicas": 3}
    d = deployment(3, surge=1, unavailable=0, status={**counts, "conditions": [progressing]})
    await progress.sync_rollout_status(dc, [old_rs, new_rs], new_rs, d)
    condition = cond.get_condition(client.writes()[0].body["status"], "Progressing")
    assert condition is not None
    assert (condition["status"], condition["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert condition["message"] == 'ReplicaSet "new" has timed out progressing.'


async def test_progress_check_is_queued_for_the_deadline() -> None:
    client = FakeClient()
    dc, _ = controller(client)
    since = cond.rfc3339(NOW - dt.timedelta(seconds=100))
    condition = {
        "type": "Progressing",
        "status": "True",
        "reason": "ReplicaSetUpdated",
        "lastUpdateTime": since,
        "lastTransitionTime": since,
    }
    d = deployment(3, status={"conditions": [condition]})
    assert progress.requeue_stuck_deployment(dc, d, {"replicas": 1}) == 500


# -- a whole sync --------------------------------------------------------------------------------
async def test_first_sync_creates_the_replica_set() -> None:
    client = FakeClient()
    d = deployment(3, surge="25%", unavailable="25%", image="nginx")
    dc, recorder = controller(client, d)
    await dc.sync("default/web")
    creates = [c for c in client.calls if c.verb == "POST"]
    (create,) = creates
    rs = create.body
    template_hash = hashing.compute_hash(d["spec"]["template"], None)
    assert rs["metadata"]["name"] == f"web-{template_hash}"
    assert rs["metadata"]["labels"] == {"app": "web", du.HASH_LABEL: template_hash}
    assert rs["spec"]["selector"]["matchLabels"][du.HASH_LABEL] == template_hash
    assert rs["spec"]["replicas"] == 3
    assert rs["metadata"]["ownerReferences"][0]["uid"] == "d-uid"
    assert rs["metadata"]["annotations"] == {
        du.REVISION: "1",
        du.DESIRED_REPLICAS: "3",
        du.MAX_REPLICAS: "4",
    }
    assert (
        "Normal",
        "ScalingReplicaSet",
        f"Scaled up replica set web-{template_hash} from 0 to 3",
    ) in recorder.events
    statuses = [c.body["status"] for c in client.calls if c.path.endswith("/status")]
    reasons = [(cond.get_condition(s, "Progressing") or {}).get("reason") for s in statuses]
    assert "NewReplicaSetCreated" in reasons


async def test_selecting_everything_is_refused() -> None:
    client = FakeClient()
    d = deployment()
    d["spec"]["selector"] = {}
    dc, recorder = controller(client, d)
    await dc.sync("default/web")
    assert [e[1] for e in recorder.events] == ["SelectingAll"]
    assert not [c for c in client.calls if c.verb == "POST"]


async def test_orphan_replica_set_is_adopted() -> None:
    client = FakeClient()
    d = deployment(1, image="v1")
    orphan = replica_set("orphan", 1)
    orphan["metadata"]["ownerReferences"] = []
    client.answers[("GET", "/apis/apps/v1/namespaces/default/deployments/web")] = d
    client.answers[("PATCH", "/apis/apps/v1/namespaces/default/replicasets/orphan")] = replica_set(
        "orphan", 1
    )
    dc, _ = controller(client, d, orphan)
    await dc.sync("default/web")
    patch = next(c for c in client.calls if c.verb == "PATCH")
    assert patch.path.endswith("/replicasets/orphan")
    assert patch.body["metadata"]["ownerReferences"][0]["uid"] == "d-uid"
    # the adopted ReplicaSet has the template: it is the new one, nothing is created
    assert not [c for c in client.calls if c.verb == "POST"]


# -- Recreate ----------------------------------------------------------------------------------
def pod(name: str, rs_uid: str, phase: str = "Running") -> dict[str, Any]:
    rs_name = rs_uid.removeprefix("uid-")
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "default",
            "labels": {"app": "web"},
            "ownerReferences": [
                {"kind": "ReplicaSet", "name": rs_name, "uid": rs_uid, "controller": True}
            ],
        },
        "status": {"phase": phase},
    }


@pytest.mark.parametrize(
    ("reported", "phases", "running"),
    [
        (1, [], True),  # the old ReplicaSet still reports a pod
        (0, ["Running"], True),
        (0, ["Pending"], True),
        (0, ["Succeeded", "Failed"], False),  # terminated pods do not count
        (0, [], False),
    ],
)
def test_old_pods_running(reported: int, phases: list[str], running: bool) -> None:
    old = replica_set("old", 0)
    old["status"]["replicas"] = reported
    new = replica_set("new", 1, image="v2")
    pod_map = {
        "uid-old": [pod(f"p{i}", "uid-old", phase) for i, phase in enumerate(phases)],
        "uid-new": [pod("n", "uid-new")],
    }
    assert recreate.old_pods_running(new, [old], pod_map) is running


async def test_recreate_waits_for_old_pods_before_creating() -> None:
    client = FakeClient()
    d = deployment(2, strategy="Recreate")
    old = replica_set("old", 2)
    dc, _ = controller(client, d, old)
    await dc.sync("default/web")
    assert rs_sizes(client) == {"old": 0}  # scaled down, nothing created
    old_gone = replica_set("old", 0)
    old_gone["status"]["replicas"] = 0
    client2 = FakeClient()
    dc2, _ = controller(client2, d, old_gone)
    await dc2.sync("default/web")
    created = [c.body for c in client2.calls if c.verb == "POST"]
    assert [rs["spec"]["replicas"] for rs in created] == [2]


# -- paused, rollback annotation, collisions, handlers -------------------------------------------
async def test_pausing_and_resuming_set_progressing_unknown() -> None:
    client = FakeClient()
    dc, _ = controller(client)
    d = deployment()
    d["spec"]["paused"] = True
    await sync.check_paused_conditions(dc, d)
    condition = cond.get_condition(d["status"], cond.PROGRESSING)
    assert condition is not None
    assert (condition["status"], condition["reason"]) == ("Unknown", "DeploymentPaused")
    assert condition["message"] == "Deployment is paused"
    d["spec"]["paused"] = False
    await sync.check_paused_conditions(dc, d)
    condition = cond.get_condition(d["status"], cond.PROGRESSING)
    assert condition is not None
    assert (condition["reason"], condition["message"]) == (
        "DeploymentResumed",
        "Deployment is resumed",
    )
    assert len(client.writes()) == 2


async def test_rollback_annotation_restores_the_old_template() -> None:
    client = FakeClient()
    d = deployment(1, image="v2")
    d["metadata"]["annotations"] = {du.ROLLBACK_TO: "0"}
    old = replica_set("old", 0, annotations={du.REVISION: "1"})
    current = replica_set("cur", 1, image="v2", annotations={du.REVISION: "2"})
    dc, recorder = controller(client, d, old, current)
    await dc.sync("default/web")
    update = next(
        c.body for c in client.calls if c.verb == "PUT" and c.path.endswith("/deployments/web")
    )
    assert update["spec"]["template"]["spec"]["containers"][0]["image"] == "v1"
    assert du.HASH_LABEL not in update["spec"]["template"]["metadata"]["labels"]
    assert du.ROLLBACK_TO not in update["metadata"]["annotations"]
    assert ("Normal", "DeploymentRollback", 'Rolled back deployment "web" to revision 1') in (
        recorder.events
    )


async def test_hash_collision_bumps_collision_count() -> None:
    d = deployment(1, image="v2")
    name = f"web-{hashing.compute_hash(d['spec']['template'], None)}"
    squatter = replica_set(name, 1, image="other")
    squatter["metadata"]["ownerReferences"] = [
        {"kind": "Deployment", "name": "else", "uid": "other-uid", "controller": True}
    ]
    client = FakeClient()
    client.answers[("POST", "/apis/apps/v1/namespaces/default/replicasets")] = ApiError(
        409, "AlreadyExists", "exists"
    )
    dc, _ = controller(client, d, squatter)
    with pytest.raises(ApiError):
        await dc.sync("default/web")
    statuses = [c.body["status"] for c in client.calls if c.path.endswith("/status")]
    assert statuses[-1]["collisionCount"] == 1
    assert hashing.compute_hash(d["spec"]["template"], 1) != name.removeprefix("web-")


def test_handlers_enqueue_the_owner_or_matching_deployments() -> None:
    client = FakeClient()
    d = deployment(strategy="Recreate")
    owned = replica_set("owned", 1)
    dc, _ = controller(client, d)
    dc._rs_added(owned)
    assert dc.queue.get_nowait() == "default/web"
    dc.queue.done("default/web")
    orphan = replica_set("orphan", 1)
    orphan["metadata"]["ownerReferences"] = []
    dc._rs_added(orphan)
    assert dc.queue.get_nowait() == "default/web"
    dc.queue.done("default/web")
    stranger = replica_set("stranger", 1)
    stranger["metadata"]["labels"] = {"app": "other"}
    stranger["metadata"]["ownerReferences"] = []
    dc._rs_added(stranger)
    assert len(dc.queue) == 0
    dc.replicasets.put(owned)
    dc._pod_deleted(pod("p", "uid-owned"))  # a Recreate Deployment's pod went
    assert dc.queue.get_nowait() == "default/web"


async def test_a_bad_max_surge_is_logged_not_retried() -> None:
    client = FakeClient()
    d = deployment(3, surge="oops", unavailable=1)
    dc, _ = controller(client, d)
    await dc.sync("default/web")  # does not raise: the queue would retry it forever
    assert not [c for c in client.calls if c.verb == "POST"]
