"""An in-memory backend: the reference implementation of the contract, and the fake for unit tests.

It keeps the same log the SQLite backend keeps on disk (every write appended with the next
revision, deletions as tombstones, compaction dropping superseded rows), so both behave alike down
to what compaction forgets. Every operation runs without awaiting, which makes it atomic.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from pocketkube.storage.backend import EventType, KeyValue, KVEvent, ListResult, Watch
from pocketkube.storage.errors import (
    AlreadyExists,
    Conflict,
    Expired,
    NotFound,
    TooLargeResourceVersion,
)
from pocketkube.storage.localwatch import WatchHub, matches


class MemoryBackend:
    name = "memory"

    def __init__(self) -> None:
        self._log: list[KVEvent] = []  # index i holds revision i + 1 - offset; see _revisions
        self._revisions: list[int] = []
        self._live: dict[str, KeyValue] = {}
        self._revision = 0
        self._compacted = 0
        self.hub = WatchHub(replay=self._replay, compacted=lambda: self._compacted)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self.hub.close_all()

    async def current_revision(self) -> int:
        return self._revision

    async def compacted_revision(self) -> int:
        return self._compacted

    # -- reads -----------------------------------------------------------------------------
    def _check_revision(self, revision: int) -> None:
        if revision and revision < self._compacted:
            raise Expired(
                f"required revision {revision} has been compacted",
                compacted_revision=self._compacted,
            )
        if revision > self._revision:
            raise TooLargeResourceVersion(
                f"required revision {revision} is a future revision",
                requested=revision,
                current=self._revision,
            )

    def _state_at(self, revision: int) -> dict[str, KeyValue]:
        if not revision or revision == self._revision:
            return self._live
        state: dict[str, KeyValue] = {}
        end = bisect.bisect_right(self._revisions, revision)
        for event in self._log[:end]:
            if event.type is EventType.DELETE:
                state.pop(event.kv.key, None)
            else:
                state[event.kv.key] = event.kv
        return state

    async def get(self, key: str, *, revision: int = 0) -> tuple[KeyValue | None, int]:
        self._check_revision(revision)
        return self._state_at(revision).get(key), revision or self._revision

    async def list(
        self, prefix: str, *, start_key: str = "", revision: int = 0, limit: int = 0
    ) -> ListResult:
        self._check_revision(revision)
        start = max(prefix, start_key)
        keys = sorted(k for k in self._state_at(revision) if k.startswith(prefix) and k >= start)
        state = self._state_at(revision)
        page = keys[:limit] if limit else keys
        return ListResult(
            kvs=[state[k] for k in page],
            revision=revision or self._revision,
            more=bool(limit) and len(keys) > limit,
        )

    async def count(self, prefix: str, *, start_key: str = "", revision: int = 0) -> int:
        self._check_revision(revision)
        start = max(prefix, start_key)
        return sum(1 for k in self._state_at(revision) if k.startswith(prefix) and k >= start)

    # -- writes ----------------------------------------------------------------------------
    def _append(self, event: KVEvent) -> int:
        self._log.append(event)
        self._revisions.append(event.revision)
        self.hub.publish((event,), event.revision)
        return event.revision

    async def create(self, key: str, value: bytes) -> int:
        if key in self._live:
            raise AlreadyExists(f"key {key} already exists", key=key)
        self._revision += 1
        kv = KeyValue(key, value, self._revision, self._revision)
        self._live[key] = kv
        return self._append(KVEvent(EventType.PUT, kv))

    def _current(self, key: str, expected_revision: int) -> KeyValue:
        current = self._live.get(key)
        if current is None:
            raise NotFound(f"key {key} not found", key=key)
        if expected_revision and current.mod_revision != expected_revision:
            raise Conflict(
                f"key {key} is at revision {current.mod_revision}, not {expected_revision}",
                key=key,
                current=current,
            )
        return current

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> int:
        current = self._current(key, expected_revision)
        self._revision += 1
        kv = KeyValue(key, value, current.create_revision, self._revision)
        self._live[key] = kv
        return self._append(KVEvent(EventType.PUT, kv, current))

    async def delete(self, key: str, *, expected_revision: int = 0) -> tuple[int, KeyValue]:
        current = self._current(key, expected_revision)
        self._revision += 1
        del self._live[key]
        tombstone = KeyValue(key, b"", current.create_revision, self._revision)
        return self._append(KVEvent(EventType.DELETE, tombstone, current)), current

    # -- watch and compaction ----------------------------------------------------------------
    def watch(
        self,
        key: str,
        *,
        prefix: bool = True,
        start_revision: int = 0,
        progress_interval: float | None = None,
    ) -> Watch:
        return self.hub.watch(
            key, prefix=prefix, start_revision=start_revision, progress_interval=progress_interval
        )

    async def _replay(self, key: str, prefix: bool, start: int, end: int) -> Sequence[KVEvent]:
        lo = bisect.bisect_left(self._revisions, start)
        hi = bisect.bisect_right(self._revisions, end)
        return [e for e in self._log[lo:hi] if matches(key, prefix, e.kv.key)]

    async def compact(self, revision: int) -> None:
        revision = min(revision, self._revision)
        if revision <= self._compacted:
            return
        # Keep what a read at `revision` or later can still need: each key's newest row at or
        # below `revision` (unless it is a tombstone older than `revision`), and all later rows.
        newest: dict[str, int] = {}
        for i, event in enumerate(self._log):
            if event.revision > revision:
                break
            newest[event.kv.key] = i
        keep: list[KVEvent] = []
        for i, event in enumerate(self._log):
            if event.revision > revision:
                keep.extend(self._log[i:])
                break
            if newest[event.kv.key] != i:
                continue
            if event.type is EventType.DELETE and event.revision < revision:
                continue
            keep.append(event)
        self._log = keep
        self._revisions = [e.revision for e in keep]
        self._compacted = revision
