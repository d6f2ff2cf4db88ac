"""Capacity and allocatable: what the node has, and what the scheduler may hand out.

Capacity is the machine (cAdvisor's ``CapacityFromMachineInfo`` plus ``pods``); allocatable is
capacity minus what the kubelet keeps back (upstream's ``GetNodeAllocatableReservation``):
kube-reserved and system-reserved (none by default) and the hard eviction thresholds, so that
pods scheduled up to allocatable do not by themselves push the node into eviction — 100Mi of
memory and 10% of the root filesystem by default. Hugepages are taken out of allocatable
memory, as they are pre-allocated and cannot back ordinary pages.

Quantities are written the way ``resource.Quantity`` canonicalises them, so that an unchanged
node compares equal to what the API server stored: CPU as a decimal count of cores, bytes in
binary SI with the largest exact suffix (``16318708Ki``), values under 1024 as plain numbers.
"""

from __future__ import annotations

from collections.abc import Mapping

from pocketkube.kubelet.node.machineinfo import MachineInfo

DEFAULT_MAX_PODS = 110
_BINARY_SUFFIXES = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")

REQUIRED_CAPACITY = ("cpu", "memory", "pods", "ephemeral-storage")


def binary_si(amount: int) -> str:
    """An integer number of bytes as a canonical binary-SI quantity."""
    if -1024 < amount < 1024:
        return str(amount)
    exponent = 0
    while amount % 1024 == 0 and exponent < len(_BINARY_SUFFIXES) - 1:
        amount //= 1024
        exponent += 1
    return f"{amount}{_BINARY_SUFFIXES[exponent]}"


def hugepage_resource(page_size: int) -> str:
    """``hugepages-2Mi`` for 2 MiB pages."""
    return f"hugepages-{binary_si(page_size)}"


def capacity(info: MachineInfo, *, max_pods: int = DEFAULT_MAX_PODS) -> dict[str, int]:
    """The node's capacity as exact integers (cpu in millicores, the rest in units)."""
    result = {
        "cpu": info.num_cores * 1000,
        "memory": info.memory_capacity,
        "ephemeral-storage": info.ephemeral_storage,
        "pods": max_pods,
    }
    for size, pages in info.hugepages.items():
        result[hugepage_resource(size)] = size * pages
    return result


def allocatable(capacity: Mapping[str, int], reserved: Mapping[str, int]) -> dict[str, int]:
    """Capacity minus reservations, never negative; hugepages come out of memory."""
    result = {name: max(0, value - reserved.get(name, 0)) for name, value in capacity.items()}
    hugepages = sum(value for name, value in capacity.items() if name.startswith("hugepages-"))
    if "memory" in result:
        result["memory"] = max(0, result["memory"] - hugepages)
    return result


def format_resources(values: Mapping[str, int]) -> dict[str, str]:
    """Exact integers (cpu in millicores) as the API's quantity strings."""
    return {name: format_quantity(name, value) for name, value in values.items()}


def format_quantity(name: str, value: int) -> str:
    if name == "cpu":
        cores, milli = divmod(value, 1000)
        return f"{cores}" if milli == 0 else f"{value}m"
    if name == "pods":
        return str(value)
    return binary_si(value)
