"""The scheduler's view of pods and nodes: parsed once, shared by every plugin.

``PodInfo`` holds a pod with what plugins ask of it again and again (requests, parsed affinity
terms); ``NodeInfo`` holds a node with the pods on it (bound or assumed) and their sums, as
upstream's ``framework.NodeInfo``. Plugins treat both as read-only; the cache owns them and
hands out a snapshot per cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pocketkube.api.labels import (
    EVERYTHING,
    LabelSelector,
    SelectorError,
    selector_from_label_selector,
)
from pocketkube.scheduler.framework.resources import (
    Resource,
    pod_non_zero_requests,
    pod_requests,
)

Obj = dict[str, Any]


def pod_key(pod: Mapping[str, Any]) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def labels_of(obj: Mapping[str, Any]) -> Mapping[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


@dataclass(frozen=True, slots=True)
class AffinityTerm:
    """A parsed PodAffinityTerm: which pods (namespaces and selector) it counts, and where."""

    namespaces: frozenset[str]
    selector: LabelSelector
    topology_key: str
    namespace_selector: LabelSelector

    def matches(self, pod: Mapping[str, Any], namespace_labels: Mapping[str, str] | None) -> bool:
        """Does ``pod`` (with its namespace's labels, if known) fall under this term?"""
        meta = pod.get("metadata") or {}
        namespace = meta.get("namespace", "")
        if namespace not in self.namespaces and not (
            namespace_labels is not None and self.namespace_selector.matches(namespace_labels)
        ):
            return False
        return self.selector.matches(meta.get("labels") or {})


@dataclass(frozen=True, slots=True)
class WeightedAffinityTerm:
    term: AffinityTerm
    weight: int


def _selector(obj: Any) -> LabelSelector:
    try:
        return selector_from_label_selector(obj)
    except SelectorError:
        return LabelSelector(nothing=True)


def _term(term: Mapping[str, Any], namespace: str) -> AffinityTerm:
    namespaces = frozenset(term.get("namespaces") or ())
    ns_selector_obj = term.get("namespaceSelector")
    if not namespaces and ns_selector_obj is None:
        namespaces = frozenset((namespace,))
    ns_selector = _selector(ns_selector_obj)
    if ns_selector_obj is not None and not ns_selector_obj:
        ns_selector = EVERYTHING
    selector = _selector(term.get("labelSelector"))
    # matchLabelKeys / mismatchLabelKeys are folded into the selector by the API server
    # upstream; the scheduler sees the result.
    return AffinityTerm(namespaces, selector, str(term.get("topologyKey", "")), ns_selector)


def _terms(affinity: Mapping[str, Any], namespace: str) -> list[AffinityTerm]:
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or ()
    return [_term(t, namespace) for t in required]


def _weighted(affinity: Mapping[str, Any], namespace: str) -> list[WeightedAffinityTerm]:
    preferred = affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or ()
    return [
        WeightedAffinityTerm(_term(t.get("podAffinityTerm") or {}, namespace), int(t["weight"]))
        for t in preferred
        if t.get("weight")
    ]


class PodInfo:
    """A pod and what the plugins read of it, computed once."""

    __slots__ = (
        "key",
        "non_zero_cpu",
        "non_zero_memory",
        "pod",
        "preferred_affinity",
        "preferred_anti_affinity",
        "priority",
        "requests",
        "required_affinity",
        "required_anti_affinity",
    )

    def __init__(self, pod: Obj) -> None:
        self.pod = pod
        self.key = pod_key(pod)
        self.requests: Resource = pod_requests(pod)
        self.non_zero_cpu, self.non_zero_memory = pod_non_zero_requests(pod)
        namespace = (pod.get("metadata") or {}).get("namespace", "")
        affinity = (pod.get("spec") or {}).get("affinity") or {}
        pod_affinity = affinity.get("podAffinity") or {}
        anti_affinity = affinity.get("podAntiAffinity") or {}
        self.required_affinity = _terms(pod_affinity, namespace)
        self.required_anti_affinity = _terms(anti_affinity, namespace)
        self.preferred_affinity = _weighted(pod_affinity, namespace)
        self.preferred_anti_affinity = _weighted(anti_affinity, namespace)
        # The queue's order reads it at every comparison of its heap.
        self.priority: int = int((pod.get("spec") or {}).get("priority") or 0)

    def with_pod(self, pod: Obj) -> PodInfo:
        """The info of another version of this pod that differs only where no field here is
        read from (the assumed copy, with its ``nodeName``), without computing them again."""
        info = PodInfo.__new__(PodInfo)
        for name in PodInfo.__slots__:
            setattr(info, name, getattr(self, name))
        info.pod = pod
        return info

    @property
    def namespace(self) -> str:
        return str((self.pod.get("metadata") or {}).get("namespace", ""))

    @property
    def labels(self) -> Mapping[str, str]:
        return labels_of(self.pod)

    @property
    def spec(self) -> Mapping[str, Any]:
        return self.pod.get("spec") or {}

    @property
    def has_affinity(self) -> bool:
        return bool(
            self.required_affinity
            or self.required_anti_affinity
            or self.preferred_affinity
            or self.preferred_anti_affinity
        )


WILDCARD_IP = "0.0.0.0"


def host_ports(pod: Mapping[str, Any]) -> list[tuple[str, str, int]]:
    """(hostIP, protocol, hostPort) for every container port that claims a host port,
    sidecar init containers (``restartPolicy: Always``) included, as upstream counts them."""
    result = []
    spec = pod.get("spec") or {}
    sidecars = [c for c in spec.get("initContainers") or () if c.get("restartPolicy") == "Always"]
    for container in [*(spec.get("containers") or ()), *sidecars]:
        for port in container.get("ports") or ():
            host_port = port.get("hostPort") or 0
            if host_port > 0:
                ip = port.get("hostIP") or WILDCARD_IP
                result.append((ip, port.get("protocol") or "TCP", int(host_port)))
    return result


@dataclass(slots=True)
class HostPortInfo:
    """Host ports in use on a node: hostIP → {(protocol, port): count}."""

    by_ip: dict[str, dict[tuple[str, int], int]] = field(default_factory=dict)

    def add(self, ip: str, protocol: str, port: int, sign: int = 1) -> None:
        ports = self.by_ip.setdefault(ip, {})
        count = ports.get((protocol, port), 0) + sign
        if count > 0:
            ports[(protocol, port)] = count
        else:
            ports.pop((protocol, port), None)
            if not ports:
                del self.by_ip[ip]

    def conflicts(self, ip: str, protocol: str, port: int) -> bool:
        """0.0.0.0 conflicts with every address on the same protocol and port."""
        wanted = (protocol, port)
        if ip == WILDCARD_IP:
            return any(wanted in ports for ports in self.by_ip.values())
        return wanted in self.by_ip.get(ip, {}) or wanted in self.by_ip.get(WILDCARD_IP, {})

    def clone(self) -> HostPortInfo:
        return HostPortInfo({ip: dict(ports) for ip, ports in self.by_ip.items()})


@dataclass(frozen=True, slots=True)
class ImageStateSummary:
    size: int
    num_nodes: int


class NodeInfo:
    """A node, the pods on it (bound or assumed) and their sums."""

    __slots__ = (
        "allocatable",
        "generation",
        "image_states",
        "name",
        "node",
        "non_zero_requested",
        "pods",
        "pods_with_affinity",
        "pods_with_required_anti_affinity",
        "pvc_ref_counts",
        "requested",
        "used_ports",
    )

    def __init__(self, node: Obj | None = None) -> None:
        self.node: Obj | None = None
        self.name = ""  # read per node per plugin: kept, not derived from the node each time
        self.pods: list[PodInfo] = []
        self.pods_with_affinity: list[PodInfo] = []
        self.pods_with_required_anti_affinity: list[PodInfo] = []
        self.requested = Resource()
        self.non_zero_requested = Resource()
        self.allocatable = Resource()
        self.used_ports = HostPortInfo()
        self.image_states: dict[str, ImageStateSummary] = {}
        self.pvc_ref_counts: dict[str, int] = {}
        self.generation = 0
        if node is not None:
            self.set_node(node)

    @property
    def labels(self) -> Mapping[str, str]:
        return labels_of(self.node or {})

    def set_node(self, node: Obj) -> None:
        self.node = node
        self.name = str((node.get("metadata") or {}).get("name", ""))
        status = node.get("status") or {}
        self.allocatable = Resource.from_list(status.get("allocatable") or status.get("capacity"))

    def add_pod(self, info: PodInfo) -> None:
        self.pods.append(info)
        if info.has_affinity:
            self.pods_with_affinity.append(info)
        if info.required_anti_affinity:
            self.pods_with_required_anti_affinity.append(info)
        self._account(info, 1)

    def remove_pod(self, key: str) -> bool:
        for index, info in enumerate(self.pods):
            if info.key == key:
                del self.pods[index]
                self.pods_with_affinity = [p for p in self.pods_with_affinity if p.key != key]
                self.pods_with_required_anti_affinity = [
                    p for p in self.pods_with_required_anti_affinity if p.key != key
                ]
                self._account(info, -1)
                return True
        return False

    def _account(self, info: PodInfo, sign: int) -> None:
        self.requested.add(info.requests, sign)
        self.non_zero_requested.milli_cpu += sign * info.non_zero_cpu
        self.non_zero_requested.memory += sign * info.non_zero_memory
        for ip, protocol, port in host_ports(info.pod):
            self.used_ports.add(ip, protocol, port, sign)
        for volume in info.spec.get("volumes") or ():
            claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            if claim:
                key = f"{info.namespace}/{claim}"
                count = self.pvc_ref_counts.get(key, 0) + sign
                if count > 0:
                    self.pvc_ref_counts[key] = count
                else:
                    self.pvc_ref_counts.pop(key, None)
        self.generation += 1

    def clone(self) -> NodeInfo:
        copy = NodeInfo()
        copy.node = self.node
        copy.name = self.name
        copy.pods = list(self.pods)
        copy.pods_with_affinity = list(self.pods_with_affinity)
        copy.pods_with_required_anti_affinity = list(self.pods_with_required_anti_affinity)
        copy.requested = self.requested.clone()
        copy.non_zero_requested = self.non_zero_requested.clone()
        copy.allocatable = self.allocatable.clone()
        copy.used_ports = self.used_ports.clone()
        copy.image_states = self.image_states
        copy.pvc_ref_counts = dict(self.pvc_ref_counts)
        copy.generation = self.generation
        return copy
