"""autoscaling/v2 metric specs and statuses in the shape autoscaling/v1 annotations carry them.

autoscaling/v1 keeps what its HorizontalPodAutoscaler cannot say in annotations, written as
autoscaling/v1's own ``MetricSpec`` / ``MetricStatus`` types: the older v2beta1 layout, where a
target is flattened into ``targetAverageUtilization``, ``targetAverageValue``, ``targetValue`` and a
metric identifier into ``metricName`` and ``selector``. These are upstream's per-source
conversion functions (pkg/apis/autoscaling/v1/conversion.go), including their quirks: a quantity
Go declares as a plain ``resource.Quantity`` comes out as ``"0"`` when unset, and a target's type
is inferred from which values are set.

The behavior annotation is odder still: upstream marshals its *internal* type, which has no json
tags, so the keys are Go field names (``ScaleUp``, ``StabilizationWindowSeconds``) and are read
back case-insensitively, as ``encoding/json`` matches them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pocketkube.storage.interface import Obj

ZERO = "0"  # a non-pointer resource.Quantity that was never set


def as_map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _put(out: Obj, key: str, value: Any) -> None:
    if value is not None:
        out[key] = value


def _quantity(value: Any) -> Any:
    return ZERO if value is None else value


def _identifier(name: Any, selector: Any) -> Obj:
    out: Obj = {"name": name or ""}
    _put(out, "selector", selector)
    return out


# -- specs ----------------------------------------------------------------------------------------
def spec_to_v1(metric: Mapping[str, Any]) -> Obj:
    """An autoscaling/v2 MetricSpec as an autoscaling/v1 MetricSpec."""
    out: Obj = {"type": metric.get("type", "")}
    if "object" in metric:
        src = as_map(metric["object"])
        target, ident = as_map(src.get("target")), as_map(src.get("metric"))
        obj: Obj = {
            "target": src.get("describedObject") or {},
            "metricName": ident.get("name", ""),
            "targetValue": _quantity(target.get("value")),
        }
        _put(obj, "selector", ident.get("selector"))
        _put(obj, "averageValue", target.get("averageValue"))
        out["object"] = obj
    if "pods" in metric:
        src = as_map(metric["pods"])
        target, ident = as_map(src.get("target")), as_map(src.get("metric"))
        pods: Obj = {
            "metricName": ident.get("name", ""),
            "targetAverageValue": _quantity(target.get("averageValue")),
        }
        _put(pods, "selector", ident.get("selector"))
        out["pods"] = pods
    for key in ("resource", "containerResource"):
        if key in metric:
            src = as_map(metric[key])
            target = as_map(src.get("target"))
            resource: Obj = {"name": src.get("name", "")}
            _put(resource, "targetAverageUtilization", target.get("averageUtilization"))
            _put(resource, "targetAverageValue", target.get("averageValue"))
            if key == "containerResource":
                resource["container"] = src.get("container", "")
            out[key] = resource
    if "external" in metric:
        src = as_map(metric["external"])
        target, ident = as_map(src.get("target")), as_map(src.get("metric"))
        external: Obj = {"metricName": ident.get("name", "")}
        _put(external, "metricSelector", ident.get("selector"))
        _put(external, "targetValue", target.get("value"))
        _put(external, "targetAverageValue", target.get("averageValue"))
        out["external"] = external
    return out


def spec_from_v1(metric: Mapping[str, Any]) -> Obj:
    """An autoscaling/v1 MetricSpec (from the annotation) as an autoscaling/v2 MetricSpec."""
    out: Obj = {"type": metric.get("type", "")}
    if "object" in metric:
        src = as_map(metric["object"])
        average = src.get("averageValue")
        target: Obj = {"type": "Value" if average is None else "AverageValue"}
        target["value"] = _quantity(src.get("targetValue"))
        _put(target, "averageValue", average)
        out["object"] = {
            "describedObject": src.get("target") or {},
            "target": target,
            "metric": _identifier(src.get("metricName"), src.get("selector")),
        }
    if "pods" in metric:
        src = as_map(metric["pods"])
        out["pods"] = {
            "metric": _identifier(src.get("metricName"), src.get("selector")),
            "target": {
                "type": "AverageValue",
                "averageValue": _quantity(src.get("targetAverageValue")),
            },
        }
    for key in ("resource", "containerResource"):
        if key in metric:
            src = as_map(metric[key])
            utilization = src.get("targetAverageUtilization")
            target = {"type": "AverageValue" if utilization is None else "Utilization"}
            _put(target, "averageValue", src.get("targetAverageValue"))
            _put(target, "averageUtilization", utilization)
            resource: Obj = {"name": src.get("name", ""), "target": target}
            if key == "containerResource":
                resource["container"] = src.get("container", "")
            out[key] = resource
    if "external" in metric:
        src = as_map(metric["external"])
        value = src.get("targetValue")
        target = {"type": "AverageValue" if value is None else "Value"}
        _put(target, "value", value)
        _put(target, "averageValue", src.get("targetAverageValue"))
        out["external"] = {
            "metric": _identifier(src.get("metricName"), src.get("metricSelector")),
            "target": target,
        }
    return out


# -- statuses -------------------------------------------------------------------------------------
def status_to_v1(metric: Mapping[str, Any]) -> Obj:
    """An autoscaling/v2 MetricStatus as an autoscaling/v1 MetricStatus."""
    out: Obj = {"type": metric.get("type", "")}
    if "object" in metric:
        src = as_map(metric["object"])
        current, ident = as_map(src.get("current")), as_map(src.get("metric"))
        obj: Obj = {
            "target": src.get("describedObject") or {},
            "metricName": ident.get("name", ""),
            "currentValue": _quantity(current.get("value")),
        }
        _put(obj, "selector", ident.get("selector"))
        _put(obj, "averageValue", current.get("averageValue"))
        out["object"] = obj
    if "pods" in metric:
        src = as_map(metric["pods"])
        current, ident = as_map(src.get("current")), as_map(src.get("metric"))
        pods: Obj = {
            "metricName": ident.get("name", ""),
            "currentAverageValue": _quantity(current.get("averageValue")),
        }
        _put(pods, "selector", ident.get("selector"))
        out["pods"] = pods
    for key in ("resource", "containerResource"):
        if key in metric:
            src = as_map(metric[key])
            current = as_map(src.get("current"))
            resource: Obj = {"name": src.get("name", "")}
            _put(resource, "currentAverageUtilization", current.get("averageUtilization"))
            resource["currentAverageValue"] = _quantity(current.get("averageValue"))
            if key == "containerResource":
                resource["container"] = src.get("container", "")
            out[key] = resource
    if "external" in metric:
        src = as_map(metric["external"])
        current, ident = as_map(src.get("current")), as_map(src.get("metric"))
        external: Obj = {"metricName": ident.get("name", "")}
        _put(external, "metricSelector", ident.get("selector"))
        external["currentValue"] = _quantity(current.get("value"))
        _put(external, "currentAverageValue", current.get("averageValue"))
        out["external"] = external
    return out


def status_from_v1(metric: Mapping[str, Any]) -> Obj:
    """An autoscaling/v1 MetricStatus (from the annotation) as an autoscaling/v2 one."""
    out: Obj = {"type": metric.get("type", "")}
    if "object" in metric:
        src = as_map(metric["object"])
        current: Obj = {"value": _quantity(src.get("currentValue"))}
        _put(current, "averageValue", src.get("averageValue"))
        out["object"] = {
            "metric": _identifier(src.get("metricName"), src.get("selector")),
            "current": current,
            "describedObject": src.get("target") or {},
        }
    if "pods" in metric:
        src = as_map(metric["pods"])
        out["pods"] = {
            "metric": _identifier(src.get("metricName"), src.get("selector")),
            "current": {"averageValue": _quantity(src.get("currentAverageValue"))},
        }
    for key in ("resource", "containerResource"):
        if key in metric:
            src = as_map(metric[key])
            current = {"averageValue": _quantity(src.get("currentAverageValue"))}
            _put(current, "averageUtilization", src.get("currentAverageUtilization"))
            resource: Obj = {"name": src.get("name", ""), "current": current}
            if key == "containerResource":
                resource["container"] = src.get("container", "")
            out[key] = resource
    if "external" in metric:
        src = as_map(metric["external"])
        current = {"value": _quantity(src.get("currentValue"))}
        _put(current, "averageValue", src.get("currentAverageValue"))
        out["external"] = {
            "metric": _identifier(src.get("metricName"), src.get("metricSelector")),
            "current": current,
        }
    return out


# -- behavior -------------------------------------------------------------------------------------
def _go_field(obj: Mapping[str, Any], name: str) -> Any:
    """A field as encoding/json finds it: by exact key, else by a key equal ignoring case."""
    if name in obj:
        return obj[name]
    folded = name.casefold()
    return next((v for k, v in obj.items() if k.casefold() == folded), None)


def _rules_to_go(rules: Any) -> Obj | None:
    if not isinstance(rules, Mapping):
        return None
    policies = rules.get("policies")
    return {
        "StabilizationWindowSeconds": rules.get("stabilizationWindowSeconds"),
        "SelectPolicy": rules.get("selectPolicy"),
        "Policies": None
        if not isinstance(policies, list)
        else [
            {
                "Type": as_map(p).get("type", ""),
                "Value": as_map(p).get("value", 0),
                "PeriodSeconds": as_map(p).get("periodSeconds", 0),
            }
            for p in policies
        ],
        "Tolerance": rules.get("tolerance"),
    }


def behavior_to_go(behavior: Mapping[str, Any]) -> Obj:
    """spec.behavior as json.Marshal writes the internal type: Go names, nil as null."""
    return {
        "ScaleUp": _rules_to_go(behavior.get("scaleUp")),
        "ScaleDown": _rules_to_go(behavior.get("scaleDown")),
    }


def _rules_from_go(rules: Any) -> Obj | None:
    if not isinstance(rules, Mapping):
        return None
    out: Obj = {}
    _put(out, "stabilizationWindowSeconds", _go_field(rules, "StabilizationWindowSeconds"))
    _put(out, "selectPolicy", _go_field(rules, "SelectPolicy"))
    policies = _go_field(rules, "Policies")
    if isinstance(policies, list):
        out["policies"] = [
            {
                "type": _go_field(as_map(p), "Type") or "",
                "value": _go_field(as_map(p), "Value") or 0,
                "periodSeconds": _go_field(as_map(p), "PeriodSeconds") or 0,
            }
            for p in policies
        ]
    _put(out, "tolerance", _go_field(rules, "Tolerance"))
    return out


def behavior_from_go(behavior: Any) -> Obj | None:
    """The behavior annotation's value back as spec.behavior; None when it holds no rules (as
    upstream, which moves only a well-formed, non-zero behavior into the spec)."""
    if not isinstance(behavior, Mapping):
        return None
    out: Obj = {}
    _put(out, "scaleUp", _rules_from_go(_go_field(behavior, "ScaleUp")))
    _put(out, "scaleDown", _rules_from_go(_go_field(behavior, "ScaleDown")))
    return out or None
