"""``pocketkube controller-manager``: the controllers in one process, its own identity, until
SIGTERM.

With ``--leader-elect`` (the default, as upstream) several controller managers may run against
one cluster: each is a candidate for the Lease ``--leader-elect-resource-namespace/-name``
(kube-system/kube-controller-manager) and only the holder runs its controllers (their informers
included). A leader that cannot renew stops its controllers and exits non-zero ("leaderelection
lost"), as kube-controller-manager does, to be restarted as a fresh candidate; a graceful stop
releases the Lease so a standby takes over at once.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Sequence
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
from pocketkube.controllers import manager
from pocketkube.controllers.base import Controller
from pocketkube.controllers.context import Context, Options
from pocketkube.controllers.informers import SharedInformers

COMPONENT = "kube-controller-manager"

__all__ = ["LeaderElectionLost", "election_config", "run_controller_manager", "run_elected"]


def election_config(options: Options, identity: str) -> LeaderElectionConfig:
    return LeaderElectionConfig(
        namespace=options.leader_elect_resource_namespace,
        name=options.leader_elect_resource_name,
        identity=identity,
        lease_duration=options.leader_elect_lease_duration,
        renew_deadline=options.leader_elect_renew_deadline,
        retry_period=options.leader_elect_retry_period,
    )


async def run_elected(
    ctx: Context, controllers: Sequence[Controller], *, identity: str | None = None
) -> None:
    """Run the controllers until cancelled; with ``leader_elect`` only while holding the Lease
    (``LeaderElectionLost`` when it is lost)."""
    if not ctx.options.leader_elect:
        await manager.run(ctx, controllers)
        return
    identity = identity or new_identity()
    elector = LeaderElector(
        client=ctx.client,
        config=election_config(ctx.options, identity),
        clock=ctx.clock,
        recorder=EventRecorder(
            client=ctx.client, reporting_controller=COMPONENT, reporting_instance=identity
        ),
    )

    async def lead() -> None:
        print(f"pocketkube: controller-manager {identity} became leader", flush=True)
        await manager.run(ctx, controllers)

    await elector.run(lead)


async def run_controller_manager(*, kubeconfig: Path, options: Options) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    lost = False
    async with Client.from_kubeconfig(
        kubeconfig, user_agent=component_user_agent(COMPONENT)
    ) as client:
        ctx = Context(client=client, informers=SharedInformers(client=client), options=options)
        controllers = manager.build(ctx)
        names = ", ".join(c.name for c in controllers) or "none"
        identity = new_identity()
        election = f", leader election as {identity}" if options.leader_elect else ""
        print(
            f"pocketkube: controller-manager started (controllers: {names}{election})", flush=True
        )
        try:
            async with asyncio.TaskGroup() as group:
                work = group.create_task(run_elected(ctx, controllers, identity=identity))
                stopping = group.create_task(stop.wait())
                await asyncio.wait({work, stopping}, return_when=asyncio.FIRST_COMPLETED)
                work.cancel()
                stopping.cancel()
        except* LeaderElectionLost:
            lost = True
    if lost:
        print("pocketkube: controller-manager: leaderelection lost", file=sys.stderr, flush=True)
        sys.exit(1)
