"""What a Job's spec says about its pods' outcomes: the pod failure policy, the success policy
and the pod-recreation back-off (upstream's ``pod_failure_policy.go``, ``success_policy.go``
and ``backoff_utils.go``).

The failure policy's rules are tried in order against a failed pod: ``onExitCodes`` (``In`` /
``NotIn`` over non-zero exit codes of terminated containers, optionally one ``containerName``;
regular containers before init containers) or ``onPodConditions`` (type and status). The first
match decides: ``FailJob`` (the Job fails, reason ``PodFailurePolicy``), ``Ignore`` (the failure
is not counted toward the backoff limit), ``Count``, or ``FailIndex`` (the index fails at once).

Pods are recreated after failures with an exponential back-off: ``base`` seconds after the
first failure since the last success, doubling per failure, capped at ``cap``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from pocketkube.client.rest import Obj
from pocketkube.controllers.job import indexes as ix
from pocketkube.controllers.podcontrol import parse_time

DEFAULT_POD_FAILURE_BACKOFF = 10.0  # upstream's DefaultJobPodFailureBackOff
MAX_POD_FAILURE_BACKOFF = 600.0  # upstream's MaxJobPodFailureBackOff


@dataclass(frozen=True)
class Match:
    message: str | None = None  # set for FailJob
    count_failed: bool = True
    action: str | None = None


def _matching_container(statuses: Iterable[Obj], requirement: Obj) -> Obj | None:
    name = requirement.get("containerName")
    values = set(requirement.get("values") or ())
    for status in statuses:
        terminated = (status.get("state") or {}).get("terminated")
        if not terminated:
            continue
        if name is not None and status.get("name") != name:
            continue
        code = int(terminated.get("exitCode") or 0)
        if code == 0:
            continue
        operator = requirement.get("operator")
        if (operator == "In" and code in values) or (operator == "NotIn" and code not in values):
            return status
    return None


def match_pod_failure_policy(policy: Obj | None, pod: Obj) -> Match:
    """Upstream's matchPodFailurePolicy for a failed pod."""
    if not policy:
        return Match()
    status = pod.get("status") or {}
    meta = pod.get("metadata") or {}
    for index, rule in enumerate(policy.get("rules") or ()):
        action = rule.get("action")
        message = None
        if rule.get("onExitCodes") is not None:
            requirement = rule["onExitCodes"]
            container = _matching_container(status.get("containerStatuses") or (), requirement)
            if container is None:
                container = _matching_container(
                    status.get("initContainerStatuses") or (), requirement
                )
            if container is None:
                continue
            code = container["state"]["terminated"].get("exitCode")
            message = (
                f"Container {container.get('name')} for pod {meta.get('namespace')}/"
                f"{meta.get('name')} failed with exit code {code} matching {action} rule at "
                f"index {index}"
            )
        elif rule.get("onPodConditions") is not None:
            condition = _matching_condition(status, rule["onPodConditions"])
            if condition is None:
                continue
            message = (
                f"Pod {meta.get('namespace')}/{meta.get('name')} has condition "
                f"{condition.get('type')} matching {action} rule at index {index}"
            )
        else:
            continue
        if action == "Ignore":
            return Match(count_failed=False, action=action)
        if action in ("FailIndex", "Count"):
            return Match(action=action)
        if action == "FailJob":
            return Match(message=message, action=action)
    return Match()


def _matching_condition(status: Obj, patterns: Iterable[Obj]) -> Obj | None:
    wanted = [(p.get("type"), p.get("status", "True")) for p in patterns]
    for condition in status.get("conditions") or ():
        if (condition.get("type"), condition.get("status")) in wanted:
            return dict(condition)
    return None


def match_success_policy(
    policy: Obj | None, completions: int, succeeded: ix.Intervals
) -> str | None:
    """The SuccessCriteriaMet message when a success policy rule holds (upstream's
    matchSuccessPolicy), else None."""
    if not policy or not succeeded:
        return None
    for index, rule in enumerate(policy.get("rules") or ()):
        wanted_count = rule.get("succeededCount")
        text = rule.get("succeededIndexes")
        if text is not None:
            wanted = ix.parse_intervals(text, completions)
            if not wanted:
                continue
            done = _intersection_total(wanted, succeeded)
            if wanted_count is None and done == ix.total(wanted):
                return f"Matched rules at index {index}"
            if wanted_count is not None and done >= wanted_count:
                return f"Matched rules at index {index}"
        elif wanted_count is not None and ix.total(succeeded) >= wanted_count:
            return f"Matched rules at index {index}"
    return None


def _intersection_total(a: ix.Intervals, b: ix.Intervals) -> int:
    count = 0
    for first_a, last_a in a:
        for first_b, last_b in b:
            low, high = max(first_a, first_b), min(last_a, last_b)
            if low <= high:
                count += high - low + 1
    return count


# -- back-off ----------------------------------------------------------------------------------
def finished_time(pod: Obj) -> dt.datetime:
    """When the pod finished: its containers' last finish, its Ready=False transition, its
    deletion minus grace, or at worst its creation."""
    status, meta = pod.get("status") or {}, pod.get("metadata") or {}
    latest: dt.datetime | None = None
    statuses = status.get("containerStatuses") or ()
    for container in statuses:
        terminated = (container.get("state") or {}).get("terminated") or {}
        when = parse_time(terminated.get("finishedAt"))
        if when is None:
            latest = None
            break
        latest = when if latest is None or when > latest else latest
    if latest is not None:
        return latest
    for condition in status.get("conditions") or ():
        if condition.get("type") == "Ready" and condition.get("status") == "False":
            when = parse_time(condition.get("lastTransitionTime"))
            if when is not None:
                return when
    deleted = parse_time(meta.get("deletionTimestamp"))
    if deleted is not None:
        return deleted - dt.timedelta(seconds=int(meta.get("deletionGracePeriodSeconds") or 0))
    return parse_time(meta.get("creationTimestamp")) or dt.datetime.fromtimestamp(0, dt.UTC)


@dataclass(frozen=True)
class BackoffRecord:
    failures_after_last_success: int = 0
    last_failure: dt.datetime | None = None


def next_backoff_record(
    old: BackoffRecord, new_succeeded: list[Obj], new_failed: list[Obj]
) -> BackoffRecord:
    """Upstream's newBackoffRecord: failures since the last success, and the latest one."""
    failed_times = sorted(finished_time(p) for p in new_failed)
    if not new_succeeded:
        if not failed_times:
            return old
        return BackoffRecord(old.failures_after_last_success + len(failed_times), failed_times[-1])
    last_success = max(finished_time(p) for p in new_succeeded)
    after = [t for t in failed_times if t > last_success]
    return BackoffRecord(len(after), after[-1] if after else None)


def remaining_backoff(
    failures: int, last_failure: dt.datetime | None, now: dt.datetime, *, base: float, cap: float
) -> float:
    """Seconds until a pod may be recreated after ``failures`` failures (0: now)."""
    if failures == 0 or last_failure is None:
        return 0.0
    delay = base
    for _ in range(1, failures):
        delay *= 2
        if delay >= cap:
            delay = cap
            break
    elapsed = (now - last_failure).total_seconds()
    return max(0.0, delay - elapsed)
