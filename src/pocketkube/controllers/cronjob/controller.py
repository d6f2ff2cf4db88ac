"""The CronJob controller's sync (upstream's ``cronjob_controllerv2.go`` and ``utils.go``).

A sync of one CronJob: its Jobs (those whose controller reference is the CronJob) settle
``status.active`` (finished ones leave it with ``SawCompletedJob``, vanished ones with
``MissingJob``) and ``status.lastSuccessfulTime``; then, unless the CronJob is being deleted,
its time zone is unknown (``UnknownTimeZone``), it is suspended or its schedule does not parse
(``UnparseableSchedule``), the most recent run due is started: unless it is older than
``startingDeadlineSeconds`` (``MissSchedule``), already started, or forbidden by
``concurrencyPolicy: Forbid`` while a Job runs (``JobAlreadyActive``); ``Replace`` first
deletes the running Jobs. The Job is named ``<cronjob>-<scheduled time in minutes since the
epoch>`` (the name is the lock against starting a run twice), carries the template's labels and
annotations plus ``batch.kubernetes.io/cronjob-scheduled-timestamp`` (RFC 3339 in the CronJob's
zone) and a controller reference. Finished Jobs beyond ``successfulJobsHistoryLimit`` /
``failedJobsHistoryLimit`` are deleted oldest first (background propagation). The status is
written through ``/status`` only when it changed, and the CronJob is looked at again just after
its next run is due (``add_after``).

Wall time comes from ``now`` (an attribute tests may replace), the queue's delays from the
injected monotonic clock.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from pocketkube.api import cronschedule as cron
from pocketkube.api.timestamps import parse_time, rfc3339, utcnow
from pocketkube.client import resources
from pocketkube.client.clock import Clock
from pocketkube.client.informer import Informer
from pocketkube.client.rest import ApiError, Obj
from pocketkube.client.store import NAMESPACE_INDEX, key_of, split_key
from pocketkube.controllers.base import ApiClient, Controller, IgnorableError
from pocketkube.controllers.context import Recorder
from pocketkube.controllers.podcontrol import ensure_namespace_index

log = logging.getLogger(__name__)

NAME = "cronjob"  # upstream: cronjob-controller
COMPONENT = "cronjob-controller"
SCHEDULED_TIMESTAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp"
NEXT_SCHEDULE_DELTA = 0.1  # upstream's nextScheduleDelta: look just after the run is due


def finished_status(job: Obj) -> str | None:
    """``Complete`` or ``Failed`` when the Job has finished, else None."""
    for condition in (job.get("status") or {}).get("conditions") or ():
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            return str(condition["type"])
    return None


def job_name(cronjob: Obj, scheduled: dt.datetime) -> str:
    return f"{cronjob['metadata']['name']}-{int(scheduled.timestamp()) // 60}"


def job_from_template(cronjob: Obj, scheduled: dt.datetime, zone: dt.tzinfo) -> Obj:
    """Upstream's getJobFromTemplate2."""
    template = (cronjob.get("spec") or {}).get("jobTemplate") or {}
    template_meta = template.get("metadata") or {}
    annotations = dict(template_meta.get("annotations") or {})
    annotations[SCHEDULED_TIMESTAMP] = scheduled.astimezone(zone).isoformat(timespec="seconds")
    if annotations[SCHEDULED_TIMESTAMP].endswith("+00:00"):
        annotations[SCHEDULED_TIMESTAMP] = annotations[SCHEDULED_TIMESTAMP][:-6] + "Z"
    meta = cronjob["metadata"]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(cronjob, scheduled),
            "namespace": meta.get("namespace"),
            "labels": dict(template_meta.get("labels") or {}),
            "annotations": annotations,
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "CronJob",
                    "name": meta["name"],
                    "uid": meta.get("uid", ""),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": copy.deepcopy(template.get("spec") or {}),
    }


def job_reference(job: Obj) -> Obj:
    meta = job.get("metadata") or {}
    return {
        "kind": "Job",
        "namespace": meta.get("namespace"),
        "name": meta.get("name"),
        "uid": meta.get("uid"),
        "apiVersion": "batch/v1",
        "resourceVersion": meta.get("resourceVersion"),
    }


def _owner_uid(job: Obj) -> str | None:
    for ref in (job.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("controller") and ref.get("kind") == "CronJob":
            return str(ref.get("uid"))
    return None


def _start_key(job: Obj) -> tuple[int, float, str]:
    """Upstream's byJobStartTime: by start time (none last), then by name."""
    started = parse_time((job.get("status") or {}).get("startTime"))
    name = str(job["metadata"].get("name", ""))
    return (1, 0.0, name) if started is None else (0, started.timestamp(), name)


class CronJobController(Controller):
    name = NAME

    def __init__(
        self,
        *,
        client: ApiClient,
        cronjob_informer: Informer,
        job_informer: Informer,
        recorder: Recorder,
        workers: int = 5,
        clock: Clock | None = None,
        now: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        super().__init__(informers=[cronjob_informer, job_informer], workers=workers, clock=clock)
        self._client = client
        self._cronjobs = cronjob_informer.store
        self._jobs = job_informer.store
        self._recorder = recorder
        ensure_namespace_index(job_informer)
        self.now = now
        cronjob_informer.add_handler(on_add=self.enqueue, on_update=self.enqueue_update)
        job_informer.add_handler(
            on_add=self._job_changed,
            on_update=lambda old, new: self._job_changed(new),
            on_delete=self._job_changed,
        )

    def _job_changed(self, job: Obj) -> None:
        for ref in (job.get("metadata") or {}).get("ownerReferences") or ():
            if ref.get("controller") and ref.get("kind") == "CronJob":
                namespace = job["metadata"].get("namespace")
                cronjob = self._cronjobs.get(f"{namespace}/{ref.get('name')}")
                if cronjob is not None and cronjob["metadata"].get("uid") == ref.get("uid"):
                    self.enqueue(cronjob)

    def _event(self, cronjob: Obj, type_: Any, reason: str, note: str) -> None:
        self._recorder.post(cronjob, type=type_, reason=reason, action=reason, note=note)

    async def sync(self, key: str) -> None:
        shared = self._cronjobs.get(key)
        if shared is None:
            return
        cronjob = copy.deepcopy(shared)
        uid = cronjob["metadata"].get("uid")
        namespace = cronjob["metadata"].get("namespace")
        jobs = [
            j for j in self._jobs.by_index(NAMESPACE_INDEX, str(namespace)) if _owner_uid(j) == uid
        ]
        old_status = copy.deepcopy(cronjob.get("status") or {})
        cronjob.setdefault("status", {})
        requeue, error = None, None
        try:
            requeue = await self._sync_cronjob(cronjob, jobs)
        except Exception as err:  # the status gathered so far is still written
            error = err
        if not cronjob["metadata"].get("deletionTimestamp"):
            await self._cleanup_finished_jobs(cronjob, jobs)
        if cronjob["status"] != old_status:
            await self._write_status(cronjob)
        if requeue is not None:
            self.queue.add_after(key, max(0.0, requeue))
        if error is not None:
            raise error

    async def _write_status(self, cronjob: Obj) -> None:
        namespace, name = split_key(key_of(cronjob))
        path = resources.CRON_JOBS.path(namespace=namespace, name=name, subresource="status")
        try:
            await self._client.update(path, cronjob)
        except ApiError as err:
            if err.conflict:  # our informer had not seen the last write yet: just retry
                raise IgnorableError(str(err)) from err
            raise

    async def _sync_cronjob(self, cronjob: Obj, jobs: list[Obj]) -> float | None:
        """Upstream's syncCronJob: settle the status, start the run due; returns when to look
        again (seconds) or None."""
        now = self.now()
        status = cronjob["status"]
        children = set()
        for job in jobs:
            job_uid = job["metadata"].get("uid")
            children.add(job_uid)
            found = _in_active(cronjob, job_uid)
            finished = finished_status(job)
            name = job["metadata"].get("name")
            if not found and finished is None:
                fresh = await self._client.get(_cronjob_path(cronjob))
                if _in_active(fresh, job_uid):
                    continue
                self._event(
                    cronjob,
                    "Warning",
                    "UnexpectedJob",
                    f"Saw a job that the controller did not create or forgot: {name}",
                )
            elif found and finished is not None:
                _remove_active(cronjob, job_uid)
                self._event(
                    cronjob,
                    "Normal",
                    "SawCompletedJob",
                    f"Saw completed job: {name}, status: {finished}",
                )
            if finished == "Complete":
                completed = parse_time((job.get("status") or {}).get("completionTime"))
                last = parse_time(status.get("lastSuccessfulTime"))
                if completed is not None and (last is None or completed > last):
                    status["lastSuccessfulTime"] = rfc3339(completed)
        for ref in list(status.get("active") or ()):
            if ref.get("uid") in children:
                continue
            # the informer may lag: only a 404 from the API server says the Job is gone
            path = resources.JOBS.path(namespace=ref.get("namespace"), name=ref.get("name"))
            try:
                await self._client.get(path)
            except ApiError as err:
                if not err.not_found:
                    raise
                self._event(
                    cronjob, "Normal", "MissingJob", f"Active job went missing: {ref.get('name')}"
                )
                _remove_active(cronjob, ref.get("uid"))
        if cronjob["metadata"].get("deletionTimestamp"):
            return None
        return await self._schedule(cronjob, now)

    async def _schedule(self, cronjob: Obj, now: dt.datetime) -> float | None:
        spec, status = cronjob.get("spec") or {}, cronjob["status"]
        zone_name = spec.get("timeZone")
        zone: dt.tzinfo = dt.UTC
        if zone_name is not None:
            try:
                zone = cron.load_zone(zone_name)
            except cron.UnknownTimeZone as err:
                self._event(
                    cronjob, "Warning", "UnknownTimeZone", f'invalid timeZone: "{zone_name}": {err}'
                )
                return None
        if spec.get("suspend"):
            return None
        text = str(spec.get("schedule") or "")
        if "TZ" in text:
            self._event(
                cronjob,
                "Warning",
                "UnsupportedSchedule",
                f'CRON_TZ or TZ used in schedule "{text}" is not officially supported, see '
                "https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more "
                "details",
            )
        try:
            sched = cron.parse(text, zone=zone)
        except cron.ScheduleError as err:
            self._event(
                cronjob, "Warning", "UnparseableSchedule", f'unparseable schedule: "{text}" : {err}'
            )
            return None
        try:
            missed = self._missed(cronjob, sched, now, with_deadline=True)
        except cron.ScheduleError as err:
            self._event(cronjob, "Warning", "InvalidSchedule", f"invalid schedule: {text} : {err}")
            return None
        scheduled = missed.most_recent
        if scheduled is None or scheduled > now:
            return self._next_in(cronjob, sched, now)
        if missed.count > cron.TOO_MANY_MISSED:
            self._event(
                cronjob,
                "Warning",
                "TooManyMissedTimes",
                "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or "
                "check clock skew",
            )
        deadline = spec.get("startingDeadlineSeconds")
        if deadline is not None and scheduled + dt.timedelta(seconds=deadline) < now:
            when = scheduled.astimezone(dt.UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
            self._event(
                cronjob, "Warning", "MissSchedule", f"Missed scheduled time to start a job: {when}"
            )
            return self._next_in(cronjob, sched, now)
        name = job_name(cronjob, scheduled)
        if any(r.get("name") == name for r in status.get("active") or ()) or (
            parse_time(status.get("lastScheduleTime")) == scheduled
        ):
            return self._next_in(cronjob, sched, now)
        policy = spec.get("concurrencyPolicy") or "Allow"
        if policy == "Forbid" and status.get("active"):
            self._event(
                cronjob,
                "Normal",
                "JobAlreadyActive",
                "Not starting job because prior execution is running and concurrency policy is "
                "Forbid",
            )
            return self._next_in(cronjob, sched, now)
        if policy == "Replace":
            for ref in list(status.get("active") or ()):
                path = resources.JOBS.path(namespace=ref.get("namespace"), name=ref.get("name"))
                try:
                    job = await self._client.get(path)
                except ApiError as err:
                    self._event(cronjob, "Warning", "FailedGet", f"Get job: {err}")
                    raise
                if not await self._delete_job(cronjob, job):
                    meta = job.get("metadata") or {}
                    raise RuntimeError(
                        f"could not replace job {meta.get('namespace')}/{meta.get('name')}"
                    )
        created = await self._create_job(cronjob, job_from_template(cronjob, scheduled, zone))
        if created is None:
            return None
        status.setdefault("active", []).append(job_reference(created))
        status["lastScheduleTime"] = rfc3339(scheduled)
        return self._next_in(cronjob, sched, now)

    async def _create_job(self, cronjob: Obj, job: Obj) -> Obj | None:
        """Create the run's Job; an existing one of ours is taken as created (None: not ours,
        or already listed)."""
        path = resources.JOBS.path(namespace=job["metadata"]["namespace"])
        try:
            created = await self._client.create(path, job)
        except ApiError as err:
            if not err.already_exists:
                if not _namespace_terminating(err):
                    self._event(cronjob, "Warning", "FailedCreate", f"Error creating job: {err}")
                raise
            existing = await self._client.get(
                resources.JOBS.path(
                    namespace=job["metadata"]["namespace"], name=job["metadata"]["name"]
                )
            )
            if _owner_uid(existing) != cronjob["metadata"].get("uid"):
                return None
            if _in_active(cronjob, existing["metadata"].get("uid")):
                return None
            log.info("job %s already exists", job["metadata"]["name"])
            return existing
        self._event(
            cronjob, "Normal", "SuccessfulCreate", f"Created job {created['metadata']['name']}"
        )
        return created

    async def _delete_job(self, cronjob: Obj, job: Obj) -> bool:
        meta = job.get("metadata") or {}
        path = resources.JOBS.path(namespace=meta.get("namespace"), name=meta.get("name"))
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
        try:
            await self._client.delete(path, body=body)
        except ApiError as err:
            self._event(cronjob, "Warning", "FailedDelete", f"Deleted job: {err}")
            return False
        _remove_active(cronjob, meta.get("uid"))
        self._event(cronjob, "Normal", "SuccessfulDelete", f"Deleted job {meta.get('name')}")
        return True

    async def _cleanup_finished_jobs(self, cronjob: Obj, jobs: list[Obj]) -> None:
        spec = cronjob.get("spec") or {}
        by_status: dict[str, list[Obj]] = {"Complete": [], "Failed": []}
        for job in jobs:
            finished = finished_status(job)
            if finished is not None:
                by_status[finished].append(job)
        for finished, field in (
            ("Complete", "successfulJobsHistoryLimit"),
            ("Failed", "failedJobsHistoryLimit"),
        ):
            limit = spec.get(field)
            if limit is None or len(by_status[finished]) <= limit:
                continue
            doomed = sorted(by_status[finished], key=_start_key)
            for job in doomed[: len(doomed) - int(limit)]:
                await self._delete_job(cronjob, job)

    def _missed(
        self, cronjob: Obj, sched: cron.Schedule, now: dt.datetime, *, with_deadline: bool
    ) -> cron.Missed:
        spec, meta = cronjob.get("spec") or {}, cronjob["metadata"]
        return cron.most_recent_schedule_time(
            sched,
            now=now,
            created=parse_time(meta.get("creationTimestamp")) or now,
            last_scheduled=parse_time(cronjob["status"].get("lastScheduleTime")),
            starting_deadline=spec.get("startingDeadlineSeconds") if with_deadline else None,
        )

    def _next_in(self, cronjob: Obj, sched: cron.Schedule, now: dt.datetime) -> float | None:
        """Upstream's nextScheduleTimeDuration: seconds until just after the next run."""
        try:
            missed = self._missed(cronjob, sched, now, with_deadline=False)
            base = missed.most_recent or (missed.earliest if missed.count == 0 else now)
        except cron.ScheduleError:
            base = now
        following = sched.next_after(base)
        if following is None:
            return None
        return (following - now).total_seconds() + NEXT_SCHEDULE_DELTA


def _in_active(cronjob: Obj, uid: Any) -> bool:
    return any(r.get("uid") == uid for r in (cronjob.get("status") or {}).get("active") or ())


def _remove_active(cronjob: Obj, uid: Any) -> None:
    status = cronjob.setdefault("status", {})
    status["active"] = [r for r in status.get("active") or () if r.get("uid") != uid]
    if not status["active"]:
        del status["active"]


def _cronjob_path(cronjob: Obj) -> str:
    meta = cronjob["metadata"]
    return resources.CRON_JOBS.path(namespace=meta.get("namespace"), name=meta["name"])


def _namespace_terminating(err: ApiError) -> bool:
    causes = ((err.body or {}).get("details") or {}).get("causes") or ()
    return any(c.get("reason") == "NamespaceTerminating" for c in causes if isinstance(c, dict))
