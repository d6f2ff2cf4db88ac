"""Pure helpers of the Job sync: what a pod counts as, the Job's conditions, and the picture
one sync builds (``SyncState``, upstream's ``syncJobCtx``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from pocketkube.api.timestamps import rfc3339
from pocketkube.client.rest import Obj
from pocketkube.controllers.job import indexes as ix
from pocketkube.controllers.job import policies
from pocketkube.controllers.podcontrol import is_pod_active, is_pod_ready

TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
JOB_CONTROLLER_NAME = "kubernetes.io/job-controller"  # spec.managedBy meaning "us"

# condition types and reasons (batch/v1)
COMPLETE, FAILED, SUSPENDED = "Complete", "Failed", "Suspended"
FAILURE_TARGET, SUCCESS_CRITERIA_MET = "FailureTarget", "SuccessCriteriaMet"


def spec(job: Obj) -> Obj:
    return job.get("spec") or {}


def is_indexed(job: Obj) -> bool:
    return spec(job).get("completionMode") == "Indexed"


def has_backoff_limit_per_index(job: Obj) -> bool:
    return spec(job).get("backoffLimitPerIndex") is not None


def is_suspended(job: Obj) -> bool:
    return bool(spec(job).get("suspend"))


def only_replace_failed_pods(job: Obj) -> bool:
    return (
        spec(job).get("podReplacementPolicy") == "Failed"
        or spec(job).get("podFailurePolicy") is not None
    )


def managed_elsewhere(job: Obj) -> str | None:
    managed_by = spec(job).get("managedBy")
    return managed_by if managed_by and managed_by != JOB_CONTROLLER_NAME else None


def uid(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("uid", ""))


def phase(pod: Obj) -> Any:
    return (pod.get("status") or {}).get("phase")


def has_tracking_finalizer(pod: Obj) -> bool:
    return TRACKING_FINALIZER in ((pod.get("metadata") or {}).get("finalizers") or ())


def is_terminating(pod: Obj) -> bool:
    deleting = (pod.get("metadata") or {}).get("deletionTimestamp")
    return bool(deleting) and phase(pod) not in ("Failed", "Succeeded")


def is_pod_failed(pod: Obj, job: Obj) -> bool:
    """Failed, or (unless only failed pods are replaced) deleted before it succeeded."""
    if phase(pod) == "Failed":
        return True
    if only_replace_failed_pods(job):
        return False
    return bool((pod.get("metadata") or {}).get("deletionTimestamp")) and phase(pod) != "Succeeded"


def find_condition(job: Obj, type_: str) -> Obj | None:
    for condition in (job.get("status") or {}).get("conditions") or ():
        if condition.get("type") == type_:
            return condition  # type: ignore[no-any-return]
    return None


def is_finished(job: Obj) -> bool:
    return any(
        (c := find_condition(job, t)) is not None and c.get("status") == "True"
        for t in (COMPLETE, FAILED)
    )


def new_condition(type_: str, status: str, reason: str, message: str, now: dt.datetime) -> Obj:
    stamp = rfc3339(now)
    return {
        "type": type_,
        "status": status,
        "lastProbeTime": stamp,
        "lastTransitionTime": stamp,
        "reason": reason,
        "message": message,
    }


def ensure_condition(
    job: Obj, type_: str, status: str, reason: str, message: str, now: dt.datetime
) -> bool:
    """Upstream's ensureJobConditionStatus: set or update the condition (a new one only when
    not False); whether anything changed."""
    conditions = job.setdefault("status", {}).setdefault("conditions", [])
    for i, condition in enumerate(conditions):
        if condition.get("type") == type_:
            if (condition.get("status"), condition.get("reason"), condition.get("message")) != (
                status,
                reason,
                message,
            ):
                conditions[i] = new_condition(type_, status, reason, message, now)
                return True
            return False
    if status != "False":
        conditions.append(new_condition(type_, status, reason, message, now))
        return True
    return False


def past_backoff_limit_on_failure(job: Obj, pods: list[Obj]) -> bool:
    """With restartPolicy OnFailure, container restarts count against the backoff limit."""
    template_spec = (spec(job).get("template") or {}).get("spec") or {}
    if template_spec.get("restartPolicy") != "OnFailure":
        return False
    restarts = 0
    for pod in pods:
        if phase(pod) in ("Running", "Pending"):
            status = pod.get("status") or {}
            for field_name in ("initContainerStatuses", "containerStatuses"):
                for container in status.get(field_name) or ():
                    restarts += int(container.get("restartCount") or 0)
    limit = int(spec(job).get("backoffLimit", 6))
    return restarts > 0 if limit == 0 else restarts >= limit


@dataclass
class SyncState:
    """What one sync of a Job knows (upstream's syncJobCtx)."""

    job: Obj
    pods: list[Obj]
    active_pods: list[Obj]
    ready: int
    terminating: int
    uncounted_succeeded: set[str]
    uncounted_failed: set[str]
    expected_rm: set[str]
    backoff: policies.BackoffRecord = field(default_factory=policies.BackoffRecord)
    succeeded: int = 0
    failed: int = 0
    finished: Obj | None = None
    prev_succeeded_indexes: ix.Intervals = field(default_factory=list)
    succeeded_indexes: ix.Intervals = field(default_factory=list)
    failed_indexes: ix.Intervals | None = None
    delayed_deletion: dict[int, Obj] = field(default_factory=dict)

    @classmethod
    def of(cls, job: Obj, pods: list[Obj], expected_rm: set[str]) -> SyncState:
        active = [p for p in pods if is_pod_active(p)]
        uncounted = job["status"].get("uncountedTerminatedPods") or {}
        return cls(
            job=job,
            pods=pods,
            active_pods=active,
            ready=sum(1 for p in active if is_pod_ready(p)),
            terminating=sum(1 for p in pods if is_terminating(p)),
            uncounted_succeeded=set(uncounted.get("succeeded") or ()),
            uncounted_failed=set(uncounted.get("failed") or ()),
            expected_rm=expected_rm,
        )

    @property
    def completions(self) -> int:
        return int(spec(self.job).get("completions") or 0)

    def valid_pods(self, skip: set[str]) -> list[Obj]:
        """Pods not yet counted: with the finalizer, not in ``skip`` nor expected to lose the
        finalizer, with a valid index for Indexed Jobs (upstream's getValidPodsWithFilter)."""
        result = []
        for pod in self.pods:
            pod_uid = uid(pod)
            if not has_tracking_finalizer(pod) or pod_uid in skip or pod_uid in self.expected_rm:
                continue
            if is_indexed(self.job) and ix.valid_index(pod, self.completions) is None:
                continue
            result.append(pod)
        return result

    def new_finished_pods(self) -> tuple[list[Obj], list[Obj]]:
        succeeded = [
            p for p in self.valid_pods(self.uncounted_succeeded) if phase(p) == "Succeeded"
        ]
        failed = [p for p in self.valid_pods(self.uncounted_failed) if is_pod_failed(p, self.job)]
        return succeeded, failed

    def calculate_indexes(self) -> None:
        """Succeeded (and, with backoffLimitPerIndex, failed) indexes so far."""
        completions = self.completions
        status = self.job["status"]
        self.prev_succeeded_indexes = ix.parse_intervals(
            status.get("completedIndexes"), completions
        )
        new = [
            i
            for p in self.pods
            if phase(p) == "Succeeded"
            and has_tracking_finalizer(p)
            and (i := ix.valid_index(p, completions)) is not None
        ]
        self.succeeded_indexes = ix.with_indexes(self.prev_succeeded_indexes, new)
        self.succeeded = ix.total(self.succeeded_indexes)
        if not has_backoff_limit_per_index(self.job):
            return
        prev_failed = ix.parse_intervals(status.get("failedIndexes"), completions)
        new_failed = [
            i
            for p in self.pods
            if has_tracking_finalizer(p)
            and (i := ix.valid_index(p, completions)) is not None
            and self._is_index_failed(p)
        ]
        self.failed_indexes = ix.with_indexes(prev_failed, new_failed)
        self._find_delayed_deletions()

    def _is_index_failed(self, pod: Obj) -> bool:
        counted = False
        if is_pod_failed(pod, self.job):
            match = policies.match_pod_failure_policy(spec(self.job).get("podFailurePolicy"), pod)
            if match.action == "FailIndex":
                return True
            counted = match.count_failed
        limit = int(spec(self.job).get("backoffLimitPerIndex") or 0)
        return counted and ix.index_failure_count(pod) >= limit

    def _find_delayed_deletions(self) -> None:
        """Per index, the last failed pod, kept (with its finalizer) until its replacement is
        created, so the replacement inherits the index's failure count."""
        active_indexes = {i for p in self.active_pods if (i := ix.completion_index(p)) is not None}
        failed_indexes = self.failed_indexes or []
        for pod in self.valid_pods(set()):
            if not is_pod_failed(pod, self.job):
                continue
            index = ix.valid_index(pod, self.completions)
            if index is None or index in active_indexes:
                continue
            if ix.has(self.succeeded_indexes, index) or ix.has(failed_indexes, index):
                continue
            current = self.delayed_deletion.get(index)
            if current is None or (
                _absolute_failures(current) <= _absolute_failures(pod)
                and policies.finished_time(pod) >= policies.finished_time(current)
            ):
                self.delayed_deletion[index] = pod


def _absolute_failures(pod: Obj) -> int:
    return ix.index_failure_count(pod) + ix.index_ignored_failure_count(pod)


def new_index_failure_counts(job: Obj, replaced: Obj | None) -> tuple[int, int]:
    """The failure counts a replacement pod of an index starts with."""
    if replaced is None:
        return 0, 0
    failures = ix.index_failure_count(replaced)
    ignored = ix.index_ignored_failure_count(replaced)
    if policies.match_pod_failure_policy(spec(job).get("podFailurePolicy"), replaced).count_failed:
        failures += 1
    else:
        ignored += 1
    return failures, ignored
