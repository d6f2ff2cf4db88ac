"""What one object charges against a ResourceQuota (upstream's ``pkg/quota/v1/evaluator/core``),
and quantities written back as upstream's canonical strings.

- **pods**: ``count/pods`` for every pod; a pod that is not terminal (nor stuck terminating past
  its grace period) also charges ``pods`` and its compute resources: the containers' requests
  and limits summed, each at least the largest init container's, plus the pod overhead, as
  ``requests.cpu``/``cpu``, ``limits.cpu``, likewise memory and ephemeral-storage, hugepages
  and extended resources (``requests.<name>``).
- **services**: ``services``, ``count/services``, ``services.loadbalancers`` and
  ``services.nodeports`` (each port of a NodePort or LoadBalancer service).
- **persistentvolumeclaims**: ``persistentvolumeclaims``, ``requests.storage`` and their
  ``<class>.storageclass.storage.k8s.io/`` variants.
- any other resource: its object count (``configmaps`` and ``count/configmaps``, ...).

Quota scopes (Terminating, NotTerminating, BestEffort, NotBestEffort, and PriorityClass through
``scopeSelector``) select pods; a scoped quota charges nothing else, as upstream.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Any

from pocketkube.api.quantity import QuantityError, parse_quantity
from pocketkube.client.rest import Obj

Usage = dict[str, "Amount"]
COMPUTE = ("cpu", "memory", "ephemeral-storage")
STORAGE_CLASS_SUFFIX = ".storageclass.storage.k8s.io/"
LEGACY_COUNTS = {  # resources with an object count under their bare name too
    "pods",
    "services",
    "configmaps",
    "secrets",
    "persistentvolumeclaims",
    "replicationcontrollers",
    "resourcequotas",
}


class Amount:
    """An exact value that remembers whether it came in binary units (Ki, Mi ...)."""

    __slots__ = ("binary", "value")

    def __init__(self, value: Fraction | int = 0, *, binary: bool = False) -> None:
        self.value = Fraction(value)
        self.binary = binary

    @classmethod
    def parse(cls, text: Any) -> Amount | None:
        try:
            value = parse_quantity(text)
        except QuantityError:
            return None
        return cls(value, binary=isinstance(text, str) and text.rstrip()[-1:] == "i")

    def __repr__(self) -> str:
        return f"Amount({format_quantity(self)!r})"


def add(total: Usage, more: Mapping[str, Amount]) -> None:
    for name, amount in more.items():
        old = total.get(name)
        if old is None:
            total[name] = Amount(amount.value, binary=amount.binary)
        else:
            if old.value == 0:  # Quantity.Add: a zero takes the other's format
                old.binary = amount.binary
            old.value += amount.value


def _ceil_nano(value: Fraction) -> Fraction:
    return Fraction(math.ceil(value * 10**9), 10**9)


_DECIMAL = ((18, "E"), (15, "P"), (12, "T"), (9, "G"), (6, "M"), (3, "k"), (0, ""))
_SMALL = ((-3, "m"), (-6, "u"), (-9, "n"))
_BINARY = ((60, "Ei"), (50, "Pi"), (40, "Ti"), (30, "Gi"), (20, "Mi"), (10, "Ki"))


def format_quantity(amount: Amount) -> str:
    """Upstream's canonical form: the largest suffix that leaves a whole number."""
    value = _ceil_nano(amount.value)
    if value == 0:
        return "0"
    sign, value = ("-", -value) if value < 0 else ("", value)
    if value.denominator == 1:
        whole = value.numerator
        if amount.binary:
            for shift, suffix in _BINARY:
                if whole % (1 << shift) == 0:
                    return f"{sign}{whole >> shift}{suffix}"
            return f"{sign}{whole}"
        for exp, suffix in _DECIMAL:
            if whole % 10**exp == 0:
                return f"{sign}{whole // 10**exp}{suffix}"
    for exp, suffix in _SMALL:
        scaled = value * Fraction(10) ** -exp
        if scaled.denominator == 1:
            return f"{sign}{scaled.numerator}{suffix}"
    return f"{sign}{math.ceil(value * 10**9)}n"  # pragma: no cover (rounded to nano above)


def _resource_list(raw: Any) -> Usage:
    result: Usage = {}
    if isinstance(raw, dict):
        for name, text in raw.items():
            amount = Amount.parse(text)
            if amount is not None:
                result[str(name)] = amount
    return result


def _max_into(total: Usage, other: Usage) -> None:
    for name, amount in other.items():
        if name not in total or amount.value > total[name].value:
            total[name] = Amount(amount.value, binary=amount.binary)


def _parse_time(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def pod_counts(pod: Obj, now: dt.datetime) -> bool:
    """``QuotaV1Pod``: whether the pod is charged its compute resources."""
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return False
    meta = pod.get("metadata") or {}
    deleted_at = (
        _parse_time(meta.get("deletionTimestamp")) if meta.get("deletionTimestamp") else None
    )
    grace = meta.get("deletionGracePeriodSeconds")
    if deleted_at is not None and isinstance(grace, int):
        return now <= deleted_at + dt.timedelta(seconds=grace)
    return True


def _is_extended(name: str) -> bool:
    """An extended resource: a domain-qualified name outside ``kubernetes.io``."""
    if "/" not in name or name.startswith("requests."):
        return False
    domain = name.split("/", 1)[0]
    return not (domain == "kubernetes.io" or domain.endswith(".kubernetes.io"))


def pod_usage(pod: Obj, now: dt.datetime) -> Usage:
    result: Usage = {"count/pods": Amount(1)}
    if not pod_counts(pod, now):
        return result
    spec = pod.get("spec") or {}
    requests: Usage = {}
    limits: Usage = {}
    for container in spec.get("containers") or []:
        resources = container.get("resources") or {}
        add(requests, _resource_list(resources.get("requests")))
        add(limits, _resource_list(resources.get("limits")))
    for container in spec.get("initContainers") or []:
        resources = container.get("resources") or {}
        _max_into(requests, _resource_list(resources.get("requests")))
        _max_into(limits, _resource_list(resources.get("limits")))
    overhead = _resource_list(spec.get("overhead"))
    add(requests, overhead)
    add(limits, overhead)
    result["pods"] = Amount(1)
    for name in COMPUTE:
        if name in requests:
            result[name] = requests[name]
            result[f"requests.{name}"] = requests[name]
        if name in limits:
            result[f"limits.{name}"] = limits[name]
    for name, amount in requests.items():
        if name.startswith("hugepages-"):
            result[name] = amount
            result[f"requests.{name}"] = amount
        elif _is_extended(name):
            result[f"requests.{name}"] = amount
    return result


def service_usage(service: Obj) -> Usage:
    spec = service.get("spec") or {}
    ports = spec.get("ports") or []
    result: Usage = {
        "services": Amount(1),
        "count/services": Amount(1),
        "services.loadbalancers": Amount(0),
        "services.nodeports": Amount(0),
    }
    kind = spec.get("type")
    if kind == "NodePort":
        result["services.nodeports"] = Amount(len(ports))
    elif kind == "LoadBalancer":
        if spec.get("allocateLoadBalancerNodePorts") is False:
            result["services.nodeports"] = Amount(sum(1 for p in ports if p.get("nodePort")))
        else:
            result["services.nodeports"] = Amount(len(ports))
        result["services.loadbalancers"] = Amount(1)
    return result


def pvc_usage(claim: Obj) -> Usage:
    result: Usage = {"persistentvolumeclaims": Amount(1), "count/persistentvolumeclaims": Amount(1)}
    spec = claim.get("spec") or {}
    storage = _resource_list((spec.get("resources") or {}).get("requests")).get("storage")
    allocated = _resource_list((claim.get("status") or {}).get("allocatedResources")).get("storage")
    if allocated is not None and (storage is None or allocated.value > storage.value):
        storage = allocated
    storage_class = spec.get("storageClassName")
    if storage_class:
        prefix = f"{storage_class}{STORAGE_CLASS_SUFFIX}"
        result[f"{prefix}persistentvolumeclaims"] = Amount(1)
    if storage is not None:
        result["requests.storage"] = storage
        if storage_class:
            result[f"{storage_class}{STORAGE_CLASS_SUFFIX}requests.storage"] = storage
    return result


def object_count_usage(plural: str, qualified: str) -> Usage:
    """``count/<qualified>`` (``qualified`` is ``plural`` or ``plural.group``), and the bare
    name for the legacy core counts."""
    result: Usage = {f"count/{qualified}": Amount(1)}
    if plural == qualified and plural in LEGACY_COUNTS:
        result[plural] = Amount(1)
    return result


# -- scopes ------------------------------------------------------------------------------------
def _best_effort(pod: Obj) -> bool:
    spec = pod.get("spec") or {}
    for container in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        resources = container.get("resources") or {}
        for field in ("requests", "limits"):
            wanted = resources.get(field) or {}
            if any(name in wanted for name in ("cpu", "memory")):
                return False
    return True


def _terminating(pod: Obj) -> bool:
    deadline = (pod.get("spec") or {}).get("activeDeadlineSeconds")
    return isinstance(deadline, int) and deadline >= 0


def _scope_matches(scope: str, operator: str, values: Iterable[str], pod: Obj) -> bool:
    if scope == "Terminating":
        return _terminating(pod)
    if scope == "NotTerminating":
        return not _terminating(pod)
    if scope == "BestEffort":
        return _best_effort(pod)
    if scope == "NotBestEffort":
        return not _best_effort(pod)
    if scope == "PriorityClass":
        name = (pod.get("spec") or {}).get("priorityClassName") or ""
        wanted = set(values)
        return {
            "In": name in wanted,
            "NotIn": name not in wanted,
            "Exists": bool(name),
            "DoesNotExist": not name,
        }.get(operator, False)
    return False  # a scope we do not know (CrossNamespacePodAffinity) selects nothing


def scopes_of(quota: Obj) -> list[tuple[str, str, list[str]]]:
    spec = quota.get("spec") or {}
    scopes: list[tuple[str, str, list[str]]] = [
        (str(s), "Exists", []) for s in spec.get("scopes") or []
    ]
    for expr in (spec.get("scopeSelector") or {}).get("matchExpressions") or []:
        scopes.append(
            (str(expr.get("scopeName")), str(expr.get("operator")), list(expr.get("values") or []))
        )
    return scopes


def pod_in_scopes(pod: Obj, scopes: list[tuple[str, str, list[str]]]) -> bool:
    return all(_scope_matches(scope, op, values, pod) for scope, op, values in scopes)
