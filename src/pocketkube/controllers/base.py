"""The queue loop every controller shares: workers take keys, ``sync`` them, retry with backoff.

A controller subclass builds its informers and handlers in ``__init__`` (handlers only call
``enqueue``) and implements ``sync(key)``. ``run`` waits until its informers have listed, so
that the first syncs see the whole picture, then runs ``workers`` workers on the queue: a key
whose sync raises is retried after the queue's per-key exponential backoff (``IgnorableError``
is retried as well, but logged quietly: it is an expected wait, not a fault), one that succeeds
is forgotten by the rate limiter. The queue never hands one key to two workers at once.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, Protocol

from pocketkube.client.clock import Clock
from pocketkube.client.informer import Informer
from pocketkube.client.rest import Obj, Params, PatchType
from pocketkube.client.store import key_of
from pocketkube.client.workqueue import ShutDown, WorkQueue

log = logging.getLogger(__name__)


class ApiClient(Protocol):
    """What controllers write with; ``rest.Client`` is one, a test's fake another."""

    async def get(self, path: str, *, params: Params | None = None) -> Obj: ...

    async def create(self, path: str, obj: Obj, *, params: Params | None = None) -> Obj: ...

    async def update(self, path: str, obj: Obj, *, params: Params | None = None) -> Obj: ...

    async def patch(
        self, path: str, patch: Obj, *, patch_type: PatchType = ..., params: Params | None = None
    ) -> Obj: ...

    async def delete(
        self, path: str, *, body: Obj | None = None, params: Params | None = None
    ) -> Obj: ...


class IgnorableError(Exception):
    """A sync that must be retried later for an expected reason (logged at debug level)."""


class Controller(ABC):
    name: ClassVar[str]

    def __init__(
        self, *, informers: Sequence[Informer], workers: int = 1, clock: Clock | None = None
    ) -> None:
        self.queue: WorkQueue[str] = WorkQueue(clock=clock, name=self.name)
        self._informers = tuple(informers)
        self._workers = workers

    def enqueue(self, obj: Obj) -> None:
        self.queue.add(key_of(obj))

    def enqueue_update(self, old: Obj, new: Obj) -> None:
        self.enqueue(new)

    @abstractmethod
    async def sync(self, key: str) -> None:
        """Bring the world in line with the object ``key`` as the informers see it now."""

    async def run(self) -> None:
        """Wait for the informers' first list, then work the queue until cancelled."""
        try:
            for informer in self._informers:
                await informer.wait_synced()
            log.info("%s: caches synced, starting %d workers", self.name, self._workers)
            async with asyncio.TaskGroup() as group:
                for _ in range(self._workers):
                    group.create_task(self._work())
        finally:
            self.queue.shutdown()

    async def _work(self) -> None:
        while True:
            try:
                key = await self.queue.get()
            except ShutDown:
                return
            await self.process(key)

    async def process(self, key: str) -> None:
        """Sync one key taken from the queue and settle it (requeue on failure)."""
        try:
            await self.sync(key)
        except IgnorableError as err:
            log.debug("%s: %s: %s", self.name, key, err)
            self.queue.add_rate_limited(key)
        except Exception as err:
            log.warning("%s: syncing %s failed: %s", self.name, key, _describe(err))
            self.queue.add_rate_limited(key)
        else:
            self.queue.forget(key)
        finally:
            self.queue.done(key)


def _describe(err: BaseException) -> Any:
    return str(err) or type(err).__name__
