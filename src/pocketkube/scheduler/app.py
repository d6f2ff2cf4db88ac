"""``pocketkube scheduler``: one scheduler process, its own client identity, until SIGTERM.

With the configuration's ``leaderElection.leaderElect`` the scheduler schedules only while it
holds the Lease (kube-system/kube-scheduler by default); losing it exits 1 ("leaderelection
lost") as kube-scheduler does, a graceful stop releases it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from pocketkube.client.config import component_user_agent
from pocketkube.client.events import EventRecorder
from pocketkube.client.leaderelection import (
    LeaderElectionConfig,
    LeaderElectionLost,
    LeaderElector,
    new_identity,
)
from pocketkube.client.rest import Client
from pocketkube.scheduler.config import ConfigError, LeaderElection, load_config
from pocketkube.scheduler.plugins import in_tree_registry
from pocketkube.scheduler.scheduler import Scheduler
from pocketkube.tuning import freeze_startup_objects, tune_gc

log = logging.getLogger(__name__)


async def run_scheduler(*, kubeconfig: Path | None, config_path: Path | None) -> None:
    # The collector's default thresholds cost the scheduler ~15 % of its CPU at 500 pods/s: full
    # collections over the informers' caches (docs/performance.md, scheduler section).
    tune_gc()
    config = load_config(config_path)
    path = kubeconfig or (Path(config.kubeconfig) if config.kubeconfig else None)
    if path is None:
        raise ConfigError("a kubeconfig is needed: --kubeconfig or clientConnection.kubeconfig")
    election = config.leader_election
    identity = new_identity()
    # bad timings are a usage error, before anything starts
    elector_config = _elector_config(election, identity) if election.leader_elect else None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Client.from_kubeconfig(
        path, user_agent=component_user_agent("kube-scheduler")
    ) as client:
        scheduler = Scheduler(client=client, config=config, registry=in_tree_registry())
        election_note = f", leader election as {identity}" if elector_config else ""
        print(
            f"pocketkube: scheduler started (profiles: {', '.join(scheduler.frameworks)}"
            f"{election_note})",
            flush=True,
        )
        elector = None
        if elector_config is not None:
            elector = LeaderElector(
                client=client,
                config=elector_config,
                recorder=EventRecorder(
                    client=client,
                    reporting_controller="kube-scheduler",
                    reporting_instance=identity,
                ),
            )
        lost = False
        try:
            async with asyncio.TaskGroup() as group:
                task = group.create_task(
                    scheduler.run() if elector is None else elector.run(scheduler.run)
                )
                stopping = group.create_task(stop.wait())
                freezing = group.create_task(_freeze_when_synced(scheduler))
                await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
                task.cancel()
                stopping.cancel()
                freezing.cancel()
        except* LeaderElectionLost:
            lost = True
    with contextlib.suppress(Exception):
        log.info("scheduler stopped after binding %d pods", scheduler.scheduled)
    if lost:
        print("pocketkube: scheduler: leaderelection lost", file=sys.stderr, flush=True)
        sys.exit(1)


async def _freeze_when_synced(scheduler: Scheduler) -> None:
    """Once the caches hold every node and pod, move them out of the collector's view (one
    full collection first, so that no garbage is frozen)."""
    await scheduler.synced.wait()
    freeze_startup_objects()


def _elector_config(election: LeaderElection, identity: str) -> LeaderElectionConfig:
    try:
        return LeaderElectionConfig(
            namespace=election.resource_namespace,
            name=election.resource_name,
            identity=identity,
            lease_duration=election.lease_duration,
            renew_deadline=election.renew_deadline,
            retry_period=election.retry_period,
        )
    except ValueError as err:
        raise ConfigError(f"leaderElection: {err}") from None
