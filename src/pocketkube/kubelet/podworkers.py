"""One worker per pod, so that a slow pod (a long grace period) never holds up another.

``update(uid)`` wakes the pod's worker, starting one if needed; updates that arrive while a
sync runs collapse into one more sync after it (the sync is level-triggered: it reads the pod
and the runtime afresh, so the newest state is all it needs). A sync returns when it wants to
run again: now (it changed something and must report the result), after a delay (a back-off
ends, a probe is due), or only when woken. It returns ``None`` when the pod is gone for good,
and the worker ends. Workers live in the ``run`` coroutine's TaskGroup.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

DONE = None
WAIT = float("inf")  # run again only when woken
ERROR_RETRY = 2.0


class _Worker:
    def __init__(self) -> None:
        self.wake = asyncio.Event()
        self.wake.set()


Sync = Callable[[str], Awaitable[float | None]]


class PodWorkers:
    def __init__(self, *, sync: Sync) -> None:
        self._sync = sync
        self._workers: dict[str, _Worker] = {}
        self._group: asyncio.TaskGroup | None = None
        self._pending: list[str] = []
        self.syncs = 0

    def update(self, uid: str) -> None:
        worker = self._workers.get(uid)
        if worker is not None:
            worker.wake.set()
            return
        worker = self._workers[uid] = _Worker()
        if self._group is None:
            self._pending.append(uid)
        else:
            self._group.create_task(self._work(uid, worker))

    def known(self) -> set[str]:
        return set(self._workers)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            self._group = group
            for uid in self._pending:
                group.create_task(self._work(uid, self._workers[uid]))
            self._pending.clear()
            try:
                await asyncio.Event().wait()
            finally:
                self._group = None

    async def _work(self, uid: str, worker: _Worker) -> None:
        try:
            while True:
                await worker.wake.wait()
                worker.wake.clear()
                self.syncs += 1
                try:
                    again = await self._sync(uid)
                except Exception:
                    log.exception("syncing pod %s failed", uid)
                    again = ERROR_RETRY
                if again is DONE:
                    if worker.wake.is_set():
                        continue  # woken while finishing: look once more
                    return
                if again == 0:
                    worker.wake.set()
                elif again != WAIT:
                    try:
                        await asyncio.wait_for(worker.wake.wait(), again)
                    except TimeoutError:
                        worker.wake.set()
        finally:
            if self._workers.get(uid) is worker:
                del self._workers[uid]
