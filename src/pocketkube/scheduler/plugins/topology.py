"""What the plugins that count pods across a topology share.

InterPodAffinity and PodTopologySpread both count existing pods per topology domain (the value
of a node label such as ``topology.kubernetes.io/zone``). They need a few small pieces kept
here: the labels of a namespace (terms of existing pods select namespaces by label), the
incoming pod's namespaceSelector turned into namespace names once per cycle (so that matching
it against thousands of pods needs no lookups), the selector that default spreading derives
from the Services and controllers owning a pod (upstream's ``helper.DefaultSelector``), and
parsed topology spread constraints with the node inclusion policies that decide which nodes
form their domains.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pocketkube.api.labels import (
    NOTHING,
    LabelSelector,
    SelectorError,
    selector_from_label_selector,
    selector_from_set,
)
from pocketkube.api.validation import (
    FieldError,
    aggregate,
    duplicate,
    forbidden,
    invalid,
    is_qualified_name,
    not_supported,
    required,
)
from pocketkube.scheduler.framework.interface import Handle
from pocketkube.scheduler.framework.types import AffinityTerm, PodInfo, labels_of
from pocketkube.scheduler.plugins.nodehelpers import (
    RequiredNodeAffinity,
    find_untolerated_taint,
    node_taints,
    pod_tolerations,
)

TopologyPair = tuple[str, str]

# Terms of the incoming pod have their namespaceSelector folded into names (resolve_term), so
# they are matched without namespace labels: only an empty selector ("all namespaces") is left
# and it matches these empty labels.
NO_NAMESPACE_LABELS: Mapping[str, str] = {}


def namespace_labels(handle: Handle, namespace: str) -> Mapping[str, str]:
    """A copy of the namespace's labels; none when the namespace is not (yet) known."""
    obj = handle.lister("namespaces").get(namespace)
    return dict(labels_of(obj)) if obj is not None else {}


def resolve_term(term: AffinityTerm, handle: Handle) -> AffinityTerm:
    """Fold a non-empty namespaceSelector of the incoming pod's term into namespace names.

    An empty selector means every namespace and stays; after this, the term matches existing
    pods with ``NO_NAMESPACE_LABELS``.
    """
    selector = term.namespace_selector
    if selector.empty or selector.nothing:
        return term
    names = set(term.namespaces)
    for namespace in handle.lister("namespaces").list():
        if selector.matches(labels_of(namespace)):
            names.add(str((namespace.get("metadata") or {}).get("name", "")))
    return replace(term, namespaces=frozenset(names), namespace_selector=NOTHING)


def matches_all(terms: list[AffinityTerm], pod: Mapping[str, Any]) -> bool:
    """Does ``pod`` match every one of the incoming pod's (resolved) terms? False for none."""
    return bool(terms) and all(t.matches(pod, NO_NAMESPACE_LABELS) for t in terms)


_CONTROLLER_KINDS = {
    ("v1", "ReplicationController"): "replicationcontrollers",
    ("apps/v1", "ReplicaSet"): "replicasets",
    ("apps/v1", "StatefulSet"): "statefulsets",
}


def _controller_of(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for ref in (pod.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("controller"):
            return ref  # type: ignore[no-any-return]
    return None


def default_selector(pod: PodInfo, handle: Handle) -> LabelSelector:
    """The pods "of the same kind" as ``pod``: the union of the selectors of the Services that
    select it and of its controlling ReplicationController, ReplicaSet or StatefulSet.

    Services and controllers that select the same pod cannot disagree on a label, so merging
    the label sets is safe. An empty result means no default spreading for this pod.
    """
    merged: dict[str, str] = {}
    pod_labels = pod.labels
    for service in handle.lister("services").list():
        if (service.get("metadata") or {}).get("namespace") != pod.namespace:
            continue
        wanted = (service.get("spec") or {}).get("selector")
        if wanted is None:  # a Service without a selector selects nothing, not everything
            continue
        if all(pod_labels.get(k) == v for k, v in wanted.items()):
            merged.update(wanted)
    selector = selector_from_set(merged)
    owner = _controller_of(pod.pod)
    if owner is None:
        return selector
    resource = _CONTROLLER_KINDS.get((owner.get("apiVersion", ""), owner.get("kind", "")))
    if resource is None:
        return selector
    controller = handle.lister(resource).get(f"{pod.namespace}/{owner.get('name', '')}")
    if controller is None:
        return selector
    spec_selector = (controller.get("spec") or {}).get("selector")
    if resource == "replicationcontrollers":
        merged.update(spec_selector or {})
        return selector_from_set(merged)
    try:
        other = selector_from_label_selector(spec_selector)
    except SelectorError:
        return selector
    if other.nothing:
        return selector
    requirements = sorted((*selector.requirements, *other.requirements), key=lambda r: r.key)
    return LabelSelector(tuple(requirements))


# -- topology spread constraints ---------------------------------------------------------------
HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
DO_NOT_SCHEDULE = "DoNotSchedule"
SCHEDULE_ANYWAY = "ScheduleAnyway"
HONOR = "Honor"
IGNORE = "Ignore"
SYSTEM_DEFAULTING = "System"
LIST_DEFAULTING = "List"

# What ``defaultingType: System`` spreads by: scores only, so that no pod ever stays pending
# because of a default it did not ask for.
SYSTEM_DEFAULT_CONSTRAINTS: tuple[Mapping[str, Any], ...] = (
    {"maxSkew": 3, "topologyKey": HOSTNAME, "whenUnsatisfiable": SCHEDULE_ANYWAY},
    {"maxSkew": 5, "topologyKey": ZONE, "whenUnsatisfiable": SCHEDULE_ANYWAY},
)


@dataclass(frozen=True, slots=True)
class SpreadConstraint:
    """A TopologySpreadConstraint with its selector parsed and its defaults filled in."""

    max_skew: int
    topology_key: str
    selector: LabelSelector
    action: str = DO_NOT_SCHEDULE
    min_domains: int = 1
    node_affinity_policy: str = HONOR
    node_taints_policy: str = IGNORE


def parse_spread_constraints(
    constraints: Iterable[Mapping[str, Any]], action: str
) -> list[SpreadConstraint]:
    """The constraints whose ``whenUnsatisfiable`` is ``action``; SelectorError if invalid.

    ``matchLabelKeys`` is not read: the API server already merged it into ``labelSelector``.
    """
    result = []
    for c in constraints:
        if c.get("whenUnsatisfiable") != action:
            continue
        min_domains = c.get("minDomains")
        result.append(
            SpreadConstraint(
                max_skew=int(c.get("maxSkew") or 0),
                topology_key=str(c.get("topologyKey", "")),
                selector=selector_from_label_selector(c.get("labelSelector")),
                action=action,
                min_domains=1 if min_domains is None else int(min_domains),
                node_affinity_policy=c.get("nodeAffinityPolicy") or HONOR,
                node_taints_policy=c.get("nodeTaintsPolicy") or IGNORE,
            )
        )
    return result


def _validate_spread_args(defaulting: Any, constraints: Sequence[Any]) -> list[FieldError]:
    errs: list[FieldError] = []
    if defaulting not in (SYSTEM_DEFAULTING, LIST_DEFAULTING):
        errs.append(
            not_supported("defaultingType", defaulting, [SYSTEM_DEFAULTING, LIST_DEFAULTING])
        )
    elif defaulting == SYSTEM_DEFAULTING and constraints:
        errs.append(invalid("defaultingType", defaulting, "when .defaultConstraints are not empty"))
    seen: set[tuple[str, str]] = set()
    for index, c in enumerate(constraints):
        path = f"defaultConstraints[{index}]"
        if int(c.get("maxSkew") or 0) <= 0:
            errs.append(invalid(f"{path}.maxSkew", c.get("maxSkew"), "not in valid range (0, inf)"))
        key = str(c.get("topologyKey") or "")
        if not key:
            errs.append(required(f"{path}.topologyKey", "can not be empty"))
        errs.extend(invalid(f"{path}.topologyKey", key, msg) for msg in is_qualified_name(key))
        action = c.get("whenUnsatisfiable") or ""
        if not action:
            errs.append(required(f"{path}.whenUnsatisfiable", "can not be empty"))
        elif action not in (DO_NOT_SCHEDULE, SCHEDULE_ANYWAY):
            supported = [DO_NOT_SCHEDULE, SCHEDULE_ANYWAY]
            errs.append(not_supported(f"{path}.whenUnsatisfiable", action, supported))
        if c.get("labelSelector") is not None:
            detail = "constraint must not define a selector, as they deduced for each pod"
            errs.append(forbidden(f"{path}.labelSelector", detail))
        if (key, action) in seen:
            errs.append(duplicate("defaultConstraints", f"{{{key}, {action}}}"))
        seen.add((key, action))
    return errs


def parse_spread_args(args: Mapping[str, Any]) -> tuple[list[SpreadConstraint], bool]:
    """PodTopologySpreadArgs → (default constraints, whether they are the system defaults).

    Raises ValueError with upstream's validation messages.
    """
    defaulting = args.get("defaultingType") or SYSTEM_DEFAULTING
    declared = list(args.get("defaultConstraints") or ())
    errs = _validate_spread_args(defaulting, declared)
    if errs:
        raise ValueError(aggregate(err.message for err in errs))
    system = defaulting == SYSTEM_DEFAULTING
    raw = SYSTEM_DEFAULT_CONSTRAINTS if system else declared
    parsed = [
        c
        for action in (DO_NOT_SCHEDULE, SCHEDULE_ANYWAY)
        for c in parse_spread_constraints(raw, action)
    ]
    return parsed, system


class NodeInclusion:
    """Does a node belong to a constraint's domains for this pod (the inclusion policies)?"""

    __slots__ = ("_affinity", "_tolerations")

    def __init__(self, pod: PodInfo) -> None:
        self._affinity = RequiredNodeAffinity(pod.pod)
        self._tolerations = pod_tolerations(pod.pod)

    def includes(self, constraint: SpreadConstraint, node: Mapping[str, Any]) -> bool:
        if constraint.node_affinity_policy == HONOR and not self._affinity.matches(node):
            return False
        return not (
            constraint.node_taints_policy == HONOR
            and find_untolerated_taint(node_taints(node), self._tolerations) is not None
        )


def count_matching(pods: Iterable[PodInfo], selector: LabelSelector, namespace: str) -> int:
    """Pods of ``namespace`` that ``selector`` matches, leaving out terminating ones.

    An empty selector counts nothing here (it would otherwise count every pod).
    """
    if selector.empty:
        return 0
    count = 0
    for info in pods:
        meta = info.pod.get("metadata") or {}
        if meta.get("deletionTimestamp") or info.namespace != namespace:
            continue
        if selector.matches(info.labels):
            count += 1
    return count
