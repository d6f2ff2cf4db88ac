"""CronJob validation as upstream's ValidateCronJobCreate/Update (robfig/cron's messages)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pocketkube.api.workloads import default_cronjob, validate_cronjob


def cronjob(name: str = "tick", **spec: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "schedule": "*/5 * * * *",
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "c", "image": "busybox"}],
                        }
                    }
                }
            },
            **spec,
        },
    }
    default_cronjob(obj)
    return obj


def problems(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    return [(e.field, e.detail) for e in validate_cronjob(obj, old)]


def test_a_good_cronjob_is_valid() -> None:
    assert problems(cronjob()) == []
    assert problems(cronjob(schedule="@hourly", timeZone="Europe/Paris")) == []


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"schedule": ""}, ("spec.schedule", "")),
        ({"schedule": "61 * * * *"}, ("spec.schedule", "end of range (61) above maximum (59): 61")),
        ({"schedule": "bad"}, ("spec.schedule", "expected exactly 5 fields, found 1: [bad]")),
        (
            {"schedule": "CRON_TZ=UTC * * * * *"},
            ("spec.schedule", "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"),
        ),
        (
            {"timeZone": "Europe/Pariss"},
            ("spec.timeZone", "unknown time zone Europe/Pariss"),
        ),
        ({"timeZone": ""}, ("spec.timeZone", "timeZone must be nil or non-empty string")),
        ({"timeZone": "../etc"}, ("spec.timeZone", "unknown time zone ../etc")),
        (
            {"timeZone": "Local"},
            (
                "spec.timeZone",
                "timeZone must be an explicit time zone as defined in "
                "https://www.iana.org/time-zones",
            ),
        ),
        (
            {"startingDeadlineSeconds": -1},
            ("spec.startingDeadlineSeconds", "must be greater than or equal to 0"),
        ),
        (
            {"failedJobsHistoryLimit": -1},
            ("spec.failedJobsHistoryLimit", "must be greater than or equal to 0"),
        ),
    ],
)
def test_bad_specs_are_refused_with_upstreams_messages(
    spec: dict[str, Any], expected: tuple[str, str]
) -> None:
    assert expected in problems(cronjob(**spec))


def test_policy_restart_policy_and_name_length() -> None:
    bad = cronjob(concurrencyPolicy="Sometimes")
    assert [f for f, _ in problems(bad)] == ["spec.concurrencyPolicy"]
    always = cronjob()
    always["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    assert [f for f, _ in problems(always)] == ["spec.jobTemplate.spec.template.spec.restartPolicy"]
    long_name = cronjob(name="x" * 53)
    assert problems(long_name) == [("metadata.name", "must be no more than 52 characters")]
    assert problems(long_name, old=copy.deepcopy(long_name)) == []  # old ones stay updatable


def test_a_stored_tz_schedule_may_stay_but_not_gain_a_time_zone() -> None:
    old = cronjob()
    old["spec"]["schedule"] = "TZ=UTC 0 * * * *"
    same = copy.deepcopy(old)
    assert problems(same, old) == []
    same["spec"]["timeZone"] = "UTC"
    assert ("spec.schedule", "cannot use both timeZone field and TZ or CRON_TZ in schedule") in (
        problems(same, old)
    )
    fresh = cronjob()
    fresh["spec"]["schedule"] = "TZ=UTC 0 * * * *"
    assert problems(fresh, cronjob())[0][1].startswith("cannot use TZ or CRON_TZ")
