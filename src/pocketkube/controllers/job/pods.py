"""Creating and deleting a Job's pods (upstream's ``manageJob`` and its helpers).

``manage`` brings the active pods to ``min(parallelism, completions - succeeded)`` (all of
them deleted while the Job is suspended): surplus pods go first -- for Indexed Jobs those
without a valid index or repeating one -- in upstream's deletion rank, their finalizer removed
before the DELETE; missing pods are created from the template with the tracking finalizer in
slow-start batches (1, 2, 4, ...), at most 500 per sync, once the failure back-off has passed
(per index with ``backoffLimitPerIndex``). Indexed pods get their index (annotation, label,
``JOB_COMPLETION_INDEX``), hostname ``<job>-<index>`` and name ``<job>-<index>-xxxxx``.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
from typing import TYPE_CHECKING

from pocketkube.client import resources
from pocketkube.client.rest import ApiError, Obj
from pocketkube.client.store import key_of, split_key
from pocketkube.controllers.job import indexes as ix
from pocketkube.controllers.job import policies
from pocketkube.controllers.job import state as st
from pocketkube.controllers.podcontrol import (
    deletion_rank_key,
    is_pod_ready,
    pod_from_template,
    slow_start_batch,
)

if TYPE_CHECKING:
    from pocketkube.controllers.job.controller import JobController

MAX_POD_CREATE_DELETE_PER_SYNC = 500


class PodManager:
    def __init__(self, controller: JobController) -> None:
        self._c = controller

    async def manage(self, key: str, s: st.SyncState) -> tuple[int, BaseException | None]:
        """Upstream's manageJob: create or delete pods; the active count it leads to."""
        job = s.job
        job_spec = st.spec(job)
        active = len(s.active_pods)
        if st.is_suspended(job):
            doomed = self._pods_for_removal(job, s.active_pods, active)
            return await self._delete_for_manage(key, s, doomed, active)
        parallelism = int(job_spec.get("parallelism", 1))
        completions = job_spec.get("completions")
        if completions is None:
            want = active if s.succeeded > 0 else parallelism
        else:
            want = max(0, min(int(completions) - s.succeeded, parallelism))
        doomed = self._pods_for_removal(job, s.active_pods, max(0, active - want))
        if doomed:
            doomed = doomed[:MAX_POD_CREATE_DELETE_PER_SYNC]
            return await self._delete_for_manage(key, s, doomed, active)
        terminating = s.terminating if st.only_replace_failed_pods(job) else 0
        diff = want - terminating - active
        if diff <= 0:
            return active, None
        now = self._c.now()
        if not st.has_backoff_limit_per_index(job):
            remaining = policies.remaining_backoff(
                s.backoff.failures_after_last_success,
                s.backoff.last_failure,
                now,
                base=self._c.pod_failure_backoff,
                cap=self._c.max_pod_failure_backoff,
            )
            if remaining > 0:
                self._c.queue.add_after(key, remaining)
                return active, None
        diff = min(diff, MAX_POD_CREATE_DELETE_PER_SYNC)
        indexes: list[int] = []
        if st.is_indexed(job):
            busy = [i for p in s.active_pods if (i := ix.completion_index(p)) is not None]
            if st.only_replace_failed_pods(job):
                busy += [
                    i
                    for p in s.pods
                    if st.is_terminating(p) and (i := ix.completion_index(p)) is not None
                ]
            indexes = ix.first_pending_indexes(
                diff, s.completions, ix.merge(s.succeeded_indexes, s.failed_indexes or []), busy
            )
            if st.has_backoff_limit_per_index(job):
                indexes, remaining = self._indexes_ready(indexes, s, now)
                if remaining > 0:
                    self._c.queue.add_after(key, remaining)
                    return active, None
            diff = len(indexes)
        if diff <= 0:
            return active, None
        created, error = await self._create_pods(key, s, diff, indexes)
        return active + created, error

    def _indexes_ready(
        self, indexes: list[int], s: st.SyncState, now: dt.datetime
    ) -> tuple[list[int], float]:
        ready: list[int] = []
        soonest: float | None = None
        for index in indexes:
            last_failed = s.delayed_deletion.get(index)
            remaining = 0.0
            if last_failed is not None:
                remaining = policies.remaining_backoff(
                    ix.index_failure_count(last_failed)
                    + ix.index_ignored_failure_count(last_failed)
                    + 1,
                    policies.finished_time(last_failed),
                    now,
                    base=self._c.pod_failure_backoff,
                    cap=self._c.max_pod_failure_backoff,
                )
            if remaining == 0:
                ready.append(index)
            elif soonest is None or remaining < soonest:
                soonest = remaining
        return (ready, 0.0) if ready else (ready, soonest or 0.0)

    async def _create_pods(
        self, key: str, s: st.SyncState, count: int, indexes: list[int]
    ) -> tuple[int, BaseException | None]:
        job = s.job
        template = copy.deepcopy(st.spec(job).get("template") or {})
        template.setdefault("metadata", {})
        if st.is_indexed(job):
            ix.add_index_env(template.setdefault("spec", {}))
        finalizers = template["metadata"].setdefault("finalizers", [])
        if st.TRACKING_FINALIZER not in finalizers:
            finalizers.append(st.TRACKING_FINALIZER)
        self._c.expectations.expect_creations(key, count)
        next_index = iter(indexes) if indexes else itertools.repeat(None)
        attempts, created = 0, 0

        async def create_one() -> None:
            nonlocal attempts, created
            attempts += 1
            pod = pod_from_template(template, job, resources.JOBS)
            index = next(next_index)
            if index is not None:
                self._index_pod(pod, job, index, s.delayed_deletion.get(index))
            try:
                await self._c.pod_control.create_pod(pod, job)
            except Exception as err:
                self._c.expectations.creation_observed(key)
                if isinstance(err, ApiError) and _namespace_terminating(err):
                    return  # every later creation fails too; nothing to retry
                raise
            created += 1

        _, error = await slow_start_batch(count, create_one)
        if attempts < count:  # the slow start stopped: those never asked for are not expected
            self._c.expectations.lower_expectations(key, add=count - attempts)
        return created, error

    def _index_pod(self, pod: Obj, job: Obj, index: int, replaced: Obj | None) -> None:
        meta = pod["metadata"]
        meta.setdefault("annotations", {})[ix.COMPLETION_INDEX] = str(index)
        meta.setdefault("labels", {})[ix.COMPLETION_INDEX] = str(index)
        meta["generateName"] = ix.generate_name(job["metadata"]["name"], index)
        pod["spec"]["hostname"] = f"{job['metadata']['name']}-{index}"
        if st.has_backoff_limit_per_index(job):
            failures, ignored = st.new_index_failure_counts(job, replaced)
            meta["annotations"][ix.INDEX_FAILURE_COUNT] = str(failures)
            if ignored > 0:
                meta["annotations"][ix.INDEX_IGNORED_FAILURE_COUNT] = str(ignored)

    def _pods_for_removal(self, job: Obj, pods: list[Obj], at_least: int) -> list[Obj]:
        remove: list[Obj] = []
        left = pods
        if st.is_indexed(job):
            remove, left = ix.duplicated_index_pods(pods, int(st.spec(job).get("completions") or 0))
        if len(remove) < at_least:
            left = sorted(left, key=deletion_rank_key)
            remove += left[: at_least - len(remove)]
        return remove

    async def _delete_for_manage(
        self, key: str, s: st.SyncState, doomed: list[Obj], active: int
    ) -> tuple[int, BaseException | None]:
        self._c.expectations.expect_deletions(key, [key_of(p) for p in doomed])
        removed_ready, removed, error = await self._delete_pods(
            s.job, doomed, remove_finalizer=True, key=key
        )
        s.terminating += removed
        s.ready -= removed_ready
        return active - removed, error

    async def delete_active_pods(
        self, job: Obj, pods: list[Obj]
    ) -> tuple[int, int, BaseException | None]:
        """Delete a finishing Job's active pods, keeping their finalizers (they are counted
        as failed and released by the status tracking)."""
        return await self._delete_pods(job, pods, remove_finalizer=False, key=None)

    async def _delete_pods(
        self, job: Obj, pods: list[Obj], *, remove_finalizer: bool, key: str | None
    ) -> tuple[int, int, BaseException | None]:
        removed_ready, removed, error = 0, 0, None
        for pod in pods:
            namespace, name = split_key(key_of(pod))
            try:
                if remove_finalizer and st.has_tracking_finalizer(pod):
                    await self._c.remove_finalizer(pod)
                await self._c.pod_control.delete_pod(str(namespace), name, job)
            except ApiError as err:
                if key is not None:
                    self._c.expectations.deletion_observed(key, key_of(pod))
                if not err.not_found:
                    error = error or err
                    continue
            removed += 1
            if is_pod_ready(pod):
                removed_ready += 1
        return removed_ready, removed, error


def _namespace_terminating(err: ApiError) -> bool:
    causes = ((err.body or {}).get("details") or {}).get("causes") or ()
    return any(c.get("reason") == "NamespaceTerminating" for c in causes if isinstance(c, dict))
