"""cronjob: starts a CronJob's Jobs on its schedule (upstream's ``pkg/controller/cronjob``,
the v2 controller).

``schedule`` parses cron schedules and answers "which run is due now"; ``controller`` holds the
sync: settle the active list and history, start the due run under the concurrency policy,
delete finished Jobs beyond the history limits, and requeue at the next run.
"""

from __future__ import annotations

from pocketkube.client import resources
from pocketkube.controllers.base import Controller
from pocketkube.controllers.context import Context
from pocketkube.controllers.cronjob.controller import COMPONENT, NAME, CronJobController

__all__ = ["NAME", "CronJobController", "build"]


def build(ctx: Context) -> Controller:
    return CronJobController(
        client=ctx.client,
        cronjob_informer=ctx.informers.informer(resources.CRON_JOBS),
        job_informer=ctx.informers.informer(resources.JOBS),
        recorder=ctx.recorder(COMPONENT),
        workers=ctx.options.concurrent_cron_job_syncs,
        clock=ctx.clock,
    )
