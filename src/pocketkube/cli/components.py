"""The components ``pocketkube server`` runs beside the API server, each as its own process.

As in k3s, one command starts the control plane; unlike a single process, every component
(here the scheduler; controllers and the kubelet as they land) is a child process with its
own kubeconfig and client identity, talking to the API server over HTTPS only. A child that
exits is restarted with a back-off (1 s doubling to 30 s) until the server stops, then it is
sent SIGTERM and, if it lingers, killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from pocketkube.apiserver.kubeconfig import write_kubeconfig
from pocketkube.apiserver.pki import PKI, issue_client_cert

log = logging.getLogger(__name__)

STOP_TIMEOUT = 10.0
MAX_RESTART_DELAY = 30.0
HEALTHY_RUN = 60.0  # seconds up after which a crash restarts the back-off


def component_kubeconfig(
    *, data_dir: Path, pki: PKI, server_url: str, name: str, user: str, groups: Sequence[str] = ()
) -> Path:
    """``DATA_DIR/<name>.kubeconfig`` for client identity ``user`` (certificate CN)."""
    cert, key = issue_client_cert(pki, name, cn=user, groups=groups)
    path = data_dir / f"{name}.kubeconfig"
    write_kubeconfig(
        path, server_url=server_url, ca_path=pki.ca_cert, cert_path=cert, key_path=key, user=user
    )
    return path


class ComponentProcess:
    def __init__(self, *, name: str, args: Sequence[str]) -> None:
        self.name = name
        self.argv = [sys.executable, "-m", "pocketkube.cli", *args]
        self.restarts = 0

    async def run(self) -> None:
        """Keep the component running until cancelled."""
        delay = 1.0
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            process = await asyncio.create_subprocess_exec(*self.argv)
            try:
                code = await process.wait()
            except asyncio.CancelledError:
                await self._stop(process)
                raise
            if loop.time() - started > HEALTHY_RUN:
                delay = 1.0  # it ran fine for a while: this is a new failure, not a crash loop
            self.restarts += 1
            log.warning("%s exited with %s; restarting in %.0f s", self.name, code, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RESTART_DELAY)

    async def _stop(self, process: asyncio.subprocess.Process) -> None:
        if process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
