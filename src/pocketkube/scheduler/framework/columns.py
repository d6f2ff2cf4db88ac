"""Per-node resource numbers as arrays, so one pod's fit and resource scores are a few vector
operations instead of a Python loop over a thousand nodes.

Row ``i`` is node ``i`` of the snapshot's list. The cache marks a node dirty whenever its pods
or its Node object change, and the snapshot rewrites those rows before a cycle reads them.
``node_version`` counts Node-object changes per row: node-static filter answers remembered per
row stay valid while it does not move (``staticfilter``). Plugins that can work on columns offer
``filter_mask`` / ``score_array`` beside their per-node methods, with the same answers.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from pocketkube.scheduler.framework.types import NodeInfo

Int64s = npt.NDArray[np.int64]
_layouts = itertools.count(1)


class ResourceColumns:
    """allocatable, requested (and requested with the scoring defaults) per node."""

    def __init__(self, nodes: Sequence[NodeInfo]) -> None:
        size = len(nodes)
        self.layout = next(_layouts)  # a new row order: remembered rows mean nothing now
        self.index = {node.name: i for i, node in enumerate(nodes)}
        self.alloc_cpu: Int64s = np.zeros(size, np.int64)
        self.alloc_memory: Int64s = np.zeros(size, np.int64)
        self.alloc_storage: Int64s = np.zeros(size, np.int64)
        self.alloc_pods: Int64s = np.zeros(size, np.int64)
        self.req_cpu: Int64s = np.zeros(size, np.int64)
        self.req_memory: Int64s = np.zeros(size, np.int64)
        self.req_storage: Int64s = np.zeros(size, np.int64)
        self.pod_count: Int64s = np.zeros(size, np.int64)
        self.nz_cpu: Int64s = np.zeros(size, np.int64)
        self.nz_memory: Int64s = np.zeros(size, np.int64)
        self.node_version: Int64s = np.zeros(size, np.int64)
        self._objects: list[object] = [None] * size
        for i, node in enumerate(nodes):
            self.update(i, node)

    def __len__(self) -> int:
        return len(self._objects)

    def update(self, i: int, node: NodeInfo) -> None:
        allocatable, requested = node.allocatable, node.requested
        self.alloc_cpu[i] = allocatable.milli_cpu
        self.alloc_memory[i] = allocatable.memory
        self.alloc_storage[i] = allocatable.ephemeral_storage
        self.alloc_pods[i] = allocatable.allowed_pod_number
        self.req_cpu[i] = requested.milli_cpu
        self.req_memory[i] = requested.memory
        self.req_storage[i] = requested.ephemeral_storage
        self.pod_count[i] = len(node.pods)
        self.nz_cpu[i] = node.non_zero_requested.milli_cpu
        self.nz_memory[i] = node.non_zero_requested.memory
        if self._objects[i] is not node.node:
            self._objects[i] = node.node
            self.node_version[i] += 1

    def refresh(self, node: NodeInfo) -> None:
        i = self.index.get(node.name)
        if i is not None:
            self.update(i, node)
