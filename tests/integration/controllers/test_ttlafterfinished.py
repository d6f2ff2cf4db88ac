"""ttl-after-finished against the real API server (Job status set by hand): a finished Job is
deleted in the foreground once its TTL has passed, not before; Jobs without a TTL or not
finished stay; a TTL raised before expiry keeps the Job."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from pocketkube.client import ApiError, Client
from tests.integration.controllers.conftest import eventually, run_controllers

JOBS = "/apis/batch/v1/namespaces/default/jobs"


def job_body(name: str, ttl: int | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "template": {
            "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "c", "image": "busybox", "command": ["true"]}],
            }
        }
    }
    if ttl is not None:
        spec["ttlSecondsAfterFinished"] = ttl
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}, "spec": spec}


def stamp(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


async def finish(client: Client, name: str, *, condition: str = "Complete") -> None:
    job = await client.get(f"{JOBS}/{name}")
    now = stamp(dt.datetime.now(dt.UTC))
    conditions = [{"type": condition, "status": "True", "lastTransitionTime": now}]
    if condition == "Complete":
        conditions.insert(
            0, {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": now}
        )
        job["status"] = {
            "conditions": conditions,
            "startTime": now,
            "completionTime": now,
            "succeeded": 1,
        }
    else:
        conditions.insert(0, {"type": "FailureTarget", "status": "True", "lastTransitionTime": now})
        job["status"] = {"conditions": conditions, "startTime": now, "failed": 1}
    await client.update(f"{JOBS}/{name}/status", job)


async def deleted(client: Client, name: str) -> bool:
    try:
        job = await client.get(f"{JOBS}/{name}")
    except ApiError as err:
        return err.not_found
    # foreground: without the garbage collector here, the finalizer keeps the Job in view
    return bool(job["metadata"].get("deletionTimestamp"))


async def test_finished_jobs_are_deleted_once_their_ttl_has_passed(client: Client) -> None:
    await client.create(JOBS, job_body("now", 0))
    await client.create(JOBS, job_body("later", 2))
    await client.create(JOBS, job_body("failed", 0))
    await client.create(JOBS, job_body("forever", None))
    await client.create(JOBS, job_body("running", 0))
    await finish(client, "now")
    await finish(client, "later")
    await finish(client, "failed", condition="Failed")
    await finish(client, "forever")
    async with run_controllers(client, "ttl-after-finished"):
        await eventually(lambda: deleted(client, "now"))
        await eventually(lambda: deleted(client, "failed"))
        job = await client.get(f"{JOBS}/now")
        assert "foregroundDeletion" in job["metadata"]["finalizers"]
        assert not await deleted(client, "later")
        await eventually(lambda: deleted(client, "later"), within=5)
        await asyncio.sleep(0.5)
        assert not await deleted(client, "forever")
        assert not await deleted(client, "running")


async def test_a_ttl_raised_before_expiry_keeps_the_job(client: Client) -> None:
    await client.create(JOBS, job_body("raised", 2))
    await finish(client, "raised")
    async with run_controllers(client, "ttl-after-finished"):
        await asyncio.sleep(0.5)
        await client.patch(f"{JOBS}/raised", {"spec": {"ttlSecondsAfterFinished": 3600}})
        await asyncio.sleep(3)
        assert not await deleted(client, "raised")
