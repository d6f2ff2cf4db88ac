"""job: runs a Job's pods to completion (upstream's ``pkg/controller/job``).

``controller`` holds the sync (finishing conditions, suspend); ``pods`` creates and deletes pods;
``tracking`` counts finished pods through the ``batch.kubernetes.io/job-tracking`` finalizer;
``state`` is the picture one sync builds; ``indexes`` the Indexed-Job helpers (completion
indexes, ``"1,3-5"`` interval lists); ``policies`` the pod failure policy, the success policy
and the pod-recreation back-off.
"""

from __future__ import annotations

from pocketkube.client import resources
from pocketkube.controllers.base import Controller
from pocketkube.controllers.context import Context
from pocketkube.controllers.job.controller import COMPONENT, NAME, JobController

__all__ = ["NAME", "JobController", "build"]


def build(ctx: Context) -> Controller:
    return JobController(
        client=ctx.client,
        job_informer=ctx.informers.informer(resources.JOBS),
        pod_informer=ctx.informers.informer(resources.PODS),
        recorder=ctx.recorder(COMPONENT),
        workers=ctx.options.concurrent_job_syncs,
        clock=ctx.clock,
    )
