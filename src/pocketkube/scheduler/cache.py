"""The scheduler's picture of the cluster: nodes, the pods bound to them, and assumed pods.

Built from the pod and node informers (upstream's internal cache). A pod is *assumed* on its
node the moment the scheduling cycle picks the node, so the next cycle already counts it;
binding then runs in the background. The informer's ADD of the bound pod confirms the
assumption, a failed bind forgets it. The scheduling cycle runs on the event loop without
awaiting between snapshot and assume, so the snapshot shares the cache's NodeInfo objects
instead of copying them (upstream copies because its cache is updated by other goroutines);
what a cycle must not see change (preemption's what-ifs) works on clones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pocketkube.scheduler.framework.snapshot import NodeSnapshot, has_prefer_no_schedule
from pocketkube.scheduler.framework.types import ImageStateSummary, NodeInfo, PodInfo

log = logging.getLogger(__name__)
Obj = dict[str, Any]


def pod_uid(pod: Mapping[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("uid", ""))


def node_name_of(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


@dataclass(slots=True)
class _PodState:
    info: PodInfo
    node: str
    assumed: bool
    binding_finished: bool = False


ImageNames = Callable[[Mapping[str, Any]], list[tuple[str, int]]]


def node_images(
    node: Mapping[str, Any], normalize: Callable[[str], str] = lambda name: name
) -> list[tuple[str, int]]:
    """(image name, size) for every name of every image ``node.status.images`` lists."""
    result: list[tuple[str, int]] = []
    for image in (node.get("status") or {}).get("images") or ():
        size = int(image.get("sizeBytes") or 0)
        result.extend((normalize(name), size) for name in image.get("names") or ())
    return result


class Cache:
    """Nodes and pods as the scheduler counts them; hands a snapshot to each cycle."""

    def __init__(self, *, image_names: ImageNames = node_images) -> None:
        self._nodes: dict[str, NodeInfo] = {}
        self._pods: dict[str, _PodState] = {}
        self._image_names = image_names
        self._images: dict[str, tuple[int, set[str]]] = {}
        self._snapshot = NodeSnapshot()
        self._prefer_no_schedule: set[str] = set()  # nodes with a PreferNoSchedule taint
        self._nodes_changed = True
        self._affinity_changed = True
        self._images_changed = False

    # -- nodes ------------------------------------------------------------------------------
    def add_node(self, node: Obj) -> None:
        name = node_name_of(node)
        info = self._nodes.get(name)
        if info is None:
            info = self._nodes[name] = NodeInfo()
            self._nodes_changed = True
        elif info.node is None:
            self._nodes_changed = True
        else:
            self._remove_images(name, info.node)
        info.set_node(node)
        info.generation += 1
        self._snapshot.mark_dirty(info)
        self._add_images(name, node)
        if has_prefer_no_schedule(info):
            self._prefer_no_schedule.add(name)
        else:
            self._prefer_no_schedule.discard(name)

    update_node = add_node

    def remove_node(self, node: Obj) -> None:
        name = node_name_of(node)
        info = self._nodes.get(name)
        if info is None:
            return
        if info.node is not None:
            self._remove_images(name, info.node)
        self._prefer_no_schedule.discard(name)
        if info.pods:
            # Pods still bound there stay counted until their deletion arrives (upstream).
            info.node = None
        else:
            del self._nodes[name]
        self._nodes_changed = True

    def _add_images(self, node_name: str, node: Obj) -> None:
        for image, size in self._image_names(node):
            entry = self._images.setdefault(image, (size, set()))
            entry[1].add(node_name)
            self._images_changed = True

    def _remove_images(self, node_name: str, node: Obj) -> None:
        for image, _ in self._image_names(node):
            entry = self._images.get(image)
            if entry is not None:
                entry[1].discard(node_name)
                if not entry[1]:
                    del self._images[image]
                self._images_changed = True

    # -- pods -------------------------------------------------------------------------------
    def assume_pod(self, info: PodInfo, node_name: str) -> None:
        """Count ``info`` (whose pod already names ``node_name``) on that node until bound."""
        uid = pod_uid(info.pod)
        if uid in self._pods:
            raise ValueError(f"pod {info.key} ({uid}) is already in the cache")
        self._place(uid, info, node_name, assumed=True)

    def finish_binding(self, pod: Obj) -> None:
        state = self._pods.get(pod_uid(pod))
        if state is not None and state.assumed:
            state.binding_finished = True

    def forget_pod(self, pod: Obj) -> None:
        """Drop an assumption whose binding failed."""
        uid = pod_uid(pod)
        state = self._pods.get(uid)
        if state is None or not state.assumed:
            return
        self._remove(uid, state)

    def is_assumed(self, pod: Obj) -> bool:
        state = self._pods.get(pod_uid(pod))
        return state is not None and state.assumed

    def add_pod(self, pod: Obj) -> None:
        """A bound pod seen by the informer: confirms an assumption or adds the pod."""
        uid = pod_uid(pod)
        node_name = str((pod.get("spec") or {}).get("nodeName", ""))
        state = self._pods.get(uid)
        if (
            state is not None
            and state.node == node_name
            and state.info.pod.get("spec") == pod.get("spec")
            and state.info.labels == ((pod.get("metadata") or {}).get("labels") or {})
        ):
            # The binding (or a status change) of a pod counted as it is: what the plugins read
            # of it is unchanged, so keep its PodInfo and only take the newer object.
            state.info.pod = pod
            state.assumed = False
            return
        if state is not None:
            if state.node != node_name:
                log.warning(
                    "pod %s was assumed on %s but bound to %s",
                    state.info.key,
                    state.node,
                    node_name,
                )
            self._remove(uid, state)
        self._place(uid, PodInfo(pod), node_name, assumed=False)

    def update_pod(self, pod: Obj) -> None:
        self.add_pod(pod)

    def remove_pod(self, pod: Obj) -> None:
        uid = pod_uid(pod)
        state = self._pods.get(uid)
        if state is not None:
            self._remove(uid, state)

    def _place(self, uid: str, info: PodInfo, node_name: str, *, assumed: bool) -> None:
        self._pods[uid] = _PodState(info, node_name, assumed=assumed)
        node = self._node(node_name)
        node.add_pod(info)
        self._snapshot.mark_dirty(node)
        self._touch(info)

    def _remove(self, uid: str, state: _PodState) -> None:
        del self._pods[uid]
        info = self._nodes.get(state.node)
        if info is not None:
            info.remove_pod(state.info.key)
            self._snapshot.mark_dirty(info)
            if info.node is None and not info.pods:
                del self._nodes[state.node]
                self._nodes_changed = True
        self._touch(state.info)

    def _node(self, name: str) -> NodeInfo:
        info = self._nodes.get(name)
        if info is None:
            # A pod bound to a node we have not seen (yet): count it on a placeholder.
            info = self._nodes[name] = NodeInfo()
        return info

    def _touch(self, info: PodInfo) -> None:
        if info.has_affinity:
            self._affinity_changed = True

    # -- snapshot ---------------------------------------------------------------------------
    def snapshot(self) -> NodeSnapshot:
        """The cycle's view: rebuilt only where nodes, affinity pods or images changed."""
        if self._nodes_changed:
            self._snapshot.set(self._nodes.values())
            self._nodes_changed = False
            self._affinity_changed = False
        elif self._affinity_changed:
            self._snapshot.refresh_affinity_lists()
            self._affinity_changed = False
        if self._images_changed:
            self._refresh_image_states()
            self._images_changed = False
        self._snapshot.refresh_columns()
        self._snapshot.image_names = self._images.keys()
        self._snapshot.prefer_no_schedule_nodes = len(self._prefer_no_schedule)
        return self._snapshot

    def _refresh_image_states(self) -> None:
        summaries = {
            image: ImageStateSummary(size, len(nodes))
            for image, (size, nodes) in self._images.items()
        }
        for name, info in self._nodes.items():
            if info.node is None:
                continue
            info.image_states = {
                image: summaries[image]
                for image, _ in self._image_names(info.node)
                if image in summaries and name in self._images[image][1]
            }

    # -- introspection ----------------------------------------------------------------------
    def node_count(self) -> int:
        return sum(1 for info in self._nodes.values() if info.node is not None)

    def pod_count(self) -> int:
        return len(self._pods)

    def assumed_count(self) -> int:
        return sum(1 for s in self._pods.values() if s.assumed)
