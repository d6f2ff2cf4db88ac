"""ImageLocality: prefer nodes that already hold the pod's images, so it starts sooner.

Each image present on the node adds its size, scaled by the fraction of nodes that have it:
an image on every node says nothing about this one, and without the scaling every pod of a
popular image would crowd onto the first nodes that pulled it ("node heating"). The sum is
clamped between 23MB (a small image: not worth preferring) and 1000MB per container, then
mapped linearly onto 0..100.

Image names are matched as upstream does: a name without a tag gets ``:latest``; registries
are not added (``nginx`` does not match ``docker.io/library/nginx:latest``), so the match works
when pods and the runtime spell images the same way.

The per-image numbers (size, how many nodes have it) come from ``node.status.images``; the
scheduler cache computes them with :func:`image_states` and puts each node's share in
``NodeInfo.image_states`` with :func:`node_image_states`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pocketkube.scheduler.framework.cyclestate import CycleState
from pocketkube.scheduler.framework.interface import MAX_NODE_SCORE, ClusterEvent, Handle
from pocketkube.scheduler.framework.status import Status, skip
from pocketkube.scheduler.framework.types import ImageStateSummary, NodeInfo, PodInfo

NAME = "ImageLocality"

MB = 1024 * 1024
MIN_THRESHOLD = 23 * MB
MAX_CONTAINER_THRESHOLD = 1000 * MB


def normalized_image_name(name: str) -> str:
    """``name:latest`` when ``name`` has no tag (a ':' after the last '/')."""
    return name if name.rfind(":") > name.rfind("/") else name + ":latest"


def image_states(nodes: Iterable[Mapping[str, Any]]) -> dict[str, ImageStateSummary]:
    """Every image name reported in ``status.images`` of ``nodes``: its size and on how many
    nodes it is. A name listed twice on one node counts once; the size is the one the first
    node reported (upstream keeps the first one it sees)."""
    sizes: dict[str, int] = {}
    holders: dict[str, set[str]] = {}
    for node in nodes:
        node_name = (node.get("metadata") or {}).get("name", "")
        for image in (node.get("status") or {}).get("images") or ():
            size = int(image.get("sizeBytes") or 0)
            for name in image.get("names") or ():
                sizes.setdefault(name, size)
                holders.setdefault(name, set()).add(node_name)
    return {name: ImageStateSummary(sizes[name], len(holders[name])) for name in sizes}


def node_image_states(
    node: Mapping[str, Any], states: Mapping[str, ImageStateSummary]
) -> dict[str, ImageStateSummary]:
    """The entries of ``states`` (from :func:`image_states`) for the images on ``node``."""
    result: dict[str, ImageStateSummary] = {}
    for image in (node.get("status") or {}).get("images") or ():
        for name in image.get("names") or ():
            if name in states:
                result[name] = states[name]
    return result


def scaled_image_score(state: ImageStateSummary, total_nodes: int) -> int:
    return int(state.size * (state.num_nodes / total_nodes))


def calculate_priority(sum_scores: int, num_containers: int) -> int:
    max_threshold = MAX_CONTAINER_THRESHOLD * num_containers
    clamped = min(max(sum_scores, MIN_THRESHOLD), max_threshold)
    return MAX_NODE_SCORE * (clamped - MIN_THRESHOLD) // (max_threshold - MIN_THRESHOLD)


def _images(pod: PodInfo) -> list[str]:
    spec = pod.spec
    containers: Sequence[Mapping[str, Any]] = [
        *(spec.get("initContainers") or ()),
        *(spec.get("containers") or ()),
    ]
    return [normalized_image_name(str(c.get("image") or "")) for c in containers]


class ImageLocality:
    name = NAME

    def __init__(self, args: Mapping[str, Any], handle: Handle) -> None:
        self.handle = handle

    def pre_score(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> Status | None:
        # None of the pod's images on any candidate: every node scores 0; skip the work.
        present = self.handle.snapshot.image_names
        if not any(image in present for image in _images(pod)):
            return skip()
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> tuple[int, Status | None]:
        images = _images(pod)
        if not images:
            return 0, None
        total_nodes = len(self.handle.snapshot.list())
        if not total_nodes:
            return 0, None
        total = sum(
            scaled_image_score(node.image_states[image], total_nodes)
            for image in images
            if image in node.image_states
        )
        return calculate_priority(total, len(images)), None

    def events_to_register(self) -> list[ClusterEvent]:
        # A score plugin never rejects a pod, so nothing needs to wake one up.
        return []


def new(args: Mapping[str, Any], handle: Handle) -> ImageLocality:
    return ImageLocality(args, handle)
