"""nodeipam: gives every Node a pod CIDR from the cluster CIDR (upstream's
``pkg/controller/nodeipam`` with its RangeAllocator, whose events come from ``cidrAllocator``).

Only with ``--allocate-node-cidrs`` and a ``--cluster-cidr`` (comma-separated: one per IP
family); otherwise it declines to run, as upstream's ``startNodeIpamController`` does. The
cluster CIDR is cut into blocks of ``--node-cidr-mask-size`` (24 for IPv4; 64 for IPv6); those
overlapping ``--service-cluster-ip-range`` are never handed out. At start the blocks of nodes
that already have ``spec.podCIDRs`` are marked used; then a node without one gets the next free
block per family (a rotating cursor, as upstream's cidrset) written to ``spec.podCIDR`` and
``spec.podCIDRs``; a deleted node's blocks are released. No block left → ``CIDRNotAvailable``;
a failed write → ``CIDRAssignmentFailed`` (events on the node, "Node x status is now: ...").
"""

from __future__ import annotations

import copy
import ipaddress
import logging
from collections.abc import Sequence

from pocketkube.client import resources
from pocketkube.client.clock import Clock
from pocketkube.client.informer import Informer
from pocketkube.client.rest import ApiError, Obj
from pocketkube.controllers.base import ApiClient, Controller, IgnorableError
from pocketkube.controllers.context import ConfigError, Context, Recorder

log = logging.getLogger(__name__)

NAME = "nodeipam"
COMPONENT = "cidrAllocator"
IPV6_MASK_SIZE = 64
MAX_MASK_DIFF = 16  # upstream's cidrset refuses more than 2^16 blocks

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class CIDRSet:
    """Blocks of one size within one cluster CIDR, with a used bitmap (upstream's cidrset)."""

    def __init__(self, cluster: Network, mask_size: int) -> None:
        if mask_size < cluster.prefixlen or mask_size > cluster.max_prefixlen:
            raise ConfigError(
                f"--node-cidr-mask-size {mask_size} does not fit cluster CIDR {cluster}"
            )
        if mask_size - cluster.prefixlen > MAX_MASK_DIFF:
            raise ConfigError(
                f"CIDRSet subnet mask size is too large: cluster CIDR {cluster} with mask size "
                f"{mask_size} has more than 2^{MAX_MASK_DIFF} blocks"
            )
        self.cluster = cluster
        self.mask_size = mask_size
        self.max_cidrs = 1 << (mask_size - cluster.prefixlen)
        self._block = 1 << (cluster.max_prefixlen - mask_size)
        self._used: set[int] = set()
        self._next = 0

    def _index(self, cidr: Network) -> int:
        return (int(cidr.network_address) - int(self.cluster.network_address)) // self._block

    def _cidr(self, index: int) -> Network:
        address = int(self.cluster.network_address) + index * self._block
        return ipaddress.ip_network((address, self.mask_size))

    def _indices(self, cidr: Network) -> range:
        """The block indices ``cidr`` covers (clipped to the cluster CIDR)."""
        if cidr.version != self.cluster.version or not cidr.overlaps(self.cluster):
            return range(0)
        start = max(int(cidr.network_address), int(self.cluster.network_address))
        end = min(int(cidr.broadcast_address), int(self.cluster.broadcast_address))
        base = int(self.cluster.network_address)
        return range((start - base) // self._block, (end - base) // self._block + 1)

    def allocate_next(self) -> Network | None:
        for step in range(self.max_cidrs):
            candidate = (self._next + step) % self.max_cidrs
            if candidate not in self._used:
                self._used.add(candidate)
                self._next = (candidate + 1) % self.max_cidrs
                return self._cidr(candidate)
        return None

    def occupy(self, cidr: Network) -> None:
        self._used.update(self._indices(cidr))

    def release(self, cidr: Network) -> None:
        self._used.difference_update(self._indices(cidr))

    @property
    def used(self) -> int:
        return len(self._used)


def parse_cidrs(value: str) -> list[Network]:
    try:
        return [ipaddress.ip_network(v.strip()) for v in value.split(",") if v.strip()]
    except ValueError as err:
        raise ConfigError(f"invalid CIDR {value!r}: {err}") from None


def pod_cidrs(node: Obj) -> list[str]:
    spec = node.get("spec") or {}
    cidrs = list(spec.get("podCIDRs") or ())
    if not cidrs and spec.get("podCIDR"):
        cidrs = [spec["podCIDR"]]
    return [str(c) for c in cidrs]


class NodeIpamController(Controller):
    name = NAME

    def __init__(
        self,
        *,
        client: ApiClient,
        node_informer: Informer,
        recorder: Recorder,
        cidr_sets: list[CIDRSet],
        service_cidrs: Sequence[Network] = (),
        clock: Clock | None = None,
    ) -> None:
        super().__init__(informers=[node_informer], workers=1, clock=clock)
        self._client = client
        self._nodes = node_informer.store
        self._recorder = recorder
        self.cidr_sets = cidr_sets
        self._allocated: dict[str, list[str]] = {}  # node -> the CIDRs it holds
        self._started = False
        for service in service_cidrs:
            for cidr_set in cidr_sets:
                cidr_set.occupy(service)
        node_informer.add_handler(
            on_add=self.enqueue, on_update=self.enqueue_update, on_delete=self.enqueue
        )

    def occupy_existing(self) -> None:
        """Mark the CIDRs of the nodes already listed as used (upstream does it at start)."""
        if self._started:
            return
        self._started = True
        for node in self._nodes.list():
            self._occupy(node)

    async def run(self) -> None:
        for informer in self._informers:
            await informer.wait_synced()
        self.occupy_existing()
        await super().run()

    def _occupy(self, node: Obj) -> None:
        name = str((node.get("metadata") or {}).get("name", ""))
        cidrs = pod_cidrs(node)
        for text in cidrs:
            try:
                cidr = ipaddress.ip_network(text, strict=False)
            except ValueError:
                log.warning("%s: node %s has an invalid pod CIDR %r", self.name, name, text)
                continue
            for cidr_set in self.cidr_sets:
                cidr_set.occupy(cidr)
        if cidrs:
            self._allocated[name] = cidrs

    def _release(self, name: str) -> None:
        for text in self._allocated.pop(name, ()):
            try:
                cidr = ipaddress.ip_network(text, strict=False)
            except ValueError:
                continue
            for cidr_set in self.cidr_sets:
                cidr_set.release(cidr)

    def _event(self, node: Obj, status: str) -> None:
        name = str((node.get("metadata") or {}).get("name", ""))
        self._recorder.post(
            node,
            type="Normal",
            reason=status,
            action=status,
            note=f"Node {name} status is now: {status}",
        )

    async def sync(self, key: str) -> None:
        self.occupy_existing()
        node = self._nodes.get(key)
        if node is None:
            self._release(key)
            return
        if pod_cidrs(node):
            self._occupy(node)
            return
        allocated: list[Network] = []
        for cidr_set in self.cidr_sets:
            cidr = cidr_set.allocate_next()
            if cidr is None:
                for done, owner in zip(allocated, self.cidr_sets, strict=False):
                    owner.release(done)
                self._event(node, "CIDRNotAvailable")
                # retried with backoff: a node going away may free a block
                raise IgnorableError(
                    f"no CIDR left in {cidr_set.cluster} for node {key}: CIDR allocation "
                    "failed; there are no remaining CIDRs left to allocate in the accepted range"
                )
            allocated.append(cidr)
        texts = [str(c) for c in allocated]
        updated = copy.deepcopy(node)
        spec = updated.setdefault("spec", {})
        spec["podCIDR"], spec["podCIDRs"] = texts[0], texts
        try:
            await self._client.update(resources.NODES.path(name=key), updated)
        except ApiError as err:
            for done, owner in zip(allocated, self.cidr_sets, strict=True):
                owner.release(done)
            if err.not_found:
                return
            if not err.conflict:
                self._event(node, "CIDRAssignmentFailed")
            raise
        self._allocated[key] = texts
        log.info("%s: node %s gets pod CIDRs %s", self.name, key, texts)


def build(ctx: Context) -> Controller | None:
    opts = ctx.options
    if not opts.allocate_node_cidrs:
        log.info("skipping node IPAM: --allocate-node-cidrs is off")
        return None
    clusters = parse_cidrs(opts.cluster_cidr)
    if not clusters:
        raise ConfigError("--allocate-node-cidrs needs --cluster-cidr")
    cidr_sets = [
        CIDRSet(c, opts.node_cidr_mask_size if c.version == 4 else IPV6_MASK_SIZE) for c in clusters
    ]
    return NodeIpamController(
        client=ctx.client,
        node_informer=ctx.informers.informer(resources.NODES),
        recorder=ctx.recorder(COMPONENT),
        cidr_sets=cidr_sets,
        service_cidrs=parse_cidrs(opts.service_cluster_ip_range),
        clock=ctx.clock,
    )
