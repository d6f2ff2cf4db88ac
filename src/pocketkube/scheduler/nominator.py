"""Pods nominated to nodes by preemption, which later cycles must count as if they were there.

When preemption evicts victims for a pod, the pod is not bound yet: it waits for the victims
to go and is retried. Until then the node's freed room is reserved for it, so filters run
for other pods add the nominated pods of at least their priority (upstream's
``nominator``). The nomination lives here rather than only in ``status.nominatedNodeName``
because the scheduler nominates before its API write lands, and an update that arrives in
between without the field must not drop the reservation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pocketkube.scheduler.framework.interface import Lister
from pocketkube.scheduler.framework.types import PodInfo, pod_key


def pod_uid(pod: Mapping[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("uid", ""))


def nominated_node_name(pod: Mapping[str, Any]) -> str:
    return str((pod.get("status") or {}).get("nominatedNodeName") or "")


class Nominator:
    """node name → nominated pods (in nomination order), and pod uid → node name."""

    def __init__(
        self,
        *,
        pod_lister: Lister | None = None,
        current: Callable[[str], PodInfo | None] | None = None,
    ) -> None:
        # ``pod_lister`` lets a nomination be refused for a pod deleted or bound meanwhile;
        # ``current`` finds the newest PodInfo of a pod still queued, so that filters see the
        # pod's current requests rather than those at the time it was nominated.
        self._pod_lister = pod_lister
        self._current = current
        self._by_node: dict[str, list[str]] = {}
        self._node_of: dict[str, str] = {}
        self._infos: dict[str, PodInfo] = {}

    def __len__(self) -> int:
        return len(self._node_of)

    def node_of(self, uid: str) -> str | None:
        return self._node_of.get(uid)

    def add(self, info: PodInfo, node_name: str | None = None) -> None:
        """Nominate ``info`` to ``node_name``; None means the pod's own nominatedNodeName and
        an empty name clears the nomination."""
        self.delete(info.pod)
        node = nominated_node_name(info.pod) if node_name is None else node_name
        if not node:
            return
        if self._pod_lister is not None:
            live = self._pod_lister.get(pod_key(info.pod))
            if live is None or (live.get("spec") or {}).get("nodeName"):
                return
        uid = pod_uid(info.pod)
        self._node_of[uid] = node
        self._infos[uid] = info
        uids = self._by_node.setdefault(node, [])
        if uid not in uids:
            uids.append(uid)

    def update(self, old: Mapping[str, Any], new: PodInfo) -> None:
        """Follow a pod update; keep a nomination the API has not caught up with yet."""
        node: str | None = None
        if not nominated_node_name(old) and not nominated_node_name(new.pod):
            node = self._node_of.get(pod_uid(old))
        self.delete(old)
        self.add(new, node)

    def delete(self, pod: Mapping[str, Any]) -> None:
        uid = pod_uid(pod)
        node = self._node_of.pop(uid, None)
        self._infos.pop(uid, None)
        if node is None:
            return
        uids = self._by_node.get(node, [])
        if uid in uids:
            uids.remove(uid)
        if not uids:
            self._by_node.pop(node, None)

    def pods_for_node(self, node_name: str) -> list[PodInfo]:
        result = []
        for uid in self._by_node.get(node_name, ()):
            info = self._current(uid) if self._current is not None else None
            result.append(info if info is not None else self._infos[uid])
        return result
