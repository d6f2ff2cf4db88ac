"""E2E: Jobs and CronJobs on a real node through real kubectl: the server's job and cronjob
controllers create the pods, its kubelet runs them (``sh -c``), and ``kubectl wait``, ``logs``,
``get`` and ``describe`` show the result."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import Cluster
from tests.e2e.nodecluster import wait_for

TIMEOUT = 120.0


@pytest.fixture
def namespace(node_cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    name = f"job-{request.node.name.removeprefix('test_').replace('_', '-')}"[:60]
    node_cluster.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        for kind in ("cronjobs", "jobs"):
            node_cluster.kubectl("delete", kind, "--all", "-n", name, "--wait=false", check=False)
        node_cluster.kubectl("delete", "pods", "--all", "-n", name, "--wait=false", check=False)


def get_json(cluster: Cluster, namespace: str, *what: str) -> Any:
    return json.loads(cluster.kubectl("get", *what, "-n", namespace, "-o", "json").stdout)


def test_a_job_runs_to_completion(node_cluster: Cluster, namespace: str) -> None:
    created = node_cluster.kubectl(
        "create", "job", "hello", "-n", namespace, "--image=busybox", "--", "sh", "-c", "echo hi"
    ).stdout
    assert created.strip() == "job.batch/hello created"
    waited = node_cluster.kubectl(
        "wait",
        "--for=condition=complete",
        "job/hello",
        "-n",
        namespace,
        f"--timeout={int(TIMEOUT)}s",
        timeout=TIMEOUT + 10,
    ).stdout
    assert waited.strip() == "job.batch/hello condition met"
    assert node_cluster.kubectl("logs", "job/hello", "-n", namespace).stdout == "hi\n"
    row = node_cluster.kubectl("get", "jobs", "-n", namespace, "--no-headers").stdout.split()
    assert row[:3] == ["hello", "Complete", "1/1"]  # NAME STATUS COMPLETIONS DURATION AGE
    job = get_json(node_cluster, namespace, "job", "hello")
    assert job["status"]["succeeded"] == 1
    assert job["status"]["completionTime"]
    [pod] = get_json(node_cluster, namespace, "pods", "-l", "job-name=hello")["items"]
    assert pod["status"]["phase"] == "Succeeded"
    assert "batch.kubernetes.io/job-tracking" not in (pod["metadata"].get("finalizers") or ())

    def described() -> str | None:
        text = node_cluster.kubectl("describe", "job", "hello", "-n", namespace).stdout
        return text if "Created pod: hello-" in text and "Job completed" in text else None

    wait_for(described, 30.0, "the Job's events in kubectl describe")


def test_a_failing_job_reaches_its_backoff_limit(node_cluster: Cluster, namespace: str) -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "doomed"},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {"name": "c", "image": "busybox", "command": ["sh", "-c", "exit 3"]}
                    ],
                }
            },
        },
    }
    node_cluster.kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(job))
    node_cluster.kubectl(
        "wait",
        "--for=condition=failed",
        "job/doomed",
        "-n",
        namespace,
        f"--timeout={int(TIMEOUT)}s",
        timeout=TIMEOUT + 10,
    )
    status = get_json(node_cluster, namespace, "job", "doomed")["status"]
    failed = [c for c in status["conditions"] if c["type"] == "Failed"]
    assert failed[0]["reason"] == "BackoffLimitExceeded"
    assert status["failed"] == 1


def test_indexed_job(node_cluster: Cluster, namespace: str) -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "indexed"},
        "spec": {
            "completions": 3,
            "parallelism": 3,
            "completionMode": "Indexed",
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "c",
                            "image": "busybox",
                            "command": ["sh", "-c", "echo index=$JOB_COMPLETION_INDEX"],
                        }
                    ],
                }
            },
        },
    }
    node_cluster.kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(job))
    node_cluster.kubectl(
        "wait",
        "--for=condition=complete",
        "job/indexed",
        "-n",
        namespace,
        f"--timeout={int(TIMEOUT)}s",
        timeout=TIMEOUT + 10,
    )
    status = get_json(node_cluster, namespace, "job", "indexed")["status"]
    assert status["completedIndexes"] == "0-2"
    pods = get_json(node_cluster, namespace, "pods", "-l", "job-name=indexed")["items"]
    for pod in pods:
        index = pod["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
        logs = node_cluster.kubectl("logs", pod["metadata"]["name"], "-n", namespace).stdout
        assert logs == f"index={index}\n"


def test_a_cronjob_starts_a_job_that_completes(node_cluster: Cluster, namespace: str) -> None:
    node_cluster.kubectl(
        "create",
        "cronjob",
        "tick",
        "-n",
        namespace,
        "--image=busybox",
        "--schedule=*/1 * * * *",
        "--",
        "sh",
        "-c",
        "echo tock",
    )
    # from the CronJob at once, as an operator would
    node_cluster.kubectl("create", "job", "manual", "--from=cronjob/tick", "-n", namespace)
    node_cluster.kubectl(
        "wait",
        "--for=condition=complete",
        "job/manual",
        "-n",
        namespace,
        f"--timeout={int(TIMEOUT)}s",
        timeout=TIMEOUT + 10,
    )
    assert node_cluster.kubectl("logs", "job/manual", "-n", namespace).stdout == "tock\n"

    # (kubectl makes the CronJob its owner: counted as a success, not listed as active)
    wait_for(
        lambda: get_json(node_cluster, namespace, "cronjob", "tick")["status"].get(
            "lastSuccessfulTime"
        ),
        30.0,
        "lastSuccessfulTime from the manual Job",
    )

    # and on schedule, within a minute and a bit
    def scheduled_complete() -> Any:
        for job in get_json(node_cluster, namespace, "jobs")["items"]:
            conditions = job.get("status", {}).get("conditions") or ()
            done = any(c["type"] == "Complete" and c["status"] == "True" for c in conditions)
            if job["metadata"]["name"].startswith("tick-") and done:
                return job
        return None

    job = wait_for(scheduled_complete, 100.0, "a scheduled Job completed")
    annotations = job["metadata"]["annotations"]
    assert "batch.kubernetes.io/cronjob-scheduled-timestamp" in annotations
    assert job["metadata"]["ownerReferences"][0]["name"] == "tick"
    cronjob = get_json(node_cluster, namespace, "cronjob", "tick")
    assert cronjob["status"]["lastScheduleTime"]
    row = node_cluster.kubectl("get", "cronjob", "tick", "-n", namespace, "--no-headers").stdout
    assert row.split()[:2] == ["tick", "*/1"]
