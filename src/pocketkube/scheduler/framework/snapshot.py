"""A cycle's frozen view of the cluster (upstream's cache.Snapshot)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from pocketkube.scheduler.framework.columns import ResourceColumns
from pocketkube.scheduler.framework.types import NodeInfo


def has_prefer_no_schedule(node: NodeInfo) -> bool:
    taints = ((node.node or {}).get("spec") or {}).get("taints") or ()
    return any(t.get("effect") == "PreferNoSchedule" for t in taints)


class NodeSnapshot:
    """Nodes in a fixed order with the lists affinity plugins walk, built once per change."""

    def __init__(self, nodes: Iterable[NodeInfo] = ()) -> None:
        self._list: list[NodeInfo] = []
        self._by_name: dict[str, NodeInfo] = {}
        self._with_affinity: list[NodeInfo] = []
        self._with_required_anti_affinity: list[NodeInfo] = []
        self.generation = 0
        # Cluster-wide facts that let score plugins skip work when they cannot tell nodes
        # apart (the cache keeps them current; computed here for snapshots built directly).
        self.image_names: Collection[str] = frozenset()
        self.prefer_no_schedule_nodes = 0
        self.columns = ResourceColumns(())
        self._dirty: dict[str, NodeInfo] = {}
        self.set(nodes)

    def set(self, nodes: Iterable[NodeInfo]) -> None:
        self._list = [n for n in nodes if n.node is not None]
        self._by_name = {n.name: n for n in self._list}
        self.refresh_affinity_lists()
        self.image_names = frozenset(name for n in self._list for name in n.image_states)
        self.prefer_no_schedule_nodes = sum(1 for n in self._list if has_prefer_no_schedule(n))
        self.columns = ResourceColumns(self._list)
        self._dirty.clear()

    def mark_dirty(self, node: NodeInfo) -> None:
        """``node``'s pods or Node object changed: rewrite its row before the next cycle."""
        self._dirty[node.name] = node

    def refresh_columns(self) -> None:
        for node in self._dirty.values():
            self.columns.refresh(node)
        self._dirty.clear()

    def refresh_affinity_lists(self) -> None:
        self._with_affinity = [n for n in self._list if n.pods_with_affinity]
        self._with_required_anti_affinity = [
            n for n in self._list if n.pods_with_required_anti_affinity
        ]

    def list(self) -> Sequence[NodeInfo]:
        return self._list

    def get(self, node_name: str) -> NodeInfo | None:
        return self._by_name.get(node_name)

    def have_pods_with_affinity(self) -> Sequence[NodeInfo]:
        return self._with_affinity

    def have_pods_with_required_anti_affinity(self) -> Sequence[NodeInfo]:
        return self._with_required_anti_affinity
