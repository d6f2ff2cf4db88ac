"""``pocketkube server``: the control plane in one process.

Today that is the datastore (SQLite by default, or etcd) with its background compactor; the API
server, scheduler and controllers join it as they land (docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from pathlib import Path

from pocketkube.storage.compactor import Compactor
from pocketkube.storage.factory import EtcdTLS, open_backend
from pocketkube.tuning import freeze_startup_objects, tune_gc

log = logging.getLogger(__name__)


def prepare_data_dir(data_dir: Path) -> None:
    """Create the data directory readable by its owner only (RELIABILITY A7)."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(data_dir, 0o700)


async def run_server(*, data_dir: Path, datastore_endpoint: str, tls: EtcdTLS) -> None:
    tune_gc()
    prepare_data_dir(data_dir)
    backend = open_backend(data_dir=data_dir, endpoint=datastore_endpoint, tls=tls)
    await backend.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        revision = await backend.current_revision()
        freeze_startup_objects()
        print(
            f"pocketkube: datastore {backend.name} ready at revision {revision} "
            f"(data directory {data_dir})",
            flush=True,
        )
        print(
            "pocketkube: the API server is not part of this build yet, so kubectl has nothing "
            "to talk to; see README.md for the status of each component. Ctrl-C stops.",
            flush=True,
        )
        async with asyncio.TaskGroup() as group:
            compactor_task = group.create_task(Compactor(backend=backend).run())
            await stop.wait()
            compactor_task.cancel()
    finally:
        with contextlib.suppress(Exception):
            await backend.close()
        print("pocketkube: stopped", flush=True)
