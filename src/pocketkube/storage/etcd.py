"""The Backend on a real etcd v3 cluster, the datastore Kubernetes itself uses.

etcd already *is* the contract of :mod:`pocketkube.storage.backend`, so this layer mostly
translates: each write is one transaction that compares the key's create or mod revision and, when
the comparison fails, reads the key in the same round trip (which is how Conflict carries the
current value, as in ``k8s.io/apiserver/pkg/storage/etcd3``); reads are linearizable ranges at a
revision; watches are etcd watches (:mod:`pocketkube.storage.etcd_watch`). gRPC lives in
:mod:`pocketkube.storage.etcd_rpc`.

Two things etcd does not tell a client, and how we learn them:

- the compacted revision: reads below it fail, reads at or above it succeed, so a short binary
  search of zero-cost ranges finds it exactly; we remember the highest one seen;
- an endpoint list: ``etcd://a:2379,b:2379`` becomes one gRPC channel with the addresses of every
  member and round-robin balancing, so calls go to whichever members are up (as clientv3 does).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import grpc
from aetcd.rpc import rpc_pb2

from pocketkube.storage.backend import KeyValue, ListResult, Watch
from pocketkube.storage.errors import (
    AlreadyExists,
    Conflict,
    Expired,
    NotFound,
    StorageError,
    TooLargeResourceVersion,
    Unavailable,
)
from pocketkube.storage.etcd_rpc import EtcdRPC, KeyCodec
from pocketkube.storage.etcd_watch import EtcdWatch

DEFAULT_PORT = 2379
PLAIN_SCHEMES = ("etcd", "http")
TLS_SCHEMES = ("etcds", "https")
CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.service_config", json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})),
    ("grpc.max_receive_message_length", -1),
    # etcd refuses pings more often than every 5 s, and any ping on a connection without calls.
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 0),
    ("grpc.http2.max_pings_without_data", 0),
    # Come back quickly once a restarted member listens again.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2_000),
    # etcd is reached directly, never through an HTTP proxy from the environment.
    ("grpc.enable_http_proxy", 0),
]


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Parsed ``--datastore-endpoint``: member addresses and whether to use TLS."""

    addresses: tuple[tuple[str, int], ...]
    tls: bool


def parse_endpoint(endpoint: str) -> Endpoints:
    """``etcd://h1:2379,h2:2379`` (or ``http://``), ``etcds://`` / ``https://`` for TLS.

    Each comma-separated member may repeat the scheme (``https://a:2379,https://b:2379``).
    """
    scheme, sep, _ = endpoint.partition("://")
    if not sep or scheme not in PLAIN_SCHEMES + TLS_SCHEMES:
        raise ValueError(f"not an etcd endpoint: {endpoint!r} (use etcd://HOST:PORT[,HOST:PORT])")
    addresses: list[tuple[str, int]] = []
    for item in endpoint.split(","):
        item = item.strip()
        member_scheme, sep, rest = item.partition("://")
        if not sep:
            rest = item
        elif (member_scheme in TLS_SCHEMES) != (scheme in TLS_SCHEMES):
            raise ValueError(f"etcd endpoint {endpoint!r} mixes TLS and plain members")
        hostport = rest.split("/", 1)[0]
        if hostport:
            addresses.append(_host_port(hostport, endpoint))
    if not addresses:
        raise ValueError(f"etcd endpoint {endpoint!r} names no member")
    return Endpoints(tuple(addresses), tls=scheme in TLS_SCHEMES)


def _host_port(hostport: str, endpoint: str) -> tuple[str, int]:
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        port = rest.removeprefix(":")
    elif hostport.count(":") == 1:
        host, port = hostport.split(":")
    else:
        host, port = hostport, ""
    try:
        return host, int(port) if port else DEFAULT_PORT
    except ValueError:
        raise ValueError(f"bad port in etcd endpoint {endpoint!r}") from None


def _ip_family(host: str) -> int | None:
    try:
        return ipaddress.ip_address(host).version
    except ValueError:
        return None


def _join(addresses: list[tuple[str, int]], family: int) -> str:
    if family == 6:
        return "ipv6:" + ",".join(f"[{host}]:{port}" for host, port in addresses)
    return "ipv4:" + ",".join(f"{host}:{port}" for host, port in addresses)


async def channel_target(addresses: tuple[tuple[str, int], ...]) -> str:
    """A gRPC target for the members: one name as is, several as a resolved address list."""
    if len(addresses) == 1:
        host, port = addresses[0]
        return f"[{host}]:{port}" if _ip_family(host) == 6 else f"{host}:{port}"
    families = {_ip_family(host) for host, _ in addresses}
    if families in ({4}, {6}):
        return _join(list(addresses), families.pop() or 4)
    loop = asyncio.get_running_loop()
    resolved: dict[int, list[tuple[str, int]]] = {4: [], 6: []}
    for host, port in addresses:
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as err:
            raise Unavailable(f"cannot resolve etcd member {host}: {err}") from None
        for address_family, _, _, _, sockaddr in infos:
            version = 6 if address_family == socket.AF_INET6 else 4
            address = (str(sockaddr[0]), port)
            if address not in resolved[version]:
                resolved[version].append(address)
    family = 4 if resolved[4] else 6
    return _join(resolved[family], family)


class EtcdBackend:
    """A :class:`~pocketkube.storage.backend.Backend` on etcd v3 (see the module docstring)."""

    name = "etcd"

    def __init__(
        self,
        *,
        endpoints: Endpoints,
        key_prefix: str = "",
        credentials: Any = None,
        timeout: float = 5.0,
        connect_timeout: float = 5.0,
    ) -> None:
        if endpoints.tls and credentials is None:
            credentials = grpc.ssl_channel_credentials()
        self.endpoints = endpoints
        self.codec = KeyCodec(key_prefix)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._credentials = credentials
        self._rpc: EtcdRPC | None = None
        self._watches: set[EtcdWatch] = set()
        self._compacted = 0
        self._starting = asyncio.Lock()

    @classmethod
    def from_endpoint(
        cls,
        endpoint: str,
        *,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        key_prefix: str = "",
        timeout: float = 5.0,
        connect_timeout: float = 5.0,
    ) -> Self:
        """A backend for ``endpoint``; TLS files are read now, the connection opens in start()."""
        endpoints = parse_endpoint(endpoint)
        if not endpoints.tls and (ca_file or cert_file or key_file):
            raise ValueError(
                f"TLS files were given for the plain endpoint {endpoint!r}: use etcds:// or https://"
            )
        credentials = None
        if endpoints.tls:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=_read(ca_file),
                private_key=_read(key_file),
                certificate_chain=_read(cert_file),
            )
        return cls(
            endpoints=endpoints,
            key_prefix=key_prefix,
            credentials=credentials,
            timeout=timeout,
            connect_timeout=connect_timeout,
        )

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        async with self._starting:
            if self._rpc is None:
                self._rpc = await self._connect()

    async def _connect(self) -> EtcdRPC:
        target = await channel_target(self.endpoints.addresses)
        options = list(CHANNEL_OPTIONS)
        if self._credentials is None:
            channel = grpc.aio.insecure_channel(target, options=options)
        else:
            if len(self.endpoints.addresses) > 1:
                # An address list has no host name to check certificates against: use the first
                # member's, which etcd certificates list among their names.
                options.append(("grpc.ssl_target_name_override", self.endpoints.addresses[0][0]))
            channel = grpc.aio.secure_channel(target, self._credentials, options=options)
        try:
            await asyncio.wait_for(channel.channel_ready(), self.connect_timeout)
        except BaseException as err:
            await channel.close()
            if not isinstance(err, TimeoutError):
                raise
            members = ", ".join(f"{h}:{p}" for h, p in self.endpoints.addresses)
            raise Unavailable(
                f"etcd did not answer at {members} within {self.connect_timeout} s"
            ) from None
        return EtcdRPC(channel, codec=self.codec, timeout=self.timeout)

    async def close(self) -> None:
        for watch in list(self._watches):
            await watch.close()
        rpc, self._rpc = self._rpc, None
        if rpc is not None:
            await rpc.channel.close()

    @property
    def rpc(self) -> EtcdRPC:
        if self._rpc is None:
            raise Unavailable("the etcd backend is not started")
        return self._rpc

    # -- revisions -----------------------------------------------------------------------------
    def _probe_key(self) -> bytes:
        return self.codec.encode("") or b"/"

    async def current_revision(self) -> int:
        return (await self.rpc.range(self._probe_key(), count_only=True)).revision

    async def _readable(self, revision: int) -> bool:
        try:
            await self.rpc.range(self._probe_key(), revision=revision, count_only=True)
        except Expired:
            return False
        return True

    async def compacted_revision(self) -> int:
        """The highest compaction, found by bisecting reads (see the module docstring)."""
        known = self._compacted
        if await self._readable(max(known, 1)):
            return known
        # The smallest readable revision lies in [low, high]: `known` is unreadable, now is not.
        low, high = known + 1, await self.current_revision()
        while low < high:
            middle = (low + high) // 2
            if await self._readable(middle):
                high = middle
            else:
                low = middle + 1
        self._compacted = max(self._compacted, high)
        return self._compacted

    async def _enrich(self, err: StorageError) -> StorageError:
        """Fill in what etcd's error text leaves out: the compacted and current revisions."""
        try:
            if isinstance(err, Expired):
                return Expired(err.message, compacted_revision=await self.compacted_revision())
            if isinstance(err, TooLargeResourceVersion):
                current = await self.current_revision()
                return TooLargeResourceVersion(
                    err.message, requested=err.requested, current=current
                )
        except StorageError:
            pass
        return err

    # -- reads ---------------------------------------------------------------------------------
    async def get(self, key: str, *, revision: int = 0) -> tuple[KeyValue | None, int]:
        try:
            reply = await self.rpc.range(self.codec.encode(key), revision=revision)
        except (Expired, TooLargeResourceVersion) as err:
            raise await self._enrich(err) from None
        return (reply.kvs[0] if reply.kvs else None), revision or reply.revision

    async def list(
        self, prefix: str, *, start_key: str = "", revision: int = 0, limit: int = 0
    ) -> ListResult:
        begin, end = self.codec.span(prefix)
        if start_key > prefix:
            begin = self.codec.encode(start_key)
        try:
            reply = await self.rpc.range(begin, end, revision=revision, limit=limit)
        except (Expired, TooLargeResourceVersion) as err:
            raise await self._enrich(err) from None
        return ListResult(kvs=reply.kvs, revision=revision or reply.revision, more=reply.more)

    async def count(self, prefix: str, *, start_key: str = "", revision: int = 0) -> int:
        begin, end = self.codec.span(prefix)
        if start_key > prefix:
            begin = self.codec.encode(start_key)
        try:
            reply = await self.rpc.range(begin, end, revision=revision, count_only=True)
        except (Expired, TooLargeResourceVersion) as err:
            raise await self._enrich(err) from None
        return reply.count

    # -- writes --------------------------------------------------------------------------------
    async def create(self, key: str, value: bytes) -> int:
        reply = await self.rpc.create(self.codec.encode(key), value)
        if not reply.succeeded:
            raise AlreadyExists(f"key {key} already exists", key=key)
        return reply.revision

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> int:
        reply = await self.rpc.guarded_put(
            self.codec.encode(key), value, expected=expected_revision
        )
        if not reply.succeeded:
            raise _failed_guard(key, expected_revision, reply.kv)
        return reply.revision

    async def delete(self, key: str, *, expected_revision: int = 0) -> tuple[int, KeyValue]:
        reply = await self.rpc.guarded_delete(self.codec.encode(key), expected=expected_revision)
        if not reply.succeeded or reply.kv is None:
            raise _failed_guard(key, expected_revision, reply.kv if not reply.succeeded else None)
        return reply.revision, reply.kv

    # -- watch and compaction ------------------------------------------------------------------
    def watch(
        self,
        key: str,
        *,
        prefix: bool = True,
        start_revision: int = 0,
        progress_interval: float | None = None,
    ) -> Watch:
        begin, end = self.codec.span(key) if prefix else (self.codec.encode(key), b"")
        return EtcdWatch(
            backend=self,
            key=begin,
            range_end=end,
            start_revision=start_revision,
            progress_interval=progress_interval,
        )

    async def range_count(self, key: bytes, range_end: bytes, revision: int) -> int:
        """How many keys of the encoded range [key, range_end) lived at ``revision``."""
        if revision <= 0:
            return 0  # before the first write
        try:
            reply = await self.rpc.range(key, range_end, revision=revision, count_only=True)
        except (Expired, TooLargeResourceVersion) as err:
            raise await self._enrich(err) from None
        return reply.count

    async def unchanged_since(self, key: bytes, range_end: bytes, revision: int, count: int) -> int:
        """The current revision if the encoded range [key, range_end) still holds ``count`` keys
        and none of them was written after ``revision``; 0 if something changed.

        One read-only transaction, so both hold at the revision returned: a comparison of every
        key's mod_revision (etcd compares each key of a range, and an empty range passes) and a
        count. With the count at ``revision`` this proves that no event happened in the range
        after ``revision`` except keys created and deleted again in between, which leave the
        range's state as it was (see :mod:`pocketkube.storage.etcd_watch` for why watches need it).
        """
        # The transaction is built here rather than in etcd_rpc, whose calls cover reads and
        # guarded writes of single keys.
        request = rpc_pb2.TxnRequest()
        compare = request.compare.add()
        compare.key = key
        compare.range_end = range_end
        compare.target = rpc_pb2.Compare.MOD
        compare.result = rpc_pb2.Compare.LESS
        compare.mod_revision = revision + 1
        counted = request.success.add().request_range
        counted.key = key
        counted.range_end = range_end
        counted.count_only = True
        reply = await self.rpc._unary(self.rpc._kv.Txn, request)
        if not reply.succeeded or reply.responses[0].response_range.count != count:
            return 0
        current: int = reply.header.revision
        return current

    def _watch_opened(self, watch: EtcdWatch) -> None:
        self._watches.add(watch)

    def _watch_closed(self, watch: EtcdWatch) -> None:
        self._watches.discard(watch)

    def _saw_compaction(self, revision: int) -> None:
        self._compacted = max(self._compacted, revision)

    async def compact(self, revision: int) -> None:
        if revision <= 0:
            return
        try:
            await self.rpc.compact(revision)
        except Expired:
            return  # already compacted at or beyond it
        except TooLargeResourceVersion:
            revision = await self.current_revision()
            try:
                await self.rpc.compact(revision)
            except Expired:
                return
        self._saw_compaction(revision)


def _failed_guard(key: str, expected_revision: int, current: KeyValue | None) -> StorageError:
    if current is None:
        return NotFound(f"key {key} not found", key=key)
    return Conflict(
        f"key {key} is at revision {current.mod_revision}, not {expected_revision}",
        key=key,
        current=current,
    )


def _read(path: str | None) -> bytes | None:
    return Path(path).read_bytes() if path else None
