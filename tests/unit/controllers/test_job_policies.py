"""Job helpers: index intervals, the pod failure policy, the success policy, the back-off."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from pocketkube.controllers.job import indexes as ix
from pocketkube.controllers.job import policies
from pocketkube.controllers.job import state as st

T0 = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("text", "completions", "intervals", "formatted"),
    [
        ("", 5, [], ""),
        ("0", 5, [(0, 0)], "0"),
        ("1,3-5", 10, [(1, 1), (3, 5)], "1,3-5"),
        ("1,2", 10, [(1, 2)], "1,2"),
        ("1,2,3", 10, [(1, 3)], "1-3"),
        ("0-2,3,7-9", 10, [(0, 3), (7, 9)], "0-3,7-9"),
        ("1,3-9", 5, [(1, 1), (3, 4)], "1,3,4"),
        ("2,x,6", 10, [(2, 2), (6, 6)], "2,6"),
        ("7,8", 5, [], ""),
    ],
)
def test_intervals(text: str, completions: int, intervals: ix.Intervals, formatted: str) -> None:
    parsed = ix.parse_intervals(text, completions)
    assert parsed == intervals
    assert ix.format_intervals(parsed) == formatted


def test_interval_arithmetic() -> None:
    a = ix.parse_intervals("1,3-5", 10)
    assert ix.with_indexes(a, [2, 7]) == [(1, 5), (7, 7)]
    assert ix.merge(a, [(6, 8)]) == [(1, 1), (3, 8)]
    assert ix.total(a) == 4
    assert ix.has(a, 4)
    assert not ix.has(a, 2)


@pytest.mark.parametrize(
    ("count", "completions", "non_pending", "busy", "expected"),
    [
        (3, 5, [], [], [0, 1, 2]),
        (3, 5, [(0, 1)], [3], [2, 4]),
        (2, 10, [(1, 2)], [0, 4], [3, 5]),
        (5, 3, [], [], [0, 1, 2]),
        (0, 3, [], [], []),
    ],
)
def test_first_pending_indexes(
    count: int, completions: int, non_pending: ix.Intervals, busy: list[int], expected: list[int]
) -> None:
    assert ix.first_pending_indexes(count, completions, non_pending, busy) == expected


def _pod(name: str = "p", index: int | None = None, **status: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns", "uid": f"uid-{name}"}
    if index is not None:
        meta["annotations"] = {ix.COMPLETION_INDEX: str(index)}
    return {"metadata": meta, "status": {"phase": "Failed", **status}}


def _terminated(name: str, code: int) -> dict[str, Any]:
    return {"name": name, "state": {"terminated": {"exitCode": code}}}


def test_duplicated_index_pods() -> None:
    pods = [_pod("a", 0), _pod("b", 0), _pod("c"), _pod("d", 7), _pod("e", 1)]
    remove, left = ix.duplicated_index_pods(pods, 5)
    assert sorted(p["metadata"]["name"] for p in remove) in (["a", "c", "d"], ["b", "c", "d"])
    assert sorted(p["metadata"]["name"] for p in left)[1] == "e"


def test_generate_name() -> None:
    assert ix.generate_name("job", 3) == "job-3-"
    long = "x" * 60
    assert ix.generate_name(long, 12) == "x" * 54 + "-12-"


def test_index_env() -> None:
    spec = {"containers": [{"name": "c"}], "initContainers": [{"name": "i", "env": []}]}
    ix.add_index_env(spec)
    ix.add_index_env(spec)
    for container in spec["containers"] + spec["initContainers"]:
        assert container["env"] == [
            {
                "name": "JOB_COMPLETION_INDEX",
                "valueFrom": {
                    "fieldRef": {
                        "apiVersion": "v1",
                        "fieldPath": "metadata.labels['batch.kubernetes.io/job-completion-index']",
                    }
                },
            }
        ]


EXIT_42 = {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}}
MAIN_NOT_0_1 = {
    "action": "Count",
    "onExitCodes": {"containerName": "main", "operator": "NotIn", "values": [1]},
}
DISRUPTED = {
    "action": "Ignore",
    "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
}
FAIL_INDEX = {"action": "FailIndex", "onExitCodes": {"operator": "In", "values": [3]}}


@pytest.mark.parametrize(
    ("rules", "pod", "action", "counted", "message"),
    [
        ([], _pod(containerStatuses=[_terminated("main", 42)]), None, True, None),
        (
            [EXIT_42],
            _pod("p1", containerStatuses=[_terminated("main", 42)]),
            "FailJob",
            True,
            "Container main for pod ns/p1 failed with exit code 42 matching FailJob rule at "
            "index 0",
        ),
        ([EXIT_42], _pod(containerStatuses=[_terminated("main", 1)]), None, True, None),
        # exit code 0 never matches, even NotIn
        ([MAIN_NOT_0_1], _pod(containerStatuses=[_terminated("main", 0)]), None, True, None),
        ([MAIN_NOT_0_1], _pod(containerStatuses=[_terminated("main", 2)]), "Count", True, None),
        ([MAIN_NOT_0_1], _pod(containerStatuses=[_terminated("side", 2)]), None, True, None),
        # init containers are looked at too
        ([EXIT_42], _pod(initContainerStatuses=[_terminated("init", 42)]), "FailJob", True, None),
        (
            [DISRUPTED, EXIT_42],
            _pod(
                conditions=[{"type": "DisruptionTarget", "status": "True"}],
                containerStatuses=[_terminated("main", 42)],
            ),
            "Ignore",
            False,
            None,
        ),
        (
            [{**DISRUPTED, "action": "FailJob"}],
            _pod("p2", conditions=[{"type": "DisruptionTarget", "status": "True"}]),
            "FailJob",
            True,
            "Pod ns/p2 has condition DisruptionTarget matching FailJob rule at index 0",
        ),
        ([FAIL_INDEX], _pod(containerStatuses=[_terminated("main", 3)]), "FailIndex", True, None),
    ],
)
def test_pod_failure_policy(
    rules: list[Any], pod: dict[str, Any], action: str | None, counted: bool, message: str | None
) -> None:
    match = policies.match_pod_failure_policy({"rules": rules} if rules else None, pod)
    assert match.action == action
    assert match.count_failed is counted
    if message is not None:
        assert match.message == message


@pytest.mark.parametrize(
    ("rules", "succeeded", "expected"),
    [
        ([{"succeededIndexes": "0-2"}], "0,1", None),
        ([{"succeededIndexes": "0-2"}], "0-3", "Matched rules at index 0"),
        ([{"succeededCount": 2}], "4,7", "Matched rules at index 0"),
        ([{"succeededCount": 3}], "4,7", None),
        (
            [{"succeededCount": 5}, {"succeededIndexes": "4-9", "succeededCount": 2}],
            "4,7",
            "Matched rules at index 1",
        ),
        ([{"succeededIndexes": "0"}], "", None),
    ],
)
def test_success_policy(rules: list[Any], succeeded: str, expected: str | None) -> None:
    intervals = ix.parse_intervals(succeeded, 10)
    assert policies.match_success_policy({"rules": rules}, 10, intervals) == expected


@pytest.mark.parametrize(
    ("failures", "elapsed", "remaining"),
    [
        (0, 0, 0),
        (1, 0, 10),
        (1, 4, 6),
        (1, 11, 0),
        (2, 0, 20),
        (3, 5, 35),
        (7, 0, 600),
        (20, 0, 600),
    ],
)
def test_remaining_backoff(failures: int, elapsed: float, remaining: float) -> None:
    last = T0
    now = T0 + dt.timedelta(seconds=elapsed)
    got = policies.remaining_backoff(failures, last, now, base=10, cap=600)
    assert got == pytest.approx(remaining)


def _finished_pod(seconds: int) -> dict[str, Any]:
    when = (T0 + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "metadata": {"name": "p"},
        "status": {"containerStatuses": [{"state": {"terminated": {"finishedAt": when}}}]},
    }


def test_backoff_record() -> None:
    record = policies.next_backoff_record(
        policies.BackoffRecord(), [], [_finished_pod(1), _finished_pod(5)]
    )
    assert record.failures_after_last_success == 2
    assert record.last_failure == T0 + dt.timedelta(seconds=5)
    record = policies.next_backoff_record(record, [_finished_pod(10)], [_finished_pod(12)])
    assert record.failures_after_last_success == 1
    record = policies.next_backoff_record(record, [_finished_pod(20)], [])
    assert record == policies.BackoffRecord()


def test_finished_time_fallbacks() -> None:
    ready_false = {
        "metadata": {"creationTimestamp": "2024-05-01T11:00:00Z"},
        "status": {
            "conditions": [
                {"type": "Ready", "status": "False", "lastTransitionTime": "2024-05-01T12:00:00Z"}
            ]
        },
    }
    assert policies.finished_time(ready_false) == T0
    deleted = {
        "metadata": {"deletionTimestamp": "2024-05-01T12:00:30Z", "deletionGracePeriodSeconds": 30}
    }
    assert policies.finished_time(deleted) == T0
    assert policies.finished_time({"metadata": {"creationTimestamp": "2024-05-01T12:00:00Z"}}) == T0


@pytest.mark.parametrize(
    ("spec", "pod", "failed"),
    [
        ({}, {"status": {"phase": "Failed"}}, True),
        ({}, {"metadata": {"deletionTimestamp": "x"}, "status": {"phase": "Running"}}, True),
        ({}, {"metadata": {"deletionTimestamp": "x"}, "status": {"phase": "Succeeded"}}, False),
        (
            {"podReplacementPolicy": "Failed"},
            {"metadata": {"deletionTimestamp": "x"}, "status": {"phase": "Running"}},
            False,
        ),
        ({}, {"status": {"phase": "Running"}}, False),
    ],
)
def test_is_pod_failed(spec: dict[str, Any], pod: dict[str, Any], failed: bool) -> None:
    assert st.is_pod_failed(pod, {"spec": spec}) is failed


def test_ensure_condition() -> None:
    job: dict[str, Any] = {"status": {}}
    assert not st.ensure_condition(job, "Suspended", "False", "JobResumed", "Job resumed", T0)
    assert st.ensure_condition(job, "Suspended", "True", "JobSuspended", "Job suspended", T0)
    assert not st.ensure_condition(job, "Suspended", "True", "JobSuspended", "Job suspended", T0)
    assert st.ensure_condition(job, "Suspended", "False", "JobResumed", "Job resumed", T0)
    assert job["status"]["conditions"] == [
        {
            "type": "Suspended",
            "status": "False",
            "reason": "JobResumed",
            "message": "Job resumed",
            "lastProbeTime": "2024-05-01T12:00:00Z",
            "lastTransitionTime": "2024-05-01T12:00:00Z",
        }
    ]


@pytest.mark.parametrize(
    ("limit", "restarts", "past"), [(0, 0, False), (0, 1, True), (3, 2, False), (3, 3, True)]
)
def test_backoff_limit_on_failure(limit: int, restarts: int, past: bool) -> None:
    job = {"spec": {"backoffLimit": limit, "template": {"spec": {"restartPolicy": "OnFailure"}}}}
    pod = {"status": {"phase": "Running", "containerStatuses": [{"restartCount": restarts}]}}
    assert st.past_backoff_limit_on_failure(job, [pod]) is past
