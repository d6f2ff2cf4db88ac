"""The CronJob controller's sync with a fake client and a fixed wall clock: which run starts
(or why none does: suspended, past the starting deadline, bad schedule or zone, already
started, Forbid; too many missed runs still start the latest) and the Job it creates."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import pytest

from pocketkube.client import resources
from pocketkube.client.rest import Obj
from pocketkube.controllers.cronjob.controller import CronJobController, job_from_template
from tests.unit.controllers.fakes import FakeClient, informer

NOW = dt.datetime(2024, 5, 1, 12, 5, 30, tzinfo=dt.UTC)
CREATED = "2024-05-01T12:00:10Z"
JOBS = "/apis/batch/v1/namespaces/ns/jobs"


class FakeRecorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def post(self, regarding: Obj, *, type: Any, reason: str, action: str, note: str) -> None:
        self.events.append((reason, note))


def cronjob(schedule: str = "* * * * *", status: Obj | None = None, **spec: Any) -> Obj:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {
            "name": "cj",
            "namespace": "ns",
            "uid": "cj-uid",
            "creationTimestamp": CREATED,
            "resourceVersion": "3",
        },
        "spec": {
            "schedule": schedule,
            "concurrencyPolicy": "Allow",
            "jobTemplate": {"metadata": {"labels": {"a": "b"}}, "spec": {"template": {}}},
            **spec,
        },
        "status": status or {},
    }


def make(cj: Obj, *jobs: Obj) -> tuple[CronJobController, FakeClient, FakeRecorder]:
    client = FakeClient()
    recorder = FakeRecorder()

    def created(body: Obj) -> Obj:
        return {**body, "metadata": {**body["metadata"], "uid": "job-uid"}}

    client.answers[("POST", JOBS)] = created
    controller = CronJobController(
        client=client,
        cronjob_informer=informer(client, resources.CRON_JOBS, cj),
        job_informer=informer(client, resources.JOBS, *jobs),
        recorder=recorder,
        now=lambda: NOW,
    )
    return controller, client, recorder


def running_job(name: str) -> Obj:
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": f"{name}-uid",
            "ownerReferences": [{"kind": "CronJob", "uid": "cj-uid", "controller": True}],
        },
        "status": {},
    }


MINUTE_12_05 = int(dt.datetime(2024, 5, 1, 12, 5, tzinfo=dt.UTC).timestamp()) // 60


async def test_starts_the_most_recent_run() -> None:
    controller, client, recorder = make(cronjob())
    await controller.sync("ns/cj")
    [create, status] = client.writes()
    assert create.verb == "POST"
    assert create.body["metadata"]["name"] == f"cj-{MINUTE_12_05}"
    assert create.body["metadata"]["labels"] == {"a": "b"}
    assert status.path.endswith("/cronjobs/cj/status")
    assert status.body["status"]["lastScheduleTime"] == "2024-05-01T12:05:00Z"
    assert status.body["status"]["active"][0]["name"] == f"cj-{MINUTE_12_05}"
    assert ("SuccessfulCreate", f"Created job cj-{MINUTE_12_05}") in recorder.events


@pytest.mark.parametrize(
    ("cj", "reason"),
    [
        (cronjob(suspend=True), None),
        (cronjob(startingDeadlineSeconds=10), None),  # 12:05 is older than 10 s
        (cronjob(timeZone="Nowhere/Town"), "UnknownTimeZone"),
        (cronjob("61 * * * *"), "UnparseableSchedule"),
        (cronjob("0 0 30 2 *"), None),
        (cronjob(status={"lastScheduleTime": "2024-05-01T12:05:00Z"}), None),
    ],
)
async def test_no_run(cj: Obj, reason: str | None) -> None:
    controller, client, recorder = make(cj)
    await controller.sync("ns/cj")
    assert not [c for c in client.writes() if c.verb == "POST"]
    if reason is not None:
        assert reason in [r for r, _ in recorder.events]


async def test_too_many_missed_still_starts_the_latest() -> None:
    cj = cronjob()
    cj["metadata"]["creationTimestamp"] = "2024-04-30T00:00:00Z"
    controller, client, recorder = make(cj)
    await controller.sync("ns/cj")
    assert "TooManyMissedTimes" in [r for r, _ in recorder.events]
    assert client.writes()[0].body["metadata"]["name"] == f"cj-{MINUTE_12_05}"


async def test_forbid_with_an_active_job() -> None:
    job = running_job("cj-1")
    cj = cronjob(
        concurrencyPolicy="Forbid",
        status={
            "active": [{"kind": "Job", "name": "cj-1", "namespace": "ns", "uid": "cj-1-uid"}],
            "lastScheduleTime": "2024-05-01T12:04:00Z",
        },
    )
    controller, client, recorder = make(cj, job)
    await controller.sync("ns/cj")
    assert client.writes() == []
    assert recorder.events == [
        (
            "JobAlreadyActive",
            "Not starting job because prior execution is running and concurrency policy is Forbid",
        )
    ]


def test_job_from_template_in_a_zone() -> None:
    scheduled = dt.datetime(2024, 5, 1, 12, 5, tzinfo=dt.UTC)
    job = job_from_template(cronjob(), scheduled, zoneinfo.ZoneInfo("Europe/Paris"))
    meta = job["metadata"]
    assert meta["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"] == (
        "2024-05-01T14:05:00+02:00"
    )
    assert meta["ownerReferences"][0]["uid"] == "cj-uid"
    utc = job_from_template(cronjob(), scheduled, dt.UTC)["metadata"]["annotations"]
    assert utc["batch.kubernetes.io/cronjob-scheduled-timestamp"] == "2024-05-01T12:05:00Z"
