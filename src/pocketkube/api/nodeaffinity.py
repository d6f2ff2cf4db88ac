"""Node selectors, node affinity and taint tolerations, shared by whoever places pods on nodes.

The scheduler's NodeAffinity, TaintToleration and NodeUnschedulable plugins, the DaemonSet
controller and the taint eviction controller must agree exactly on "may this pod run on this
node", so the rules live here once, as upstream keeps them in
``component-helpers/scheduling/corev1``:

- A node selector is a list of terms that are ORed; the requirements inside one term are ANDed.
  A term with neither ``matchExpressions`` nor ``matchFields`` matches nothing, and so does a
  selector with no terms. ``matchFields`` only knows ``metadata.name`` with ``In``/``NotIn``
  and a single value.
- A term that cannot be parsed (bad operator, ``Gt`` with a non-integer, ...) never matches
  for required affinity (upstream's "lazy error" selector, kept for backwards compatibility)
  but is an error for preferred terms and for the scheduler's own ``addedAffinity``.
- A toleration with an empty effect tolerates every effect; an empty key with ``Exists``
  tolerates every taint; an empty operator means ``Equal``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pocketkube.api.labels import (
    DOES_NOT_EXIST,
    EXISTS,
    GREATER_THAN,
    IN,
    LESS_THAN,
    NOT_IN,
    LabelSelector,
    Requirement,
    SelectorError,
    new_requirement,
    selector_from_set,
)

NODE_NAME_FIELD = "metadata.name"

NO_SCHEDULE = "NoSchedule"
PREFER_NO_SCHEDULE = "PreferNoSchedule"
NO_EXECUTE = "NoExecute"
DO_NOT_SCHEDULE_EFFECTS = frozenset((NO_SCHEDULE, NO_EXECUTE))

TAINT_NODE_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"

_LABEL_OPERATORS = {
    "In": IN,
    "NotIn": NOT_IN,
    "Exists": EXISTS,
    "DoesNotExist": DOES_NOT_EXIST,
    "Gt": GREATER_THAN,
    "Lt": LESS_THAN,
}

Obj = Mapping[str, Any]


class NodeSelectorError(ValueError):
    """A node selector term that cannot be parsed."""


@dataclass(frozen=True, slots=True)
class FieldRequirement:
    """``metadata.name`` (or another field) equal / not equal to one value."""

    key: str
    value: str
    equal: bool

    def matches(self, fields: Mapping[str, str]) -> bool:
        return (fields.get(self.key, "") == self.value) == self.equal


@dataclass(frozen=True, slots=True)
class NodeSelectorTerm:
    """One parsed term; ``None`` parts were absent (an absent part constrains nothing)."""

    labels: LabelSelector | None
    fields: tuple[FieldRequirement, ...] | None

    def matches(self, labels: Mapping[str, str], fields: Mapping[str, str]) -> bool:
        if self.labels is None and self.fields is None:
            return False
        if self.labels is not None and not self.labels.matches(labels):
            return False
        # A node without a name has no fields to compare; upstream then ignores matchFields.
        return self.fields is None or not fields or all(f.matches(fields) for f in self.fields)

    def matches_node(self, node: Obj) -> bool:
        return self.matches(node_labels(node), node_fields(node))


def node_labels(node: Obj) -> Mapping[str, str]:
    return (node.get("metadata") or {}).get("labels") or {}


def node_fields(node: Obj) -> dict[str, str]:
    name = (node.get("metadata") or {}).get("name") or ""
    return {NODE_NAME_FIELD: name} if name else {}


def _label_requirements(expressions: Sequence[Obj]) -> LabelSelector:
    requirements: list[Requirement] = []
    errors: list[str] = []
    for index, expr in enumerate(expressions):
        operator = str(expr.get("operator", ""))
        if operator not in _LABEL_OPERATORS:
            errors.append(f'matchExpressions[{index}].operator: Unsupported value: "{operator}"')
            continue
        try:
            requirements.append(
                new_requirement(
                    str(expr.get("key", "")),
                    _LABEL_OPERATORS[operator],
                    [str(v) for v in expr.get("values") or ()],
                    f"matchExpressions[{index}]",
                )
            )
        except SelectorError as err:
            errors.append(str(err))
    if errors:
        raise NodeSelectorError("; ".join(errors))
    return LabelSelector(tuple(requirements))


def _field_requirements(expressions: Sequence[Obj]) -> tuple[FieldRequirement, ...]:
    result: list[FieldRequirement] = []
    errors: list[str] = []
    for index, expr in enumerate(expressions):
        operator = expr.get("operator", "")
        values = list(expr.get("values") or ())
        if operator not in ("In", "NotIn"):
            errors.append(f'matchFields[{index}].operator: Unsupported value: "{operator}"')
        elif len(values) != 1:
            errors.append(f"matchFields[{index}].values: Invalid value: must have one element")
        else:
            result.append(
                FieldRequirement(str(expr.get("key", "")), str(values[0]), operator == "In")
            )
    if errors:
        raise NodeSelectorError("; ".join(errors))
    return tuple(result)


def is_empty_term(term: Obj | None) -> bool:
    return not term or (not term.get("matchExpressions") and not term.get("matchFields"))


def parse_term(term: Obj) -> NodeSelectorTerm:
    """Parse a NodeSelectorTerm; raises NodeSelectorError when any requirement is invalid."""
    expressions = term.get("matchExpressions") or ()
    fields = term.get("matchFields") or ()
    return NodeSelectorTerm(
        _label_requirements(expressions) if expressions else None,
        _field_requirements(fields) if fields else None,
    )


class NodeSelector:
    """Required node selector terms, ORed.

    ``strict`` raises on the first unparsable term (upstream's NewNodeSelector, used for the
    scheduler's own configuration); otherwise such terms are dropped and simply never match
    (upstream's LazyErrorNodeSelector, used for pods).
    """

    __slots__ = ("errors", "terms")

    def __init__(self, selector: Obj | None, *, strict: bool = False) -> None:
        self.terms: list[NodeSelectorTerm] = []
        self.errors: list[str] = []
        for index, term in enumerate((selector or {}).get("nodeSelectorTerms") or ()):
            if is_empty_term(term):
                continue
            try:
                self.terms.append(parse_term(term))
            except NodeSelectorError as err:
                if strict:
                    raise NodeSelectorError(f"nodeSelectorTerms[{index}]: {err}") from None
                self.errors.append(str(err))

    def matches(self, node: Obj) -> bool:
        labels, fields = node_labels(node), node_fields(node)
        return any(term.matches(labels, fields) for term in self.terms)


@dataclass(frozen=True, slots=True)
class PreferredTerm:
    term: NodeSelectorTerm
    weight: int


class PreferredSchedulingTerms:
    """Weighted preferred terms; a node's score is the sum of the weights of terms it matches.

    Terms with weight 0 or no requirements are ignored; an unparsable term raises
    NodeSelectorError (upstream reports it as a PreScore error).
    """

    __slots__ = ("terms",)

    def __init__(self, terms: Iterable[Obj]) -> None:
        self.terms: list[PreferredTerm] = []
        errors: list[str] = []
        for index, term in enumerate(terms):
            weight = int(term.get("weight") or 0)
            preference = term.get("preference") or {}
            if weight == 0 or is_empty_term(preference):
                continue
            try:
                self.terms.append(PreferredTerm(parse_term(preference), weight))
            except NodeSelectorError as err:
                errors.append(f"[{index}].preference: {err}")
        if errors:
            raise NodeSelectorError("; ".join(errors))

    def score(self, node: Obj) -> int:
        labels, fields = node_labels(node), node_fields(node)
        return sum(t.weight for t in self.terms if t.term.matches(labels, fields))


class RequiredNodeAffinity:
    """A pod's ``spec.nodeSelector`` AND its required node affinity (GetRequiredNodeAffinity)."""

    __slots__ = ("label_selector", "node_selector")

    def __init__(self, pod: Obj) -> None:
        spec = pod.get("spec") or {}
        node_selector = spec.get("nodeSelector") or {}
        self.label_selector = selector_from_set(node_selector) if node_selector else None
        required = required_node_affinity(pod)
        self.node_selector = NodeSelector(required) if required is not None else None

    def matches(self, node: Obj) -> bool:
        if self.label_selector is not None and not self.label_selector.matches(node_labels(node)):
            return False
        return self.node_selector is None or self.node_selector.matches(node)


def required_node_affinity(pod: Obj) -> Obj | None:
    """The pod's ``requiredDuringSchedulingIgnoredDuringExecution`` node selector, if set."""
    affinity = ((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    return required if isinstance(required, Mapping) else None


def preferred_node_affinity(pod: Obj) -> list[Obj] | None:
    affinity = ((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}
    preferred = affinity.get("preferredDuringSchedulingIgnoredDuringExecution")
    return list(preferred) if preferred is not None else None


def pod_matches_node_selector_and_affinity(pod: Obj, node: Obj) -> bool:
    """May ``pod`` run on ``node`` by its nodeSelector and required node affinity?"""
    return RequiredNodeAffinity(pod).matches(node)


def tolerates(toleration: Obj, taint: Obj) -> bool:
    """Does one toleration tolerate one taint (upstream's Toleration.ToleratesTaint)?"""
    effect = toleration.get("effect") or ""
    if effect and effect != (taint.get("effect") or ""):
        return False
    key = toleration.get("key") or ""
    if key and key != (taint.get("key") or ""):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    if operator == "Equal":
        return (toleration.get("value") or "") == (taint.get("value") or "")
    return False


def tolerations_tolerate_taint(tolerations: Iterable[Obj], taint: Obj) -> bool:
    return any(tolerates(toleration, taint) for toleration in tolerations)


def find_untolerated_taint(
    taints: Iterable[Obj] | None,
    tolerations: Iterable[Obj] | None,
    effects: Collection[str] = DO_NOT_SCHEDULE_EFFECTS,
) -> Obj | None:
    """The first taint with one of ``effects`` that no toleration tolerates, or None."""
    tolerations = list(tolerations or ())
    for taint in taints or ():
        if (taint.get("effect") or "") not in effects:
            continue
        if not tolerations_tolerate_taint(tolerations, taint):
            return taint
    return None


def node_taints(node: Obj) -> list[Obj]:
    return list((node.get("spec") or {}).get("taints") or ())


def pod_tolerations(pod: Obj) -> list[Obj]:
    return list((pod.get("spec") or {}).get("tolerations") or ())
