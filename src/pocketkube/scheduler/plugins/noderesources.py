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

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from pocketkube.scheduler.framework.columns import ResourceColumns, RowMemo
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
    MEMORY,
    Resource,
)
from pocketkube.scheduler.framework.status import Status, error, unschedulable
from pocketkube.scheduler.framework.types import NodeInfo, PodInfo
from pocketkube.scheduler.plugins.resourcescoring import (
    LEAST_ALLOCATED,
    build_scorer,
    is_extended_resource,
    pod_score_request,
    resource_score,
)

NAME = "NodeResourcesFit"
PRE_FILTER_KEY = "PreFilter" + NAME
PRE_SCORE_KEY = "PreScore" + NAME


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
        # The default strategy also scores over the resource columns (see score_array).
        self._least_cpu_memory = kind == LEAST_ALLOCATED and names == [CPU, MEMORY]
        # Per-row answers kept across cycles for each request shape (see columns.RowMemo).
        self._fits = RowMemo(np.bool_)
        self._scores = RowMemo(np.int64)

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
        """``filter`` for every node of the snapshot at once (None: ask node by node). The
        result is shared across cycles: read-only."""
        request = state.get(PRE_FILTER_KEY)
        if request is None or request.scalar:
            return None
        cpu, memory, storage = request.milli_cpu, request.memory, request.ephemeral_storage

        def vector(rows: npt.NDArray[np.intp]) -> npt.NDArray[np.bool_]:
            fits: npt.NDArray[np.bool_] = columns.pod_count[rows] < columns.alloc_pods[rows]
            if cpu > 0:
                fits &= cpu <= columns.alloc_cpu[rows] - columns.req_cpu[rows]
            if memory > 0:
                fits &= memory <= columns.alloc_memory[rows] - columns.req_memory[rows]
            if storage > 0:
                fits &= storage <= columns.alloc_storage[rows] - columns.req_storage[rows]
            return fits

        def scalar(row: int) -> bool:
            c = columns
            return bool(
                c.pod_count[row] < c.alloc_pods[row]
                and (cpu <= 0 or cpu <= c.alloc_cpu[row] - c.req_cpu[row])
                and (memory <= 0 or memory <= c.alloc_memory[row] - c.req_memory[row])
                and (storage <= 0 or storage <= c.alloc_storage[row] - c.req_storage[row])
            )

        return self._fits.values(columns, (cpu, memory, storage), vector, scalar)

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
        wanted = (requests[0], requests[1])
        cpu_weight, memory_weight = self.resources[0].weight, self.resources[1].weight
        resources = (
            (columns.alloc_cpu, columns.nz_cpu, wanted[0], cpu_weight),
            (columns.alloc_memory, columns.nz_memory, wanted[1], memory_weight),
        )

        def vector(rows: npt.NDArray[np.intp]) -> npt.NDArray[np.int64]:
            total = np.zeros(len(rows), np.int64)
            weights = np.zeros(len(rows), np.int64)
            for allocatable, used, request, weight in resources:
                capacity = allocatable[rows]
                requested = used[rows] + request
                present = capacity > 0
                share = (capacity - requested) * MAX_NODE_SCORE // np.where(present, capacity, 1)
                total += np.where(present & (requested <= capacity), share, 0) * weight
                weights += np.where(present, weight, 0)
            scores: npt.NDArray[np.int64] = np.where(
                weights > 0, total // np.where(weights > 0, weights, 1), 0
            )
            return scores

        def scalar(row: int) -> int:
            total = weights = 0
            for allocatable, used, request, weight in resources:
                capacity = int(allocatable[row])
                requested = int(used[row]) + request
                if capacity > 0:
                    weights += weight
                    if requested <= capacity:
                        total += (capacity - requested) * MAX_NODE_SCORE // capacity * weight
            return total // weights if weights > 0 else 0

        key = (wanted, cpu_weight, memory_weight)
        scores: npt.NDArray[np.int64] = self._scores.values(columns, key, vector, scalar)[rows]
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
