"""The Job controller's sync with a fake client and informers filled by hand: the pods it
creates, how finished pods are counted through the tracking finalizer, suspend, and when the
Job finishes."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

from pocketkube.client import resources
from pocketkube.client.rest import Obj
from pocketkube.controllers.job.controller import JobController
from pocketkube.controllers.job.tracking import clean_uncounted
from tests.unit.controllers.fakes import Call, FakeClient, informer

NOW = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
TRACKING = "batch.kubernetes.io/job-tracking"
PODS = "/api/v1/namespaces/ns/pods"
STATUS = "/apis/batch/v1/namespaces/ns/jobs/j/status"


class FakeRecorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def post(self, regarding: Obj, *, type: Any, reason: str, action: str, note: str) -> None:
        self.events.append((reason, note))


def job(status: Obj | None = None, **spec: Any) -> Obj:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j", "namespace": "ns", "uid": "job-uid", "resourceVersion": "1"},
        "spec": {
            "parallelism": 1,
            "completions": 1,
            "backoffLimit": 6,
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "job-uid"}},
            "template": {
                "metadata": {"labels": {"batch.kubernetes.io/controller-uid": "job-uid"}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]},
            },
            **spec,
        },
        "status": status if status is not None else {"startTime": "2024-05-01T11:59:00Z"},
    }


def pod(name: str, phase: str = "Running", *, index: int | None = None, **meta: Any) -> Obj:
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": "ns",
        "uid": f"uid-{name}",
        "resourceVersion": "1",
        "labels": {"batch.kubernetes.io/controller-uid": "job-uid"},
        "finalizers": [TRACKING],
        "ownerReferences": [{"kind": "Job", "name": "j", "uid": "job-uid", "controller": True}],
        **meta,
    }
    if index is not None:
        metadata["annotations"] = {"batch.kubernetes.io/job-completion-index": str(index)}
    return {"metadata": metadata, "spec": {}, "status": {"phase": phase}}


def make(j: Obj, *pods: Obj) -> tuple[JobController, FakeClient, FakeRecorder]:
    client = FakeClient()
    # the API server answers with a new object: the recorded request stays as it was sent
    client.answers[("PUT", STATUS)] = copy.deepcopy
    recorder = FakeRecorder()
    controller = JobController(
        client=client,
        job_informer=informer(client, resources.JOBS, j),
        pod_informer=informer(client, resources.PODS, *pods),
        recorder=recorder,
        now=lambda: NOW,
    )
    return controller, client, recorder


def writes(client: FakeClient, verb: str, path: str | None = None) -> list[Call]:
    return [c for c in client.writes() if c.verb == verb and (path is None or c.path == path)]


def last_status(client: FakeClient) -> Obj:
    status: Obj = writes(client, "PUT", STATUS)[-1].body["status"]
    return status


@pytest.mark.parametrize(
    ("spec", "pods", "created"),
    [
        ({"completions": 5, "parallelism": 2}, [], 2),
        ({"completions": 5, "parallelism": 2}, [pod("a")], 1),
        ({"completions": 2, "parallelism": 4}, [], 2),
        ({"completions": None, "parallelism": 3}, [], 3),
        ({"completions": 3, "parallelism": 3, "suspend": True}, [], 0),
    ],
)
async def test_creates_the_missing_pods(spec: Obj, pods: list[Obj], created: int) -> None:
    controller, client, _ = make(job(**spec), *pods)
    await controller.sync("ns/j")
    posted = writes(client, "POST", PODS)
    assert len(posted) == created
    for call in posted:
        meta = call.body["metadata"]
        assert meta["generateName"] == "j-"
        assert meta["finalizers"] == [TRACKING]
        assert meta["ownerReferences"][0]["uid"] == "job-uid"
    assert last_status(client)["active"] == len(pods) + created


async def test_indexed_pods() -> None:
    controller, client, _ = make(
        job(completions=4, parallelism=2, completionMode="Indexed"), pod("a", index=0)
    )
    await controller.sync("ns/j")
    [call] = writes(client, "POST", PODS)
    meta = call.body["metadata"]
    assert meta["generateName"] == "j-1-"
    assert meta["annotations"]["batch.kubernetes.io/job-completion-index"] == "1"
    assert meta["labels"]["batch.kubernetes.io/job-completion-index"] == "1"
    assert call.body["spec"]["hostname"] == "j-1"
    assert call.body["spec"]["containers"][0]["env"][0]["name"] == "JOB_COMPLETION_INDEX"


async def test_a_succeeded_pod_is_counted_through_the_finalizer() -> None:
    controller, client, recorder = make(job(), pod("a", "Succeeded"))
    await controller.sync("ns/j")
    first, second = writes(client, "PUT", STATUS)
    assert first.body["status"]["uncountedTerminatedPods"] == {"succeeded": ["uid-a"]}
    assert first.body["status"].get("succeeded", 0) == 0
    [patch] = writes(client, "PATCH")
    assert patch.path == f"{PODS}/a"
    assert patch.body == {"metadata": {"$deleteFromPrimitiveList/finalizers": [TRACKING]}}
    status = second.body["status"]
    assert status["succeeded"] == 1
    assert not status["uncountedTerminatedPods"].get("succeeded")
    types = [c["type"] for c in status["conditions"]]
    assert types == ["SuccessCriteriaMet", "Complete"]
    assert status["completionTime"] == "2024-05-01T12:00:00Z"
    assert ("Completed", "Job completed") in recorder.events


async def test_failures_over_the_backoff_limit() -> None:
    controller, client, recorder = make(
        job(backoffLimit=1, status={"failed": 1, "startTime": "2024-05-01T11:00:00Z"}),
        pod("b", "Failed"),
    )
    await controller.sync("ns/j")
    status = last_status(client)
    assert status["failed"] == 2
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["FailureTarget"]["reason"] == "BackoffLimitExceeded"
    assert conditions["Failed"]["message"] == "Job has reached the specified backoff limit"
    assert ("BackoffLimitExceeded", "Job has reached the specified backoff limit") in (
        recorder.events
    )
    assert not writes(client, "POST", PODS)


async def test_the_backoff_delays_a_replacement() -> None:
    failed = pod("b", "Failed")
    failed["status"]["containerStatuses"] = [
        {"state": {"terminated": {"exitCode": 1, "finishedAt": "2024-05-01T11:59:55Z"}}}
    ]
    controller, client, _ = make(job(), failed)
    await controller.sync("ns/j")
    assert not writes(client, "POST", PODS)  # 10 s after 11:59:55
    assert last_status(client)["failed"] == 1


async def test_suspending_deletes_active_pods() -> None:
    controller, client, recorder = make(job(suspend=True, parallelism=2), pod("a"), pod("b"))
    await controller.sync("ns/j")
    assert sorted(c.path for c in writes(client, "DELETE")) == [f"{PODS}/a", f"{PODS}/b"]
    assert len(writes(client, "PATCH")) == 2  # finalizers first
    status = last_status(client)
    assert status["active"] == 0
    assert status["terminating"] == 2
    [suspended] = status["conditions"]
    assert (suspended["type"], suspended["status"], suspended["reason"]) == (
        "Suspended",
        "True",
        "JobSuspended",
    )
    assert ("Suspended", "Job suspended") in recorder.events


async def test_deadline_exceeded_deletes_pods_then_fails() -> None:
    j = job(activeDeadlineSeconds=30, status={"startTime": "2024-05-01T11:59:00Z"})
    controller, client, _ = make(j, pod("a"))
    await controller.sync("ns/j")
    assert [c.path for c in writes(client, "DELETE")] == [f"{PODS}/a"]
    status = last_status(client)
    [target] = status["conditions"]
    assert (target["type"], target["reason"]) == ("FailureTarget", "DeadlineExceeded")
    assert status["terminating"] == 1  # Failed waits for the pod to go


async def test_managed_by_another_controller() -> None:
    controller, client, _ = make(job(managedBy="example.com/other"))
    await controller.sync("ns/j")
    assert client.writes() == []


@pytest.mark.parametrize(
    ("status", "with_finalizer", "expected"),
    [
        (
            {"succeeded": 1, "uncountedTerminatedPods": {"succeeded": ["a", "b"]}},
            {"b"},
            {"succeeded": 2, "uncountedTerminatedPods": {"succeeded": ["b"]}},
        ),
        (
            {"failed": 0, "uncountedTerminatedPods": {"failed": ["a"], "succeeded": ["c"]}},
            set(),
            {"failed": 1, "succeeded": 1, "uncountedTerminatedPods": {}},
        ),
    ],
)
def test_clean_uncounted(status: Obj, with_finalizer: set[str], expected: Obj) -> None:
    assert clean_uncounted(status, with_finalizer)
    assert status == expected
