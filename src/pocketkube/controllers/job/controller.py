"""The Job controller's sync (upstream's ``job_controller.go``).

A sync of one Job builds its picture (``SyncState``: its pods, claimed by selector and
controller reference, the active, ready and terminating ones, what is still uncounted), decides
whether the Job has finished -- a pod failure policy ``FailJob`` match, the backoff limit, the
active deadline, ``maxFailedIndexes`` / failed indexes, a success policy or its completions --
and otherwise creates or deletes pods (``pods.PodManager``): ``min(parallelism, completions -
succeeded)`` active, none while suspended, new pods only after the failure back-off.

Pods carry the ``batch.kubernetes.io/job-tracking`` finalizer, so none is lost before it is
counted: a finished pod first goes into ``status.uncountedTerminatedPods``, that status is
written, the finalizer is removed, and only then does it move into ``succeeded`` / ``failed``
(``tracking``). A finishing Job first gets the interim ``FailureTarget`` or
``SuccessCriteriaMet`` condition and deletes its active pods; ``Failed`` / ``Complete`` (with
``completionTime``) follow once no pod is terminating or uncounted.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from pocketkube.api.labels import SelectorError, selector_from_label_selector
from pocketkube.api.timestamps import rfc3339, utcnow
from pocketkube.client import resources
from pocketkube.client.clock import Clock
from pocketkube.client.informer import Informer
from pocketkube.client.rest import ApiError, Obj
from pocketkube.client.store import NAMESPACE_INDEX, key_of, split_key
from pocketkube.controllers.base import ApiClient, Controller, IgnorableError
from pocketkube.controllers.context import Recorder
from pocketkube.controllers.job import indexes as ix
from pocketkube.controllers.job import policies
from pocketkube.controllers.job import state as st
from pocketkube.controllers.job.pods import PodManager
from pocketkube.controllers.job.tracking import Tracker
from pocketkube.controllers.podcontrol import (
    ControllerExpectations,
    PodControl,
    PodControllerRefManager,
    controller_ref,
    ensure_namespace_index,
    parse_time,
    resolve_controller_ref,
)

log = logging.getLogger(__name__)

NAME = "job"  # upstream: job-controller
COMPONENT = "job-controller"
SYNC_JOB_BATCH_PERIOD = 1.0  # upstream's syncJobBatchPeriod: pod events are batched
ORPHAN = "orphan-pod:"  # queue keys of orphan pods whose finalizer must go


class JobController(Controller):
    name = NAME

    def __init__(
        self,
        *,
        client: ApiClient,
        job_informer: Informer,
        pod_informer: Informer,
        recorder: Recorder,
        workers: int = 5,
        clock: Clock | None = None,
        now: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        super().__init__(informers=[job_informer, pod_informer], workers=workers, clock=clock)
        self._client = client
        self._jobs = job_informer.store
        self._pods = pod_informer.store
        self._recorder = recorder
        ensure_namespace_index(job_informer)
        ensure_namespace_index(pod_informer)
        self.pod_control = PodControl(client=client, recorder=recorder)
        self._pod_manager = PodManager(self)
        self.expectations = ControllerExpectations(clock=clock)
        self.finalizer_expectations: dict[str, set[str]] = {}
        self.backoff_records: dict[str, policies.BackoffRecord] = {}
        # tests shorten these
        self.now = now
        self.pod_failure_backoff = policies.DEFAULT_POD_FAILURE_BACKOFF
        self.max_pod_failure_backoff = policies.MAX_POD_FAILURE_BACKOFF
        self.batch_period = SYNC_JOB_BATCH_PERIOD
        job_informer.add_handler(
            on_add=self.enqueue, on_update=self.enqueue_update, on_delete=self._job_deleted
        )
        pod_informer.add_handler(
            on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_deleted
        )

    # -- event handlers ------------------------------------------------------------------------
    def _resolve(self, namespace: str | None, ref: Obj | None) -> Obj | None:
        return resolve_controller_ref(self._jobs, namespace, ref, "Job")

    def _enqueue_batched(self, job: Obj) -> None:
        self.queue.add_after(key_of(job), self.batch_period)

    def _matching_jobs(self, pod: Obj) -> list[Obj]:
        meta = pod.get("metadata") or {}
        result = []
        for job in self._jobs.by_index(NAMESPACE_INDEX, str(meta.get("namespace"))):
            try:
                selector = selector_from_label_selector(st.spec(job).get("selector"))
            except SelectorError:
                continue
            if not selector.empty and selector.matches(meta.get("labels") or {}):
                result.append(job)
        return result

    def _pod_added(self, pod: Obj) -> None:
        if pod["metadata"].get("deletionTimestamp"):
            self._pod_gone(pod)
            return
        namespace = pod["metadata"].get("namespace")
        ref = controller_ref(pod)
        if ref is not None:
            job = self._resolve(namespace, ref)
            if job is not None:
                self.expectations.creation_observed(key_of(job))
                self._enqueue_batched(job)
            elif st.has_tracking_finalizer(pod):
                self.queue.add(ORPHAN + key_of(pod))
            return
        if st.has_tracking_finalizer(pod):
            self.queue.add(ORPHAN + key_of(pod))
        for job in self._matching_jobs(pod):
            self._enqueue_batched(job)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if old["metadata"].get("resourceVersion") == new["metadata"].get("resourceVersion"):
            return
        if new["metadata"].get("deletionTimestamp"):
            self._pod_gone(new)
            return
        namespace = new["metadata"].get("namespace")
        finalizer_removed = not st.has_tracking_finalizer(new)
        new_ref, old_ref = controller_ref(new), controller_ref(old)
        for ref in (old_ref, new_ref) if old_ref != new_ref else (new_ref,):
            job = self._resolve(namespace, ref)
            if job is not None:
                if finalizer_removed:
                    self._finalizer_removal_observed(key_of(job), st.uid(new))
                self._enqueue_batched(job)
        if new_ref is None:
            if st.has_tracking_finalizer(new):
                self.queue.add(ORPHAN + key_of(new))
            if old["metadata"].get("labels") != new["metadata"].get("labels") or old_ref:
                for job in self._matching_jobs(new):
                    self._enqueue_batched(job)
        elif self._resolve(namespace, new_ref) is None and st.has_tracking_finalizer(new):
            self.queue.add(ORPHAN + key_of(new))

    def _pod_deleted(self, pod: Obj) -> None:
        self._pod_gone(pod, final=True)

    def _pod_gone(self, pod: Obj, *, final: bool = False) -> None:
        job = self._resolve(pod["metadata"].get("namespace"), controller_ref(pod))
        if job is None or st.is_finished(job):
            # no sync of a Job will remove this finalizer
            if not final and st.has_tracking_finalizer(pod):
                self.queue.add(ORPHAN + key_of(pod))
            if job is None:
                return
        key = key_of(job)
        self.expectations.deletion_observed(key, key_of(pod))
        if final or not st.has_tracking_finalizer(pod):
            self._finalizer_removal_observed(key, st.uid(pod))
        self._enqueue_batched(job)

    def _job_deleted(self, job: Obj) -> None:
        self.enqueue(job)
        namespace = job["metadata"].get("namespace")
        for pod in self._pods.by_index(NAMESPACE_INDEX, str(namespace)):
            if not st.has_tracking_finalizer(pod):
                continue
            ref = controller_ref(pod)
            if ref is not None and ref.get("uid") == st.uid(job):
                self.queue.add(ORPHAN + key_of(pod))

    def _finalizer_removal_observed(self, key: str, pod_uid: str) -> None:
        expected = self.finalizer_expectations.get(key)
        if expected is not None:
            expected.discard(pod_uid)

    # -- sync ----------------------------------------------------------------------------------
    async def sync(self, key: str) -> None:
        try:
            await self._sync(key)
        except ApiError as err:
            if err.conflict:  # our informer had not seen our last write yet: just retry
                raise IgnorableError(str(err)) from err
            raise

    async def _sync(self, key: str) -> None:
        if key.startswith(ORPHAN):
            await self._sync_orphan(key.removeprefix(ORPHAN))
            return
        shared = self._jobs.get(key)
        if shared is None:
            self.expectations.delete(key)
            self.finalizer_expectations.pop(key, None)
            self.backoff_records.pop(key, None)
            return
        if st.managed_elsewhere(shared) is not None:
            return
        if st.is_finished(shared):
            self.backoff_records.pop(key, None)
            return
        job = copy.deepcopy(shared)
        mode = st.spec(job).get("completionMode") or "NonIndexed"
        if mode not in ("NonIndexed", "Indexed"):
            self._event(
                job,
                "Warning",
                "UnknownCompletionMode",
                "Skipped Job sync because completion mode is unknown",
            )
            return
        if st.is_indexed(job) and st.spec(job).get("completions") is None:
            return  # the API server refuses it; nothing sensible to do
        status = job.setdefault("status", {})
        status.setdefault("uncountedTerminatedPods", {})
        satisfied = self.expectations.satisfied(key)
        pods = await self._pods_for_job(job)
        if pods is None:
            return
        s = st.SyncState.of(job, pods, set(self.finalizer_expectations.get(key) or ()))
        await self._sync_state(key, s, satisfied)

    async def _sync_state(self, key: str, s: st.SyncState, satisfied: bool) -> None:
        job, status, now = s.job, s.job["status"], self.now()
        job_spec = st.spec(job)
        active = len(s.active_pods)
        new_succeeded, new_failed = s.new_finished_pods()
        policy = job_spec.get("podFailurePolicy")
        counted_failed = [
            p for p in new_failed if policies.match_pod_failure_policy(policy, p).count_failed
        ]
        s.succeeded = (
            int(status.get("succeeded") or 0) + len(new_succeeded) + len(s.uncounted_succeeded)
        )
        s.failed = int(status.get("failed") or 0) + len(counted_failed) + len(s.uncounted_failed)
        start_changed = False
        if not status.get("startTime") and not st.is_suspended(job):
            status["startTime"] = rfc3339(now)
            start_changed = True
        s.backoff = policies.next_backoff_record(
            self.backoff_records.get(key, policies.BackoffRecord()), new_succeeded, new_failed
        )
        s.finished = self._finished_condition(key, s, now)
        if st.is_indexed(job):
            s.calculate_indexes()
            if s.finished is None and s.failed_indexes is not None:
                max_failed = job_spec.get("maxFailedIndexes")
                failed_total = ix.total(s.failed_indexes)
                if max_failed is not None and failed_total > int(max_failed):
                    s.finished = st.new_condition(
                        st.FAILURE_TARGET,
                        "True",
                        "MaxFailedIndexesExceeded",
                        "Job has exceeded the specified maximal number of failed indexes",
                        now,
                    )
                elif failed_total > 0 and failed_total + ix.total(s.succeeded_indexes) >= (
                    s.completions
                ):
                    s.finished = st.new_condition(
                        st.FAILURE_TARGET, "True", "FailedIndexes", "Job has failed indexes", now
                    )
            if s.finished is None:
                message = policies.match_success_policy(
                    job_spec.get("successPolicy"), s.completions, s.succeeded_indexes
                )
                if message is not None:
                    s.finished = st.new_condition(
                        st.SUCCESS_CRITERIA_MET, "True", "SuccessPolicy", message, now
                    )
        suspend_changed = False
        error: BaseException | None = None
        if s.finished is not None:
            deleted_ready, deleted, error = await self._pod_manager.delete_active_pods(
                job, s.active_pods
            )
            if deleted != active or not satisfied:
                s.finished = None  # pods or finalizers may still be on their way
            active -= deleted
            s.terminating += deleted
            s.ready -= deleted_ready
        else:
            managed = False
            if satisfied and not job["metadata"].get("deletionTimestamp"):
                active, error = await self._pod_manager.manage(key, s)
                managed = True
            completions = job_spec.get("completions")
            if completions is None:
                complete = s.succeeded > 0 and active == 0
            else:
                complete = s.succeeded >= int(completions) and active == 0
            if complete:
                s.finished = st.new_condition(
                    st.SUCCESS_CRITERIA_MET,
                    "True",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                    now,
                )
            elif managed:
                suspend_changed = self._update_suspended(job, now)
        needs_update = suspend_changed or start_changed
        for field, value in (
            ("active", active),
            ("ready", s.ready),
            ("terminating", s.terminating),
        ):
            if status.get(field) != value:
                needs_update = True
            status[field] = value
        await Tracker(self, key, s).run(needs_update)
        if error is not None:
            raise error

    def _finished_condition(self, key: str, s: st.SyncState, now: dt.datetime) -> Obj | None:
        job = s.job
        met = st.find_condition(job, st.SUCCESS_CRITERIA_MET)
        if met is not None and met.get("status") == "True":
            return met
        target = st.find_condition(job, st.FAILURE_TARGET)
        if target is not None and target.get("status") == "True":
            return st.new_condition(
                st.FAILED, "True", str(target.get("reason")), str(target.get("message")), now
            )
        policy = st.spec(job).get("podFailurePolicy")
        if policy:
            for pod in s.pods:
                if st.is_pod_failed(pod, job):
                    match = policies.match_pod_failure_policy(policy, pod)
                    if match.message is not None:
                        return st.new_condition(
                            st.FAILURE_TARGET, "True", "PodFailurePolicy", match.message, now
                        )
        limit = int(st.spec(job).get("backoffLimit", 6))
        if s.failed > limit or st.past_backoff_limit_on_failure(job, s.pods):
            return st.new_condition(
                st.FAILURE_TARGET,
                "True",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
                now,
            )
        deadline = st.spec(job).get("activeDeadlineSeconds")
        started = parse_time(job["status"].get("startTime"))
        if deadline is not None and started is not None and not st.is_suspended(job):
            left = float(deadline) - (now - started).total_seconds()
            if left <= 0:
                return st.new_condition(
                    st.FAILURE_TARGET,
                    "True",
                    "DeadlineExceeded",
                    "Job was active longer than specified deadline",
                    now,
                )
            self.queue.add_after(key, left)
        return None

    def _update_suspended(self, job: Obj, now: dt.datetime) -> bool:
        if st.is_suspended(job):
            changed = st.ensure_condition(
                job, st.SUSPENDED, "True", "JobSuspended", "Job suspended", now
            )
            if changed:
                self._event(job, "Normal", "Suspended", "Job suspended")
            return changed
        changed = st.ensure_condition(job, st.SUSPENDED, "False", "JobResumed", "Job resumed", now)
        if changed:
            self._event(job, "Normal", "Resumed", "Job resumed")
            # ActiveDeadlineSeconds counts the time a Job is continuously active.
            job["status"]["startTime"] = rfc3339(now)
        return changed

    async def _pods_for_job(self, job: Obj) -> list[Obj] | None:
        try:
            selector = selector_from_label_selector(st.spec(job).get("selector"))
        except SelectorError as err:
            log.warning("job %s: invalid selector: %s", key_of(job), err)
            return None
        if selector.empty:
            return None
        namespace = job["metadata"].get("namespace")
        candidates = self._pods.by_index(NAMESPACE_INDEX, str(namespace))
        manager = PodControllerRefManager(
            client=self._client, owner=job, resource=resources.JOBS, selector=selector
        )
        owned = {
            st.uid(p) for p in candidates if (controller_ref(p) or {}).get("uid") == st.uid(job)
        }
        pods, errors = await manager.claim_pods(candidates)
        if errors:
            raise errors[0]
        for i, pod in enumerate(pods):
            if st.uid(pod) not in owned and not st.has_tracking_finalizer(pod):
                pods[i] = await self._add_finalizer(pod)  # adopted: tracked from now on
        return pods

    async def _add_finalizer(self, pod: Obj) -> Obj:
        meta = pod["metadata"]
        finalizers = [*(meta.get("finalizers") or ()), st.TRACKING_FINALIZER]
        patch = {"metadata": {"finalizers": finalizers, "resourceVersion": meta["resourceVersion"]}}
        path = resources.PODS.path(namespace=meta.get("namespace"), name=meta["name"])
        await self._client.patch(path, patch, patch_type="merge")
        adopted = copy.deepcopy(pod)
        adopted["metadata"]["finalizers"] = finalizers
        return adopted

    async def remove_finalizer(self, pod: Obj) -> None:
        namespace, name = split_key(key_of(pod))
        patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": [st.TRACKING_FINALIZER]}}
        await self._client.patch(
            resources.PODS.path(namespace=namespace, name=name), patch, patch_type="strategic"
        )

    async def _sync_orphan(self, pod_key: str) -> None:
        """Upstream's orphan worker: a pod whose Job is gone or finished loses the finalizer."""
        pod = self._pods.get(pod_key)
        if pod is None or not st.has_tracking_finalizer(pod):
            return
        job = self._resolve(pod["metadata"].get("namespace"), controller_ref(pod))
        if job is not None and not st.is_finished(job):
            return
        try:
            await self.remove_finalizer(pod)
        except ApiError as err:
            if not err.not_found:
                raise

    # -- status --------------------------------------------------------------------------------
    async def write_status(self, job: Obj) -> Obj:
        namespace, name = split_key(key_of(job))
        path = resources.JOBS.path(namespace=namespace, name=name, subresource="status")
        return await self._client.update(path, job)

    def event(self, job: Obj, type_: Any, reason: str, note: str) -> None:
        self._event(job, type_, reason, note)

    def _event(self, job: Obj, type_: Any, reason: str, note: str) -> None:
        self._recorder.post(job, type=type_, reason=reason, action=reason, note=note)
