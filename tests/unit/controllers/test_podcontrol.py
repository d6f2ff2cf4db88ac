"""controllers/podcontrol: pods from templates, creating/deleting with events, expectations,
the deletion ranking, slow-start batches and adoption/release of pods."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from pocketkube.api.labels import selector_from_set
from pocketkube.client import resources
from pocketkube.client.clock import FakeClock
from pocketkube.client.rest import ApiError
from pocketkube.controllers import podcontrol as pc
from tests.unit.controllers.fakes import NOW, FakeClient

RS = resources.REPLICA_SETS
PODS = "/api/v1/namespaces/default/pods"


class FakeRecorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def post(
        self, regarding: Any, *, type: Any, reason: str, action: str, note: str, **_: Any
    ) -> None:
        self.events.append((type, reason, note))


def owner(name: str = "web", *, uid: str = "rs-uid", deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default", "uid": uid}
    if deleting:
        meta["deletionTimestamp"] = "2024-05-01T11:00:00Z"
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": meta}


def pod(
    name: str,
    *,
    phase: str = "Running",
    node: str = "n1",
    ready: bool | None = None,
    ready_since: str = "2024-05-01T11:00:00Z",
    created: str = "2024-05-01T10:00:00Z",
    restarts: int = 0,
    labels: dict[str, str] | None = None,
    owner_uid: str | None = None,
    deleting: bool = False,
    cost: str | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": "default",
        "uid": f"uid-{name}",
        "creationTimestamp": created,
        "labels": labels if labels is not None else {"app": "web"},
    }
    if owner_uid:
        meta["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": "x",
                "uid": owner_uid,
                "controller": True,
            }
        ]
    if deleting:
        meta["deletionTimestamp"] = "2024-05-01T11:00:00Z"
    if cost is not None:
        meta["annotations"] = {pc.POD_DELETION_COST: cost}
    status: dict[str, Any] = {"phase": phase, "containerStatuses": [{"restartCount": restarts}]}
    if ready is not None:
        status["conditions"] = [
            {
                "type": "Ready",
                "status": "True" if ready else "False",
                "lastTransitionTime": ready_since,
            }
        ]
    return {"metadata": meta, "spec": {"nodeName": node} if node else {}, "status": status}


# -- state -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("obj", "active"),
    [
        (pod("a", phase="Pending"), True),
        (pod("a", phase="Running"), True),
        (pod("a", phase="Unknown"), True),
        (pod("a", phase="Succeeded"), False),
        (pod("a", phase="Failed"), False),
        (pod("a", deleting=True), False),
    ],
)
def test_is_pod_active(obj: dict[str, Any], active: bool) -> None:
    assert pc.is_pod_active(obj) is active


@pytest.mark.parametrize(
    ("obj", "min_ready", "available"),
    [
        (pod("a"), 0, False),  # no Ready condition
        (pod("a", ready=False), 0, False),
        (pod("a", ready=True), 0, True),
        (pod("a", ready=True, ready_since="2024-05-01T11:59:00Z"), 60, True),
        (pod("a", ready=True, ready_since="2024-05-01T11:59:30Z"), 60, False),
        (pod("a", ready=True, ready_since=""), 60, False),
    ],
)
def test_is_pod_available(obj: dict[str, Any], min_ready: int, available: bool) -> None:
    assert pc.is_pod_available(obj, min_ready, NOW) is available
    assert pc.is_pod_ready(obj) is bool(
        obj["status"].get("conditions") and obj["status"]["conditions"][0]["status"] == "True"
    )


def test_controller_ref() -> None:
    assert pc.controller_ref(pod("a")) is None
    assert pc.controller_ref(pod("a", owner_uid="u"))["uid"] == "u"  # type: ignore[index]
    other = pod("a")
    other["metadata"]["ownerReferences"] = [{"uid": "x", "controller": False}]
    assert pc.controller_ref(other) is None


def test_pod_from_template() -> None:
    template = {
        "metadata": {
            "labels": {"app": "web"},
            "annotations": {"a": "b"},
            "finalizers": ["f"],
            "name": "ignored",
        },
        "spec": {"containers": [{"name": "c", "image": "i"}]},
    }
    got = pc.pod_from_template(template, owner(), RS)
    assert got["metadata"] == {
        "generateName": "web-",
        "namespace": "default",
        "labels": {"app": "web"},
        "annotations": {"a": "b"},
        "finalizers": ["f"],
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": "web",
                "uid": "rs-uid",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    assert got["spec"] == template["spec"]
    assert got["spec"] is not template["spec"]


# -- creating and deleting ---------------------------------------------------------------------
async def test_create_and_delete_record_events() -> None:
    client = FakeClient()
    client.answers[("POST", PODS)] = lambda body: {**body, "metadata": {"name": "web-abc"}}
    recorder = FakeRecorder()
    control = pc.PodControl(client=client, recorder=recorder)
    template = {"metadata": {"labels": {"app": "web"}}, "spec": {}}
    await control.create_pod_from_template(template, owner(), RS)
    await control.delete_pod("default", "web-abc", owner())
    assert recorder.events == [
        ("Normal", "SuccessfulCreate", "Created pod: web-abc"),
        ("Normal", "SuccessfulDelete", "Deleted pod: web-abc"),
    ]
    assert [(c.verb, c.path) for c in client.calls] == [
        ("POST", PODS),
        ("DELETE", f"{PODS}/web-abc"),
    ]


async def test_failures_record_warning_events() -> None:
    client = FakeClient()
    client.answers[("POST", PODS)] = ApiError(422, "Invalid", "bad pod")
    client.answers[("DELETE", f"{PODS}/a")] = ApiError(500, "InternalError", "boom")
    client.answers[("DELETE", f"{PODS}/gone")] = ApiError(404, "NotFound", "gone")
    recorder = FakeRecorder()
    control = pc.PodControl(client=client, recorder=recorder)
    template = {"metadata": {"labels": {"app": "web"}}, "spec": {}}
    with pytest.raises(ApiError):
        await control.create_pod_from_template(template, owner(), RS)
    with pytest.raises(ApiError):
        await control.delete_pod("default", "a", owner())
    with pytest.raises(ApiError):
        await control.delete_pod("default", "gone", owner())
    assert recorder.events == [
        ("Warning", "FailedCreate", "Error creating: bad pod"),
        ("Warning", "FailedDelete", "Error deleting: boom"),
    ]


async def test_create_refuses_a_pod_without_labels() -> None:
    control = pc.PodControl(client=FakeClient(), recorder=FakeRecorder())
    with pytest.raises(ValueError, match="no labels"):
        await control.create_pod_from_template({"spec": {}}, owner(), RS)


async def test_namespace_terminating_records_no_event() -> None:
    client = FakeClient()
    body = {"details": {"causes": [{"reason": "NamespaceTerminating"}]}}
    client.answers[("POST", PODS)] = ApiError(403, "Forbidden", "terminating", body)
    recorder = FakeRecorder()
    control = pc.PodControl(client=client, recorder=recorder)
    with pytest.raises(ApiError):
        await control.create_pod_from_template({"metadata": {"labels": {"a": "b"}}}, owner(), RS)
    assert recorder.events == []


# -- expectations ------------------------------------------------------------------------------
def test_expectations_creations() -> None:
    clock = FakeClock()
    exp = pc.ControllerExpectations(clock=clock)
    assert exp.satisfied("ns/rs")  # no record
    exp.expect_creations("ns/rs", 2)
    assert not exp.satisfied("ns/rs")
    exp.creation_observed("ns/rs")
    assert not exp.satisfied("ns/rs")
    exp.creation_observed("ns/rs")
    assert exp.satisfied("ns/rs")
    assert exp.pending("ns/rs") == (0, 0)


def test_expectations_lowered_by_failures_and_expire() -> None:
    clock = FakeClock()
    exp = pc.ControllerExpectations(clock=clock)
    exp.expect_creations("k", 3)
    exp.lower_expectations("k", add=2)
    assert exp.pending("k") == (1, 0)
    assert not exp.satisfied("k")
    clock.advance(pc.EXPECTATIONS_TIMEOUT + 1)
    assert exp.satisfied("k")
    exp.delete("k")
    assert exp.pending("k") == (0, 0)


def test_expectations_deletions_count_each_pod_once() -> None:
    exp = pc.ControllerExpectations(clock=FakeClock())
    exp.expect_deletions("k", ["default/a", "default/b"])
    exp.deletion_observed("k", "default/a")
    exp.deletion_observed("k", "default/a")  # a second event for the same pod
    exp.deletion_observed("k", "default/zzz")  # not one we deleted
    assert exp.pending("k") == (0, 1)
    exp.deletion_observed("k", "default/b")
    assert exp.satisfied("k")


# -- ranking -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("first", "second"),
    [
        (pod("a", node=""), pod("b")),  # unassigned first
        (pod("a", phase="Pending"), pod("b", phase="Unknown")),
        (pod("a", phase="Unknown"), pod("b", phase="Running")),
        (pod("a", ready=False), pod("b", ready=True)),
        (pod("a", cost="-5"), pod("b")),  # lower deletion cost first
        (pod("a", ready=True, ready_since=""), pod("b", ready=True)),
        (  # ready for less time first
            pod("a", ready=True, ready_since="2024-05-01T11:30:00Z"),
            pod("b", ready=True, ready_since="2024-05-01T11:00:00Z"),
        ),
        (pod("a", restarts=3), pod("b", restarts=1)),
        (pod("a", created="2024-05-01T11:00:00Z"), pod("b", created="2024-05-01T10:00:00Z")),
        (pod("a", created=""), pod("b")),
    ],
)
def test_deletion_order(first: dict[str, Any], second: dict[str, Any]) -> None:
    assert pc.get_pods_to_delete([second, first], 1) == [first]
    assert pc.get_pods_to_delete([first, second], 1) == [first]


def test_deletion_prefers_doubled_up_nodes() -> None:
    lone = pod("lone", node="n1")
    pair = [pod("p1", node="n2"), pod("p2", node="n2")]
    got = pc.get_pods_to_delete([lone, *pair], 2)
    assert {p["metadata"]["name"] for p in got} == {"p1", "p2"}
    # related pods on n1 make n1 the crowded node
    related = [lone, *pair, pod("x1", node="n1"), pod("x2", node="n1")]
    assert pc.get_pods_to_delete([lone, *pair], 1, related) == [lone]


def test_get_pods_to_delete_all() -> None:
    pods = [pod("a"), pod("b")]
    assert pc.get_pods_to_delete(pods, 5) == pods


# -- batches -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("count", "fail_at", "expected_calls", "expected_ok"),
    [
        (0, None, 0, 0),
        (1, None, 1, 1),
        (7, None, 7, 7),  # 1 + 2 + 4
        (10, None, 10, 10),  # 1 + 2 + 4 + 3
        (10, 1, 1, 0),  # the first call fails: nothing more
        (10, 2, 3, 2),  # fails in the batch of two: the batch finishes, nothing after
        (10, 4, 7, 6),
    ],
)
async def test_slow_start_batch(
    count: int, fail_at: int | None, expected_calls: int, expected_ok: int
) -> None:
    calls = 0

    async def fn() -> None:
        nonlocal calls
        calls += 1
        if calls == fail_at:
            raise RuntimeError("no")

    ok, err = await pc.slow_start_batch(count, fn)
    assert (calls, ok) == (expected_calls, expected_ok)
    assert (err is None) == (fail_at is None)


# -- adoption ----------------------------------------------------------------------------------
def manager(client: FakeClient, rs: dict[str, Any] | None = None) -> pc.PodControllerRefManager:
    rs = rs or owner()
    client.answers.setdefault(("GET", RS.path(namespace="default", name="web")), rs)
    return pc.PodControllerRefManager(
        client=client, owner=rs, resource=RS, selector=selector_from_set({"app": "web"})
    )


async def test_claim_keeps_adopts_releases_and_ignores() -> None:
    client = FakeClient()
    pods = [
        pod("mine", owner_uid="rs-uid"),
        pod("orphan"),
        pod("stray", owner_uid="rs-uid", labels={"app": "other"}),
        pod("theirs", owner_uid="other-uid"),
        pod("unmatched", labels={"app": "other"}),
        pod("dying", deleting=True),
    ]
    claimed, errors = await manager(client).claim_pods(pods)
    assert errors == []
    assert [p["metadata"]["name"] for p in claimed] == ["mine", "orphan"]
    patches = [(c.path, c.body) for c in client.calls if c.verb == "PATCH"]
    assert patches == [
        (
            f"{PODS}/orphan",
            {
                "metadata": {
                    "ownerReferences": [pc.controller_ref_for(owner(), RS)],
                    "uid": "uid-orphan",
                }
            },
        ),
        (
            f"{PODS}/stray",
            {
                "metadata": {
                    "ownerReferences": [{"$patch": "delete", "uid": "rs-uid"}],
                    "uid": "uid-stray",
                }
            },
        ),
    ]


async def test_claim_filters() -> None:
    client = FakeClient()
    claimed, _ = await manager(client).claim_pods(
        [pod("mine", owner_uid="rs-uid"), pod("done", phase="Failed")], pc.is_pod_active
    )
    assert [p["metadata"]["name"] for p in claimed] == ["mine"]
    assert client.writes() == []  # an inactive orphan is not adopted


@pytest.mark.parametrize(
    "fresh",
    [
        ApiError(404, "NotFound", "gone"),
        owner(uid="new-uid"),  # recreated under the same name
        owner(deleting=True),
    ],
)
async def test_no_adoption_when_the_owner_is_gone_or_going(fresh: Any) -> None:
    client = FakeClient()
    client.answers[("GET", RS.path(namespace="default", name="web"))] = fresh
    claimed, errors = await manager(client).claim_pods([pod("o1"), pod("o2")])
    assert claimed == []
    assert len(errors) == 2
    assert all(isinstance(e, pc.AdoptionError) for e in errors)
    assert len([c for c in client.calls if c.verb == "GET"]) == 1  # checked once
    assert client.writes() == []


async def test_a_deleting_owner_neither_adopts_nor_releases() -> None:
    client = FakeClient()
    pods = [pod("orphan"), pod("stray", owner_uid="rs-uid", labels={"app": "x"})]
    claimed, errors = await manager(client, owner(deleting=True)).claim_pods(pods)
    assert (claimed, errors, client.calls) == ([], [], [])


async def test_adopting_a_pod_that_went_is_not_an_error() -> None:
    client = FakeClient()
    client.answers[("PATCH", f"{PODS}/orphan")] = ApiError(404, "NotFound", "gone")
    claimed, errors = await manager(client).claim_pods([pod("orphan")])
    assert (claimed, errors) == ([], [])


def test_parse_time() -> None:
    assert pc.parse_time("2024-05-01T12:00:00Z") == NOW
    assert pc.parse_time("") is None
    assert pc.parse_time("junk") is None
    assert pc.parse_time("2024-05-01T12:00:00.5Z") == NOW + dt.timedelta(seconds=0.5)


@pytest.mark.parametrize(
    ("a", "b", "plain", "logarithmic"),
    [
        (  # ready 60 and 30 min ago: different power-of-two buckets, the newer goes first
            pod("a", ready=True, ready_since="2024-05-01T11:00:00Z"),
            pod("b", ready=True, ready_since="2024-05-01T11:30:00Z"),
            "b",
            "b",
        ),
        (  # ready 60 and 50 min ago: the same bucket, so the UID decides
            pod("a", ready=True, ready_since="2024-05-01T11:00:00Z"),
            pod("b", ready=True, ready_since="2024-05-01T11:10:00Z"),
            "b",
            "a",
        ),
        (  # created 120 and 100 min ago: the same bucket
            pod("a", created="2024-05-01T10:00:00Z"),
            pod("b", created="2024-05-01T10:20:00Z"),
            "b",
            "a",
        ),
        (  # created 120 and 5 min ago
            pod("a", created="2024-05-01T10:00:00Z"),
            pod("b", created="2024-05-01T11:55:00Z"),
            "b",
            "b",
        ),
    ],
)
def test_logarithmic_scale_down(
    a: dict[str, Any], b: dict[str, Any], plain: str, logarithmic: str
) -> None:
    assert pc.get_pods_to_delete([a, b], 1)[0]["metadata"]["name"] == plain
    assert pc.get_pods_to_delete([a, b], 1, now=NOW)[0]["metadata"]["name"] == logarithmic
    assert pc.get_pods_to_delete([b, a], 1, now=NOW)[0]["metadata"]["name"] == logarithmic


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (pod("a", node=""), pod("b")),
        (pod("a", ready=False), pod("b", ready=True)),
        (pod("a", restarts=3), pod("b", restarts=1)),
        (pod("a", created=""), pod("b")),
    ],
)
def test_logarithmic_order_keeps_the_other_rules(
    first: dict[str, Any], second: dict[str, Any]
) -> None:
    assert pc.get_pods_to_delete([second, first], 1, now=NOW) == [first]
