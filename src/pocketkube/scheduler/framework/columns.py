"""Per-node resource numbers as arrays, so one pod's fit and resource scores are a few vector
operations instead of a Python loop over a thousand nodes.

Row ``i`` is node ``i`` of the snapshot's list. The cache marks a node dirty whenever its pods
or its Node object change, and the snapshot rewrites those rows before a cycle reads them.
``node_version`` counts Node-object changes per row: node-static filter answers remembered per
row stay valid while it does not move (``staticfilter``). Every rewrite of a row is also logged
(``rewritten_since``): a :class:`RowMemo` keeps a plugin's per-row answers for one kind of pod
across cycles and asks again only for the rows rewritten since (a bound pod changes one row, so
a cycle costs a few Python-level rows instead of a dozen vector operations). Plugins that can
work on columns offer ``filter_mask`` / ``score_array`` beside their per-node methods, with the
same answers.
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Callable, Hashable, Sequence
from typing import Any

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
        # Rows rewritten since the columns were built, oldest first; the log's first entries
        # are dropped as it grows (``_dropped`` of them so far).
        self._rewrites: list[int] = []
        self._dropped = 0
        self._log_limit = max(1024, 4 * size)
        for i, node in enumerate(nodes):
            self.update(i, node)
        self._rewrites.clear()  # building them is not a rewrite

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
        self._rewrites.append(i)
        if len(self._rewrites) > self._log_limit:
            half = len(self._rewrites) // 2
            del self._rewrites[:half]
            self._dropped += half
        if self._objects[i] is not node.node:
            self._objects[i] = node.node
            self.node_version[i] += 1

    @property
    def position(self) -> int:
        """Where the rewrite log ends now (see ``rewritten_since``)."""
        return self._dropped + len(self._rewrites)

    def rewritten_since(self, position: int) -> list[int] | None:
        """The rows rewritten after ``position`` (repeats included), or None when the log no
        longer reaches back that far."""
        if position < self._dropped:
            return None
        return self._rewrites[position - self._dropped :]

    def refresh(self, node: NodeInfo) -> None:
        i = self.index.get(node.name)
        if i is not None:
            self.update(i, node)


# Up to this many rewritten rows are answered row by row in Python; more take the vector path.
SCALAR_ROWS = 16


class _Remembered:
    __slots__ = ("layout", "position", "values")

    def __init__(self, layout: int, values: npt.NDArray[Any], position: int) -> None:
        self.layout = layout
        self.values = values
        self.position = position


class RowMemo:
    """A plugin's answers for every row, per key (what of the pod the answer depends on, such as
    its requests), kept for the ``limit`` most recent keys. ``vector(rows)`` answers for an
    array of rows and ``scalar(row)`` for one; both must agree, and depend only on the key and
    the rows' columns."""

    def __init__(self, dtype: Any, *, limit: int = 16) -> None:
        self._dtype = dtype
        self._limit = limit
        self._entries: collections.OrderedDict[Hashable, _Remembered] = collections.OrderedDict()

    def values(
        self,
        columns: ResourceColumns,
        key: Hashable,
        vector: Callable[[npt.NDArray[np.intp]], npt.NDArray[Any]],
        scalar: Callable[[int], Any],
    ) -> npt.NDArray[Any]:
        """The answer of every row, current: shared, so read-only."""
        entry = self._entries.get(key)
        changed = None
        if entry is not None and entry.layout == columns.layout:
            changed = columns.rewritten_since(entry.position)
        if entry is None or changed is None:
            rows = np.arange(len(columns), dtype=np.intp)
            values = np.asarray(vector(rows), dtype=self._dtype)
            entry = _Remembered(columns.layout, values, columns.position)
            self._entries[key] = entry
            self._entries.move_to_end(key)
            if len(self._entries) > self._limit:
                self._entries.popitem(last=False)
            return entry.values
        self._entries.move_to_end(key)
        if changed:
            stale = set(changed)
            if len(stale) > SCALAR_ROWS:
                rows = np.fromiter(stale, np.intp, len(stale))
                entry.values[rows] = vector(rows)
            else:
                values = entry.values
                for row in stale:
                    values[row] = scalar(row)
            entry.position = columns.position
        return entry.values
