"""The pod lifecycle event generator: notices what happens to containers by relisting.

Containers end on their own (they exit, crash, are OOM-killed) and nothing tells the kubelet,
so, as upstream's generic PLEG does, it lists the runtime every ``period`` seconds (1 s),
compares each pod's containers and sandboxes with the previous list, and wakes the pod worker
of every pod that changed. It also keeps the last list, which housekeeping uses to find pods
the runtime still holds but the API no longer has.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from pocketkube.kubelet import runtimestate
from pocketkube.kubelet.runtimestate import PodRuntimeStatus
from pocketkube.runtime import cri

log = logging.getLogger(__name__)

PERIOD = 1.0


class PLEG:
    def __init__(
        self,
        *,
        runtime: cri.RuntimeService,
        on_change: Callable[[str], None],
        period: float = PERIOD,
    ) -> None:
        self._runtime = runtime
        self._on_change = on_change
        self._period = period
        self.pods: dict[str, PodRuntimeStatus] = {}
        self.relists = 0
        self._healthy = asyncio.Event()

    async def relist(self) -> None:
        pods = await runtimestate.inspect(self._runtime)
        previous, self.pods = self.pods, pods
        self.relists += 1
        for uid in pods.keys() | previous.keys():
            new = pods.get(uid) or PodRuntimeStatus(uid=uid)
            if runtimestate.changed(previous.get(uid), new):
                self._on_change(uid)
        self._healthy.set()

    async def wait_first_relist(self) -> None:
        await self._healthy.wait()

    async def run(self) -> None:
        while True:
            try:
                await self.relist()
            except (cri.RuntimeError_, OSError) as err:
                log.warning("relisting the runtime failed: %s", err)
            await asyncio.sleep(self._period)
