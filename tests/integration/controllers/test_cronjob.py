"""The CronJob controller against the real API server, its wall clock moved by hand (no Job
controller: Job status is set by hand): a Job on schedule with the right name, annotation,
labels and owner; Forbid and Replace; the active list and lastSuccessfulTime as Jobs finish;
history limits; an unknown time zone."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pocketkube.client import ApiError, Client
from pocketkube.controllers import cronjob as cronjob_module
from pocketkube.controllers import manager
from pocketkube.controllers.context import Context, Options
from pocketkube.controllers.cronjob import CronJobController
from pocketkube.controllers.informers import SharedInformers
from tests.integration.controllers.conftest import eventually

CRONJOBS = "/apis/batch/v1/namespaces/default/cronjobs"
JOBS = "/apis/batch/v1/namespaces/default/jobs"
EVENTS = "/api/v1/namespaces/default/events"
SCHEDULED = "batch.kubernetes.io/cronjob-scheduled-timestamp"


class WallClock:
    def __init__(self) -> None:
        self.offset = dt.timedelta()

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset


@contextlib.asynccontextmanager
async def cronjob_controller(client: Client) -> AsyncIterator[WallClock]:
    ctx = Context(
        client=client,
        informers=SharedInformers(client=client),
        options=Options(leader_elect=False),
    )
    controller = cronjob_module.build(ctx)
    assert isinstance(controller, CronJobController)
    clock = WallClock()
    controller.now = clock
    task = asyncio.create_task(manager.run(ctx, [controller]))
    try:
        yield clock
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def cronjob_body(name: str, schedule: str = "* * * * *", **spec: Any) -> dict[str, Any]:
    template = {
        "metadata": {"labels": {"app": name}, "annotations": {"note": "from the template"}},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "busybox", "command": ["true"]}],
                }
            }
        },
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name},
        "spec": {"schedule": schedule, "jobTemplate": template, **spec},
    }


def parse(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


async def owned_jobs(client: Client, cronjob: dict[str, Any]) -> list[dict[str, Any]]:
    items = (await client.get(JOBS))["items"]
    uid = cronjob["metadata"]["uid"]
    return sorted(
        (
            j
            for j in items
            if any(r["uid"] == uid for r in j["metadata"].get("ownerReferences", []))
        ),
        key=lambda j: j["metadata"]["name"],
    )


async def events(client: Client, name: str) -> list[tuple[str, str]]:
    items = (await client.get(EVENTS))["items"]
    return [
        (e.get("reason"), e.get("message"))
        for e in items
        if e["involvedObject"].get("name") == name and e["involvedObject"].get("kind") == "CronJob"
    ]


async def poke(client: Client, name: str, value: str) -> None:
    """Touch the CronJob so that the controller syncs it now."""
    await client.patch(f"{CRONJOBS}/{name}", {"metadata": {"labels": {"poke": value}}})


def stamp(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


async def finish(client: Client, job: dict[str, Any], condition: str, started: str) -> None:
    job = await client.get(f"{JOBS}/{job['metadata']['name']}")
    now = stamp(dt.datetime.now(dt.UTC))
    interim = "SuccessCriteriaMet" if condition == "Complete" else "FailureTarget"
    job["status"] = {
        "conditions": [
            {"type": interim, "status": "True", "lastTransitionTime": now},
            {"type": condition, "status": "True", "lastTransitionTime": now},
        ],
        "startTime": started,
    }
    if condition == "Complete":
        job["status"].update(completionTime=now, succeeded=1)
    else:
        job["status"]["failed"] = 1
    await client.update(f"{JOBS}/{job['metadata']['name']}/status", job)


async def test_a_job_on_schedule(client: Client) -> None:
    async with cronjob_controller(client) as clock:
        cronjob = await client.create(CRONJOBS, cronjob_body("tick", timeZone="Asia/Tokyo"))
        created = parse(cronjob["metadata"]["creationTimestamp"])
        clock.offset = dt.timedelta(seconds=61)
        await poke(client, "tick", "1")

        async def one_job() -> list[dict[str, Any]]:
            return await owned_jobs(client, cronjob)

        [job] = await eventually(one_job)
        scheduled = (created + dt.timedelta(seconds=61)).replace(second=0, microsecond=0)
        minutes = int(scheduled.timestamp()) // 60
        assert job["metadata"]["name"] == f"tick-{minutes}"
        tokyo = scheduled.astimezone(dt.timezone(dt.timedelta(hours=9)))
        assert job["metadata"]["annotations"][SCHEDULED] == tokyo.isoformat()
        assert job["metadata"]["annotations"]["note"] == "from the template"
        assert job["metadata"]["labels"]["app"] == "tick"
        ref = job["metadata"]["ownerReferences"][0]
        assert (ref["kind"], ref["name"], ref["controller"]) == ("CronJob", "tick", True)

        async def status() -> dict[str, Any] | None:
            current = await client.get(f"{CRONJOBS}/tick")
            return current if current["status"].get("active") else None

        current = await eventually(status)
        [active] = current["status"]["active"]
        assert (active["kind"], active["name"]) == ("Job", f"tick-{minutes}")
        assert active["uid"] == job["metadata"]["uid"]
        assert parse(current["status"]["lastScheduleTime"]) == scheduled

        await finish(client, job, "Complete", stamp(scheduled))

        async def saw_completed() -> dict[str, Any] | None:
            current = await client.get(f"{CRONJOBS}/tick")
            done = not current["status"].get("active") and current["status"].get(
                "lastSuccessfulTime"
            )
            return current if done else None

        await eventually(saw_completed)

        async def events_seen() -> bool:
            seen = await events(client, "tick")
            return ("SuccessfulCreate", f"Created job tick-{minutes}") in seen and (
                "SawCompletedJob",
                f"Saw completed job: tick-{minutes}, status: Complete",
            ) in seen

        await eventually(events_seen)


async def test_forbid_keeps_the_running_job(client: Client) -> None:
    async with cronjob_controller(client) as clock:
        cronjob = await client.create(CRONJOBS, cronjob_body("solo", concurrencyPolicy="Forbid"))
        clock.offset = dt.timedelta(seconds=61)
        await poke(client, "solo", "1")

        async def jobs() -> list[dict[str, Any]]:
            return await owned_jobs(client, cronjob)

        [first] = await eventually(jobs)

        async def listed() -> bool:
            return bool((await client.get(f"{CRONJOBS}/solo"))["status"].get("active"))

        await eventually(listed)
        clock.offset = dt.timedelta(seconds=121)
        await poke(client, "solo", "2")

        async def refused() -> bool:
            seen = await events(client, "solo")
            return any(reason == "JobAlreadyActive" for reason, _ in seen)

        await eventually(refused)
        assert [j["metadata"]["name"] for j in await owned_jobs(client, cronjob)] == [
            first["metadata"]["name"]
        ]


async def test_replace_deletes_the_running_job(client: Client) -> None:
    async with cronjob_controller(client) as clock:
        cronjob = await client.create(CRONJOBS, cronjob_body("swap", concurrencyPolicy="Replace"))
        clock.offset = dt.timedelta(seconds=61)
        await poke(client, "swap", "1")

        async def jobs() -> list[dict[str, Any]]:
            return await owned_jobs(client, cronjob)

        [first] = await eventually(jobs)

        async def listed() -> bool:
            return bool((await client.get(f"{CRONJOBS}/swap"))["status"].get("active"))

        await eventually(listed)
        clock.offset = dt.timedelta(seconds=121)
        await poke(client, "swap", "2")

        async def replaced() -> list[dict[str, Any]] | None:
            current = await owned_jobs(client, cronjob)
            alive = [j for j in current if not j["metadata"].get("deletionTimestamp")]
            names = [j["metadata"]["name"] for j in alive]
            return alive if len(alive) == 1 and first["metadata"]["name"] not in names else None

        [second] = await eventually(replaced)

        async def listed_second() -> bool:
            current = await client.get(f"{CRONJOBS}/swap")
            active = current["status"].get("active") or ()
            return [a["name"] for a in active] == [second["metadata"]["name"]]

        await eventually(listed_second)

        async def deleted_event() -> bool:
            seen = await events(client, "swap")
            return ("SuccessfulDelete", f"Deleted job {first['metadata']['name']}") in seen

        await eventually(deleted_event)


async def test_history_limits(client: Client) -> None:
    async with cronjob_controller(client):
        cronjob = await client.create(
            CRONJOBS,
            cronjob_body(
                "history",
                schedule="0 0 1 1 *",
                successfulJobsHistoryLimit=2,
                failedJobsHistoryLimit=1,
            ),
        )
        owner = {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "name": "history",
            "uid": cronjob["metadata"]["uid"],
            "controller": True,
        }
        outcomes = ["Complete"] * 4 + ["Failed"] * 2
        for i, outcome in enumerate(outcomes):
            name = f"history-{i}"
            body = {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {"name": name, "ownerReferences": [owner]},
                "spec": cronjob["spec"]["jobTemplate"]["spec"],
            }
            await client.create(JOBS, body)
            await finish(client, body, outcome, f"2024-05-01T12:0{i}:00Z")
        await poke(client, "history", "1")

        async def pruned() -> list[str] | None:
            names = []
            for job in await owned_jobs(client, cronjob):
                try:
                    await client.get(f"{JOBS}/{job['metadata']['name']}")
                except ApiError:
                    continue
                if not job["metadata"].get("deletionTimestamp"):
                    names.append(job["metadata"]["name"])
            return names if len(names) == 3 else None

        assert await eventually(pruned) == ["history-2", "history-3", "history-5"]


async def test_unknown_time_zone_is_refused_by_the_api_server(client: Client) -> None:
    """The API server validates schedules and zones as upstream (the controller's
    UnknownTimeZone event is for objects stored before, covered by the unit tests)."""
    with pytest.raises(ApiError) as refused:
        await client.create(CRONJOBS, cronjob_body("lost", timeZone="Mars/Olympus"))
    assert refused.value.status == 422
    assert 'spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus' in (
        refused.value.message
    )
    with pytest.raises(ApiError) as bad_schedule:
        await client.create(CRONJOBS, cronjob_body("late", schedule="61 * * * *"))
    assert "end of range (61) above maximum (59): 61" in bad_schedule.value.message
