"""Pods held at Permit: bound only once every waiting plugin allows them (upstream's
waitingPod). A plugin answering WAIT gets the pod parked here; ``allow``/``reject`` come from
the plugin (or the pod's deletion), and the binding cycle waits at most the shortest timeout."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from pocketkube.scheduler.framework.status import Code, Status
from pocketkube.scheduler.framework.types import PodInfo


class WaitingPod:
    """A pod held at Permit until every waiting plugin allows it, or one rejects it."""

    def __init__(self, pod: PodInfo, plugins: Mapping[str, float]) -> None:
        self.pod = pod
        self.pending = dict(plugins)
        self.result: Status | None = None
        self._done = asyncio.Event()

    def allow(self, plugin: str) -> None:
        self.pending.pop(plugin, None)
        if not self.pending:
            self.result = Status()
            self._done.set()

    def reject(self, plugin: str, message: str) -> None:
        self.result = Status(Code.UNSCHEDULABLE, [message], plugin)
        self._done.set()

    async def wait(self) -> Status:
        if self._done.is_set():  # allowed or rejected before the binding cycle got here
            return self.result or Status()
        timeout = min(self.pending.values())
        try:
            await asyncio.wait_for(self._done.wait(), timeout)
        except TimeoutError:
            plugin = min(self.pending, key=lambda p: self.pending[p])
            return Status(
                Code.UNSCHEDULABLE,
                [f"rejected due to timeout after waiting {timeout}s at plugin {plugin}"],
                plugin,
            )
        return self.result or Status()
