"""VolumeZone: a pod goes to a zone (and region) where its bound volumes are.

Zonal disks carry their zone and region as labels on the PersistentVolume, the GA
``topology.kubernetes.io/zone|region`` or the deprecated ``failure-domain.beta.kubernetes.io``
ones; a value may name several zones joined by ``__`` (a regional disk). A node must carry the
same label (a beta volume label also accepts the node's GA label) with one of those values.
A node without any zone or region label passes: a single-zone cluster labels nothing.

Only claims that are bound count: an unbound WaitForFirstConsumer claim gets its volume after
scheduling (VolumeBinding and the class's allowedTopologies handle it), and any other unbound
claim makes the pod wait. PreFilter collects the topology once; Filter only compares labels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pocketkube.scheduler.framework.cyclestate import CycleState
from pocketkube.scheduler.framework.interface import (
    ActionType,
    ClusterEvent,
    Handle,
    PreFilterResult,
)
from pocketkube.scheduler.framework.status import Status, skip, unresolvable
from pocketkube.scheduler.framework.types import NodeInfo, PodInfo
from pocketkube.scheduler.plugins import volumehelpers as vh

NAME = "VolumeZone"
STATE_KEY = "PreFilter" + NAME

ERR_REASON_CONFLICT = "node(s) had no available volume zone"

LABEL_ZONE = "topology.kubernetes.io/zone"
LABEL_REGION = "topology.kubernetes.io/region"
LABEL_BETA_ZONE = "failure-domain.beta.kubernetes.io/zone"
LABEL_BETA_REGION = "failure-domain.beta.kubernetes.io/region"
TOPOLOGY_LABELS = (LABEL_BETA_ZONE, LABEL_BETA_REGION, LABEL_ZONE, LABEL_REGION)
_GA_LABEL = {LABEL_BETA_ZONE: LABEL_ZONE, LABEL_BETA_REGION: LABEL_REGION}
MULTI_ZONE_DELIMITER = "__"


@dataclass(frozen=True, slots=True)
class VolumeTopology:
    volume: str
    key: str
    values: frozenset[str]


@dataclass(frozen=True, slots=True)
class _State:
    topologies: tuple[VolumeTopology, ...]

    def clone(self) -> _State:
        return self


def zones_from_label(value: str) -> frozenset[str] | None:
    """The set a ``__``-joined label value names; None if an element is empty (ignored)."""
    zones = [zone.strip() for zone in value.split(MULTI_ZONE_DELIMITER)]
    return None if any(not zone for zone in zones) else frozenset(zones)


class VolumeZone:
    name = NAME

    def __init__(self, args: Mapping[str, Any], handle: Handle) -> None:
        self._handle = handle

    def pre_filter(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> tuple[PreFilterResult | None, Status | None]:
        topologies, status = self._pod_topologies(pod)
        if status is not None:
            return None, status
        if not topologies:
            return None, skip()
        state.write(STATE_KEY, _State(tuple(topologies)))
        return None, None

    def _pod_topologies(self, pod: PodInfo) -> tuple[list[VolumeTopology], Status | None]:
        claims = self._handle.lister("persistentvolumeclaims")
        volumes = self._handle.lister("persistentvolumes")
        classes = self._handle.lister("storageclasses")
        result: list[VolumeTopology] = []
        for volume_source in pod.spec.get("volumes") or ():
            source = volume_source.get("persistentVolumeClaim")
            if source is None:
                continue
            claim_name = str(source.get("claimName") or "")
            if not claim_name:
                return [], unresolvable("PersistentVolumeClaim had no name")
            claim = claims.get(f"{pod.namespace}/{claim_name}")
            if claim is None:
                return [], unresolvable(f'persistentvolumeclaim "{claim_name}" not found')
            volume_name = str(vh.spec(claim).get("volumeName") or "")
            if not volume_name:
                class_name = vh.claim_class(claim)
                if not class_name:
                    return [], unresolvable(
                        "PersistentVolumeClaim had no pv name and storageClass name"
                    )
                storage_class = classes.get(class_name)
                if storage_class is None:
                    message = f'storageclass.storage.k8s.io "{class_name}" not found'
                    return [], unresolvable(message)
                if vh.binds_late(storage_class):
                    continue
                return [], unresolvable("PersistentVolume had no name")
            volume = volumes.get(volume_name)
            if volume is None:
                return [], unresolvable(f'persistentvolume "{volume_name}" not found')
            labels = vh.meta(volume).get("labels") or {}
            for key in TOPOLOGY_LABELS:
                if key in labels and (zones := zones_from_label(str(labels[key]))) is not None:
                    result.append(VolumeTopology(volume_name, key, zones))
        return result, None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if not pod.spec.get("volumes"):
            return None
        data: _State | None = state.get(STATE_KEY)
        if data is not None:
            topologies: Sequence[VolumeTopology] = data.topologies
        else:  # PreFilter did not run (e.g. a Filter-only caller): compute it here
            topologies, status = self._pod_topologies(pod)
            if status is not None:
                return status
        labels = node.labels
        if not any(key in labels for key in TOPOLOGY_LABELS):
            return None
        for topology in topologies:
            value = labels.get(topology.key)
            if value is None:
                value = labels.get(_GA_LABEL.get(topology.key, topology.key))
            if value is None or value not in topology.values:
                return unresolvable(ERR_REASON_CONFLICT)
        return None

    def events_to_register(self) -> list[ClusterEvent]:
        # A new WaitForFirstConsumer class, a node appearing or relabelled, a claim appearing
        # or getting bound, or a volume appearing or relabelled may each let the pod in.
        add_or_update = ActionType.ADD | ActionType.UPDATE
        return [
            ClusterEvent("StorageClass", ActionType.ADD),
            ClusterEvent("Node", add_or_update),
            ClusterEvent("PersistentVolumeClaim", add_or_update),
            ClusterEvent("PersistentVolume", add_or_update),
        ]


def new(args: Mapping[str, Any], handle: Handle) -> VolumeZone:
    return VolumeZone(args, handle)
