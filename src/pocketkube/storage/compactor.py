"""Background compaction: keep a bounded window of history in any backend.

Kubernetes' API server compacts etcd every five minutes to the revision it saw five minutes
earlier (``k8s.io/apiserver/pkg/storage/etcd3/compact.go``), so that watchers and paged lists have
that long to catch up while the log stays bounded. Under a heavy write load five minutes can be a
great many revisions, so we also cap the window by count: each tick compacts to the *newer* of
"the revision seen ``window_seconds`` ago" and "``window_revisions`` before the current one".

The compactor only samples ``(time, revision)`` pairs and calls ``Backend.compact``; the backend
decides how to delete (the SQLite backend does it in small transactions between writes). A failed
compaction is logged and tried again at the next tick: a locked or full datastore must not stop
the loop for good.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable

from pocketkube.storage.backend import Backend

log = logging.getLogger(__name__)


class Compactor:
    def __init__(
        self,
        *,
        backend: Backend,
        window_seconds: float = 300.0,
        window_revisions: int = 10_000,
        interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._backend = backend
        self._window_seconds = window_seconds
        self._window_revisions = window_revisions
        self._interval = interval
        self._clock = clock
        # (time, revision) samples, oldest first; only the newest one older than the window is
        # kept, since older ones can never be the target again.
        self._samples: collections.deque[tuple[float, int]] = collections.deque()

    def target(self, now: float, current: int) -> int:
        """The revision to compact to, given the samples recorded so far."""
        by_time = 0
        for at, revision in self._samples:
            if now - at < self._window_seconds:
                break
            by_time = revision
        return max(by_time, current - self._window_revisions, 0)

    async def compact_once(self) -> int | None:
        """Record a sample and compact if the window moved; the revision compacted to, if any."""
        now = self._clock()
        current = await self._backend.current_revision()
        self._samples.append((now, current))
        while len(self._samples) > 1 and now - self._samples[1][0] >= self._window_seconds:
            self._samples.popleft()
        target = self.target(now, current)
        if target <= await self._backend.compacted_revision():
            return None
        await self._backend.compact(target)
        log.info("compacted %s to revision %d (current %d)", self._backend.name, target, current)
        return target

    async def run(self) -> None:
        """Compact every ``interval`` seconds until cancelled."""
        while True:
            try:
                await self.compact_once()
            except Exception:
                log.exception("compaction failed; retrying in %.0f s", self._interval)
            await asyncio.sleep(self._interval)
