"""The Service registry: cluster IPs from the service CIDR and node ports from 30000-32767.

A new service gets the address it asks for (422 when taken or out of range) or a free one;
headless (``clusterIP: None``) and ExternalName services get none. Addresses go back when the
service is deleted, or when storing it fails.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Awaitable, Callable
from typing import Any

from pocketkube.api import status
from pocketkube.api.status import StatusError
from pocketkube.api.validation import invalid
from pocketkube.apiserver.allocator import (
    NODE_PORTS,
    AlreadyAllocated,
    OutOfRange,
    RangeAllocator,
    RangeFull,
    service_ip_range,
)
from pocketkube.apiserver.registry import ResourceInfo, ResourceRegistry
from pocketkube.storage.interface import Obj, Storage

DEFAULT_SERVICE_CIDR = "10.43.0.0/16"
RANGES_PREFIX = "/registry/ranges/"


class ServiceRegistry(ResourceRegistry):
    def __init__(
        self,
        *,
        info: ResourceInfo,
        storage: Storage,
        ranges: Storage,
        service_cidr: str = DEFAULT_SERVICE_CIDR,
    ) -> None:
        super().__init__(info=info, storage=storage)
        self.ips = RangeAllocator(
            storage=ranges, key=RANGES_PREFIX + "serviceips", span=service_ip_range(service_cidr)
        )
        self.node_ports = RangeAllocator(
            storage=ranges, key=RANGES_PREFIX + "servicenodeports", span=NODE_PORTS
        )

    def _invalid(self, obj: Obj, field: str, value: Any, detail: str) -> StatusError:
        name = str(obj["metadata"].get("name", ""))
        return StatusError(status.invalid("Service", name, [invalid(field, value, detail)]))

    async def allocate(self, obj: Obj) -> None:
        spec = obj["spec"]
        taken: list[tuple[RangeAllocator, int]] = []
        try:
            if spec.get("type") != "ExternalName" and spec.get("clusterIP") != "None":
                asked = spec.get("clusterIP") or None
                value = int(ipaddress.ip_address(asked)) if asked else None
                ip = str(ipaddress.ip_address(await self.ips.allocate(value)))
                taken.append((self.ips, int(ipaddress.ip_address(ip))))
                spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
            elif spec.get("clusterIP") == "None":
                spec["clusterIPs"] = ["None"]
            if spec.get("type") in ("NodePort", "LoadBalancer"):
                for i, port in enumerate(spec.get("ports") or []):
                    if spec.get("type") == "LoadBalancer" and not spec.get(
                        "allocateLoadBalancerNodePorts", True
                    ):
                        break
                    try:
                        port["nodePort"] = await self.node_ports.allocate(port.get("nodePort"))
                    except (AlreadyAllocated, OutOfRange, RangeFull) as err:
                        raise self._invalid(
                            obj, f"spec.ports[{i}].nodePort", port.get("nodePort"), str(err)
                        ) from None
                    taken.append((self.node_ports, port["nodePort"]))
        except (AlreadyAllocated, OutOfRange, RangeFull, ValueError) as err:
            await _give_back(taken)
            raise self._invalid(
                obj, "spec.clusterIPs", [spec.get("clusterIP")], f"failed to allocate IP: {err}"
            ) from None
        except StatusError:
            await _give_back(taken)
            raise

    async def update(
        self,
        namespace: str,
        name: str,
        mutate: Callable[[Obj], Awaitable[Obj]],
        *,
        dry_run: bool,
    ) -> Obj:
        async def keeping(current: Obj) -> Obj:
            return keep_addresses(await mutate(current), current)

        return await super().update(namespace, name, keeping, dry_run=dry_run)

    async def release(self, obj: Obj) -> None:
        spec = obj.get("spec", {})
        ip = spec.get("clusterIP")
        if ip and ip != "None":
            with contextlib.suppress(ValueError):
                await self.ips.release(int(ipaddress.ip_address(ip)))
        for port in spec.get("ports") or []:
            if isinstance(port, dict) and isinstance(port.get("nodePort"), int):
                await self.node_ports.release(port["nodePort"])


async def _give_back(taken: list[tuple[RangeAllocator, int]]) -> None:
    for allocator, value in taken:
        await allocator.release(value)


def keep_addresses(desired: Obj, current: Obj) -> Obj:
    """An update that leaves out the service's addresses keeps them (as upstream defaults them
    from the old object)."""
    spec = desired.setdefault("spec", {})
    old = current.get("spec", {})
    if not isinstance(spec, dict):
        return desired
    for field in ("clusterIP", "clusterIPs"):
        if not spec.get(field) and old.get(field):
            spec[field] = old[field]
    old_ports = {
        (p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
        for p in old.get("ports") or []
        if isinstance(p, dict)
    }
    for port in spec.get("ports") or []:
        if isinstance(port, dict) and not port.get("nodePort"):
            found = old_ports.get((port.get("port"), port.get("protocol", "TCP")))
            if found:
                port["nodePort"] = found
    return desired
