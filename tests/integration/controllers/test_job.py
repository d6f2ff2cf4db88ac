"""The Job controller against the real API server (no kubelet: pod phases are set by hand
through pods/<name>/status): completions with parallelism, the backoff limit, Indexed Jobs,
suspend and resume, the active deadline, a pod failure policy, tracking finalizers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from pocketkube.client import Client
from pocketkube.controllers import job as job_module
from pocketkube.controllers import manager
from pocketkube.controllers.context import Context, Options
from pocketkube.controllers.informers import SharedInformers
from pocketkube.controllers.job import JobController
from tests.integration.controllers.conftest import eventually

JOBS = "/apis/batch/v1/namespaces/default/jobs"
PODS = "/api/v1/namespaces/default/pods"
EVENTS = "/api/v1/namespaces/default/events"
TRACKING = "batch.kubernetes.io/job-tracking"


@contextlib.asynccontextmanager
async def job_controller(client: Client) -> AsyncIterator[JobController]:
    ctx = Context(
        client=client,
        informers=SharedInformers(client=client),
        options=Options(leader_elect=False),
    )
    controller = job_module.build(ctx)
    assert isinstance(controller, JobController)
    controller.batch_period = 0.02
    controller.pod_failure_backoff = 0.05
    task = asyncio.create_task(manager.run(ctx, [controller]))
    try:
        yield controller
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def job_body(name: str, **spec: Any) -> dict[str, Any]:
    template = {
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": "busybox", "command": ["true"]}],
        }
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {"template": template, **spec},
    }


async def job_pods(client: Client, name: str) -> list[dict[str, Any]]:
    items = (await client.get(PODS, params={"labelSelector": f"job-name={name}"}))["items"]
    return sorted(items, key=lambda p: p["metadata"]["name"])


def is_active(pod: dict[str, Any]) -> bool:
    return pod["status"].get("phase") not in ("Succeeded", "Failed") and not pod["metadata"].get(
        "deletionTimestamp"
    )


async def set_phase(client: Client, pod: dict[str, Any], phase: str, **status: Any) -> None:
    await client.patch(
        f"{PODS}/{pod['metadata']['name']}/status", {"status": {"phase": phase, **status}}
    )


async def get_job(client: Client, name: str) -> dict[str, Any]:
    return await client.get(f"{JOBS}/{name}")


def condition(job: dict[str, Any], type_: str) -> dict[str, Any] | None:
    for c in job.get("status", {}).get("conditions") or ():
        if c["type"] == type_:
            return dict(c)
    return None


async def events(client: Client, name: str) -> list[tuple[str, str]]:
    items = (await client.get(EVENTS))["items"]
    return [
        (e.get("reason"), e.get("message"))
        for e in items
        if e["involvedObject"].get("name") == name and e["involvedObject"].get("kind") == "Job"
    ]


async def test_completions_with_parallelism(client: Client) -> None:
    async with job_controller(client):
        await client.create(JOBS, job_body("five", completions=5, parallelism=2))
        most_active = 0
        for i in range(5):
            wanted = 2 if i == 0 else 1  # both at first; later, whatever is running

            async def some_active(wanted: int = wanted) -> list[dict[str, Any]]:
                nonlocal most_active
                active = [p for p in await job_pods(client, "five") if is_active(p)]
                most_active = max(most_active, len(active))
                return active if len(active) >= wanted else []

            active = await eventually(some_active)
            pod = active[0]
            assert TRACKING in pod["metadata"]["finalizers"]
            assert pod["metadata"]["ownerReferences"][0]["kind"] == "Job"
            labels = pod["metadata"]["labels"]
            assert labels["batch.kubernetes.io/job-name"] == "five"
            assert labels["job-name"] == "five"
            assert labels["batch.kubernetes.io/controller-uid"] == labels["controller-uid"]
            await set_phase(client, pod, "Succeeded")

        async def complete() -> dict[str, Any] | None:
            job = await get_job(client, "five")
            c = condition(job, "Complete")
            return job if c and c["status"] == "True" else None

        job = await eventually(complete)
        assert most_active == 2  # never more than parallelism
        status = job["status"]
        assert status["succeeded"] == 5
        assert status.get("active", 0) == 0
        assert status["completionTime"]
        assert status["startTime"]
        met = condition(job, "SuccessCriteriaMet")
        assert met is not None
        assert met["reason"] == "CompletionsReached"
        assert not (status.get("uncountedTerminatedPods") or {}).get("succeeded")
        pods = await job_pods(client, "five")
        assert len(pods) == 5
        assert all(TRACKING not in (p["metadata"].get("finalizers") or ()) for p in pods)

        async def completed_event() -> bool:
            seen = await events(client, "five")
            return ("Completed", "Job completed") in seen and any(
                r == "SuccessfulCreate" and m.startswith("Created pod: five-") for r, m in seen
            )

        await eventually(completed_event)


async def test_backoff_limit_exceeded(client: Client) -> None:
    async with job_controller(client):
        await client.create(JOBS, job_body("flaky", backoffLimit=1))
        for _ in range(2):

            async def one_active() -> list[dict[str, Any]]:
                return [p for p in await job_pods(client, "flaky") if is_active(p)]

            active = await eventually(one_active)
            assert len(active) == 1
            await set_phase(client, active[0], "Failed")

        async def failed() -> dict[str, Any] | None:
            job = await get_job(client, "flaky")
            c = condition(job, "Failed")
            return job if c and c["status"] == "True" else None

        job = await eventually(failed)
        failed_condition = condition(job, "Failed")
        assert failed_condition is not None
        assert failed_condition["reason"] == "BackoffLimitExceeded"
        assert failed_condition["message"] == "Job has reached the specified backoff limit"
        target = condition(job, "FailureTarget")
        assert target is not None
        assert target["reason"] == "BackoffLimitExceeded"
        assert job["status"]["failed"] == 2
        assert "completionTime" not in job["status"]
        assert len(await job_pods(client, "flaky")) == 2


async def test_indexed_job(client: Client) -> None:
    async with job_controller(client):
        await client.create(
            JOBS, job_body("idx", completions=3, parallelism=3, completionMode="Indexed")
        )

        async def three() -> list[dict[str, Any]]:
            pods = await job_pods(client, "idx")
            return pods if len(pods) == 3 else []

        pods = await eventually(three)
        by_index = {}
        for pod in pods:
            index = pod["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
            assert pod["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"] == index
            assert pod["metadata"]["name"].startswith(f"idx-{index}-")
            assert pod["spec"]["hostname"] == f"idx-{index}"
            env = pod["spec"]["containers"][0]["env"]
            assert env[0]["name"] == "JOB_COMPLETION_INDEX"
            by_index[int(index)] = pod
        assert sorted(by_index) == [0, 1, 2]
        await set_phase(client, by_index[1], "Succeeded")

        async def completed_one() -> bool:
            status = (await get_job(client, "idx"))["status"]
            return status.get("completedIndexes") == "1" and status.get("succeeded") == 1

        await eventually(completed_one)
        await set_phase(client, by_index[0], "Succeeded")
        await set_phase(client, by_index[2], "Succeeded")

        async def complete() -> dict[str, Any] | None:
            job = await get_job(client, "idx")
            c = condition(job, "Complete")
            return job if c and c["status"] == "True" else None

        job = await eventually(complete)
        assert job["status"]["completedIndexes"] == "0-2"
        assert job["status"]["succeeded"] == 3


async def test_suspend_and_resume(client: Client) -> None:
    async with job_controller(client):
        await client.create(JOBS, job_body("sleepy", parallelism=2, completions=4, suspend=True))

        async def suspended() -> dict[str, Any] | None:
            job = await get_job(client, "sleepy")
            c = condition(job, "Suspended")
            return job if c and c["status"] == "True" else None

        job = await eventually(suspended)
        c = condition(job, "Suspended")
        assert c is not None
        assert (c["reason"], c["message"]) == ("JobSuspended", "Job suspended")
        assert "startTime" not in job["status"]
        assert await job_pods(client, "sleepy") == []
        await client.patch(f"{JOBS}/sleepy", {"spec": {"suspend": False}})

        async def resumed() -> dict[str, Any] | None:
            job = await get_job(client, "sleepy")
            c = condition(job, "Suspended")
            pods = [p for p in await job_pods(client, "sleepy") if is_active(p)]
            return job if c and c["status"] == "False" and len(pods) == 2 else None

        job = await eventually(resumed)
        c = condition(job, "Suspended")
        assert c is not None
        assert c["reason"] == "JobResumed"
        assert job["status"]["startTime"]
        await client.patch(f"{JOBS}/sleepy", {"spec": {"suspend": True}})

        async def pods_gone() -> bool:
            return await job_pods(client, "sleepy") == []

        await eventually(pods_gone)

        async def suspend_events() -> bool:
            seen = await events(client, "sleepy")
            return ("Suspended", "Job suspended") in seen and ("Resumed", "Job resumed") in seen

        await eventually(suspend_events)


async def test_active_deadline(client: Client) -> None:
    async with job_controller(client):
        await client.create(JOBS, job_body("slow", activeDeadlineSeconds=1))

        async def failed() -> dict[str, Any] | None:
            job = await get_job(client, "slow")
            c = condition(job, "Failed")
            return job if c and c["status"] == "True" else None

        job = await eventually(failed)
        c = condition(job, "Failed")
        assert c is not None
        assert c["reason"] == "DeadlineExceeded"
        assert c["message"] == "Job was active longer than specified deadline"
        assert job["status"]["failed"] == 1
        assert job["status"].get("active", 0) == 0
        assert await job_pods(client, "slow") == []


async def test_pod_failure_policy_fail_job(client: Client) -> None:
    policy = {
        "rules": [
            {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}},
            {
                "action": "Ignore",
                "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
            },
        ]
    }
    async with job_controller(client):
        await client.create(
            JOBS, job_body("strict", parallelism=2, completions=2, podFailurePolicy=policy)
        )

        async def two() -> list[dict[str, Any]]:
            pods = [p for p in await job_pods(client, "strict") if is_active(p)]
            return pods if len(pods) == 2 else []

        pods = await eventually(two)
        terminated = {"state": {"terminated": {"exitCode": 42}}, "name": "main"}
        await set_phase(client, pods[0], "Failed", containerStatuses=[terminated])

        async def failed() -> dict[str, Any] | None:
            job = await get_job(client, "strict")
            c = condition(job, "Failed")
            return job if c and c["status"] == "True" else None

        job = await eventually(failed)
        c = condition(job, "Failed")
        assert c is not None
        assert c["reason"] == "PodFailurePolicy"
        assert c["message"] == (
            f"Container main for pod default/{pods[0]['metadata']['name']} failed with exit "
            "code 42 matching FailJob rule at index 0"
        )
        assert job["status"]["failed"] == 2
        assert job["status"].get("terminating", 0) == 0


async def test_ignored_failures_are_not_counted(client: Client) -> None:
    policy = {
        "rules": [
            {
                "action": "Ignore",
                "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
            }
        ]
    }
    async with job_controller(client):
        await client.create(JOBS, job_body("tolerant", backoffLimit=0, podFailurePolicy=policy))

        async def one() -> list[dict[str, Any]]:
            return [p for p in await job_pods(client, "tolerant") if is_active(p)]

        first = (await eventually(one))[0]
        disrupted = [{"type": "DisruptionTarget", "status": "True", "reason": "EvictionByTest"}]
        await set_phase(client, first, "Failed", conditions=disrupted)

        async def replaced() -> list[dict[str, Any]]:
            active = [p for p in await job_pods(client, "tolerant") if is_active(p)]
            return [p for p in active if p["metadata"]["uid"] != first["metadata"]["uid"]]

        second = (await eventually(replaced))[0]
        job = await get_job(client, "tolerant")
        assert job["status"].get("failed", 0) == 0
        assert condition(job, "Failed") is None
        await set_phase(client, second, "Succeeded")

        async def complete() -> bool:
            c = condition(await get_job(client, "tolerant"), "Complete")
            return bool(c and c["status"] == "True")

        await eventually(complete)


async def test_an_orphan_is_adopted_and_tracked(client: Client) -> None:
    orphan = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "stray", "labels": {"app": "adopt"}},
        "spec": {"containers": [{"name": "main", "image": "busybox"}]},
    }
    pod = await client.create(PODS, orphan)
    await set_phase(client, pod, "Running")
    body = job_body("adopter", manualSelector=True, selector={"matchLabels": {"app": "adopt"}})
    body["spec"]["template"]["metadata"] = {"labels": {"app": "adopt"}}
    async with job_controller(client):
        await client.create(JOBS, body)

        async def adopted() -> dict[str, Any] | None:
            current = await client.get(f"{PODS}/stray")
            refs = current["metadata"].get("ownerReferences") or ()
            tracked = TRACKING in (current["metadata"].get("finalizers") or ())
            return current if refs and tracked else None

        current = await eventually(adopted)
        assert current["metadata"]["ownerReferences"][0]["name"] == "adopter"

        async def counted_active() -> bool:
            return (await get_job(client, "adopter"))["status"].get("active") == 1

        await eventually(counted_active)
        assert [p["metadata"]["name"] for p in (await client.get(PODS))["items"]] == ["stray"]
        await set_phase(client, current, "Succeeded")

        async def complete() -> bool:
            c = condition(await get_job(client, "adopter"), "Complete")
            return bool(c and c["status"] == "True")

        await eventually(complete)
        released = await client.get(f"{PODS}/stray")
        assert TRACKING not in (released["metadata"].get("finalizers") or ())


async def test_backoff_limit_per_index(client: Client) -> None:
    spec = {
        "completions": 2,
        "parallelism": 2,
        "completionMode": "Indexed",
        "backoffLimitPerIndex": 1,
    }
    async with job_controller(client):
        await client.create(JOBS, job_body("perindex", **spec))

        def index_of(pod: dict[str, Any]) -> str:
            return str(pod["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"])

        async def active_of(index: str) -> dict[str, Any] | None:
            for pod in await job_pods(client, "perindex"):
                if is_active(pod) and index_of(pod) == index:
                    return pod
            return None

        first = await eventually(lambda: active_of("0"))
        assert (
            first["metadata"]["annotations"]["batch.kubernetes.io/job-index-failure-count"] == "0"
        )
        await set_phase(client, first, "Failed")

        async def replacement() -> dict[str, Any] | None:
            pod = await active_of("0")
            return pod if pod and pod["metadata"]["uid"] != first["metadata"]["uid"] else None

        second = await eventually(replacement)
        annotations = second["metadata"]["annotations"]
        assert annotations["batch.kubernetes.io/job-index-failure-count"] == "1"
        await set_phase(client, second, "Failed")
        await set_phase(client, await eventually(lambda: active_of("1")), "Succeeded")

        async def failed() -> dict[str, Any] | None:
            job = await get_job(client, "perindex")
            c = condition(job, "Failed")
            return job if c and c["status"] == "True" else None

        job = await eventually(failed)
        c = condition(job, "Failed")
        assert c is not None
        assert (c["reason"], c["message"]) == ("FailedIndexes", "Job has failed indexes")
        assert job["status"]["failedIndexes"] == "0"
        assert job["status"]["completedIndexes"] == "1"
        assert job["status"]["failed"] == 2
        assert job["status"]["succeeded"] == 1


async def test_success_policy(client: Client) -> None:
    spec = {
        "completions": 3,
        "parallelism": 3,
        "completionMode": "Indexed",
        "successPolicy": {"rules": [{"succeededIndexes": "0"}]},
    }
    async with job_controller(client):
        await client.create(JOBS, job_body("leader", **spec))

        async def three() -> list[dict[str, Any]]:
            pods = [p for p in await job_pods(client, "leader") if is_active(p)]
            return pods if len(pods) == 3 else []

        pods = await eventually(three)
        [zero] = [
            p
            for p in pods
            if p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] == "0"
        ]
        await set_phase(client, zero, "Succeeded")

        async def complete() -> dict[str, Any] | None:
            job = await get_job(client, "leader")
            c = condition(job, "Complete")
            return job if c and c["status"] == "True" else None

        job = await eventually(complete)
        for type_ in ("SuccessCriteriaMet", "Complete"):
            c = condition(job, type_)
            assert c is not None
            assert (c["reason"], c["message"]) == ("SuccessPolicy", "Matched rules at index 0")
        assert job["status"]["completedIndexes"] == "0"
        assert job["status"].get("active", 0) == 0
        assert [p["metadata"]["name"] for p in await job_pods(client, "leader")] == [
            zero["metadata"]["name"]
        ]


async def test_a_finished_jobs_leftover_finalizer_is_released(client: Client) -> None:
    async with job_controller(client):
        await client.create(JOBS, job_body("done"))

        async def one() -> list[dict[str, Any]]:
            return [p for p in await job_pods(client, "done") if is_active(p)]

        [pod] = await eventually(one)
        await set_phase(client, pod, "Succeeded")

        async def complete() -> dict[str, Any] | None:
            job = await get_job(client, "done")
            c = condition(job, "Complete")
            return job if c and c["status"] == "True" else None

        job = await eventually(complete)
        # someone puts the finalizer back on a pod of the finished Job, then deletes the pod
        name = pod["metadata"]["name"]
        await client.patch(f"{PODS}/{name}", {"metadata": {"finalizers": [TRACKING]}})
        await client.delete(f"{PODS}/{name}")

        async def gone() -> bool:
            return await job_pods(client, "done") == []

        await eventually(gone)
        assert (await get_job(client, "done"))["status"]["succeeded"] == 1
        assert job["status"]["succeeded"] == 1
