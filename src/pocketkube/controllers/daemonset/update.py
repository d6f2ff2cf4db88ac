"""Rolling updates of a DaemonSet (upstream's ``pkg/controller/daemon/update.go`` rollingUpdate),
as a plan: which old pods to delete and on which nodes to create new ones.

A pod is *updated* when its ``controller-revision-hash`` is the current revision's (or its
``pod-template-generation`` the DaemonSet's). Without surge (``maxSurge`` 0): old pods are
deleted while the unavailable count stays within ``maxUnavailable`` — an old pod that is not
available may always go; the manage loop then creates the new one. With surge: a new pod is
created beside an old one (up to ``maxSurge`` nodes at once; at once where the old one is not
available) and the old one is deleted when the new one is available. Both limits are ints or
percentages of the nodes that should run the pod (rounded up); both 0 means maxUnavailable 1.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pocketkube.client.rest import Obj
from pocketkube.controllers.daemonset.history import REVISION_HASH_LABEL
from pocketkube.controllers.podcontrol import is_pod_available

TEMPLATE_GENERATION_LABEL = "pod-template-generation"


def scaled(value: Any, total: int) -> int:
    """An IntOrString limit scaled to ``total`` (percentages rounded up); bad values are 0."""
    if isinstance(value, bool) or value is None:
        return 0
    if isinstance(value, int):
        return max(0, value)
    if isinstance(value, str):
        text = value.strip()
        try:
            if text.endswith("%"):
                return max(0, math.ceil(int(text[:-1]) * total / 100))
            return max(0, int(text))
        except ValueError:
            return 0
    return 0


def limits(ds: Obj, desired: int) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) for ``desired`` nodes (upstream's updatedDesiredNodeCounts)."""
    rolling = ((ds.get("spec") or {}).get("updateStrategy") or {}).get("rollingUpdate") or {}
    surge = scaled(rolling.get("maxSurge", 0), desired)
    unavailable = scaled(rolling.get("maxUnavailable", 1), desired)
    if desired > 0 and surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def is_pod_updated(pod: Obj, hash_: str, generation: int | None) -> bool:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    template_matches = generation is not None and labels.get(TEMPLATE_GENERATION_LABEL) == str(
        generation
    )
    return (bool(hash_) and labels.get(REVISION_HASH_LABEL) == hash_) or template_matches


def find_updated_pods_on_node(
    pods: Sequence[Obj], hash_: str, generation: int | None
) -> tuple[Obj | None, Obj | None, bool]:
    """(new pod, old pod, ok): not ok when a node has two of either kind."""
    new = old = None
    for pod in pods:
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            continue
        if is_pod_updated(pod, hash_, generation):
            if new is not None:
                return None, None, False
            new = pod
        else:
            if old is not None:
                return None, None, False
            old = pod
    return new, old, True


@dataclass
class Plan:
    delete: list[Obj] = field(default_factory=list)
    create: list[str] = field(default_factory=list)  # node names


def rolling_update_plan(
    ds: Obj,
    node_to_pods: Mapping[str, Sequence[Obj]],
    desired: int,
    hash_: str,
    generation: int | None,
    now: dt.datetime,
) -> Plan:
    """``node_to_pods`` holds every node that should run the pod (perhaps with no pods)."""
    surge, max_unavailable = limits(ds, desired)
    min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)

    def available(pod: Obj) -> bool:
        return is_pod_available(pod, min_ready, now)

    plan = Plan()
    if surge == 0:
        unavailable = 0
        replacements: list[Obj] = []
        candidates: list[Obj] = []
        for node in sorted(node_to_pods):
            new, old, ok = find_updated_pods_on_node(node_to_pods[node], hash_, generation)
            if not ok or (new is None) == (old is None):
                unavailable += 1  # the manage loop creates or prunes here
            elif new is not None:
                if not available(new):
                    unavailable += 1
            elif old is not None:
                if not available(old):
                    replacements.append(old)
                    unavailable += 1
                elif unavailable < max_unavailable:
                    candidates.append(old)
        remaining = min(max(0, max_unavailable - unavailable), len(candidates))
        plan.delete = replacements + candidates[:remaining]
        return plan

    surged = 0
    candidate_nodes: list[str] = []
    for node in sorted(node_to_pods):
        new, old, ok = find_updated_pods_on_node(node_to_pods[node], hash_, generation)
        if not ok:
            surged += 1
            continue
        if old is None:
            continue
        if new is None:
            if not available(old):
                plan.create.append(node)
            elif surged < surge:
                candidate_nodes.append(node)
            continue
        if not available(new):
            surged += 1
            continue
        plan.delete.append(old)
    remaining = min(max(0, surge - surged), len(candidate_nodes))
    plan.create += candidate_nodes[:remaining]
    return plan
