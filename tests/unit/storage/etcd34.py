"""A fake etcd 3.4 under the real :class:`~pocketkube.storage.etcd_watch.EtcdWatch`, on the
in-memory backend, for deterministic tests of what a real etcd does only now and then.

The data is the memory backend's; the watch streams behave as etcd 3.4's do (``etcdserver/api/
v3rpc/watch.go`` and ``mvcc/watchable_store.go``):

- the created reply's header is the revision read *before* the watcher is registered; a write can
  land in between (:attr:`Etcd34.before_registering` makes one);
- a watcher whose start revision is not beyond the current revision at registration is out of sync
  and receives nothing until :meth:`Etcd34.catch_up` (etcd's 100 ms loop): then one batch of what
  it missed, headed with the current revision (none if nothing in its range changed), and in sync
  after it unless that batch stopped at etcd's limit of 1000 revisions;
- a watcher in sync gets each write's events as the write happens;
- a progress request is answered at once with the current revision, in sync or not (etcd issue
  15220).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from pocketkube.storage.backend import KVEvent, prefix_end
from pocketkube.storage.etcd_rpc import WatchReply
from pocketkube.storage.etcd_watch import CATCH_UP_REVISIONS, EtcdWatch
from pocketkube.storage.memory import MemoryBackend


def reply(revision: int, events: tuple[KVEvent, ...] = (), *, created: bool = False) -> WatchReply:
    return WatchReply(
        watch_id=0,
        revision=revision,
        created=created,
        canceled=False,
        compact_revision=0,
        cancel_reason="",
        events=events,
    )


class Stream34:
    """One gRPC watch stream carrying one watcher (as EtcdWatch uses them)."""

    def __init__(self, etcd: Etcd34) -> None:
        self.etcd = etcd
        self.replies: asyncio.Queue[WatchReply] = asyncio.Queue()
        self.prefix = ""
        self.start = 0
        self.in_sync = False

    async def create(self, key: bytes, range_end: bytes, *, start_revision: int) -> None:
        etcd = self.etcd
        header = etcd.revision  # read before the watcher is registered
        self.start = start_revision or header + 1
        self.prefix = key.decode()
        hook, etcd.before_registering = etcd.before_registering, None
        if hook is not None:
            await hook()
        self.in_sync = self.start > etcd.revision
        etcd.streams.append(self)
        self.replies.put_nowait(reply(header, created=True))

    def notify(self, event: KVEvent) -> None:
        if self.in_sync and event.kv.key.startswith(self.prefix):
            self.replies.put_nowait(reply(event.revision, (event,)))

    def catch_up(self) -> None:
        if self.in_sync:
            return
        current = self.etcd.revision
        missed = [
            e
            for e in self.etcd.history()
            if self.start <= e.revision <= current and e.kv.key.startswith(self.prefix)
        ]
        revisions = sorted({e.revision for e in missed})
        if len(revisions) > CATCH_UP_REVISIONS:
            self.start = revisions[CATCH_UP_REVISIONS]  # the rest in the next round
            missed = [e for e in missed if e.revision < self.start]
        else:
            self.in_sync = True
        if missed:
            self.replies.put_nowait(reply(current, tuple(missed)))

    async def request_progress(self) -> None:
        self.etcd.progress_requests += 1
        self.replies.put_nowait(reply(self.etcd.revision))

    async def read(self) -> WatchReply | None:
        return await self.replies.get()

    def cancel(self) -> None:
        if self in self.etcd.streams:
            self.etcd.streams.remove(self)


class Etcd34(MemoryBackend):
    """The memory backend, watched through EtcdWatch over :class:`Stream34` streams."""

    name = "etcd"
    timeout = 5.0

    def __init__(self) -> None:
        super().__init__()
        self.rpc = self  # EtcdWatch opens its stream with backend.rpc.watch_stream()
        self.streams: list[Stream34] = []
        self.before_registering: Callable[[], Awaitable[object]] | None = None
        self.progress_requests = 0
        self.checks = 0  # unchanged_since calls
        self.checks_failed = 0
        self.lie = False  # unchanged_since always says yes, as a watch trusting etcd would

    @property
    def revision(self) -> int:
        return self._revision

    def history(self) -> list[KVEvent]:
        return list(self._log)

    def catch_up(self) -> None:
        """One round of etcd's loop that syncs watchers."""
        for stream in list(self.streams):
            stream.catch_up()

    # -- what EtcdWatch needs of EtcdBackend ---------------------------------------------------
    def watch_stream(self) -> Stream34:
        return Stream34(self)

    def watch(
        self,
        key: str,
        *,
        prefix: bool = True,
        start_revision: int = 0,
        progress_interval: float | None = None,
    ) -> EtcdWatch:
        assert prefix, "the fake watches prefixes only"
        return EtcdWatch(
            backend=self,  # type: ignore[arg-type]
            key=key.encode(),
            range_end=prefix_end(key).encode(),
            start_revision=start_revision,
            progress_interval=progress_interval,
        )

    def _watch_opened(self, watch: EtcdWatch) -> None:
        pass

    def _watch_closed(self, watch: EtcdWatch) -> None:
        pass

    def _saw_compaction(self, revision: int) -> None:
        pass

    async def range_count(self, key: bytes, range_end: bytes, revision: int) -> int:
        return await self.count(key.decode(), revision=revision) if revision > 0 else 0

    async def unchanged_since(self, key: bytes, range_end: bytes, revision: int, count: int) -> int:
        self.checks += 1
        listed = await self.list(key.decode())
        if self.lie:
            return listed.revision
        if len(listed.kvs) != count or any(kv.mod_revision > revision for kv in listed.kvs):
            self.checks_failed += 1
            return 0
        return listed.revision

    def _append(self, event: KVEvent) -> int:
        revision = super()._append(event)
        for stream in list(self.streams):
            stream.notify(event)
        return revision
