"""Allocating service cluster IPs and node ports without duplicates, even under concurrency.

As upstream's ``RangeAllocation`` registry: each range keeps one stored object whose ``data`` is a
bitmap of what is taken; allocation is a guaranteed_update of that object, so two API server
requests (or two API servers) racing for the same address conflict in the datastore and one
retries, instead of both winning.
"""

from __future__ import annotations

import base64
import ipaddress
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from pocketkube.storage.errors import NotFound
from pocketkube.storage.interface import Obj, Storage


class RangeFull(Exception):
    """Every value of the range is taken."""


class AlreadyAllocated(Exception):
    """The value asked for is taken."""


class OutOfRange(Exception):
    """The value asked for is not in the range."""


@dataclass(frozen=True)
class IntRange:
    """``size`` consecutive integers from ``base``; a bitmap index is ``value - base``."""

    base: int
    size: int
    description: str

    def index(self, value: int) -> int:
        if not self.base <= value < self.base + self.size:
            raise OutOfRange(f"{self.show(value)} is not in the range {self.description}")
        return value - self.base

    def show(self, value: int) -> str:
        return str(value)


@dataclass(frozen=True)
class IPRange(IntRange):
    def show(self, value: int) -> str:
        return str(ipaddress.ip_address(value))


def service_ip_range(cidr: str) -> IPRange:
    """A service CIDR without its network and broadcast addresses (as upstream)."""
    network = ipaddress.ip_network(cidr)
    first = int(network.network_address) + 1
    size = min(network.num_addresses - 2, 1 << 20)
    return IPRange(first, size, cidr)


NODE_PORTS = IntRange(30000, 2768, "30000-32767")


class RangeAllocator:
    def __init__(self, *, storage: Storage, key: str, span: IntRange) -> None:
        self._storage = storage
        self._key = key
        self.span = span

    def _empty(self) -> Obj:
        name = self._key.rsplit("/", 1)[-1]
        return {"metadata": {"name": name}, "range": self.span.description, "data": ""}

    async def _update(self, change: Callable[[bytearray], int]) -> int:
        chosen: list[int] = []

        async def apply(current: Obj | None) -> Obj:
            obj = current if current is not None else self._empty()
            bits = bytearray(base64.b64decode(obj.get("data", "")))
            bits.extend(b"\0" * (self.span.size // 8 + 1 - len(bits)))
            chosen.clear()
            chosen.append(change(bits))
            obj["data"] = base64.b64encode(bytes(bits)).decode()
            return obj

        await self._storage.guaranteed_update(self._key, apply, ignore_not_found=True)
        return chosen[0]

    async def allocate(self, value: int | None = None) -> int:
        """Take ``value``, or a random free value when None."""
        span = self.span

        def take(bits: bytearray) -> int:
            if value is not None:
                index = span.index(value)
                if bits[index // 8] & (1 << (index % 8)):
                    raise AlreadyAllocated(f"provided {span.show(value)} is already allocated")
            else:
                index = _free_index(bits, span.size)
            bits[index // 8] |= 1 << (index % 8)
            return span.base + index

        return await self._update(take)

    async def release(self, value: int) -> None:
        try:
            index = self.span.index(value)
        except OutOfRange:
            return

        def free(bits: bytearray) -> int:
            bits[index // 8] &= ~(1 << (index % 8)) & 0xFF
            return value

        try:
            await self._update(free)
        except NotFound:
            return


def _free_index(bits: bytearray, size: int) -> int:
    start = secrets.randbelow(size)
    for offset in range(size):
        index = (start + offset) % size
        if not bits[index // 8] & (1 << (index % 8)):
            return index
    raise RangeFull("range is full")
