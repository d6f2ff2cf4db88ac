"""How NodeResourcesFit and NodeResourcesBalancedAllocation score a node's resources.

The scoring strategies of NodeResourcesFit (LeastAllocated spreads pods, MostAllocated packs
them, RequestedToCapacityRatio follows a piecewise-linear shape over utilization), the
``resources`` argument both plugins take, and the per-resource (allocatable, requested) pairs
their scores are made of. Scores are upstream's integer arithmetic, rounding as Go does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pocketkube.scheduler.framework.interface import MAX_NODE_SCORE
from pocketkube.scheduler.framework.resources import CPU, EPHEMERAL_STORAGE, MEMORY, PODS
from pocketkube.scheduler.framework.types import NodeInfo, PodInfo

LEAST_ALLOCATED = "LeastAllocated"
MOST_ALLOCATED = "MostAllocated"
REQUESTED_TO_CAPACITY_RATIO = "RequestedToCapacityRatio"
STRATEGIES = (LEAST_ALLOCATED, MOST_ALLOCATED, REQUESTED_TO_CAPACITY_RATIO)

# Shape points score 0..10 in the configuration; the scheduler scores 0..100.
MAX_CUSTOM_PRIORITY_SCORE = 10
MAX_UTILIZATION = 100

Scorer = Callable[[Sequence[int], Sequence[int]], int]


@dataclass(frozen=True, slots=True)
class ResourceSpec:
    name: str
    weight: int


DEFAULT_RESOURCES = (ResourceSpec(CPU, 1), ResourceSpec(MEMORY, 1))


def parse_resources(
    raw: Sequence[Mapping[str, Any]] | None, *, max_weight: int | None = 100
) -> list[ResourceSpec]:
    """``[{name, weight}]`` with upstream's defaults: cpu and memory, missing weight = 1."""
    if not raw:
        return list(DEFAULT_RESOURCES)
    result = []
    for index, item in enumerate(raw):
        name, weight = str(item.get("name", "")), int(item.get("weight") or 1)
        if weight <= 0 or (max_weight is not None and weight > max_weight):
            raise ValueError(
                f"resources[{index}].weight: Invalid value: {weight}: "
                f"resource weight of {name} not in valid range (0, {max_weight}]"
            )
        result.append(ResourceSpec(name, weight))
    return result


def is_native_resource(name: str) -> bool:
    return "/" not in name or "kubernetes.io/" in name


def is_extended_resource(name: str) -> bool:
    """Vendor resources (``example.com/gpu``): the only kind ``ignoredResources`` may skip."""
    return not is_native_resource(name) and not name.startswith("requests.")


def is_scalar_resource(name: str) -> bool:
    """Counted in Resource.scalar: extended, hugepages, prefixed native, attachable volumes."""
    return (
        is_extended_resource(name)
        or name.startswith("hugepages-")
        or "kubernetes.io/" in name
        or name.startswith("attachable-volumes-")
    )


def pod_score_request(pod: PodInfo, resource: str, *, use_requested: bool) -> int:
    """What the pod adds to ``resource`` for scoring; cpu/memory non-zero unless use_requested."""
    if not use_requested and resource == CPU:
        return pod.non_zero_cpu
    if not use_requested and resource == MEMORY:
        return pod.non_zero_memory
    if resource == PODS:
        return 0
    return pod.requests.get(resource)


def allocatable_and_requested(
    node: NodeInfo, resource: str, pod_request: int, *, use_requested: bool
) -> tuple[int, int]:
    """(allocatable, requested with the pod) for one resource; (0, 0) leaves it out."""
    if pod_request == 0 and is_scalar_resource(resource):
        # A GPU the pod does not want should not make GPU nodes look better or worse.
        return 0, 0
    requested = node.requested if use_requested else node.non_zero_requested
    if resource == CPU:
        return node.allocatable.milli_cpu, requested.milli_cpu + pod_request
    if resource == MEMORY:
        return node.allocatable.memory, requested.memory + pod_request
    if resource == EPHEMERAL_STORAGE:
        return node.allocatable.ephemeral_storage, node.requested.ephemeral_storage + pod_request
    if resource in node.allocatable.scalar:
        used = node.requested.scalar.get(resource, 0)
        return node.allocatable.scalar[resource], used + pod_request
    return 0, 0


def resource_score(
    node: NodeInfo,
    resources: Sequence[ResourceSpec],
    pod_requests: Sequence[int],
    scorer: Scorer,
    *,
    use_requested: bool,
) -> int:
    requested = [0] * len(resources)
    allocatable = [0] * len(resources)
    for i, spec in enumerate(resources):
        alloc, req = allocatable_and_requested(
            node, spec.name, pod_requests[i], use_requested=use_requested
        )
        if alloc:
            allocatable[i], requested[i] = alloc, req
    return scorer(requested, allocatable)


def least_requested_score(requested: int, capacity: int) -> int:
    if capacity == 0 or requested > capacity:
        return 0
    return (capacity - requested) * MAX_NODE_SCORE // capacity


def most_requested_score(requested: int, capacity: int) -> int:
    if capacity == 0:
        return 0
    # Non-zero defaults can push requests past capacity; that is simply "full".
    return min(requested, capacity) * MAX_NODE_SCORE // capacity


def weighted_scorer(resources: Sequence[ResourceSpec], one: Callable[[int, int], int]) -> Scorer:
    """Weighted mean (rounded down) of ``one`` over the resources the node has."""

    def score(requested: Sequence[int], allocatable: Sequence[int]) -> int:
        total = weights = 0
        for i, spec in enumerate(resources):
            if allocatable[i] == 0:
                continue
            total += one(requested[i], allocatable[i]) * spec.weight
            weights += spec.weight
        return total // weights if weights else 0

    return score


def _trunc_div(a: int, b: int) -> int:
    """Integer division rounding toward zero, as Go's ``/`` (shapes may slope downwards)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def broken_linear(shape: Sequence[tuple[int, int]]) -> Callable[[int], int]:
    """Piecewise-linear function through (utilization, score) points, flat outside them."""

    def f(p: int) -> int:
        for i, (utilization, score) in enumerate(shape):
            if p <= utilization:
                if i == 0:
                    return score
                u0, s0 = shape[i - 1]
                return s0 + _trunc_div((score - s0) * (p - u0), utilization - u0)
        return shape[-1][1]

    return f


def parse_shape(raw: Any) -> list[tuple[int, int]]:
    points = list((raw or {}).get("shape") or ())
    if not points:
        raise ValueError("scoringStrategy.requestedToCapacityRatio.shape: Required value")
    shape = [(int(p.get("utilization", 0)), int(p.get("score", 0))) for p in points]
    for i, (utilization, score) in enumerate(shape):
        if i and shape[i - 1][0] >= utilization:
            raise ValueError(
                f"scoringStrategy.requestedToCapacityRatio.shape[{i}].utilization: Invalid "
                f"value: {utilization}: utilization values must be sorted in increasing order"
            )
        if not 0 <= utilization <= MAX_UTILIZATION:
            raise ValueError(f"shape[{i}].utilization: {utilization}: not in valid range [0, 100]")
        if not 0 <= score <= MAX_CUSTOM_PRIORITY_SCORE:
            raise ValueError(f"shape[{i}].score: {score}: not in valid range [0, 10]")
    return shape


def ratio_scorer(resources: Sequence[ResourceSpec], shape: Sequence[tuple[int, int]]) -> Scorer:
    scale = MAX_NODE_SCORE // MAX_CUSTOM_PRIORITY_SCORE
    raw = broken_linear([(u, s * scale) for u, s in shape])

    def score(requested: Sequence[int], allocatable: Sequence[int]) -> int:
        total = weights = 0
        for i, spec in enumerate(resources):
            capacity = allocatable[i]
            if capacity == 0:
                continue
            if requested[i] > capacity:
                one = raw(MAX_UTILIZATION)
            else:
                one = raw(requested[i] * MAX_UTILIZATION // capacity)
            # Resources scoring 0 drop out of the mean, as upstream does.
            if one > 0:
                total += one * spec.weight
                weights += spec.weight
        # Go's math.Round of a non-negative mean: half rounds up.
        return (2 * total + weights) // (2 * weights) if weights else 0

    return score


def build_scorer(strategy: Mapping[str, Any]) -> tuple[list[ResourceSpec], Scorer]:
    # No strategy at all means LeastAllocated; a strategy must name its type.
    kind = strategy.get("type", "") if strategy else LEAST_ALLOCATED
    resources = parse_resources(strategy.get("resources"))
    if kind == LEAST_ALLOCATED:
        return resources, weighted_scorer(resources, least_requested_score)
    if kind == MOST_ALLOCATED:
        return resources, weighted_scorer(resources, most_requested_score)
    if kind == REQUESTED_TO_CAPACITY_RATIO:
        shape = parse_shape(strategy.get("requestedToCapacityRatio"))
        return resources, ratio_scorer(resources, shape)
    supported = ", ".join(f'"{s}"' for s in STRATEGIES)
    raise ValueError(
        f'scoringStrategy.type: Unsupported value: "{kind}": supported values: {supported}'
    )
