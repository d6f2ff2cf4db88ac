"""Which nodes a DaemonSet's pod belongs on (upstream's ``NodeShouldRunDaemonPod``,
``predicates`` and ``util.AddOrUpdateDaemonPodTolerations``).

The daemon pod as it would be on a node — the template with the node's name and the automatic
tolerations — must fit the node's name, the template's nodeSelector and required node affinity
(``api/nodeaffinity.py``, the scheduler's rules: a term that cannot be parsed never matches,
as upstream's lazy-error selector), and tolerate
the node's NoSchedule and NoExecute taints. A node it fits should run it; a node whose only
misfit is a NoSchedule taint (or a tolerated NoExecute one) keeps a pod already there
(*should continue running*). Daemon pods are pinned to their node with a required node
affinity on ``metadata.name`` (the scheduler binds them, upstream since 1.12).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from pocketkube.api.nodeaffinity import (
    NODE_NAME_FIELD,
    pod_matches_node_selector_and_affinity,
    tolerations_tolerate_taint,
)
from pocketkube.client.rest import Obj


def _exists(key: str, effect: str) -> Obj:
    return {"key": key, "operator": "Exists", "effect": effect}


# upstream's AddOrUpdateDaemonPodTolerations, in its order
DAEMON_TOLERATIONS: tuple[Obj, ...] = (
    _exists("node.kubernetes.io/not-ready", "NoExecute"),
    _exists("node.kubernetes.io/unreachable", "NoExecute"),
    _exists("node.kubernetes.io/disk-pressure", "NoSchedule"),
    _exists("node.kubernetes.io/memory-pressure", "NoSchedule"),
    _exists("node.kubernetes.io/pid-pressure", "NoSchedule"),
    _exists("node.kubernetes.io/unschedulable", "NoSchedule"),
)
HOST_NETWORK_TOLERATION = _exists("node.kubernetes.io/network-unavailable", "NoSchedule")


def _same_toleration(a: Obj, b: Obj) -> bool:
    """Upstream's MatchToleration: key, operator, value and effect."""
    return all((a.get(k) or "") == (b.get(k) or "") for k in ("key", "operator", "value", "effect"))


def add_daemon_tolerations(spec: dict[str, Any]) -> None:
    """Add (or replace) the tolerations every daemon pod has."""
    wanted = list(DAEMON_TOLERATIONS)
    if spec.get("hostNetwork"):
        wanted.append(HOST_NETWORK_TOLERATION)
    tolerations: list[Obj] = list(spec.get("tolerations") or ())
    for toleration in wanted:
        for index, existing in enumerate(tolerations):
            if _same_toleration(existing, toleration):
                tolerations[index] = dict(toleration)
                break
        else:
            tolerations.append(dict(toleration))
    spec["tolerations"] = tolerations


def _untolerated(taints: Sequence[Obj], tolerations: Sequence[Obj], effects: set[str]) -> bool:
    return any(
        (t.get("effect") or "") in effects and not tolerations_tolerate_taint(tolerations, t)
        for t in taints
    )


def daemon_pod_spec(ds: Obj) -> dict[str, Any]:
    """The template's pod spec with the daemon tolerations."""
    spec = copy.deepcopy(((ds.get("spec") or {}).get("template") or {}).get("spec") or {})
    add_daemon_tolerations(spec)
    return spec


def node_should_run_daemon_pod(
    node: Obj, ds: Obj, spec: Mapping[str, Any] | None = None
) -> tuple[bool, bool]:
    """(should run, should continue running) — upstream's NodeShouldRunDaemonPod."""
    spec = spec if spec is not None else daemon_pod_spec(ds)
    name = str((node.get("metadata") or {}).get("name", ""))
    if spec.get("nodeName") and spec.get("nodeName") != name:
        return False, False
    if not pod_matches_node_selector_and_affinity({"spec": spec}, node):
        return False, False
    taints = list((node.get("spec") or {}).get("taints") or ())
    tolerations = list(spec.get("tolerations") or ())
    if _untolerated(taints, tolerations, {"NoSchedule", "NoExecute"}):
        return False, not _untolerated(taints, tolerations, {"NoExecute"})
    return True, True


def pin_to_node(spec: dict[str, Any], node_name: str) -> None:
    """Upstream's ReplaceDaemonSetPodNodeNameNodeAffinity: the required node affinity becomes
    one term, ``metadata.name In [node]`` (other affinity kept)."""
    term = {"matchFields": [{"key": NODE_NAME_FIELD, "operator": "In", "values": [node_name]}]}
    affinity = spec.get("affinity") or {}
    node_affinity = affinity.get("nodeAffinity") or {}
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    required["nodeSelectorTerms"] = [term]
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = required
    affinity["nodeAffinity"] = node_affinity
    spec["affinity"] = affinity


def target_node_name(pod: Obj) -> str | None:
    """The node a daemon pod is for: its nodeName, else its pinned affinity (GetTargetNodeName)."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    affinity = (spec.get("affinity") or {}).get("nodeAffinity") or {}
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    for term in required.get("nodeSelectorTerms") or ():
        for field in term.get("matchFields") or ():
            values = field.get("values") or ()
            if field.get("key") == NODE_NAME_FIELD and field.get("operator") == "In" and values:
                return str(values[0])
    return None
