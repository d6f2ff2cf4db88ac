"""HorizontalPodAutoscalers, in autoscaling/v2 (the version they are stored in): upstream's
defaulting (pkg/apis/autoscaling/v2/defaults.go) and validation
(pkg/apis/autoscaling/validation/validation.go) with its messages.

Defaults: one minimum replica, a CPU target of 80 % average utilization when no metric is given,
and — only when ``spec.behavior`` is given — every unset scaling rule filled in from the rules
the controller used before behaviors existed (scale up by 4 pods or 100 % per 15 s, scale down
by 100 % per 15 s, both choosing the largest change). The scale-down stabilization window stays
unset: its default is a controller flag, not an API default.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from pocketkube.api.validation import (
    FieldError,
    forbidden,
    invalid,
    is_dns1123_label,
    is_qualified_name,
    is_valid_path_segment_name,
    not_supported,
    required,
)

Obj = dict[str, Any]

DEFAULT_CPU_UTILIZATION = 80
MAX_PERIOD_SECONDS = 1800
MAX_STABILIZATION_WINDOW_SECONDS = 3600
METRIC_SOURCE_TYPES = ("ContainerResource", "External", "Object", "Pods", "Resource")
METRIC_TARGET_TYPES = ("Utilization", "Value", "AverageValue")
SELECT_POLICIES = ("Disabled", "Max", "Min")
SCALING_POLICY_TYPES = ("Percent", "Pods")
# the JSON field of each metric source type, in the order upstream checks them
_SOURCE_FIELDS = {
    "Object": "object",
    "External": "external",
    "Pods": "pods",
    "Resource": "resource",
    "ContainerResource": "containerResource",
}
_SOURCE_REQUIRED = "must populate information for the given metric source"

_SCALE_UP_RULES: Obj = {
    "stabilizationWindowSeconds": 0,
    "selectPolicy": "Max",
    "policies": [
        {"type": "Pods", "value": 4, "periodSeconds": 15},
        {"type": "Percent", "value": 100, "periodSeconds": 15},
    ],
}
_SCALE_DOWN_RULES: Obj = {
    "selectPolicy": "Max",
    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
}
_RULE_FIELDS = ("stabilizationWindowSeconds", "selectPolicy", "policies", "tolerance")


# -- defaults -------------------------------------------------------------------------------------
def _scaling_rules(given: Any, defaults: Obj) -> Obj:
    """copyHPAScalingRules: every field the client set, the defaults for the rest."""
    rules = copy.deepcopy(defaults)
    if isinstance(given, Mapping):
        for key in _RULE_FIELDS:
            if given.get(key) is not None:
                rules[key] = given[key]
        rules.update({k: v for k, v in given.items() if k not in _RULE_FIELDS})
    return rules


def default_hpa(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    if spec.get("minReplicas") is None:
        spec["minReplicas"] = 1
    if not spec.get("metrics"):
        spec["metrics"] = [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {
                        "type": "Utilization",
                        "averageUtilization": DEFAULT_CPU_UTILIZATION,
                    },
                },
            }
        ]
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        behavior["scaleUp"] = _scaling_rules(behavior.get("scaleUp"), _SCALE_UP_RULES)
        behavior["scaleDown"] = _scaling_rules(behavior.get("scaleDown"), _SCALE_DOWN_RULES)
    status = obj.setdefault("status", {})
    if isinstance(status, dict):
        status.setdefault("desiredReplicas", 0)  # not omitempty: Go always writes it


# -- small checks ---------------------------------------------------------------------------------
class Quantity:
    """A quantity shown in an error as Go prints one: bare, never quoted like a string."""

    def __init__(self, value: Any) -> None:
        self.text = str(value)

    def __repr__(self) -> str:
        return self.text


_QUANTITY = re.compile(
    r"([+-]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?"
)


def quantity_sign(value: Any) -> int | None:
    """The sign (-1, 0, 1) of a resource.Quantity, None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return (value > 0) - (value < 0)
    match = _QUANTITY.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    if not any(ch in "123456789" for ch in match.group(2)):
        return 0
    return -1 if match.group(1) == "-" else 1


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def validate_cross_version_object_reference(ref: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for key in ("kind", "name"):
        value = _text(_map(ref).get(key))
        if not value:
            errs.append(required(f"{path}.{key}"))
        else:
            errs += [invalid(f"{path}.{key}", value, m) for m in is_valid_path_segment_name(value)]
    return errs


# -- metrics --------------------------------------------------------------------------------------
def _metric_target(target: Mapping[str, Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    target_type = _text(target.get("type"))
    if not target_type:
        errs.append(required(f"{path}.type", "must specify a metric target type"))
    if target_type not in METRIC_TARGET_TYPES:
        errs.append(
            invalid(
                f"{path}.type", target_type, "must be either Utilization, Value, or AverageValue"
            )
        )
    for key in ("value", "averageValue"):
        value = target.get(key)
        if value is not None and quantity_sign(value) != 1:
            errs.append(invalid(f"{path}.{key}", Quantity(value), "must be positive"))
    utilization = target.get("averageUtilization")
    if utilization is not None and (_int(utilization) or 0) < 1:
        errs.append(invalid(f"{path}.averageUtilization", utilization, "must be greater than 0"))
    return errs


def _metric_identifier(ident: Any, path: str) -> list[FieldError]:
    name = _text(_map(ident).get("name"))
    if not name:
        return [required(f"{path}.name", "must specify a metric name")]
    return [invalid(f"{path}.name", name, m) for m in is_valid_path_segment_name(name)]


def _object_source(src: Mapping[str, Any], path: str) -> list[FieldError]:
    target = _map(src.get("target"))
    errs = validate_cross_version_object_reference(
        src.get("describedObject"), f"{path}.describedObject"
    )
    errs += _metric_identifier(src.get("metric"), f"{path}.metric")
    errs += _metric_target(target, f"{path}.target")
    if target.get("value") is None and target.get("averageValue") is None:
        errs.append(
            required(
                f"{path}.target.averageValue", "must set either a target value or averageValue"
            )
        )
    return errs


def _external_source(src: Mapping[str, Any], path: str) -> list[FieldError]:
    target = _map(src.get("target"))
    errs = _metric_identifier(src.get("metric"), f"{path}.metric")
    errs += _metric_target(target, f"{path}.target")
    value, average = target.get("value"), target.get("averageValue")
    if value is None and average is None:
        errs.append(
            required(
                f"{path}.target.averageValue",
                "must set either a target value for metric or a per-pod target",
            )
        )
    if value is not None and average is not None:
        errs.append(
            forbidden(
                f"{path}.target.value",
                "may not set both a target value for metric and a per-pod target",
            )
        )
    return errs


def _pods_source(src: Mapping[str, Any], path: str) -> list[FieldError]:
    target = _map(src.get("target"))
    errs = _metric_identifier(src.get("metric"), f"{path}.metric")
    errs += _metric_target(target, f"{path}.target")
    if target.get("averageValue") is None:
        errs.append(
            required(f"{path}.target.averageValue", "must specify a positive target averageValue")
        )
    return errs


def _utilization_or_value(target: Mapping[str, Any], path: str) -> list[FieldError]:
    utilization, average = target.get("averageUtilization"), target.get("averageValue")
    if utilization is None and average is None:
        return [
            required(
                f"{path}.target.averageUtilization",
                "must set either a target raw value or a target utilization",
            )
        ]
    if utilization is not None and average is not None:
        return [
            forbidden(
                f"{path}.target.averageValue",
                "may not set both a target raw value and a target utilization",
            )
        ]
    return []


def _resource_source(src: Mapping[str, Any], path: str) -> list[FieldError]:
    target = _map(src.get("target"))
    errs: list[FieldError] = []
    if not _text(src.get("name")):
        errs.append(required(f"{path}.name", "must specify a resource name"))
    errs += _metric_target(target, f"{path}.target")
    return errs + _utilization_or_value(target, path)


# core's standard resource names: the container ones, and the rest (quotas, object counts)
_CONTAINER_RESOURCES = frozenset({"cpu", "memory", "ephemeral-storage"})
_STANDARD_RESOURCES = _CONTAINER_RESOURCES | frozenset((
    "requests.cpu", "requests.memory", "requests.ephemeral-storage", "limits.cpu",
    "limits.memory", "limits.ephemeral-storage", "pods", "quota", "services",
    "replicationcontrollers", "resourcequotas", "secrets", "persistentvolumeclaims",
    "configmaps", "storage", "requests.storage", "services.nodeports", "services.loadbalancers",
))  # fmt: skip


def _container_resource_name(name: str, path: str) -> list[FieldError]:
    """ValidateContainerResourceName, for the names without a domain prefix (extended resource
    names with one are not checked further)."""
    errs = [invalid(path, name, msg) for msg in is_qualified_name(name)]
    if "/" in name or name.startswith("hugepages-"):
        return errs
    if not errs and name not in _STANDARD_RESOURCES and not name.startswith("requests.hugepages-"):
        errs.append(invalid(path, name, "must be a standard resource type or fully qualified"))
    if name not in _CONTAINER_RESOURCES:
        errs.append(invalid(path, name, "must be a standard resource for containers"))
    return errs


def _container_resource_source(src: Mapping[str, Any], path: str) -> list[FieldError]:
    target = _map(src.get("target"))
    errs: list[FieldError] = []
    name, container = _text(src.get("name")), _text(src.get("container"))
    if not name:
        errs.append(required(f"{path}.name", "must specify a resource name"))
    else:
        errs += _container_resource_name(name, f"{path}.name")
    if not container:
        errs.append(required(f"{path}.container", "must specify a container"))
    else:
        errs += [invalid(f"{path}.container", container, m) for m in is_dns1123_label(container)]
    errs += _metric_target(target, f"{path}.target")
    return errs + _utilization_or_value(target, path)


_SOURCE_VALIDATORS = {
    "object": _object_source,
    "external": _external_source,
    "pods": _pods_source,
    "resource": _resource_source,
    "containerResource": _container_resource_source,
}


def _metric_spec(metric: Mapping[str, Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    metric_type = _text(metric.get("type"))
    if not metric_type:
        errs.append(required(f"{path}.type", "must specify a metric source type"))
    if metric_type not in METRIC_SOURCE_TYPES:
        errs.append(not_supported(f"{path}.type", metric_type, METRIC_SOURCE_TYPES))
    present = [f for f in _SOURCE_FIELDS.values() if metric.get(f) is not None]
    if present:  # only the first source given is looked into
        first = present[0]
        errs += _SOURCE_VALIDATORS[first](_map(metric[first]), f"{path}.{first}")
    expected = _SOURCE_FIELDS.get(metric_type)
    if expected is None:
        errs.append(not_supported(f"{path}.type", metric_type, METRIC_SOURCE_TYPES))
    elif expected not in present:
        errs.append(required(f"{path}.{expected}", _SOURCE_REQUIRED))
    if len(present) != 1:
        for extra in sorted(set(present) - {expected}):
            errs.append(forbidden(f"{path}.{extra}", "must populate the given metric source only"))
    return errs


def _metrics(metrics: Any, path: str, min_replicas: int | None) -> list[FieldError]:
    errs: list[FieldError] = []
    items = metrics if isinstance(metrics, list) else []
    for i, metric in enumerate(items):
        errs += _metric_spec(_map(metric), f"{path}[{i}]")
    if min_replicas == 0 and not any(_map(m).get("type") in ("Object", "External") for m in items):
        errs.append(
            forbidden(
                path,
                "must specify at least one Object or External metric to support scaling to zero"
                " replicas",
            )
        )
    return errs


# -- behavior -------------------------------------------------------------------------------------
def _scaling_policy(policy: Mapping[str, Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    policy_type = _text(policy.get("type"))
    if policy_type not in SCALING_POLICY_TYPES:
        errs.append(not_supported(f"{path}.type", policy_type, SCALING_POLICY_TYPES))
    value, period = policy.get("value", 0), policy.get("periodSeconds", 0)
    if (_int(value) or 0) <= 0:
        errs.append(invalid(f"{path}.value", value, "must be greater than zero"))
    if (_int(period) or 0) <= 0:
        errs.append(invalid(f"{path}.periodSeconds", period, "must be greater than zero"))
    if (_int(period) or 0) > MAX_PERIOD_SECONDS:
        errs.append(
            invalid(
                f"{path}.periodSeconds",
                period,
                f"must be less than or equal to {MAX_PERIOD_SECONDS}",
            )
        )
    return errs


def _scaling_rules_errors(rules: Any, path: str) -> list[FieldError]:
    if not isinstance(rules, Mapping):
        return []
    errs: list[FieldError] = []
    window = rules.get("stabilizationWindowSeconds")
    if window is not None:
        seconds = _int(window)
        if seconds is None or seconds < 0:
            errs.append(
                invalid(
                    f"{path}.stabilizationWindowSeconds",
                    window,
                    "must be greater than or equal to zero",
                )
            )
        elif seconds > MAX_STABILIZATION_WINDOW_SECONDS:
            errs.append(
                invalid(
                    f"{path}.stabilizationWindowSeconds",
                    window,
                    f"must be less than or equal to {MAX_STABILIZATION_WINDOW_SECONDS}",
                )
            )
    select = rules.get("selectPolicy")
    if select is not None and select not in SELECT_POLICIES:
        errs.append(not_supported(f"{path}.selectPolicy", select, SELECT_POLICIES))
    policies = rules.get("policies")
    items = policies if isinstance(policies, list) else []
    if not items:
        errs.append(required(f"{path}.policies", "must specify at least one Policy"))
    for i, policy in enumerate(items):
        errs += _scaling_policy(_map(policy), f"{path}.policies[{i}]")
    tolerance = rules.get("tolerance")
    sign = quantity_sign(tolerance)
    if tolerance is not None and (sign is None or sign < 0):
        errs.append(
            invalid(f"{path}.tolerance", Quantity(tolerance), "must be greater than or equal to 0")
        )
    return errs


def _behavior(behavior: Any, path: str) -> list[FieldError]:
    if not isinstance(behavior, Mapping):
        return []
    return _scaling_rules_errors(
        behavior.get("scaleUp"), f"{path}.scaleUp"
    ) + _scaling_rules_errors(behavior.get("scaleDown"), f"{path}.scaleDown")


# -- the object -----------------------------------------------------------------------------------
def validate_hpa(obj: Obj, old: Obj | None) -> list[FieldError]:
    """ValidateHorizontalPodAutoscaler(Update): the spec; an HPA already at minReplicas 0 may
    stay there (HPAScaleToZero is off, so new ones may not)."""
    spec = _map(obj.get("spec"))
    lower = 1
    if old is not None and _map(old.get("spec")).get("minReplicas") == 0:
        lower = 0
    errs: list[FieldError] = []
    min_given = spec.get("minReplicas")
    min_replicas = _int(min_given)
    max_given = 0 if spec.get("maxReplicas") is None else spec["maxReplicas"]
    max_replicas = _int(max_given)
    if min_given is not None and (min_replicas is None or min_replicas < lower):
        errs.append(
            invalid("spec.minReplicas", min_given, f"must be greater than or equal to {lower}")
        )
    if max_replicas is None or max_replicas < 1:
        errs.append(invalid("spec.maxReplicas", max_given, "must be greater than 0"))
    if min_replicas is not None and max_replicas is not None and max_replicas < min_replicas:
        errs.append(
            invalid("spec.maxReplicas", max_given, "must be greater than or equal to `minReplicas`")
        )
    errs += validate_cross_version_object_reference(
        spec.get("scaleTargetRef"), "spec.scaleTargetRef"
    )
    errs += _metrics(spec.get("metrics"), "spec.metrics", min_replicas)
    errs += _behavior(spec.get("behavior"), "spec.behavior")
    return errs
