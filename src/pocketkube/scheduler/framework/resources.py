"""What a pod asks for and what a node offers, in the units the scheduler compares.

CPU is counted in millicores, memory and ephemeral storage in bytes, ``pods`` and extended
resources (``example.com/gpu``, ``hugepages-2Mi``, ...) in whole units. A pod's request is
upstream's ``PodRequests``: the sum of its containers and restartable init containers
(sidecars), or the largest single init container with the sidecars started before it, whichever
is larger, plus the pod overhead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pocketkube.api.quantity import QuantityError, milli_value, value

CPU = "cpu"
MEMORY = "memory"
EPHEMERAL_STORAGE = "ephemeral-storage"
PODS = "pods"

# Requests assumed for a container that names none, for spreading scores only (upstream's
# DefaultMilliCPURequest and DefaultMemoryRequest).
DEFAULT_MILLI_CPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024


def amount(resource: str, quantity: Any) -> int:
    """A quantity in the scheduler's unit for ``resource``; 0 when it cannot be parsed."""
    try:
        return milli_value(quantity) if resource == CPU else value(quantity)
    except QuantityError:
        return 0


@dataclass(slots=True)
class Resource:
    """A bag of resource amounts (upstream's ``framework.Resource``)."""

    milli_cpu: int = 0
    memory: int = 0
    ephemeral_storage: int = 0
    allowed_pod_number: int = 0
    scalar: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_list(cls, resources: Mapping[str, Any] | None) -> Resource:
        result = cls()
        for name, quantity in (resources or {}).items():
            result.set(name, amount(name, quantity))
        return result

    def get(self, name: str) -> int:
        if name == CPU:
            return self.milli_cpu
        if name == MEMORY:
            return self.memory
        if name == EPHEMERAL_STORAGE:
            return self.ephemeral_storage
        if name == PODS:
            return self.allowed_pod_number
        return self.scalar.get(name, 0)

    def set(self, name: str, amount_: int) -> None:
        if name == CPU:
            self.milli_cpu = amount_
        elif name == MEMORY:
            self.memory = amount_
        elif name == EPHEMERAL_STORAGE:
            self.ephemeral_storage = amount_
        elif name == PODS:
            self.allowed_pod_number = amount_
        else:
            self.scalar[name] = amount_

    def names(self) -> Iterable[str]:
        yield CPU
        yield MEMORY
        yield EPHEMERAL_STORAGE
        yield from self.scalar

    def add(self, other: Resource, sign: int = 1) -> None:
        self.milli_cpu += sign * other.milli_cpu
        self.memory += sign * other.memory
        self.ephemeral_storage += sign * other.ephemeral_storage
        self.allowed_pod_number += sign * other.allowed_pod_number
        for name, amount_ in other.scalar.items():
            self.scalar[name] = self.scalar.get(name, 0) + sign * amount_

    def set_max(self, other: Resource) -> None:
        self.milli_cpu = max(self.milli_cpu, other.milli_cpu)
        self.memory = max(self.memory, other.memory)
        self.ephemeral_storage = max(self.ephemeral_storage, other.ephemeral_storage)
        for name, amount_ in other.scalar.items():
            self.scalar[name] = max(self.scalar.get(name, 0), amount_)

    def clone(self) -> Resource:
        return Resource(
            self.milli_cpu,
            self.memory,
            self.ephemeral_storage,
            self.allowed_pod_number,
            dict(self.scalar),
        )


def _container_requests(container: Mapping[str, Any], *, non_zero: bool = False) -> Resource:
    resources = container.get("resources") or {}
    # The API server defaults a missing request to the limit; read both for objects that
    # were never defaulted (tests, other servers).
    merged = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
    requests = Resource.from_list(merged)
    if non_zero:  # only a missing request gets the default; an explicit 0 stays 0 (upstream)
        if CPU not in merged:
            requests.milli_cpu = DEFAULT_MILLI_CPU_REQUEST
        if MEMORY not in merged:
            requests.memory = DEFAULT_MEMORY_REQUEST
    return requests


def _is_sidecar(container: Mapping[str, Any]) -> bool:
    return container.get("restartPolicy") == "Always"


def pod_requests(pod: Mapping[str, Any], *, non_zero: bool = False) -> Resource:
    spec = pod.get("spec") or {}
    total = Resource()
    for container in spec.get("containers") or ():
        total.add(_container_requests(container, non_zero=non_zero))
    sidecars = Resource()
    init_max = Resource()
    for container in spec.get("initContainers") or ():
        requests = _container_requests(container, non_zero=non_zero)
        if _is_sidecar(container):
            sidecars.add(requests)
            init_max.set_max(sidecars)
        else:
            requests.add(sidecars)
            init_max.set_max(requests)
    total.add(sidecars)
    total.set_max(init_max)
    if spec.get("overhead"):
        total.add(Resource.from_list(spec["overhead"]))
    return total


def pod_non_zero_requests(pod: Mapping[str, Any]) -> tuple[int, int]:
    """(millicores, bytes) with the defaults for containers that name no cpu or memory
    request, for scoring (upstream's NonMissingContainerRequests)."""
    requests = pod_requests(pod, non_zero=True)
    return requests.milli_cpu, requests.memory
