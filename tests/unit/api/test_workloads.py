from __future__ import annotations

from typing import Any

from pocketkube.api.workloads import (
    default_deployment,
    default_job,
    validate_apps_workload,
    validate_job,
)


def deployment(selector: dict[str, str], labels: dict[str, str]) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            },
        },
    }


def test_deployment_defaults() -> None:
    obj = deployment({"app": "web"}, {"app": "web"})
    default_deployment(obj)
    spec = obj["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
    }
    assert (spec["revisionHistoryLimit"], spec["progressDeadlineSeconds"]) == (10, 600)
    assert spec["template"]["spec"]["restartPolicy"] == "Always"
    assert validate_apps_workload(obj, None) == []


def test_selector_must_match_template_and_is_immutable() -> None:
    obj = deployment({"app": "web"}, {"app": "db"})
    default_deployment(obj)
    assert [e.field for e in validate_apps_workload(obj, None)] == ["spec.template.metadata.labels"]
    old = deployment({"app": "web"}, {"app": "web"})
    new = deployment({"app": "web", "x": "y"}, {"app": "web", "x": "y"})
    default_deployment(old)
    default_deployment(new)
    assert [e.field for e in validate_apps_workload(new, old)] == ["spec.selector"]


def test_job_defaults_and_generated_selector() -> None:
    job = {
        "metadata": {"name": "pi", "namespace": "default", "uid": "u-1"},
        "spec": {
            "template": {
                "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "perl"}]}
            }
        },
    }
    default_job(job)
    spec = job["spec"]
    assert (spec["completions"], spec["parallelism"], spec["backoffLimit"]) == (1, 1, 6)
    assert spec["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}}
    assert spec["template"]["metadata"]["labels"]["job-name"] == "pi"
    assert validate_job(job, None) == []
    job["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    assert [e.field for e in validate_job(job, None)] == ["spec.template.spec.restartPolicy"]


def test_job_defaults_follow_per_index_limits_and_failure_policies() -> None:
    template = {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}}
    job = {
        "metadata": {"name": "j", "namespace": "default", "uid": "u-2"},
        "spec": {
            "completionMode": "Indexed",
            "completions": 3,
            "backoffLimitPerIndex": 1,
            "podFailurePolicy": {"rules": []},
            "template": template,
        },
    }
    default_job(job)
    assert job["spec"]["backoffLimit"] == 2147483647
    assert job["spec"]["podReplacementPolicy"] == "Failed"
