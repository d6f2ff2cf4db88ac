"""Events: what a component tells users about an object (``kubectl describe`` shows them).

``EventRecorder`` is client-go's events/v1 recorder. It writes ``events.k8s.io/v1`` Events, which
our API server stores as core v1 Events (``regarding`` becomes ``involvedObject``, ``note``
``message``, ``reportingController`` ``reportingComponent``), so ``kubectl describe`` finds them
by its ``involvedObject`` field selector and prints ``reportingController`` as *From*.

Events are advisory, so recording one must never slow down or break the work it describes:
``post`` only puts the event on a bounded queue (dropped, with a warning, when the queue is full)
and the ``run`` worker, started in the owner's ``TaskGroup``, sends them; a failed send is logged
and dropped. ``emit`` sends at once for callers that can wait; it does not raise either. A
component that can post faster than the API server takes events (the scheduler, binding
hundreds of pods a second) paces itself on ``queued`` and ``capacity`` instead of losing them.

Repeated events are folded as upstream does: an event with the same regarding object, related
object, type, reason, action and note as one sent less than 6 minutes before it is not created
again; instead the first one's ``series`` (``count``, ``lastObservedTime``) is updated by a merge
patch, and kubectl shows ``(x3 over 2m)``. If that event has gone (events expire after an hour),
a new one is created.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pocketkube.api.timestamps import second_text
from pocketkube.client.resources import EVENTS_V1
from pocketkube.client.rest import ApiError, Obj, Params, PatchType

log = logging.getLogger(__name__)

EventType = Literal["Normal", "Warning"]
FOLD_WINDOW = 6 * 60.0  # seconds since a series was last observed (upstream's finishTime)
SENDERS = 32  # events in flight at once
QUEUE_SIZE = 1000  # upstream's broadcaster queue, also dropping when full
MAX_SERIES = 4096  # folding state kept, least recently observed dropped first
NOTE_LIMIT = 1024  # the API server refuses longer notes


class EventSink(Protocol):
    """What the recorder needs from a client; ``rest.Client`` is one."""

    async def create(self, path: str, obj: Obj, *, params: Params | None = None) -> Obj: ...

    async def patch(
        self, path: str, patch: Obj, *, patch_type: PatchType = ..., params: Params | None = None
    ) -> Obj: ...


def object_reference(obj: Obj) -> Obj:
    """The ObjectReference an event points at: apiVersion, kind, namespace, name, uid,
    resourceVersion (those the object has). A reference itself (no ``metadata``, but a kind and
    a name, perhaps a ``fieldPath`` naming a container) is taken as it is."""
    if "metadata" not in obj and obj.get("kind") and obj.get("name"):
        return dict(obj)
    meta = obj.get("metadata") or {}
    if not obj.get("kind") or not meta.get("name"):
        raise ValueError("an event needs an object with a kind and a name")
    ref: Obj = {"apiVersion": obj.get("apiVersion", ""), "kind": obj["kind"]}
    for field in ("namespace", "name", "uid", "resourceVersion"):
        if meta.get(field):
            ref[field] = meta[field]
    return ref


def micro_time(ns: int) -> str:
    """A ``MicroTime`` as Kubernetes writes it: RFC 3339, UTC, six fractional digits."""
    seconds, rest = divmod(ns, 1_000_000_000)
    return f"{second_text(seconds)}.{rest // 1000:06d}Z"


@dataclass(frozen=True, kw_only=True)
class _Event:
    regarding: Obj
    related: Obj | None
    type: str
    reason: str
    action: str
    note: str

    def fold_key(self) -> Hashable:
        regarding, related = _identity(self.regarding), _identity(self.related)
        return (regarding, related, self.type, self.reason, self.action, self.note)


def _identity(ref: Obj | None) -> Hashable:
    if ref is None:
        return None
    if ref.get("uid"):
        return str(ref["uid"])
    return (ref.get("apiVersion"), ref["kind"], ref.get("namespace"), ref["name"])


@dataclass(kw_only=True)
class Series:
    """An event already sent, and how often it has been seen."""

    namespace: str
    name: str
    count: int
    last_observed_ns: int


class SeriesCache:
    """Which events were sent recently, to fold repeats into them (the pure part of folding)."""

    def __init__(self, *, window: float = FOLD_WINDOW, max_entries: int = MAX_SERIES) -> None:
        self._window_ns = int(window * 1e9)
        self._max_entries = max_entries
        self._entries: collections.OrderedDict[Hashable, Series] = collections.OrderedDict()

    def observe(self, key: Hashable, now_ns: int) -> Series | None:
        """The series this occurrence extends (its count already raised), or ``None``: send a
        new event and ``record`` it."""
        series = self._entries.get(key)
        if series is None or now_ns - series.last_observed_ns > self._window_ns:
            self._entries.pop(key, None)
            return None
        series.count += 1
        series.last_observed_ns = now_ns
        self._entries.move_to_end(key)
        return series

    def record(self, key: Hashable, *, namespace: str, name: str, now_ns: int) -> None:
        self._entries[key] = Series(
            namespace=namespace, name=name, count=1, last_observed_ns=now_ns
        )
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def forget(self, key: Hashable) -> None:
        self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)


class EventRecorder:
    """Records events about objects on behalf of one component (``reporting_controller``)."""

    def __init__(
        self,
        *,
        client: EventSink,
        reporting_controller: str,
        reporting_instance: str,
        queue_size: int = QUEUE_SIZE,
        clock: Callable[[], int] = time.time_ns,
        series: SeriesCache | None = None,
        workers: int = SENDERS,
    ) -> None:
        self._client = client
        self.reporting_controller = reporting_controller
        self.reporting_instance = reporting_instance
        self._clock = clock
        self._series = series or SeriesCache()
        self._queue: asyncio.Queue[_Event] = asyncio.Queue(queue_size)
        # fold key -> (its lock, how many sends hold or wait for it)
        self._sending: dict[Hashable, tuple[asyncio.Lock, int]] = {}
        self._workers = workers
        self.dropped = 0  # events lost to a full queue or a failed send

    def post(
        self,
        regarding: Obj,
        *,
        type: EventType,
        reason: str,
        action: str,
        note: str,
        related: Obj | None = None,
    ) -> None:
        """Queue an event for the ``run`` worker and return at once."""
        event = self._event(regarding, type, reason, action, note, related)
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("event queue full, dropping %s event %s", reason, event.regarding)

    async def emit(
        self,
        regarding: Obj,
        *,
        type: EventType,
        reason: str,
        action: str,
        note: str,
        related: Obj | None = None,
    ) -> Obj | None:
        """Send an event now; the created or updated Event, or ``None`` if sending failed."""
        return await self._send(self._event(regarding, type, reason, action, note, related))

    async def run(self) -> None:
        """Send queued events until cancelled, ``workers`` at a time: one sender cannot keep
        up with a busy component (a scheduler binding hundreds of pods a second)."""
        async with asyncio.TaskGroup() as group:
            for _ in range(self._workers):
                group.create_task(self._work())

    @property
    def queued(self) -> int:
        """Events posted and not yet sent."""
        return self._queue.qsize()

    @property
    def capacity(self) -> int:
        """How many events the queue holds before ``post`` drops them (0: no limit)."""
        return self._queue.maxsize

    async def _work(self) -> None:
        while True:
            event = await self._queue.get()
            await self._send(event)
            self._queue.task_done()

    async def flush(self) -> None:
        """Wait until every queued event has been sent (or dropped); ``run`` must be running."""
        await self._queue.join()

    def _event(
        self, regarding: Obj, type: str, reason: str, action: str, note: str, related: Obj | None
    ) -> _Event:
        return _Event(
            regarding=object_reference(regarding),
            related=object_reference(related) if related is not None else None,
            type=type,
            reason=reason,
            action=action,
            note=note[:NOTE_LIMIT],
        )

    async def _send(self, event: _Event) -> Obj | None:
        # Only occurrences of one series must not overlap (fold or create decides on the
        # series as it stands); different events go out concurrently.
        key = event.fold_key()
        lock, users = self._sending.get(key, (asyncio.Lock(), 0))
        self._sending[key] = (lock, users + 1)
        try:
            async with lock:
                return await self._fold_or_create(event)
        except Exception as err:  # an event is never worth failing the caller
            self.dropped += 1
            log.warning("dropping %s event about %s: %s", event.reason, event.regarding, err)
            return None
        finally:
            lock, users = self._sending[key]
            if users > 1:
                self._sending[key] = (lock, users - 1)
            else:
                del self._sending[key]

    async def _fold_or_create(self, event: _Event) -> Obj:
        key = event.fold_key()
        now = self._clock()
        series = self._series.observe(key, now)
        if series is not None:
            patch = {"series": {"count": series.count, "lastObservedTime": micro_time(now)}}
            path = EVENTS_V1.path(namespace=series.namespace, name=series.name)
            try:
                return await self._client.patch(path, patch, patch_type="merge")
            except ApiError as err:
                if not err.not_found:
                    raise  # the series stays: its next occurrence sends the higher count
                self._series.forget(key)
        namespace = event.regarding.get("namespace") or "default"  # as upstream, for nodes
        body = self._body(event, namespace, now)
        created = await self._client.create(EVENTS_V1.path(namespace=namespace), body)
        self._series.record(key, namespace=namespace, name=body["metadata"]["name"], now_ns=now)
        return created

    def _body(self, event: _Event, namespace: str, now: int) -> Obj:
        body: dict[str, Any] = {
            "apiVersion": EVENTS_V1.api_version,
            "kind": "Event",
            "metadata": {"name": f"{event.regarding['name']}.{now:x}", "namespace": namespace},
            "eventTime": micro_time(now),
            "reportingController": self.reporting_controller,
            "reportingInstance": self.reporting_instance,
            "action": event.action,
            "reason": event.reason,
            "note": event.note,
            "type": event.type,
            "regarding": event.regarding,
        }
        if event.related is not None:
            body["related"] = event.related
        return body
