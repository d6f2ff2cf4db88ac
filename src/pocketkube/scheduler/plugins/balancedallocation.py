"""NodeResourcesBalancedAllocation: prefer nodes whose resources would be used evenly.

A node with 90% of its cpu requested but 10% of its memory strands the memory: no pod that
needs cpu can use it. The score is ``(1 - std) * 100`` where ``std`` is the standard deviation
of the requested/allocatable fractions (each capped at 1) of the configured resources, the pod
included. Unlike NodeResourcesFit it counts real requests, not the 100m/200Mi defaults, and it
leaves best-effort pods (which request none of the resources) alone: scoring them would pile
them all on the node that looks most balanced.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from pocketkube.scheduler.framework.columns import ResourceColumns, RowMemo
from pocketkube.scheduler.framework.cyclestate import CycleState
from pocketkube.scheduler.framework.interface import MAX_NODE_SCORE, ClusterEvent, Handle
from pocketkube.scheduler.framework.resources import CPU, MEMORY
from pocketkube.scheduler.framework.status import Status, skip
from pocketkube.scheduler.framework.types import NodeInfo, PodInfo
from pocketkube.scheduler.plugins.resourcescoring import (
    parse_resources,
    pod_score_request,
    resource_score,
)

NAME = "NodeResourcesBalancedAllocation"
PRE_SCORE_KEY = "PreScore" + NAME


def balanced_score(requested: Sequence[int], allocatable: Sequence[int]) -> int:
    fractions = [
        min(req / alloc, 1.0) for req, alloc in zip(requested, allocatable, strict=True) if alloc
    ]
    std = 0.0
    if len(fractions) == 2:
        std = abs(fractions[0] - fractions[1]) / 2
    elif len(fractions) > 2:
        mean = sum(fractions) / len(fractions)
        std = math.sqrt(sum((f - mean) ** 2 for f in fractions) / len(fractions))
    return int((1 - std) * MAX_NODE_SCORE)


class BalancedAllocation:
    name = NAME

    def __init__(self, args: Mapping[str, Any], handle: Handle) -> None:
        self.handle = handle
        # Weights mean nothing to a deviation; upstream insists they are 1.
        self.resources = parse_resources(args.get("resources"), max_weight=1)
        names = [r.name for r in self.resources]
        if len(set(names)) != len(names):
            raise ValueError(f"resources: Duplicate value in {names}")
        self._scores = RowMemo(np.int64)  # per-row scores across cycles (columns.RowMemo)

    def pre_score(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> Status | None:
        requests = self._pod_requests(pod)
        if not any(requests):
            return skip()
        state.write(PRE_SCORE_KEY, requests)
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> tuple[int, Status | None]:
        requests = state.get(PRE_SCORE_KEY)
        if requests is None:
            requests = self._pod_requests(pod)
        return resource_score(
            node, self.resources, requests, balanced_score, use_requested=True
        ), None

    def score_array(
        self,
        state: CycleState,
        pod: PodInfo,
        columns: ResourceColumns,
        rows: npt.NDArray[np.intp],
    ) -> npt.NDArray[np.int64] | None:
        """``score`` for the given rows of the columns (cpu and memory, the default)."""
        if [r.name for r in self.resources] != [CPU, MEMORY]:
            return None
        requests = state.get(PRE_SCORE_KEY)
        if requests is None:
            requests = self._pod_requests(pod)
        wanted_cpu, wanted_memory = requests[0], requests[1]

        def vector(rows: npt.NDArray[np.intp]) -> npt.NDArray[np.int64]:
            cpu_capacity, memory_capacity = columns.alloc_cpu[rows], columns.alloc_memory[rows]
            both = (cpu_capacity > 0) & (memory_capacity > 0)
            cpu = (columns.req_cpu[rows] + wanted_cpu) / np.where(both, cpu_capacity, 1)
            memory = (columns.req_memory[rows] + wanted_memory) / np.where(both, memory_capacity, 1)
            std = np.abs(np.minimum(cpu, 1.0) - np.minimum(memory, 1.0)) / 2
            scores: npt.NDArray[np.int64] = np.where(
                both, ((1 - std) * MAX_NODE_SCORE).astype(np.int64), MAX_NODE_SCORE
            )
            return scores

        def scalar(row: int) -> int:
            cpu_capacity, memory_capacity = columns.alloc_cpu[row], columns.alloc_memory[row]
            if not (cpu_capacity > 0 and memory_capacity > 0):
                return MAX_NODE_SCORE
            # float64 division, as the vector path (numpy divides int64 columns as float64).
            cpu = float(columns.req_cpu[row] + wanted_cpu) / float(cpu_capacity)
            memory = float(columns.req_memory[row] + wanted_memory) / float(memory_capacity)
            std = abs(min(cpu, 1.0) - min(memory, 1.0)) / 2
            return int((1 - std) * MAX_NODE_SCORE)

        scores: npt.NDArray[np.int64] = self._scores.values(
            columns, (wanted_cpu, wanted_memory), vector, scalar
        )[rows]
        return scores

    def _pod_requests(self, pod: PodInfo) -> list[int]:
        return [pod_score_request(pod, r.name, use_requested=True) for r in self.resources]

    def events_to_register(self) -> list[ClusterEvent]:
        # A score plugin never rejects a pod, so nothing needs to wake one up.
        return []


def new(args: Mapping[str, Any], handle: Handle) -> BalancedAllocation:
    return BalancedAllocation(args, handle)
