"""NodeResourcesFit: does the node have room for the pod's requests, and how full would it be?

Filter compares the pod's request (upstream's PodRequests: containers plus sidecars, or the
largest init container, plus overhead; computed once in PreFilter) with what the node's
allocatable leaves after the pods already there, and names every resource that is short, so the
FailedScheduling event lists ``Insufficient cpu, Insufficient memory`` together. Extended
resources named in ``ignoredResources`` (or whose domain is in ``ignoredResourceGroups``) are
left to something else (a device plugin, an extender).

Score uses one strategy, as the ``scoringStrategy`` arg says: LeastAllocated spreads pods,
MostAllocated packs them, RequestedToCapacityRatio follows a piecewise-linear shape. Scores
count containers without a cpu/memory request as 100m/200Mi ("non-zero" requests), so that
best-effort pods do not all land on one node.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from pocketkube.scheduler.framework.columns import ResourceColumns
from pocketkube.scheduler.framework.cyclestate import CycleState
from pocketkube.scheduler.framework.interface import (
    MAX_NODE_SCORE,
    ActionType,
    ClusterEvent,
    Handle,
    PreFilterResult,
)
from pocketkube.scheduler.framework.resources import (
    CPU,
    EPHEMERAL_STORAGE,
    MEMORY,
    PODS,
    Resource,
)
from pocketkube.scheduler.framework.status import Status, error, unschedulable
from pocketkube.scheduler.framework.types import NodeInfo, PodInfo

NAME = "NodeResourcesFit"
PRE_FILTER_KEY = "PreFilter" + NAME
PRE_SCORE_KEY = "PreScore" + NAME

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


def insufficient_resources(
    request: Resource,
    node: NodeInfo,
    ignored: frozenset[str] = frozenset(),
    ignored_groups: frozenset[str] = frozenset(),
) -> list[str]:
    """Why ``request`` does not fit ``node``: one reason per short resource, upstream's order."""
    reasons = []
    if len(node.pods) + 1 > node.allocatable.allowed_pod_number:
        reasons.append("Too many pods")
    allocatable, used = node.allocatable, node.requested
    if request.milli_cpu > 0 and request.milli_cpu > allocatable.milli_cpu - used.milli_cpu:
        reasons.append("Insufficient cpu")
    if request.memory > 0 and request.memory > allocatable.memory - used.memory:
        reasons.append("Insufficient memory")
    storage = request.ephemeral_storage
    if storage > 0 and storage > allocatable.ephemeral_storage - used.ephemeral_storage:
        reasons.append("Insufficient ephemeral-storage")
    for name, quantity in request.scalar.items():
        if quantity == 0:
            continue
        if is_extended_resource(name) and (
            name in ignored or name.split("/", 1)[0] in ignored_groups
        ):
            continue
        if quantity > allocatable.scalar.get(name, 0) - used.scalar.get(name, 0):
            reasons.append(f"Insufficient {name}")
    return reasons


class NodeResourcesFit:
    name = NAME

    def __init__(self, args: Mapping[str, Any], handle: Handle) -> None:
        self.handle = handle
        self.ignored = frozenset(args.get("ignoredResources") or ())
        self.ignored_groups = frozenset(args.get("ignoredResourceGroups") or ())
        for group in self.ignored_groups:
            if "/" in group:
                raise ValueError(
                    f'ignoredResourceGroups: Invalid value: "{group}": '
                    "resource group name can't contain '/'"
                )
        self.resources, self.scorer = build_scorer(args.get("scoringStrategy") or {})
        strategy = args.get("scoringStrategy") or {}
        kind = strategy.get("type", "") if strategy else LEAST_ALLOCATED
        names = [r.name for r in self.resources]
        # The common case gets a loop without per-resource dispatch (see score_nodes).
        self._least_cpu_memory = kind == LEAST_ALLOCATED and names == [CPU, MEMORY]

    def pre_filter(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> tuple[PreFilterResult | None, Status | None]:
        # PodInfo already holds the request; it is immutable, so share it (no clone needed).
        state.write(PRE_FILTER_KEY, pod.requests)
        return None, None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        request = state.get(PRE_FILTER_KEY)
        if request is None:
            return error(f'error reading "{PRE_FILTER_KEY}" from cycleState: not found')
        reasons = insufficient_resources(request, node, self.ignored, self.ignored_groups)
        return unschedulable(*reasons) if reasons else None

    def filter_mask(
        self, state: CycleState, pod: PodInfo, columns: ResourceColumns
    ) -> npt.NDArray[np.bool_] | None:
        """``filter`` for every node of the snapshot at once (None: ask node by node)."""
        request = state.get(PRE_FILTER_KEY)
        if request is None or request.scalar:
            return None
        fits: npt.NDArray[np.bool_] = columns.pod_count < columns.alloc_pods
        if request.milli_cpu > 0:
            fits &= request.milli_cpu <= columns.alloc_cpu - columns.req_cpu
        if request.memory > 0:
            fits &= request.memory <= columns.alloc_memory - columns.req_memory
        if request.ephemeral_storage > 0:
            fits &= request.ephemeral_storage <= columns.alloc_storage - columns.req_storage
        return fits

    def score_array(
        self,
        state: CycleState,
        pod: PodInfo,
        columns: ResourceColumns,
        rows: npt.NDArray[np.intp],
    ) -> npt.NDArray[np.int64] | None:
        """``score`` for the given rows of the columns (LeastAllocated on cpu and memory)."""
        if not self._least_cpu_memory:
            return None
        requests = state.get(PRE_SCORE_KEY)
        if requests is None:
            requests = self._pod_requests(pod)
        total = np.zeros(len(rows), np.int64)
        weights = np.zeros(len(rows), np.int64)
        for allocatable, used, wanted, weight in (
            (columns.alloc_cpu, columns.nz_cpu, requests[0], self.resources[0].weight),
            (columns.alloc_memory, columns.nz_memory, requests[1], self.resources[1].weight),
        ):
            capacity = allocatable[rows]
            requested = used[rows] + wanted
            present = capacity > 0
            share = (capacity - requested) * MAX_NODE_SCORE // np.where(present, capacity, 1)
            total += np.where(present & (requested <= capacity), share, 0) * weight
            weights += np.where(present, weight, 0)
        scores: npt.NDArray[np.int64] = np.where(
            weights > 0, total // np.where(weights > 0, weights, 1), 0
        )
        return scores

    def filter_nodes(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> list[Status | None]:
        """``filter`` for many nodes: a quick arithmetic check, the reasons only on failure."""
        request = state.get(PRE_FILTER_KEY)
        if request is None or request.scalar:
            return [self.filter(state, pod, node) for node in nodes]
        cpu, memory, storage = request.milli_cpu, request.memory, request.ephemeral_storage
        results: list[Status | None] = []
        for node in nodes:
            allocatable, used = node.allocatable, node.requested
            if (
                len(node.pods) < allocatable.allowed_pod_number
                and (cpu <= 0 or cpu <= allocatable.milli_cpu - used.milli_cpu)
                and (memory <= 0 or memory <= allocatable.memory - used.memory)
                and (
                    storage <= 0
                    or storage <= allocatable.ephemeral_storage - used.ephemeral_storage
                )
            ):
                results.append(None)
            else:
                results.append(self.filter(state, pod, node))
        return results

    def pre_score(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> Status | None:
        state.write(PRE_SCORE_KEY, self._pod_requests(pod))
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> tuple[int, Status | None]:
        requests = state.get(PRE_SCORE_KEY)
        if requests is None:
            requests = self._pod_requests(pod)
        return resource_score(
            node, self.resources, requests, self.scorer, use_requested=False
        ), None

    def score_nodes(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> list[int]:
        """All nodes at once; LeastAllocated on cpu and memory (the default) inlined, since it
        runs for hundreds of nodes per pod. Same numbers as ``score``."""
        requests = state.get(PRE_SCORE_KEY)
        if requests is None:
            requests = self._pod_requests(pod)
        if not self._least_cpu_memory:
            return [
                resource_score(n, self.resources, requests, self.scorer, use_requested=False)
                for n in nodes
            ]
        pod_cpu, pod_memory = requests
        cpu_weight, memory_weight = self.resources[0].weight, self.resources[1].weight
        scores = []
        for node in nodes:
            allocatable, used = node.allocatable, node.non_zero_requested
            total = weights = 0
            capacity = allocatable.milli_cpu
            if capacity:
                requested = used.milli_cpu + pod_cpu
                if requested <= capacity:
                    total += (capacity - requested) * MAX_NODE_SCORE // capacity * cpu_weight
                weights += cpu_weight
            capacity = allocatable.memory
            if capacity:
                requested = used.memory + pod_memory
                if requested <= capacity:
                    total += (capacity - requested) * MAX_NODE_SCORE // capacity * memory_weight
                weights += memory_weight
            scores.append(total // weights if weights else 0)
        return scores

    def _pod_requests(self, pod: PodInfo) -> list[int]:
        return [pod_score_request(pod, r.name, use_requested=False) for r in self.resources]

    def events_to_register(self) -> list[ClusterEvent]:
        # Upstream (without queueing hints): assigned Pod deleted; Node added or its
        # allocatable, taints or labels updated.
        return [
            ClusterEvent("Pod", ActionType.DELETE),
            ClusterEvent("Node", ActionType.ADD | ActionType.UPDATE),
        ]


def new(args: Mapping[str, Any], handle: Handle) -> NodeResourcesFit:
    return NodeResourcesFit(args, handle)
