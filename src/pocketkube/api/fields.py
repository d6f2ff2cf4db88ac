"""Field selectors: ``fieldSelector=spec.nodeName=node-1,status.phase!=Running``.

The grammar is ``k8s.io/apimachinery/pkg/fields/selector.go``: terms separated by commas, each
``field=value``, ``field==value`` or ``field!=value``; in values a backslash escapes ``\\``, ``,``
and ``=``. A missing field reads as the empty string, so ``spec.nodeName=`` selects unscheduled
pods and ``!=`` also selects objects that lack the field.

Which fields a resource can be selected on is decided per resource, as upstream's field label
conversion functions (pkg/apis/*/v1/conversion.go) and registry ``GetAttrs`` functions
(pkg/registry/*/strategy.go) do; the values are computed from the object by
``selectable_fields``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from pocketkube.api.labels import SelectorError

EQUALS, NOT_EQUALS = "=", "!="
_OPERATORS = ("!=", "==", "=")  # "==" before "=" so "a==b" does not leave "=b" as the value
_ESCAPES = {"\\": "\\\\", ",": "\\,", "=": "\\="}


@dataclass(frozen=True, slots=True)
class FieldRequirement:
    field: str
    operator: str  # EQUALS or NOT_EQUALS ("==" is stored as "=")
    value: str

    def matches(self, fields: Mapping[str, str]) -> bool:
        equal = fields.get(self.field, "") == self.value
        return equal if self.operator == EQUALS else not equal

    def __str__(self) -> str:
        return f"{self.field}{self.operator}{escape_value(self.value)}"


@dataclass(frozen=True, slots=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, fields: Mapping[str, str]) -> bool:
        return all(req.matches(fields) for req in self.requirements)

    def requires_exact_match(self, field: str) -> str | None:
        """The value ``field`` must equal for a match, if a term pins it (for indexes)."""
        for req in self.requirements:
            if req.field == field and req.operator == EQUALS:
                return req.value
        return None

    def __str__(self) -> str:
        return ",".join(str(req) for req in self.requirements)


def escape_value(value: str) -> str:
    return "".join(_ESCAPES.get(ch, ch) for ch in value)


def unescape_value(text: str) -> str:
    if not any(ch in text for ch in "\\,="):
        return text
    out: list[str] = []
    in_slash = False
    for ch in text:
        if in_slash:
            if ch not in _ESCAPES:
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{ch}")
            out.append(ch)
            in_slash = False
        elif ch == "\\":
            in_slash = True
        elif ch in ",=":
            # Go prints the rune with %v, i.e. as its code point.
            raise SelectorError(f"invalid field selector: unescaped character in value: {ord(ch)}")
        else:
            out.append(ch)
    if in_slash:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not escaped; the escapes stay in the terms."""
    if not text:
        return []
    terms, start, in_slash = [], 0, False
    for i, ch in enumerate(text):
        if in_slash:
            in_slash = False
        elif ch == "\\":
            in_slash = True
        elif ch == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    # The field name cannot be escaped: the first operator found splits the term.
    for i in range(len(term)):
        for op in _OPERATORS:
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op) :]
    return None


def parse_field_selector(text: str) -> FieldSelector:
    """Parse a ``fieldSelector`` query parameter; raise SelectorError with upstream's message."""
    requirements = []
    for term in sorted(_split_terms(text)):
        if not term:
            continue
        split = _split_term(term)
        if split is None:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{term}'")
        field, op, raw = split
        value = unescape_value(raw)
        requirements.append(FieldRequirement(field, NOT_EQUALS if op == "!=" else EQUALS, value))
    return FieldSelector(tuple(requirements))


# -- which fields each resource supports ------------------------------------------------------
_META = ("metadata.name", "metadata.namespace")


def _unsupported(label: str) -> str:
    return f"field label not supported: {label}"


def _default_unsupported(label: str) -> str:
    return f'"{label}" is not a known field selector: only "metadata.name", "metadata.namespace"'


_OBJECT_REFERENCE_FIELDS = (
    "kind",
    "namespace",
    "name",
    "uid",
    "apiVersion",
    "resourceVersion",
    "fieldPath",
)

# resource → (field labels accepted, how a rejection reads, labels renamed to the stored fields)
_FIELD_LABELS: dict[str, tuple[frozenset[str], Callable[[str], str], dict[str, str]]] = {
    "pods": (
        frozenset(
            (
                *_META,
                "spec.nodeName",
                "spec.restartPolicy",
                "spec.schedulerName",
                "spec.serviceAccountName",
                "spec.hostNetwork",
                "status.phase",
                "status.podIP",
                "status.podIPs",
                "status.nominatedNodeName",
            )
        ),
        _unsupported,
        {"spec.host": "spec.nodeName"},
    ),
    "nodes": (frozenset(("metadata.name", "spec.unschedulable")), _unsupported, {}),
    "namespaces": (frozenset(("metadata.name", "status.phase")), _unsupported, {}),
    "replicationcontrollers": (frozenset((*_META, "status.replicas")), _unsupported, {}),
    "secrets": (frozenset((*_META, "type")), _unsupported, {}),
    "services": (frozenset((*_META, "spec.clusterIP", "spec.type")), _unsupported, {}),
    "events": (
        frozenset(
            (
                *_META,
                "involvedObject.kind",
                "involvedObject.namespace",
                "involvedObject.name",
                "involvedObject.uid",
                "involvedObject.apiVersion",
                "involvedObject.resourceVersion",
                "involvedObject.fieldPath",
                "reason",
                "reportingComponent",
                "source",
                "type",
            )
        ),
        _unsupported,
        {},
    ),
    # events.k8s.io Events are stored as core Events: upstream's field label conversion turns
    # the new names into the core ones, and rejects the core spellings.
    "events.events.k8s.io": (
        frozenset(
            (
                *_META,
                *(f"regarding.{name}" for name in _OBJECT_REFERENCE_FIELDS),
                "reason",
                "reportingController",
                "source",
                "type",
            )
        ),
        _unsupported,
        {
            **{f"regarding.{name}": f"involvedObject.{name}" for name in _OBJECT_REFERENCE_FIELDS},
            "reportingController": "reportingComponent",
        },
    ),
    "jobs.batch": (
        frozenset((*_META, "status.successful")),
        lambda label: f'field label "{label}" not supported for batchv1.Job',
        {},
    ),
}


def allowed_fields(resource: str) -> frozenset[str]:
    """Field labels ``resource`` (plural, group-qualified outside core: ``jobs.batch``) accepts."""
    entry = _FIELD_LABELS.get(resource)
    return entry[0] if entry else frozenset(_META)


def validate_fields(
    selector: FieldSelector, allowed: Collection[str], resource: str
) -> FieldSelector:
    """Reject terms on fields outside ``allowed``; return the selector with legacy field names
    (a pod's ``spec.host``) renamed. The API server turns SelectorError into 400 BadRequest."""
    _, reject, renames = _FIELD_LABELS.get(resource, (frozenset(), _default_unsupported, {}))
    out = []
    for req in selector.requirements:
        field = renames.get(req.field, req.field)
        if req.field not in allowed and field not in allowed:
            raise SelectorError(reject(req.field))
        out.append(FieldRequirement(field, req.operator, req.value))
    return FieldSelector(tuple(out))


# -- the values of those fields for one object ------------------------------------------------
def _get(obj: Mapping[str, Any], *path: str) -> Any:
    node: Any = obj
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def _text(obj: Mapping[str, Any], *path: str) -> str:
    value = _get(obj, *path)
    return value if isinstance(value, str) else ""


def _bool(obj: Mapping[str, Any], *path: str) -> str:
    return "true" if _get(obj, *path) is True else "false"


def _int(obj: Mapping[str, Any], *path: str) -> str:
    value = _get(obj, *path)
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else "0"


def _pod_fields(pod: Mapping[str, Any]) -> dict[str, str]:
    pod_ips = _get(pod, "status", "podIPs")
    if isinstance(pod_ips, list) and pod_ips and isinstance(pod_ips[0], Mapping):
        pod_ip = str(pod_ips[0].get("ip") or "")
    else:
        pod_ip = _text(pod, "status", "podIP")
    return {
        "spec.nodeName": _text(pod, "spec", "nodeName"),
        "spec.restartPolicy": _text(pod, "spec", "restartPolicy"),
        "spec.schedulerName": _text(pod, "spec", "schedulerName"),
        "spec.serviceAccountName": _text(pod, "spec", "serviceAccountName"),
        "spec.hostNetwork": _bool(pod, "spec", "hostNetwork"),
        "status.phase": _text(pod, "status", "phase"),
        "status.podIP": pod_ip,
        "status.nominatedNodeName": _text(pod, "status", "nominatedNodeName"),
    }


def _event_fields(event: Mapping[str, Any]) -> dict[str, str]:
    fields = {
        f"involvedObject.{name}": _text(event, "involvedObject", name)
        for name in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion")
    }
    fields["involvedObject.fieldPath"] = _text(event, "involvedObject", "fieldPath")
    reporting = _text(event, "reportingComponent")
    fields["reason"] = _text(event, "reason")
    fields["reportingComponent"] = reporting
    fields["source"] = _text(event, "source", "component") or reporting
    fields["type"] = _text(event, "type")
    return fields


_SPECIFIC: dict[str, Callable[[Mapping[str, Any]], dict[str, str]]] = {
    "pods": _pod_fields,
    "events": _event_fields,
    "events.events.k8s.io": _event_fields,  # evaluated on the stored core Event
    "secrets": lambda o: {"type": _text(o, "type")},
    "nodes": lambda o: {"spec.unschedulable": _bool(o, "spec", "unschedulable")},
    "namespaces": lambda o: {"status.phase": _text(o, "status", "phase")},
    "replicationcontrollers": lambda o: {"status.replicas": _int(o, "status", "replicas")},
    "replicasets.apps": lambda o: {"status.replicas": _int(o, "status", "replicas")},
    "jobs.batch": lambda o: {"status.successful": _int(o, "status", "succeeded")},
    "services": lambda o: {
        "spec.clusterIP": _text(o, "spec", "clusterIP"),
        "spec.type": _text(o, "spec", "type"),
    },
}


def selectable_fields(resource: str, obj: Mapping[str, Any]) -> dict[str, str]:
    """The field set a field selector is matched against for ``obj`` (upstream GetAttrs)."""
    fields = {
        "metadata.name": _text(obj, "metadata", "name"),
        "metadata.namespace": _text(obj, "metadata", "namespace"),
    }
    specific = _SPECIFIC.get(resource)
    if specific is not None:
        fields.update(specific(obj))
    return fields
