"""statefulset on fakes: identity and claims, revision hashing and history, one pass of the
OrderedReady / Parallel / RollingUpdate / OnDelete algorithm, status, and a whole sync."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pocketkube.client import resources
from pocketkube.client.clock import FakeClock
from pocketkube.client.rest import ApiError
from pocketkube.controllers.statefulset import control as ctl
from pocketkube.controllers.statefulset import history as hist
from pocketkube.controllers.statefulset import identity as ident
from pocketkube.controllers.statefulset.controller import StatefulSetController, compute_status
from tests.unit.controllers.fakes import NOW, FakeClient, informer
from tests.unit.controllers.test_podcontrol import FakeRecorder

PODS = "/api/v1/namespaces/default/pods"
PVCS = "/api/v1/namespaces/default/persistentvolumeclaims"
REVS = "/apis/apps/v1/namespaces/default/controllerrevisions"


def sts(
    replicas: int = 3,
    *,
    policy: str = "OrderedReady",
    strategy: str = "RollingUpdate",
    partition: int = 0,
    image: str = "v1",
    claims: bool = True,
    status: dict[str, Any] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "replicas": replicas,
        "serviceName": "web-svc",
        "podManagementPolicy": policy,
        "selector": {"matchLabels": {"app": "web"}},
        "updateStrategy": {"type": strategy},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [{"name": "c", "image": image}],
                "volumes": [{"name": "data", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}],
            },
        },
    }
    if strategy == "RollingUpdate":
        spec["updateStrategy"]["rollingUpdate"] = {"partition": partition}
    if claims:
        spec["volumeClaimTemplates"] = [
            {
                "metadata": {"name": "data", "labels": {"kind": "disk"}},
                "spec": {"accessModes": ["ReadWriteOnce"]},
            }
        ]
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": "default", "uid": "sts-uid", "generation": 1},
        "spec": spec,
        "status": status or {},
    }


def running(
    s: dict[str, Any], ordinal: int, rev: str = "rev-1", *, ready: bool = True, phase: str = ""
) -> dict[str, Any]:
    pod = ident.new_pod(s, ordinal, rev)
    pod["metadata"]["uid"] = f"uid-{ordinal}"
    pod["metadata"]["resourceVersion"] = "1"
    status: dict[str, Any] = {"phase": phase or ("Running" if ready else "Pending")}
    if ready:
        status["conditions"] = [
            {"type": "Ready", "status": "True", "lastTransitionTime": "2024-05-01T11:00:00Z"}
        ]
    pod["status"] = status
    return pod


def plan(s: dict[str, Any], current: str = "rev-1", update: str = "rev-1") -> ctl.Plan:
    return ctl.Plan(current_set=s, update_set=s, current_revision=current, update_revision=update)


def control(client: FakeClient, claims: list[Any] | None = None) -> tuple[Any, FakeRecorder]:
    recorder = FakeRecorder()
    claim_store = informer(client, resources.PERSISTENT_VOLUME_CLAIMS, *(claims or [])).store
    pods = ctl.StatefulPodControl(client=client, recorder=recorder, claims=claim_store)
    return ctl.StatefulSetControl(pods=pods, now=lambda: NOW), recorder


def actions(client: FakeClient) -> list[str]:
    out = []
    for call in client.writes():
        name = call.path.rsplit("/", 1)[1]
        if call.verb == "POST":
            name = call.body["metadata"]["name"]
        out.append(f"{call.verb} {name}")
    return out


# -- identity ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "parent", "ordinal"),
    [
        ("web-0", "web", 0),
        ("web-12", "web", 12),
        ("my-web-3", "my-web", 3),
        ("web", "", -1),
        ("web-x", "", -1),
    ],
)
def test_parent_and_ordinal(name: str, parent: str, ordinal: int) -> None:
    assert ident.parent_and_ordinal({"metadata": {"name": name}}) == (parent, ordinal)


def test_new_pod_identity_and_storage() -> None:
    pod = ident.new_pod(sts(), 1, "web-abc")
    meta, spec = pod["metadata"], pod["spec"]
    assert meta["name"] == "web-1"
    assert "generateName" not in meta
    assert meta["labels"] == {
        "app": "web",
        "statefulset.kubernetes.io/pod-name": "web-1",
        "apps.kubernetes.io/pod-index": "1",
        "controller-revision-hash": "web-abc",
    }
    assert meta["ownerReferences"][0]["kind"] == "StatefulSet"
    assert (spec["hostname"], spec["subdomain"]) == ("web-1", "web-svc")
    assert spec["volumes"] == [
        {"name": "tmp", "emptyDir": {}},
        {"name": "data", "persistentVolumeClaim": {"claimName": "data-web-1"}},
    ]
    assert ident.identity_matches(sts(), pod)
    assert ident.storage_matches(sts(), pod)
    broken = copy.deepcopy(pod)
    broken["spec"]["hostname"] = "other"
    assert not ident.identity_matches(sts(), broken)


def test_claims_for() -> None:
    (claim,) = ident.claims_for(sts(), 2).values()
    assert claim["metadata"] == {
        "name": "data-web-2",
        "namespace": "default",
        "labels": {"kind": "disk", "app": "web"},
    }
    assert claim["spec"] == {"accessModes": ["ReadWriteOnce"]}


# -- history -----------------------------------------------------------------------------------
def test_fnv32_and_encoding() -> None:
    assert hist.fnv32(b"") == 0x811C9DC5
    assert hist.fnv32(b"a") == 0x050C5D7E  # FNV-1, not FNV-1a
    assert hist.safe_encode("0123456789") == "456789bcdf"  # "0" is 48, 48 % 27 = 21


def test_revision_names_follow_the_template() -> None:
    a = hist.new_revision(sts(), 1, 0)
    assert a["metadata"]["name"].startswith("web-")
    assert a["data"]["spec"]["template"]["$patch"] == "replace"
    assert hist.new_revision(sts(replicas=5), 1, 0)["metadata"]["name"] == a["metadata"]["name"]
    assert hist.new_revision(sts(image="v2"), 1, 0)["metadata"]["name"] != a["metadata"]["name"]
    assert hist.new_revision(sts(), 1, 1)["metadata"]["name"] != a["metadata"]["name"]
    restored = hist.apply_revision(sts(image="v2"), a)
    assert restored["spec"]["template"]["spec"]["containers"][0]["image"] == "v1"


async def test_revisions_create_reuse_renumber() -> None:
    client = FakeClient()
    h = hist.History(client=client)
    first = await h.revisions_for(sts(), [])
    assert first.update["revision"] == 1
    assert first.current is first.update
    assert [c.verb for c in client.calls] == ["POST"]
    client.calls.clear()
    same = await h.revisions_for(sts(), [first.update])
    assert same.update is first.update
    assert client.calls == []
    v1_status = {"currentRevision": first.update["metadata"]["name"]}
    second = await h.revisions_for(sts(image="v2", status=v1_status), [first.update])
    assert second.update["revision"] == 2
    assert second.current is first.update
    # back to v1: the old revision is renumbered, not duplicated
    client.calls.clear()
    back = await h.revisions_for(sts(status=v1_status), [first.update, second.update])
    assert back.update["metadata"]["name"] == first.update["metadata"]["name"]
    assert back.update["revision"] == 3
    assert [c.verb for c in client.calls] == ["PUT"]


async def test_revision_collision_counts() -> None:
    client = FakeClient()
    wanted = hist.new_revision(sts(), 1, 0)
    path = f"{REVS}/{wanted['metadata']['name']}"
    taken = copy.deepcopy(wanted)
    taken["data"] = {"something": "else"}
    calls = 0

    def create(body: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ApiError(409, "AlreadyExists", "exists")
        return body

    client.answers[("POST", REVS)] = create
    client.answers[("GET", path)] = taken
    revs = await hist.History(client=client).revisions_for(sts(), [])
    assert revs.collision_count == 1
    assert revs.update["metadata"]["name"] == hist.new_revision(sts(), 1, 1)["metadata"]["name"]


async def test_truncate_keeps_live_and_limit() -> None:
    client = FakeClient()
    s = sts()
    s["spec"]["revisionHistoryLimit"] = 1
    revs = [
        {"metadata": {"name": f"web-r{i}", "namespace": "default"}, "revision": i}
        for i in range(1, 6)
    ]
    pods = [running(s, 0, "web-r2")]
    await hist.History(client=client).truncate(s, pods, revs, revs[3], revs[4])
    # live: r2 (a pod), r4 (current), r5 (update); history r1, r3: keep 1 (r3)
    assert [c.path.rsplit("/", 1)[1] for c in client.calls] == ["web-r1"]


# -- one pass ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("policy", "existing", "expected"),
    [
        ("OrderedReady", [], ["POST data-web-0", "POST web-0"]),
        ("OrderedReady", [(0, False)], []),  # web-0 not ready yet: wait
        ("OrderedReady", [(0, True)], ["POST data-web-1", "POST web-1"]),
        ("OrderedReady", [(0, True), (1, True), (2, True)], []),
        (
            "Parallel",
            [],
            [
                "POST data-web-0",
                "POST web-0",
                "POST data-web-1",
                "POST web-1",
                "POST data-web-2",
                "POST web-2",
            ],
        ),
        (
            "Parallel",
            [(0, False)],
            ["POST data-web-1", "POST web-1", "POST data-web-2", "POST web-2"],
        ),
    ],
)
async def test_scale_up(policy: str, existing: list[tuple[int, bool]], expected: list[str]) -> None:
    client = FakeClient()
    s = sts(policy=policy)
    pods = [running(s, i, ready=r) for i, r in existing]
    claims = [c for i, _ in existing for c in ident.claims_for(s, i).values()]
    control_, recorder = control(client, claims)
    await control_.update(s, plan(s), pods)
    assert actions(client) == expected
    if expected and policy == "OrderedReady":
        assert (
            "Normal",
            "SuccessfulCreate",
            f"create Pod web-{expected[-1][-1]} in StatefulSet web successful",
        ) in recorder.events
        assert (
            "Normal",
            "SuccessfulCreate",
            f"create Claim data-web-{expected[-1][-1]} Pod web-{expected[-1][-1]} in "
            "StatefulSet web success",
        ) in recorder.events


@pytest.mark.parametrize(
    ("policy", "states", "expected"),
    [
        ("OrderedReady", [True, True, True, True], ["DELETE web-3"]),  # one at a time
        ("OrderedReady", [True, False, True, True], []),  # an unhealthy replica blocks
        ("OrderedReady", [True, True, False, True], ["DELETE web-3"]),
        ("OrderedReady", [True, True, True, False], ["DELETE web-3"]),  # unless it is first
        ("Parallel", [True, True, True, True], ["DELETE web-3", "DELETE web-2"]),
    ],
)
async def test_scale_down(policy: str, states: list[bool], expected: list[str]) -> None:
    client = FakeClient()
    s = sts(2, policy=policy, claims=False)
    pods = [running(s, i, ready=r) for i, r in enumerate(states)]
    control_, _ = control(client)
    await control_.update(s, plan(s), pods)
    assert actions(client) == expected


async def test_terminating_condemned_pod_blocks_ordered_scale_down() -> None:
    client = FakeClient()
    s = sts(1, claims=False)
    pods = [running(s, i) for i in range(3)]
    pods[2]["metadata"]["deletionTimestamp"] = "2024-05-01T12:00:00Z"
    control_, _ = control(client)
    await control_.update(s, plan(s), pods)
    assert actions(client) == []


async def test_failed_pod_is_deleted() -> None:
    client = FakeClient()
    s = sts(2, claims=False)
    pods = [running(s, 0, phase="Failed", ready=False), running(s, 1)]
    control_, recorder = control(client)
    await control_.update(s, plan(s), pods)
    assert actions(client) == ["DELETE web-0"]
    assert recorder.events == [
        ("Normal", "SuccessfulDelete", "delete Pod web-0 in StatefulSet web successful")
    ]


async def test_identity_is_restored() -> None:
    client = FakeClient()
    s = sts(1, claims=False)
    pod = running(s, 0)
    pod["spec"]["hostname"] = "wrong"
    control_, _ = control(client)
    await control_.update(s, plan(s), [pod])
    assert actions(client) == ["PUT web-0"]
    assert client.calls[0].body["spec"]["hostname"] == "web-0"


@pytest.mark.parametrize(
    ("strategy", "partition", "revisions", "expected"),
    [
        ("RollingUpdate", 0, ["old", "old", "old"], ["DELETE web-2"]),  # highest first
        ("RollingUpdate", 0, ["old", "old", "new"], ["DELETE web-1"]),
        ("RollingUpdate", 0, ["new", "new", "new"], []),
        ("RollingUpdate", 2, ["old", "old", "new"], []),  # below the partition: kept
        ("RollingUpdate", 1, ["old", "old", "new"], ["DELETE web-1"]),
        ("OnDelete", 0, ["old", "old", "old"], []),
    ],
)
async def test_rolling_update(
    strategy: str, partition: int, revisions: list[str], expected: list[str]
) -> None:
    client = FakeClient()
    s = sts(3, strategy=strategy, partition=partition, claims=False)
    pods = [running(s, i, rev) for i, rev in enumerate(revisions)]
    control_, _ = control(client)
    await control_.update(s, plan(s, "old", "new"), pods)
    assert actions(client) == expected


async def test_rolling_update_waits_for_an_unhealthy_updated_pod() -> None:
    client = FakeClient()
    s = sts(3, policy="Parallel", claims=False)
    pods = [running(s, 0, "old"), running(s, 1, "old"), running(s, 2, "new", ready=False)]
    control_, _ = control(client)
    await control_.update(s, plan(s, "old", "new"), pods)
    assert actions(client) == []


async def test_pods_below_partition_are_created_from_the_current_revision() -> None:
    client = FakeClient()
    s = sts(2, partition=1, policy="Parallel", claims=False)
    old = copy.deepcopy(s)
    s["spec"]["template"]["spec"]["containers"][0]["image"] = "v2"
    control_, _ = control(client)
    p = ctl.Plan(current_set=old, update_set=s, current_revision="old", update_revision="new")
    await control_.update(s, p, [])
    made = {c.body["metadata"]["name"]: c.body for c in client.calls}
    assert made["web-0"]["spec"]["containers"][0]["image"] == "v1"
    assert made["web-0"]["metadata"]["labels"]["controller-revision-hash"] == "old"
    assert made["web-1"]["spec"]["containers"][0]["image"] == "v2"
    assert made["web-1"]["metadata"]["labels"]["controller-revision-hash"] == "new"


async def test_minready_requeues_ordered_creation() -> None:
    client = FakeClient()
    s = sts(2, claims=False)
    s["spec"]["minReadySeconds"] = 30
    pod = running(s, 0)
    pod["status"]["conditions"][0]["lastTransitionTime"] = "2024-05-01T11:59:50Z"
    control_, _ = control(client)
    outcome = await control_.update(s, plan(s), [pod])
    assert actions(client) == []
    assert outcome.requeue_after == pytest.approx(20)


async def test_create_failure_event() -> None:
    client = FakeClient()
    client.answers[("POST", PODS)] = ApiError(403, "Forbidden", "no")
    s = sts(1, claims=False)
    control_, recorder = control(client)
    outcome = await control_.update(s, plan(s), [])
    assert len(outcome.errors) == 1
    assert recorder.events == [
        ("Warning", "FailedCreate", "create Pod web-0 in StatefulSet web failed error: no")
    ]


# -- status and sync ---------------------------------------------------------------------------
def test_compute_status() -> None:
    s = sts(3, claims=False)
    s["metadata"]["generation"] = 4
    revs = hist.Revisions(
        current={"metadata": {"name": "old"}},
        update={"metadata": {"name": "new"}},
        collision_count=0,
    )
    pods = [running(s, 0, "old"), running(s, 1, "new", ready=False), running(s, 2, "new")]
    assert compute_status(s, pods, revs, NOW) == {
        "replicas": 3,
        "readyReplicas": 2,
        "availableReplicas": 2,
        "currentReplicas": 1,
        "updatedReplicas": 2,
        "currentRevision": "old",
        "updateRevision": "new",
        "observedGeneration": 4,
    }
    done = [running(s, i, "new") for i in range(3)]
    status = compute_status(s, done, revs, NOW)
    assert (status["currentRevision"], status["currentReplicas"]) == ("new", 3)


async def test_sync_creates_the_first_pod_and_a_revision() -> None:
    client = FakeClient()
    s = sts(2)
    recorder = FakeRecorder()
    controller = StatefulSetController(
        client=client,
        set_informer=informer(client, resources.STATEFUL_SETS, s),
        pod_informer=informer(client, resources.PODS),
        revision_informer=informer(client, resources.CONTROLLER_REVISIONS),
        claim_informer=informer(client, resources.PERSISTENT_VOLUME_CLAIMS),
        recorder=recorder,
        clock=FakeClock(),
        now=lambda: NOW,
    )
    await controller.sync("default/web")
    rev = hist.new_revision(s, 1, 0)["metadata"]["name"]
    assert actions(client) == [f"POST {rev}", "POST data-web-0", "POST web-0", "PUT status"]
    pod = next(c.body for c in client.calls if c.path == PODS)
    assert pod["metadata"]["labels"]["controller-revision-hash"] == rev
    status = client.calls[-1].body["status"]
    assert status["currentRevision"] == status["updateRevision"] == rev
    assert status["replicas"] == 0
    await controller.sync("default/gone")  # a deleted set: nothing to do


async def test_sync_with_a_bad_selector_does_nothing() -> None:
    client = FakeClient()
    s = sts(2)
    s["spec"]["selector"] = {"matchExpressions": [{"key": "a", "operator": "Nope"}]}
    controller = StatefulSetController(
        client=client,
        set_informer=informer(client, resources.STATEFUL_SETS, s),
        pod_informer=informer(client, resources.PODS),
        revision_informer=informer(client, resources.CONTROLLER_REVISIONS),
        claim_informer=informer(client, resources.PERSISTENT_VOLUME_CLAIMS),
        recorder=FakeRecorder(),
    )
    await controller.sync("default/web")
    assert client.calls == []


# -- claim retention ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("when_deleted", "when_scaled", "ordinal", "owners"),
    [
        ("Retain", "Retain", 0, []),
        ("Retain", "Retain", 5, []),
        ("Delete", "Retain", 0, ["StatefulSet"]),
        ("Delete", "Retain", 5, ["StatefulSet"]),
        ("Retain", "Delete", 0, []),
        ("Retain", "Delete", 5, ["Pod"]),
        ("Delete", "Delete", 0, ["StatefulSet"]),
        ("Delete", "Delete", 5, ["Pod"]),
    ],
)
def test_claim_owner_refs(
    when_deleted: str, when_scaled: str, ordinal: int, owners: list[str]
) -> None:
    s = sts(3)
    s["spec"]["persistentVolumeClaimRetentionPolicy"] = {
        "whenDeleted": when_deleted,
        "whenScaled": when_scaled,
    }
    pod = running(s, ordinal)
    (claim,) = ident.claims_for(s, ordinal).values()
    # start from the opposite: both owners present
    claim["metadata"]["ownerReferences"] = [
        {"kind": "StatefulSet", "uid": "sts-uid"},
        {"kind": "Pod", "uid": pod["metadata"]["uid"]},
    ]
    ident.update_claim_owner_refs(s, pod, claim)
    assert [r["kind"] for r in claim["metadata"].get("ownerReferences", [])] == owners
    assert not ident.update_claim_owner_refs(s, pod, claim)  # settled


async def test_scaled_down_claims_get_the_pod_as_owner() -> None:
    client = FakeClient()
    s = sts(1)
    s["spec"]["persistentVolumeClaimRetentionPolicy"] = {
        "whenDeleted": "Retain",
        "whenScaled": "Delete",
    }
    pods = [running(s, 0), running(s, 1)]
    claims = [c for i in range(2) for c in ident.claims_for(s, i).values()]
    control_, _ = control(client, claims)
    await control_.update(s, plan(s), pods)
    assert actions(client) == ["PUT data-web-1", "DELETE web-1"]
    (ref,) = client.calls[0].body["metadata"]["ownerReferences"]
    assert (ref["kind"], ref["name"], ref["uid"]) == ("Pod", "web-1", "uid-1")


async def test_new_claims_are_owned_by_the_set_when_deleted_deletes() -> None:
    client = FakeClient()
    s = sts(1)
    s["spec"]["persistentVolumeClaimRetentionPolicy"] = {
        "whenDeleted": "Delete",
        "whenScaled": "Retain",
    }
    control_, _ = control(client)
    await control_.update(s, plan(s), [])
    claim = client.calls[0].body
    assert claim["metadata"]["ownerReferences"] == [
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": "sts-uid"}
    ]


def test_handlers_enqueue_the_set() -> None:
    client = FakeClient()
    s = sts(2)
    controller = StatefulSetController(
        client=client,
        set_informer=informer(client, resources.STATEFUL_SETS, s),
        pod_informer=informer(client, resources.PODS),
        revision_informer=informer(client, resources.CONTROLLER_REVISIONS),
        claim_informer=informer(client, resources.PERSISTENT_VOLUME_CLAIMS),
        recorder=FakeRecorder(),
    )
    q = controller.queue
    q.done(q.get_nowait())  # the set's own add
    owned = running(s, 0)
    owned["metadata"]["ownerReferences"][0]["uid"] = "sts-uid"
    orphan = running(s, 1)
    orphan["metadata"].pop("ownerReferences")
    stranger = running(s, 2)
    stranger["metadata"]["ownerReferences"][0]["uid"] = "someone-else"
    revision = hist.new_revision(s, 1, 0)
    for handler, obj in [
        (controller._owned_changed, owned),
        (controller._owned_changed, orphan),
        (controller._owner_only, owned),
        (controller._owner_only, revision),
    ]:
        handler(obj)
        assert q.get_nowait() == "default/web"
        q.done("default/web")
    controller._owned_changed(stranger)
    unrelated = running(s, 3)
    unrelated["metadata"].pop("ownerReferences")
    unrelated["metadata"]["labels"] = {"app": "other"}
    controller._owned_changed(unrelated)
    assert len(q) == 0


async def test_sync_adopts_orphan_revisions() -> None:
    client = FakeClient()
    s = sts(1)
    client.answers[("GET", "/apis/apps/v1/namespaces/default/statefulsets/web")] = s
    orphan = hist.new_revision(s, 1, 0)
    orphan["metadata"].pop("ownerReferences")
    controller = StatefulSetController(
        client=client,
        set_informer=informer(client, resources.STATEFUL_SETS, s),
        pod_informer=informer(client, resources.PODS),
        revision_informer=informer(client, resources.CONTROLLER_REVISIONS, orphan),
        claim_informer=informer(client, resources.PERSISTENT_VOLUME_CLAIMS),
        recorder=FakeRecorder(),
        now=lambda: NOW,
    )
    await controller.sync("default/web")
    name = orphan["metadata"]["name"]
    patch = next(c for c in client.calls if c.verb == "PATCH")
    assert patch.path == f"{REVS}/{name}"
    assert patch.body["metadata"]["ownerReferences"][0]["uid"] == "sts-uid"
    assert f"POST {name}" not in actions(client)  # the adopted revision is the update revision
