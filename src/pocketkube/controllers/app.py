"""``pocketkube controller-manager``: the controllers in one process, its own identity, until
SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from pocketkube.client.rest import Client
from pocketkube.controllers import manager
from pocketkube.controllers.informers import SharedInformers


async def run_controller_manager(*, kubeconfig: Path, options: manager.Options) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Client.from_kubeconfig(kubeconfig) as client:
        ctx = manager.Context(
            client=client, informers=SharedInformers(client=client), options=options
        )
        controllers = manager.build(ctx)
        names = ", ".join(c.name for c in controllers) or "none"
        print(f"pocketkube: controller-manager started (controllers: {names})", flush=True)
        async with asyncio.TaskGroup() as group:
            task = group.create_task(manager.run(ctx, controllers))
            await stop.wait()
            task.cancel()
