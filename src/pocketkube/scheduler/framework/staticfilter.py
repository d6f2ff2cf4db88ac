"""Filter answers that only depend on the pod's placement fields and the Node object.

NodeUnschedulable, NodeName, TaintToleration and NodeAffinity look at the node (labels,
taints, ``spec.unschedulable``, name) and at four fields of the pod (``nodeName``,
``nodeSelector``, ``affinity.nodeAffinity``, ``tolerations``), never at the pods already on the
node. Pods of one workload share those fields, so their answers for a node are the same until
the Node object changes. The scheduler keeps them here per (profile, plugins, pod fields) and
per node, checked against the node object's identity: a node update (a new object from the
informer) invalidates its entries. A plugin opts in with ``node_static = True``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from pocketkube.scheduler.framework.status import Status

# node name -> (the Node object the answer was computed for, the answer)
NodeAnswers = dict[str, tuple[object, Status]]


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


class StaticFilterCache:
    """A bounded LRU of answer tables, one per distinct (profile, plugins, pod fields)."""

    def __init__(self, *, max_entries: int = 64) -> None:
        self._tables: OrderedDict[tuple[str, tuple[str, ...], bytes], NodeAnswers] = OrderedDict()
        self._max_entries = max_entries

    def answers(self, profile: str, plugins: Sequence[Any], pod: Mapping[str, Any]) -> NodeAnswers:
        key = (profile, tuple(p.name for p in plugins), placement_key(pod))
        table = self._tables.get(key)
        if table is None:
            table = self._tables[key] = {}
            if len(self._tables) > self._max_entries:
                self._tables.popitem(last=False)
        else:
            self._tables.move_to_end(key)
        return table

    def __len__(self) -> int:
        return len(self._tables)
