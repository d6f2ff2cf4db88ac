"""``pocketkube scheduler``: one scheduler process, its own client identity, until SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path

from pocketkube.client.rest import Client
from pocketkube.scheduler.config import ConfigError, load_config
from pocketkube.scheduler.plugins import in_tree_registry
from pocketkube.scheduler.scheduler import Scheduler

log = logging.getLogger(__name__)


async def run_scheduler(*, kubeconfig: Path | None, config_path: Path | None) -> None:
    config = load_config(config_path)
    path = kubeconfig or (Path(config.kubeconfig) if config.kubeconfig else None)
    if path is None:
        raise ConfigError("a kubeconfig is needed: --kubeconfig or clientConnection.kubeconfig")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Client.from_kubeconfig(path) as client:
        scheduler = Scheduler(client=client, config=config, registry=in_tree_registry())
        print(
            f"pocketkube: scheduler started (profiles: {', '.join(scheduler.frameworks)})",
            flush=True,
        )
        async with asyncio.TaskGroup() as group:
            task = group.create_task(scheduler.run())
            await stop.wait()
            task.cancel()
    with contextlib.suppress(Exception):
        log.info("scheduler stopped after binding %d pods", scheduler.scheduled)
