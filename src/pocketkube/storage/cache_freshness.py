"""Readers waiting for the watch cache: until it is ready, or until it reached a revision.

A read at resourceVersion N promises a state at least as new as N, so the cache waits until it
has applied N (the datastore's progress notifications move it on when nothing under its prefix
changed). It waits a bounded time, as kube-apiserver's ``waitUntilFreshAndBlock`` does, and then
answers TooLargeResourceVersion (504 with Retry-After) rather than holding a request forever.

A consistent read (resourceVersion unset) waits the same way for the datastore's current revision
(:meth:`Freshness.wait_current`), but asks for a progress notification at once and then every
:data:`PROGRESS_REQUEST_PERIOD` while it waits, as upstream's ``conditionalProgressRequester``,
since the prefix may be quiet while others change; when the time is up the caller reads the
datastore instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from pocketkube.storage.errors import TooLargeResourceVersion, Unavailable

PROGRESS_REQUEST_PERIOD = 0.1  # upstream's progressRequestPeriod


class Freshness:
    def __init__(self, *, timeout: float) -> None:
        self.timeout = timeout
        self._ready: asyncio.Future[None] | None = None
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._stopped = False

    def start(self) -> None:
        self._ready = asyncio.get_running_loop().create_future()

    @property
    def ready(self) -> bool:
        return self._ready is not None and self._ready.done() and not self._stopped

    def set_ready(self) -> None:
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(None)

    def notify(self, revision: int) -> None:
        """The cache reached ``revision``: release the readers waiting for it."""
        for minimum, future in self._waiters:
            if minimum <= revision and not future.done():
                future.set_result(None)

    def stop(self) -> None:
        """Fail every current and later wait with Unavailable."""
        self._stopped = True
        stopped = Unavailable("the watch cache is stopped")
        futures = [future for _, future in self._waiters]
        if self._ready is not None:
            futures.append(self._ready)
        for future in futures:
            if not future.done():
                future.set_exception(stopped)
                future.exception()  # mark it retrieved: waiters re-raise it, if any

    async def until_ready(self) -> None:
        """Wait, without a time limit, for the first list to be loaded."""
        if self._ready is None:
            raise RuntimeError("the watch cache has not been started")
        await asyncio.shield(self._ready)

    async def wait_ready(self, interrupt: asyncio.Future[None] | None = None) -> bool:
        """True once ready; False if ``interrupt`` finished first; Unavailable after the wait."""
        if self._ready is None or self._stopped:
            raise Unavailable("the watch cache is not running")
        if self._ready.done():
            self._ready.result()
            return True
        if await self._wait(self._ready, interrupt):
            return True
        if interrupt is not None and interrupt.done():
            return False
        raise Unavailable("the watch cache is initializing")

    async def wait_fresh(
        self,
        minimum: int,
        revision: Callable[[], int],
        interrupt: asyncio.Future[None] | None = None,
    ) -> bool:
        """True once ``revision()`` >= ``minimum``; False if ``interrupt`` finished first;
        TooLargeResourceVersion after the wait."""
        if not await self.wait_ready(interrupt):
            return False
        if revision() >= minimum:
            return True
        future = asyncio.get_running_loop().create_future()
        entry = (minimum, future)
        self._waiters.append(entry)
        try:
            if await self._wait(future, interrupt):
                return True
        finally:
            self._waiters.remove(entry)
            future.cancel()
        if interrupt is not None and interrupt.done():
            return False
        current = revision()
        raise TooLargeResourceVersion(
            f"Too large resource version: {minimum}, current: {current}",
            requested=minimum,
            current=current,
        )

    async def wait_current(
        self,
        minimum: int,
        revision: Callable[[], int],
        request_progress: Callable[[], None],
        interrupt: asyncio.Future[None] | None = None,
    ) -> bool:
        """True once ``revision()`` >= ``minimum``, asking for progress meanwhile (see the
        module docstring); False when not ready, stopped, interrupted or out of time."""
        if not self.ready:
            return False
        if revision() >= minimum:
            return True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        future: asyncio.Future[None] = loop.create_future()
        entry = (minimum, future)
        self._waiters.append(entry)
        waits = {future} if interrupt is None else {future, interrupt}
        try:
            while not future.done():
                left = deadline - loop.time()
                if left <= 0 or (interrupt is not None and interrupt.done()):
                    return False
                request_progress()
                await asyncio.wait(
                    waits,
                    timeout=min(left, PROGRESS_REQUEST_PERIOD),
                    return_when=asyncio.FIRST_COMPLETED,
                )
            return future.exception() is None  # Unavailable when the cache stopped
        finally:
            self._waiters.remove(entry)
            future.cancel()

    async def _wait(
        self, future: asyncio.Future[None], interrupt: asyncio.Future[None] | None
    ) -> bool:
        """Wait up to ``timeout`` for ``future``; False on timeout or interruption."""
        waits = {future} if interrupt is None else {future, interrupt}
        try:
            async with asyncio.timeout(self.timeout):
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        except TimeoutError:
            return False
        if future.done():
            future.result()  # raises Unavailable when the cache stopped
            return True
        return False
