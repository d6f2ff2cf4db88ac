"""A thin, typed etcd v3 client: the only module that touches gRPC and the generated stubs.

We speak to etcd through ``grpc.aio`` and the protobuf stubs that ship with ``aetcd`` rather than
through a high-level client, because the backend needs exact control of transactions (one
compare-and-swap round trip per write, the current value on failure) and of watch options
(inclusive start revision, prev_kv, progress requests). Everything here takes and returns our own
types, so the untyped protobuf messages never leak past this file; gRPC status codes become the
typed errors of :mod:`pocketkube.storage.errors`.

Keys get the backend's ``key_prefix`` on the way in and lose it on the way out (:class:`KeyCodec`),
which lets tests and several clusters share one etcd.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import grpc
from aetcd.rpc import kv_pb2, rpc_pb2, rpc_pb2_grpc

from pocketkube.storage.backend import EventType, KeyValue, KVEvent
from pocketkube.storage.errors import (
    Expired,
    StorageError,
    TooLargeResourceVersion,
    Unavailable,
)

COMPACTED = "required revision has been compacted"
FUTURE = "required revision is a future revision"
# Without it etcd keeps a watch open on a member that has lost its leader, silently stale.
WATCH_METADATA = (("hasleader", "true"),)
TRANSIENT = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,  # etcd's "too many requests"
    grpc.StatusCode.CANCELLED,  # the channel closed under the call
    grpc.StatusCode.ABORTED,
}


def bytes_prefix_end(prefix: bytes) -> bytes:
    """etcd's range_end for "every key starting with prefix"; b"\\0" (all keys) for b""."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return b"\x00"
    return stripped[:-1] + bytes([stripped[-1] + 1])


@dataclass(frozen=True, slots=True)
class KeyCodec:
    """Maps our text keys to etcd's byte keys under ``prefix``, and back."""

    prefix: str = ""

    def encode(self, key: str) -> bytes:
        return (self.prefix + key).encode()

    def decode(self, key: bytes) -> str:
        return key.decode()[len(self.prefix) :]

    def span(self, prefix: str) -> tuple[bytes, bytes]:
        """The [key, range_end) that covers every key under ``prefix``."""
        start = self.encode(prefix)
        if not start:
            return b"\x00", b"\x00"  # etcd's spelling of "every key": a key must not be empty
        return start, bytes_prefix_end(start)

    def to_kv(self, kv: Any) -> KeyValue:
        return KeyValue(self.decode(kv.key), kv.value, kv.create_revision, kv.mod_revision)


def rpc_error(err: grpc.aio.AioRpcError, *, revision: int = 0) -> StorageError:
    """The storage error a failed etcd call means."""
    code, details = err.code(), err.details() or ""
    if COMPACTED in details:
        return Expired(f"etcd: {details}")
    if FUTURE in details:
        return TooLargeResourceVersion(f"etcd: {details}", requested=revision, current=0)
    if code in TRANSIENT:
        return Unavailable(f"etcd is unavailable: {code.name}: {details}")
    return StorageError(f"etcd: {code.name}: {details}")


def _cancelled_locally(call: Any) -> bool:
    """Whether ``call`` was cancelled by us, rather than the calling task being cancelled."""
    task = asyncio.current_task()
    return bool(call.cancelled()) and (task is None or task.cancelling() == 0)


@dataclass(frozen=True, slots=True)
class RangeReply:
    kvs: list[KeyValue]
    revision: int
    more: bool
    count: int


@dataclass(frozen=True, slots=True)
class TxnReply:
    """A guarded write: whether the guard held, the store revision, and the key's value.

    ``kv`` is the deleted value for a successful delete, the current value (None: absent) when
    the guard failed, and None for a successful put.
    """

    succeeded: bool
    revision: int
    kv: KeyValue | None


@dataclass(frozen=True, slots=True)
class WatchReply:
    watch_id: int
    revision: int
    created: bool
    canceled: bool
    compact_revision: int
    cancel_reason: str
    events: tuple[KVEvent, ...]

    @property
    def progress(self) -> bool:
        return not (self.events or self.created or self.canceled)


class EtcdRPC:
    """Typed unary calls on one channel, each bounded by ``timeout`` seconds."""

    def __init__(self, channel: Any, *, codec: KeyCodec, timeout: float) -> None:
        self.channel = channel
        self.codec = codec
        self.timeout = timeout
        self._kv = rpc_pb2_grpc.KVStub(channel)
        self._watch = rpc_pb2_grpc.WatchStub(channel)

    async def _unary(self, method: Any, request: Any, *, revision: int = 0) -> Any:
        try:
            return await method(request, timeout=self.timeout)
        except grpc.aio.AioRpcError as err:
            raise rpc_error(err, revision=revision) from None
        except grpc.aio.UsageError as err:
            raise Unavailable(f"etcd client is closed: {err}") from None

    async def range(
        self,
        key: bytes,
        range_end: bytes = b"",
        *,
        revision: int = 0,
        limit: int = 0,
        count_only: bool = False,
    ) -> RangeReply:
        request = rpc_pb2.RangeRequest(
            key=key, range_end=range_end, revision=revision, limit=limit, count_only=count_only
        )
        reply = await self._unary(self._kv.Range, request, revision=revision)
        kvs = [self.codec.to_kv(kv) for kv in reply.kvs]
        return RangeReply(kvs, reply.header.revision, reply.more, reply.count)

    async def put(self, key: bytes, value: bytes) -> int:
        """An unconditional put (the benchmark's baseline); the new revision."""
        reply = await self._unary(self._kv.Put, rpc_pb2.PutRequest(key=key, value=value))
        revision: int = reply.header.revision
        return revision

    async def create(self, key: bytes, value: bytes) -> TxnReply:
        """Put ``key`` if it does not exist (its create_revision is 0)."""
        request = rpc_pb2.TxnRequest()
        _guard(request, key, expected=None)
        _put(request, key, value)
        reply = await self._unary(self._kv.Txn, request)
        return TxnReply(reply.succeeded, reply.header.revision, None)

    async def guarded_put(self, key: bytes, value: bytes, *, expected: int) -> TxnReply:
        """Put ``key`` if its mod_revision is ``expected`` (0: if it exists at all)."""
        request = rpc_pb2.TxnRequest()
        _guard(request, key, expected=expected)
        _put(request, key, value)
        request.failure.add().request_range.key = key
        return await self._guarded(request)

    async def guarded_delete(self, key: bytes, *, expected: int) -> TxnReply:
        """Delete ``key`` if its mod_revision is ``expected`` (0: if it exists at all)."""
        request = rpc_pb2.TxnRequest()
        _guard(request, key, expected=expected)
        delete = request.success.add().request_delete_range
        delete.key = key
        delete.prev_kv = True
        request.failure.add().request_range.key = key
        return await self._guarded(request)

    async def _guarded(self, request: Any) -> TxnReply:
        reply = await self._unary(self._kv.Txn, request)
        kvs: Any = ()
        if reply.responses:
            first = reply.responses[0]
            which = first.WhichOneof("response")
            if which == "response_range":
                kvs = first.response_range.kvs
            elif which == "response_delete_range":
                kvs = first.response_delete_range.prev_kvs
        kv = self.codec.to_kv(kvs[0]) if kvs else None
        return TxnReply(reply.succeeded, reply.header.revision, kv)

    async def compact(self, revision: int) -> None:
        request = rpc_pb2.CompactionRequest(revision=revision, physical=False)
        await self._unary(self._kv.Compact, request, revision=revision)

    def watch_stream(self) -> WatchStream:
        return WatchStream(self._watch, self.codec)


# Messages are filled in place: passing sub-messages to constructors copies them (and the value).
def _guard(request: Any, key: bytes, *, expected: int | None) -> None:
    """Compare the key's mod_revision with ``expected``; with 0 require only that the key
    exists (create_revision > 0), with None that it does not (create_revision == 0)."""
    compare = request.compare.add()
    compare.key = key
    if expected:
        compare.target = rpc_pb2.Compare.MOD
        compare.result = rpc_pb2.Compare.EQUAL
        compare.mod_revision = expected
    else:
        compare.target = rpc_pb2.Compare.CREATE
        compare.result = rpc_pb2.Compare.EQUAL if expected is None else rpc_pb2.Compare.GREATER
        compare.create_revision = 0


def _put(request: Any, key: bytes, value: bytes) -> None:
    put = request.success.add().request_put
    put.key = key
    put.value = value


class WatchStream:
    """One bidirectional Watch call carrying a single watcher.

    A read that is cancelled cancels the whole gRPC call, so the watch reads from one dedicated
    task; writes (create, progress requests) come from the consumer's task.
    """

    def __init__(self, stub: Any, codec: KeyCodec) -> None:
        self._codec = codec
        try:
            self._call: Any = stub.Watch(metadata=WATCH_METADATA)
        except grpc.aio.UsageError as err:
            raise Unavailable(f"etcd client is closed: {err}") from None

    async def create(self, key: bytes, range_end: bytes, *, start_revision: int) -> None:
        create = rpc_pb2.WatchCreateRequest(
            key=key, range_end=range_end, start_revision=start_revision, prev_kv=True
        )
        await self._write(rpc_pb2.WatchRequest(create_request=create))

    async def request_progress(self) -> None:
        await self._write(rpc_pb2.WatchRequest(progress_request=rpc_pb2.WatchProgressRequest()))

    async def _write(self, request: Any) -> None:
        try:
            await self._call.write(request)
        except grpc.aio.AioRpcError as err:
            raise rpc_error(err) from None
        except asyncio.InvalidStateError:
            raise Unavailable("the etcd watch stream has ended") from None
        except asyncio.CancelledError:
            if _cancelled_locally(self._call):
                raise Unavailable("the etcd watch stream was closed") from None
            raise

    async def read(self) -> WatchReply | None:
        """The next response, or None once etcd ends the stream."""
        try:
            reply = await self._call.read()
        except grpc.aio.AioRpcError as err:
            raise rpc_error(err) from None
        except asyncio.CancelledError:
            if _cancelled_locally(self._call):
                raise Unavailable("the etcd watch stream was closed") from None
            raise
        if reply is grpc.aio.EOF:
            return None
        return WatchReply(
            watch_id=reply.watch_id,
            revision=reply.header.revision,
            created=reply.created,
            canceled=reply.canceled,
            compact_revision=reply.compact_revision,
            cancel_reason=reply.cancel_reason,
            events=tuple(self._event(e) for e in reply.events),
        )

    def _event(self, event: Any) -> KVEvent:
        prev = self._codec.to_kv(event.prev_kv) if event.HasField("prev_kv") else None
        if event.type == kv_pb2.Event.DELETE:
            # etcd's tombstone has no create_revision; the contract's keeps the deleted life's.
            kv = KeyValue(
                self._codec.decode(event.kv.key),
                b"",
                prev.create_revision if prev else 0,
                event.kv.mod_revision,
            )
            return KVEvent(EventType.DELETE, kv, prev)
        return KVEvent(EventType.PUT, self._codec.to_kv(event.kv), prev)

    def cancel(self) -> None:
        """End the call; gRPC's own status task for it finishes a moment later, by itself."""
        self._call.cancel()
