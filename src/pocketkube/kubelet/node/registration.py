"""The Node the kubelet registers, and how it reconciles a Node that already exists.

A kubelet creates its Node once (``initialNode``): well-known labels (hostname, os, arch and
their beta twins) plus the labels it was given, the taints it registers with, ``unschedulable``
with its taint when asked to register unschedulable, the controller-managed attach/detach
annotation, the pod CIDR when one was configured, and a full status from the setters.

When the Node already exists (a restarted kubelet, a re-installed machine of the same name) the
kubelet does not overwrite it: labels, taints and annotations others added stay. It only puts
back the well-known labels it owns (``updateDefaultLabels``), the attach/detach annotation,
capacity and allocatable when they are missing, and the hugepage sizes the kernel offers now
(``reconcileHugePageResource``), and a configured pod CIDR when the node has none (upstream
leaves that to node IPAM). Labels given with ``--node-labels`` are applied at creation
only, as upstream.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pocketkube.kubelet.node.protocols import Obj

LABEL_HOSTNAME = "kubernetes.io/hostname"
LABEL_OS = "kubernetes.io/os"
LABEL_ARCH = "kubernetes.io/arch"
LABEL_BETA_OS = "beta.kubernetes.io/os"
LABEL_BETA_ARCH = "beta.kubernetes.io/arch"
CONTROL_PLANE_ROLE = "node-role.kubernetes.io/control-plane"
CONTROLLER_MANAGED_ATTACH = "volumes.kubernetes.io/controller-managed-attach-detach"
UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}

# Labels the kubelet owns: put back on an existing node when they differ (upstream's list).
DEFAULT_LABELS = (
    LABEL_HOSTNAME,
    "topology.kubernetes.io/zone",
    "topology.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/region",
    "node.kubernetes.io/instance-type",
    "beta.kubernetes.io/instance-type",
    LABEL_OS,
    LABEL_ARCH,
    "node.kubernetes.io/windows-build",
    LABEL_BETA_OS,
    LABEL_BETA_ARCH,
)


@dataclass(frozen=True, kw_only=True)
class NodeConfig:
    """What the kubelet was told about its node (flags and config)."""

    node_name: str
    hostname: str
    operating_system: str = "linux"
    architecture: str = "amd64"
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: Sequence[Obj] = ()
    schedulable: bool = True
    pod_cidr: str | None = None
    controller_attach_detach: bool = True


def initial_node(config: NodeConfig) -> Obj:
    """The Node to create, without status (the setters fill it)."""
    labels = {
        LABEL_HOSTNAME: config.hostname,
        LABEL_OS: config.operating_system,
        LABEL_ARCH: config.architecture,
        LABEL_BETA_OS: config.operating_system,
        LABEL_BETA_ARCH: config.architecture,
        **config.labels,
    }
    metadata: Obj = {"name": config.node_name, "labels": labels}
    if config.controller_attach_detach:
        metadata["annotations"] = {CONTROLLER_MANAGED_ATTACH: "true"}
    spec: Obj = {}
    taints = [copy.deepcopy(dict(taint)) for taint in config.taints]
    if not config.schedulable:
        spec["unschedulable"] = True
        if not any(_same_taint(taint, UNSCHEDULABLE_TAINT) for taint in taints):
            taints.append(dict(UNSCHEDULABLE_TAINT))
    if taints:
        spec["taints"] = taints
    if config.pod_cidr:
        spec["podCIDR"] = config.pod_cidr
        spec["podCIDRs"] = [config.pod_cidr]
    return {"apiVersion": "v1", "kind": "Node", "metadata": metadata, "spec": spec, "status": {}}


def _same_taint(a: Obj, b: Obj) -> bool:
    return bool(a.get("key") == b.get("key") and a.get("effect") == b.get("effect"))


def reconcile_existing(initial: Obj, existing: Obj) -> bool:
    """Bring ``existing`` (modified in place) in line with what this kubelet owns; whether
    anything changed."""
    changed = _reconcile_attach_detach(initial, existing)
    changed = _update_default_labels(initial, existing) or changed
    changed = _update_default_resources(initial, existing) or changed
    changed = _reconcile_hugepages(initial, existing) or changed
    return _reconcile_pod_cidr(initial, existing) or changed


def _reconcile_pod_cidr(initial: Obj, existing: Obj) -> bool:
    """A configured pod CIDR fills an empty one; node IPAM's choice is never overwritten."""
    wanted = (initial.get("spec") or {}).get("podCIDR")
    spec: Obj = existing.setdefault("spec", {})
    if not wanted or spec.get("podCIDR"):
        return False
    spec["podCIDR"] = wanted
    spec["podCIDRs"] = [wanted]
    return True


def _update_default_labels(initial: Obj, existing: Obj) -> bool:
    wanted = initial["metadata"].get("labels") or {}
    labels: dict[str, str] = existing.setdefault("metadata", {}).setdefault("labels", {})
    changed = False
    for name in DEFAULT_LABELS:
        if name not in wanted:
            continue
        if labels.get(name) != wanted[name]:
            labels[name] = wanted[name]
            changed = True
        if labels.get(name) == "":
            del labels[name]
    return changed


def _reconcile_attach_detach(initial: Obj, existing: Obj) -> bool:
    wanted = (initial["metadata"].get("annotations") or {}).get(CONTROLLER_MANAGED_ATTACH)
    annotations: dict[str, str] = existing.setdefault("metadata", {}).get("annotations") or {}
    if annotations.get(CONTROLLER_MANAGED_ATTACH) == wanted:
        return False
    if wanted is None:
        annotations.pop(CONTROLLER_MANAGED_ATTACH, None)
    else:
        annotations[CONTROLLER_MANAGED_ATTACH] = wanted
    existing["metadata"]["annotations"] = annotations
    return True


def _update_default_resources(initial: Obj, existing: Obj) -> bool:
    status: Obj = existing.setdefault("status", {})
    changed = False
    for name in ("capacity", "allocatable"):
        if status.get(name) is None:
            wanted = initial.get("status", {}).get(name)
            status[name] = copy.deepcopy(wanted) if wanted is not None else {}
            changed = changed or wanted is not None
    return changed


def _reconcile_hugepages(initial: Obj, existing: Obj) -> bool:
    want_capacity = initial.get("status", {}).get("capacity") or {}
    want_allocatable = initial.get("status", {}).get("allocatable") or {}
    capacity: Obj = existing["status"]["capacity"]
    allocatable: Obj = existing["status"]["allocatable"]
    changed = False
    for name, quantity in want_capacity.items():
        if not name.startswith("hugepages-"):
            continue
        if capacity.get(name) != quantity:
            capacity[name] = quantity
            changed = True
        if name in want_allocatable and allocatable.get(name) != want_allocatable[name]:
            allocatable[name] = want_allocatable[name]
            changed = True
    for name in [name for name in capacity if name.startswith("hugepages-")]:
        if name not in want_capacity:
            del capacity[name]
            allocatable.pop(name, None)
            changed = True
    return changed
