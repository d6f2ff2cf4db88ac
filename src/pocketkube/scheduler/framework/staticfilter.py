"""Filter answers that only depend on the pod's placement fields and the Node object.

NodeUnschedulable, NodeName, TaintToleration and NodeAffinity look at the node (labels,
taints, ``spec.unschedulable``, name) and at four fields of the pod (``nodeName``,
``nodeSelector``, ``affinity.nodeAffinity``, ``tolerations``), never at the pods already on the
node. Pods of one workload share those fields, so their answers for a node are the same until
the Node object changes. The scheduler keeps them here per (profile, plugins, pod fields) and
per row of the snapshot's resource columns, stamped with the row's ``node_version``: a node
update (a new object from the informer) makes its answer stale, a new row layout (nodes added
or removed) the whole table. A plugin opts in with ``node_static = True``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from pocketkube.scheduler.framework.columns import ResourceColumns
from pocketkube.scheduler.framework.status import Status


def placement_key(pod: Mapping[str, Any]) -> bytes:
    """The pod fields node-static filters may read, as one comparable value."""
    spec = pod.get("spec") or {}
    affinity = spec.get("affinity") or {}
    return orjson.dumps(
        (
            spec.get("nodeName"),
            spec.get("nodeSelector"),
            affinity.get("nodeAffinity"),
            spec.get("tolerations"),
        ),
        option=orjson.OPT_SORT_KEYS,
    )


FITS = Status()  # the answer for rows that pass (read, never changed)


class StaticMask:
    """Node-static answers for every row of one column layout: which rows pass, and the
    failure of each row that does not, with the ``node_version`` each was computed at."""

    def __init__(self, columns: ResourceColumns) -> None:
        self.layout = columns.layout
        self.versions = np.full(len(columns), -1, np.int64)  # nothing computed yet
        self.ok: npt.NDArray[np.bool_] = np.zeros(len(columns), np.bool_)
        self.failures: dict[int, Status] = {}

    def stale_rows(self, columns: ResourceColumns) -> npt.NDArray[np.intp]:
        return np.flatnonzero(self.versions != columns.node_version)

    def answer(self, row: int, version: int) -> Status | None:
        """The answer remembered for ``row`` at ``version`` (None: not known)."""
        if self.versions[row] != version:
            return None
        return FITS if self.ok[row] else self.failures[row]

    def record(self, row: int, version: int, status: Status) -> None:
        self.versions[row] = version
        self.ok[row] = status.success
        if status.success:
            self.failures.pop(row, None)
        else:
            self.failures[row] = status


class StaticFilterCache:
    """A bounded LRU of answer tables, one per distinct (profile, plugins, pod fields)."""

    def __init__(self, *, max_entries: int = 64) -> None:
        self._masks: OrderedDict[tuple[str, tuple[str, ...], bytes], StaticMask] = OrderedDict()
        self._max_entries = max_entries

    def mask(
        self,
        profile: str,
        plugins: Sequence[Any],
        pod: Mapping[str, Any],
        columns: ResourceColumns,
    ) -> StaticMask:
        """The answers for ``columns``' rows (a fresh table when the layout changed)."""
        key = (profile, tuple(p.name for p in plugins), placement_key(pod))
        mask = self._masks.get(key)
        if mask is None or mask.layout != columns.layout:
            mask = self._masks[key] = StaticMask(columns)
            if len(self._masks) > self._max_entries:
                self._masks.popitem(last=False)
        self._masks.move_to_end(key)
        return mask

    def __len__(self) -> int:
        return len(self._masks)
