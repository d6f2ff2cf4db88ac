"""ttl-after-finished: deletes finished Jobs once their ``ttlSecondsAfterFinished`` has passed.

Upstream's ``pkg/controller/ttlafterfinished``. A Job is finished when its ``Complete`` or
``Failed`` condition is True; it finished at that condition's ``lastTransitionTime``, and
expires ``spec.ttlSecondsAfterFinished`` seconds later (0: at once). A Job not yet expired is
looked at again when it expires (``add_after``). Before deleting, the Job is read afresh from
the API server, since its TTL may have been changed (or removed) after the informer saw it, and
the check is made again on that copy; the delete is then foreground (its pods go first) with a
UID precondition, so a new Job by the same name is never touched.

A finish time in the future (clock skew between the Job controller's host and ours) defers the
cleanup, as upstream warns: the Job is looked at again when it expires by its own timestamp.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from pocketkube.api.timestamps import parse_time, utcnow
from pocketkube.client import resources
from pocketkube.client.clock import Clock
from pocketkube.client.informer import Informer
from pocketkube.client.rest import ApiError, Obj
from pocketkube.client.store import split_key
from pocketkube.controllers.base import ApiClient, Controller
from pocketkube.controllers.context import Context

log = logging.getLogger(__name__)

NAME = "ttl-after-finished"  # upstream: ttl-after-finished-controller


def is_finished(job: Obj) -> bool:
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in (job.get("status") or {}).get("conditions") or ()
    )


def needs_cleanup(job: Obj) -> bool:
    return (job.get("spec") or {}).get("ttlSecondsAfterFinished") is not None and is_finished(job)


def finish_time(job: Obj) -> dt.datetime | None:
    """When the Job's Complete or Failed condition became True."""
    for condition in (job.get("status") or {}).get("conditions") or ():
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            return parse_time(condition.get("lastTransitionTime"))
    return None


class UnknownFinishTime(Exception):
    """A finished Job whose condition carries no usable lastTransitionTime."""


def time_left(job: Obj, now: dt.datetime) -> float:
    """Seconds until the Job expires (<= 0: expired)."""
    finished = finish_time(job)
    meta = job.get("metadata") or {}
    if finished is None:
        raise UnknownFinishTime(
            f"unable to find the time when the Job {meta.get('namespace')}/{meta.get('name')} "
            "finished"
        )
    if finished > now:
        log.warning(
            "Found Job %s/%s finished in the future. This is likely due to time skew in the "
            "cluster. Job cleanup will be deferred.",
            meta.get("namespace"),
            meta.get("name"),
        )
    ttl = int((job.get("spec") or {}).get("ttlSecondsAfterFinished") or 0)
    expires = finished + dt.timedelta(seconds=ttl)
    return (expires - now).total_seconds()


class TTLAfterFinishedController(Controller):
    name = NAME

    def __init__(
        self,
        *,
        client: ApiClient,
        job_informer: Informer,
        workers: int = 5,
        clock: Clock | None = None,
        now: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        super().__init__(informers=[job_informer], workers=workers, clock=clock)
        self._client = client
        self._jobs = job_informer.store
        self._now = now
        job_informer.add_handler(on_add=self._job_changed, on_update=self._job_updated)

    def _job_changed(self, job: Obj) -> None:
        if needs_cleanup(job):
            self.enqueue(job)

    def _job_updated(self, old: Obj, new: Obj) -> None:
        self._job_changed(new)

    async def sync(self, key: str) -> None:
        job = self._jobs.get(key)
        if job is None or not self._expired(key, job):
            return
        # The informer's copy may be stale (the TTL changed since): check the Job as it is now.
        namespace, name = split_key(key)
        path = resources.JOBS.path(namespace=namespace, name=name)
        try:
            fresh = await self._client.get(path)
        except ApiError as err:
            if err.not_found:
                return
            raise
        if not self._expired(key, fresh):
            return
        log.info("cleaning up Job %s", key)
        body: Obj = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "propagationPolicy": "Foreground",
            "preconditions": {"uid": fresh["metadata"].get("uid")},
        }
        try:
            await self._client.delete(path, body=body)
        except ApiError as err:
            # gone already, or a new Job by that name (the UID precondition): not ours to delete
            if not (err.not_found or err.status == 409):
                raise

    def _expired(self, key: str, job: Obj) -> bool:
        """Whether ``job`` has expired; if it will, look again then."""
        if not needs_cleanup(job):
            return False
        try:
            left = time_left(job, self._now())
        except UnknownFinishTime as err:
            log.warning("%s", err)  # bad input: nothing to wait for until the Job changes
            return False
        if left > 0:
            self.queue.add_after(key, left)
            return False
        return True


def build(ctx: Context) -> Controller:
    return TTLAfterFinishedController(
        client=ctx.client,
        job_informer=ctx.informers.informer(resources.JOBS),
        workers=ctx.options.concurrent_ttl_after_finished_syncs,
        clock=ctx.clock,
    )
