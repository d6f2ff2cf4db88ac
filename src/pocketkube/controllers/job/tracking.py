"""Counting a Job's finished pods with finalizers (upstream's
``trackJobStatusAndRemoveFinalizers`` and ``flushUncountedAndRemoveFinalizers``).

1. Finished pods still carrying ``batch.kubernetes.io/job-tracking`` go into
   ``status.uncountedTerminatedPods`` (Indexed Jobs: their index into ``completedIndexes``),
   and the interim ``FailureTarget`` / ``SuccessCriteriaMet`` condition is added;
2. that status is written, then the finalizers are removed (the pods may now go);
3. pods whose finalizer is gone move from the uncounted lists into ``succeeded`` / ``failed``;
4. once nothing is uncounted or terminating, the final ``Complete`` (with ``completionTime``)
   or ``Failed`` condition is set, the status written again and the event recorded.

At most 500 pods are handled per sync (the status stays small); the next sync goes on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pocketkube.client.rest import ApiError, Obj
from pocketkube.controllers.job import indexes as ix
from pocketkube.controllers.job import policies
from pocketkube.controllers.job import state as st

if TYPE_CHECKING:
    from pocketkube.controllers.job.controller import JobController

MAX_UNCOUNTED_PODS = 500


def clean_uncounted(status: Obj, with_finalizer: set[str]) -> bool:
    """Move uncounted pods whose finalizer is gone into the counters; whether any moved."""
    uncounted = status.setdefault("uncountedTerminatedPods", {})
    changed = False
    for field, counter in (("succeeded", "succeeded"), ("failed", "failed")):
        uids = uncounted.get(field) or []
        keep = [u for u in uids if u in with_finalizer]
        if len(keep) != len(uids):
            changed = True
            status[counter] = int(status.get(counter) or 0) + len(uids) - len(keep)
            if keep:
                uncounted[field] = keep
            else:
                uncounted.pop(field, None)
    return changed


class Tracker:
    def __init__(self, controller: JobController, key: str, s: st.SyncState) -> None:
        self._c = controller
        self._key = key
        self._s = s

    def _can_remove_finalizer(self, pod: Obj, considered_failed: bool) -> bool:
        s = self._s
        if s.job["metadata"].get("deletionTimestamp") or s.finished is not None:
            return True
        if st.phase(pod) == "Succeeded":
            return True
        if not considered_failed:
            return False
        if st.has_backoff_limit_per_index(s.job):
            index = ix.completion_index(pod)
            delayed = s.delayed_deletion.get(index) if index is not None else None
            if delayed is not None and st.uid(delayed) == st.uid(pod):
                return False
        return True

    async def run(self, needs_flush: bool) -> None:
        s, job = self._s, self._s.job
        status = job["status"]
        indexed = st.is_indexed(job)
        pods = sorted(s.pods, key=lambda p: ix.completion_index(p) or 0) if indexed else s.pods
        with_finalizer = {
            st.uid(p)
            for p in pods
            if st.has_tracking_finalizer(p) and st.uid(p) not in s.expected_rm
        }
        if clean_uncounted(status, with_finalizer):
            needs_flush = True
        uncounted = status.setdefault("uncountedTerminatedPods", {})
        policy = st.spec(job).get("podFailurePolicy")
        to_release: list[Obj] = []
        new_indexes: list[int] = []
        reached_max = False
        # when the Job is failing, every pod not terminated counts as failed
        failing = s.finished is not None and s.finished.get("type") != st.SUCCESS_CRITERIA_MET
        for pod in pods:
            pod_uid = st.uid(pod)
            if not st.has_tracking_finalizer(pod) or pod_uid in s.expected_rm:
                continue  # counted by an earlier sync
            considered_failed = st.is_pod_failed(pod, job)
            if not self._can_remove_finalizer(pod, considered_failed):
                continue
            to_release.append(pod)
            index = ix.valid_index(pod, s.completions) if indexed else None
            if st.phase(pod) == "Succeeded" and pod_uid not in s.uncounted_failed:
                if indexed:
                    if index is not None and not ix.has(s.prev_succeeded_indexes, index):
                        new_indexes.append(index)
                        needs_flush = True
                elif pod_uid not in s.uncounted_succeeded:
                    uncounted.setdefault("succeeded", []).append(pod_uid)
                    needs_flush = True
            elif (
                (considered_failed or failing)
                and pod_uid not in s.uncounted_failed
                and (not indexed or index is not None)
                and policies.match_pod_failure_policy(policy, pod).count_failed
            ):
                uncounted.setdefault("failed", []).append(pod_uid)
                needs_flush = True
            pending = len(new_indexes) + len(uncounted.get("succeeded") or ())
            if pending + len(uncounted.get("failed") or ()) >= MAX_UNCOUNTED_PODS:
                reached_max = True
                break
        if indexed:
            s.succeeded_indexes = ix.with_indexes(s.succeeded_indexes, new_indexes)
            completed = ix.format_intervals(s.succeeded_indexes)
            if completed != (status.get("completedIndexes") or ""):
                needs_flush = True
            status["succeeded"] = ix.total(s.succeeded_indexes)
            status["completedIndexes"] = completed
            failed_text = (
                ix.format_intervals(s.failed_indexes) if s.failed_indexes is not None else None
            )
            if status.get("failedIndexes") != failed_text:
                needs_flush = True
                if failed_text is None:
                    status.pop("failedIndexes", None)
                else:
                    status["failedIndexes"] = failed_text
        now = self._c.now()
        if s.finished is not None and s.finished.get("type") == st.FAILURE_TARGET:
            status.setdefault("conditions", []).append(s.finished)
            needs_flush = True
            s.finished = st.new_condition(
                st.FAILED, "True", s.finished["reason"], s.finished["message"], now
            )
        if s.finished is not None and s.finished.get("type") == st.SUCCESS_CRITERIA_MET:
            if st.find_condition(job, st.SUCCESS_CRITERIA_MET) is None:
                status.setdefault("conditions", []).append(s.finished)
                needs_flush = True
            s.finished = st.new_condition(
                st.COMPLETE,
                "True",
                str(s.finished.get("reason", "")),
                str(s.finished.get("message", "")),
                now,
            )
        needs_flush = await self._flush_and_release(to_release, with_finalizer, needs_flush)
        finished = not reached_max and self._enact_finished()
        if finished or needs_flush:
            s.job = await self._c.write_status(s.job)
            if finished and s.finished is not None:
                self._record_finished(s.finished)

    async def _flush_and_release(
        self, pods: list[Obj], with_finalizer: set[str], needs_flush: bool
    ) -> bool:
        """Write the uncounted pods, release their finalizers, count those released; whether
        the status still has changes to write."""
        s = self._s
        if needs_flush:
            s.job = await self._c.write_status(s.job)
            s.job.setdefault("status", {})
            self._c.backoff_records[self._key] = s.backoff
            needs_flush = False
        error: BaseException | None = None
        if pods:
            expected = self._c.finalizer_expectations.setdefault(self._key, set())
            expected.update(st.uid(p) for p in pods)
            for pod in pods:
                try:
                    await self._c.remove_finalizer(pod)
                except ApiError as err:
                    expected.discard(st.uid(pod))
                    if not err.not_found:
                        error = error or err
                        continue
                with_finalizer.discard(st.uid(pod))
        if clean_uncounted(s.job["status"], with_finalizer):
            needs_flush = True
        if error is not None:
            if needs_flush:
                s.job = await self._c.write_status(s.job)
            raise error
        return needs_flush

    def _enact_finished(self) -> bool:
        s = self._s
        if s.finished is None:
            return False
        uncounted = s.job["status"].get("uncountedTerminatedPods") or {}
        if uncounted.get("succeeded") or uncounted.get("failed"):
            return False
        if s.terminating > 0:
            return False
        condition = s.finished
        st.ensure_condition(
            s.job,
            condition["type"],
            condition["status"],
            condition.get("reason", ""),
            condition.get("message", ""),
            self._c.now(),
        )
        if condition["type"] == st.COMPLETE:
            s.job["status"]["completionTime"] = condition["lastTransitionTime"]
        return True

    def _record_finished(self, condition: Obj) -> None:
        job = self._s.job
        if condition["type"] == st.COMPLETE:
            completions = st.spec(job).get("completions")
            if completions is not None and int(job["status"].get("succeeded") or 0) > completions:
                self._c.event(
                    job,
                    "Warning",
                    "TooManySucceededPods",
                    "Too many succeeded pods running after completion count reached",
                )
            self._c.event(job, "Normal", "Completed", "Job completed")
        else:
            self._c.event(job, "Warning", condition.get("reason", ""), condition.get("message", ""))
