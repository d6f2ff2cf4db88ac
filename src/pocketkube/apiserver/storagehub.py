"""One watch cache per storage prefix, started on first use and closed with the server.

Several resources can share a prefix (an object served under two versions is stored once), so
caches are keyed by prefix, not by resource. Each cache owns one background task; ``close()``
ends them all, so the server leaves no task behind.
"""

from __future__ import annotations

import asyncio

from pocketkube.storage.backend import Backend
from pocketkube.storage.cacher import Cacher
from pocketkube.storage.store import KVStorage


class StorageHub:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.storage = KVStorage(backend)
        self._caches: dict[str, Cacher] = {}
        self._lock = asyncio.Lock()

    async def cache(self, prefix: str) -> Cacher:
        cache = self._caches.get(prefix)
        if cache is not None:
            return cache
        async with self._lock:
            cache = self._caches.get(prefix)
            if cache is None:
                cache = Cacher(self.storage, prefix=prefix)
                await cache.start()
                self._caches[prefix] = cache
        await cache.wait_ready()
        return cache

    async def close(self) -> None:
        caches, self._caches = list(self._caches.values()), {}
        for cache in caches:
            await cache.close()
