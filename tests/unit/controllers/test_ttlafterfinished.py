"""ttl-after-finished on a fake informer and client: which Jobs are deleted and when, the fresh
re-read before deleting, foreground deletion with a UID precondition, requeue at expiry."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from pocketkube.client import resources
from pocketkube.client.clock import FakeClock
from pocketkube.client.rest import ApiError
from pocketkube.controllers.ttlafterfinished import (
    TTLAfterFinishedController,
    needs_cleanup,
    time_left,
)
from tests.unit.controllers.fakes import NOW, FakeClient, informer

PATH = "/apis/batch/v1/namespaces/default/jobs/j"


def job(
    *,
    ttl: int | None = 60,
    condition: str | None = "Complete",
    status: str = "True",
    finished: str | None = "2024-05-01T11:59:00Z",
    uid: str = "uid-1",
) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if ttl is not None:
        spec["ttlSecondsAfterFinished"] = ttl
    conditions = []
    if condition:
        cond = {"type": condition, "status": status}
        if finished:
            cond["lastTransitionTime"] = finished
        conditions.append(cond)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j", "namespace": "default", "uid": uid},
        "spec": spec,
        "status": {"conditions": conditions},
    }


def controller(client: FakeClient, *jobs: Any) -> tuple[TTLAfterFinishedController, FakeClock]:
    clock = FakeClock()
    ttl = TTLAfterFinishedController(
        client=client,
        job_informer=informer(client, resources.JOBS, *jobs),
        clock=clock,
        now=lambda: NOW,
    )
    return ttl, clock


@pytest.mark.parametrize(
    ("obj", "cleanup"),
    [
        (job(), True),
        (job(condition="Failed"), True),
        (job(ttl=None), False),  # no TTL: kept forever
        (job(condition=None), False),  # still running
        (job(status="False"), False),
        (job(condition="Suspended"), False),
    ],
)
def test_needs_cleanup(obj: Any, cleanup: bool) -> None:
    assert needs_cleanup(obj) is cleanup


@pytest.mark.parametrize(
    ("ttl", "finished", "left"),
    [
        (60, "2024-05-01T11:59:00Z", 0.0),
        (0, "2024-05-01T11:59:00Z", -60.0),
        (100, "2024-05-01T11:59:00Z", 40.0),
        (10, "2024-05-01T12:00:30Z", 40.0),  # finished "in the future" (skew): deferred
        (5, "2024-05-01T11:59:59.5Z", 4.5),
    ],
)
def test_time_left(ttl: int, finished: str, left: float) -> None:
    assert time_left(job(ttl=ttl, finished=finished), NOW) == left


@pytest.mark.parametrize("condition", ["Complete", "Failed"])
async def test_an_expired_job_is_deleted_in_the_foreground_with_its_uid(condition: str) -> None:
    client = FakeClient()
    client.answers[("GET", PATH)] = job(condition=condition)
    ttl, _ = controller(client, job(condition=condition))
    await ttl.sync("default/j")
    assert [(c.verb, c.path) for c in client.calls] == [("GET", PATH), ("DELETE", PATH)]
    assert client.calls[1].body == {
        "apiVersion": "v1",
        "kind": "DeleteOptions",
        "propagationPolicy": "Foreground",
        "preconditions": {"uid": "uid-1"},
    }


async def test_a_job_not_yet_expired_is_requeued_at_its_expiry() -> None:
    client = FakeClient()
    ttl, clock = controller(client, job(ttl=100))
    key = ttl.queue.get_nowait()  # the informer's add
    await ttl.sync(key)
    ttl.queue.done(key)
    assert client.calls == []
    assert len(ttl.queue) == 0
    assert ttl.queue.waiting == 1
    clock.advance(39.9)
    assert len(ttl.queue) == 0
    clock.advance(0.1)
    assert await ttl.queue.get() == "default/j"


@pytest.mark.parametrize(
    ("fresh", "deleted"),
    [
        (job(ttl=3600), False),  # the TTL was raised since the informer saw it
        (job(ttl=None), False),  # or removed
        (ApiError(404, "NotFound", "gone"), False),
        (job(uid="uid-2"), True),  # a new Job by the name: its own UID is the precondition
    ],
)
async def test_the_job_is_read_afresh_before_deleting(fresh: Any, deleted: bool) -> None:
    client = FakeClient()
    client.answers[("GET", PATH)] = fresh
    ttl, _ = controller(client, job())
    await ttl.sync("default/j")
    deletes = [c for c in client.calls if c.verb == "DELETE"]
    assert bool(deletes) is deleted


@pytest.mark.parametrize(
    "obj",
    [job(ttl=None), job(condition=None), job(finished=None), job(finished="yesterday")],
)
async def test_jobs_without_an_expiry_are_left_alone(obj: Any) -> None:
    client = FakeClient()
    ttl, _ = controller(client, obj)
    await ttl.sync("default/j")
    await ttl.sync("default/gone")
    assert client.calls == []


@pytest.mark.parametrize(
    ("error", "raises"),
    [
        (ApiError(404, "NotFound", "gone"), False),
        (ApiError(409, "Conflict", "Precondition failed: UID in precondition"), False),
        (ApiError(500, "InternalError", "boom"), True),
    ],
)
async def test_delete_errors(error: ApiError, raises: bool) -> None:
    client = FakeClient()
    client.answers[("GET", PATH)] = job()
    client.answers[("DELETE", PATH)] = error
    ttl, _ = controller(client, job())
    if raises:
        with pytest.raises(ApiError):
            await ttl.sync("default/j")
    else:
        await ttl.sync("default/j")


def test_only_jobs_to_clean_up_are_enqueued() -> None:
    client = FakeClient()
    ttl, _ = controller(client)
    ttl._job_changed(job(ttl=None))
    ttl._job_updated(job(condition=None), job(condition=None))
    assert len(ttl.queue) == 0
    ttl._job_updated(job(condition=None), job())
    assert len(ttl.queue) == 1


def test_now_is_aware() -> None:
    assert NOW.tzinfo is dt.UTC
