"""autoscaling/v1 HorizontalPodAutoscaler ↔ autoscaling/v2, the version HPAs are stored in.

autoscaling/v1 knows one metric, CPU utilization (``spec.targetCPUUtilizationPercentage``,
``status.currentCPUUtilizationPercentage``). So that a v1 client which reads an HPA and writes it
back loses nothing, upstream (pkg/apis/autoscaling/v1/conversion.go) carries the rest of a v2
object in annotations on the v1 object, and takes it out again on the way back:

- ``autoscaling.alpha.kubernetes.io/metrics``: every spec metric other than CPU utilization;
- ``autoscaling.alpha.kubernetes.io/current-metrics``: every status metric, raw values included;
- ``autoscaling.alpha.kubernetes.io/conditions``: the status conditions;
- ``autoscaling.alpha.kubernetes.io/behavior``: spec.behavior (see ``hpa_metrics``).

A v1 object without a CPU target or other metrics gets upstream's explicit default, 80 % CPU
utilization, and v1's own default of one minimum replica. Inputs are never changed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pocketkube.apiserver.conversion import hpa_metrics as metrics
from pocketkube.apiserver.conversion.errors import ConversionError
from pocketkube.apiserver.conversion.hpa_metrics import as_map
from pocketkube.storage.interface import Obj

API_VERSION = "autoscaling/v1"
STORAGE_API_VERSION = "autoscaling/v2"
KIND = "HorizontalPodAutoscaler"

METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/metrics"
CURRENT_METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/current-metrics"
CONDITIONS_ANNOTATION = "autoscaling.alpha.kubernetes.io/conditions"
BEHAVIOR_ANNOTATION = "autoscaling.alpha.kubernetes.io/behavior"
# Upstream also drops these (written by later versions' conversions) wherever it drops the above.
ROUND_TRIP_ANNOTATIONS = (
    METRICS_ANNOTATION,
    CURRENT_METRICS_ANNOTATION,
    CONDITIONS_ANNOTATION,
    BEHAVIOR_ANNOTATION,
    "autoscaling.alpha.kubernetes.io/scale-down-tolerance",
    "autoscaling.alpha.kubernetes.io/scale-up-tolerance",
)
DEFAULT_CPU_UTILIZATION = 80
DEFAULT_MIN_REPLICAS = 1
_COPIED_SPEC = ("scaleTargetRef", "minReplicas", "maxReplicas")
_COPIED_STATUS = ("observedGeneration", "lastScaleTime", "currentReplicas", "desiredReplicas")


def _copy(src: Mapping[str, Any], names: tuple[str, ...]) -> Obj:
    return {name: src[name] for name in names if name in src}


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _is_cpu(metric: Any) -> bool:
    resource = as_map(as_map(metric).get("resource"))
    return as_map(metric).get("type") == "Resource" and resource.get("name") == "cpu"


def _cpu_utilization(metric: Any, side: str) -> Any:
    """The metric's CPU averageUtilization (``side``: target or current), None when not one."""
    if not _is_cpu(metric):
        return None
    return as_map(as_map(as_map(metric)["resource"]).get(side)).get("averageUtilization")


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _metadata_without_round_trip(metadata: Any) -> Obj:
    meta = dict(as_map(metadata))
    annotations = as_map(meta.get("annotations"))
    if any(key in annotations for key in ROUND_TRIP_ANNOTATIONS):
        kept = {k: v for k, v in annotations.items() if k not in ROUND_TRIP_ANNOTATIONS}
        if kept:
            meta["annotations"] = kept
        else:
            meta.pop("annotations")
    return meta


# -- v2 (stored) → v1 -----------------------------------------------------------------------------
def _spec_to_v1(spec: Mapping[str, Any]) -> Obj:
    v1_spec = _copy(spec, _COPIED_SPEC)
    for metric in _list(spec.get("metrics")):
        if _is_cpu(metric):  # upstream stops at the first CPU resource metric
            utilization = _cpu_utilization(metric, "target")
            if utilization is not None:
                v1_spec["targetCPUUtilizationPercentage"] = utilization
            break
    return v1_spec


def _status_to_v1(status: Mapping[str, Any]) -> Obj:
    v1_status = _copy(status, _COPIED_STATUS)
    for metric in _list(status.get("currentMetrics")):  # no early stop: the last one wins
        utilization = _cpu_utilization(metric, "current")
        if utilization is not None:
            v1_status["currentCPUUtilizationPercentage"] = utilization
    return v1_status


def _round_trip_annotations(spec: Mapping[str, Any], status: Mapping[str, Any]) -> dict[str, str]:
    """What v1 cannot say of a v2 object, as the annotations that carry it."""
    annotations: dict[str, str] = {}
    metric_specs = _list(spec.get("metrics"))
    others = [metrics.spec_to_v1(m) for m in metric_specs if _cpu_utilization(m, "target") is None]
    if others:
        annotations[METRICS_ANNOTATION] = _dumps(others)
    if isinstance(spec.get("behavior"), Mapping):
        annotations[BEHAVIOR_ANNOTATION] = _dumps(metrics.behavior_to_go(spec["behavior"]))
    current = _list(status.get("currentMetrics"))
    if current:
        statuses = [metrics.status_to_v1(as_map(m)) for m in current]
        annotations[CURRENT_METRICS_ANNOTATION] = _dumps(statuses)
    if _list(status.get("conditions")):
        annotations[CONDITIONS_ANNOTATION] = _dumps(status["conditions"])
    return annotations


def from_storage(hpa: Mapping[str, Any]) -> Obj:
    """A stored autoscaling/v2 HPA as autoscaling/v1 serves it."""
    spec, status = as_map(hpa.get("spec")), as_map(hpa.get("status"))
    meta = _metadata_without_round_trip(hpa.get("metadata"))
    annotations = _round_trip_annotations(spec, status)
    if annotations:
        meta["annotations"] = {**as_map(meta.get("annotations")), **annotations}
    out: Obj = {"apiVersion": API_VERSION, "kind": KIND}
    if meta or "metadata" in hpa:
        out["metadata"] = meta
    if "spec" in hpa:
        out["spec"] = _spec_to_v1(spec)
    if "status" in hpa:
        out["status"] = _status_to_v1(status)
    return out


# -- v1 → v2 (stored) -----------------------------------------------------------------------------
def _annotation(annotations: Mapping[str, Any], key: str) -> Any:
    raw = annotations.get(key)
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        raise ConversionError(f"invalid {key} annotation: {raw!r}") from None


def _annotated_list(annotations: Mapping[str, Any], key: str) -> list[Mapping[str, Any]] | None:
    value = _annotation(annotations, key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise ConversionError(f"invalid {key} annotation: expected a list of objects")
    return value


def _cpu_metric(utilization: Any, side: str) -> Obj:
    if side == "target":
        return {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": utilization},
            },
        }
    return {
        "type": "Resource",
        "resource": {"name": "cpu", "current": {"averageUtilization": utilization}},
    }


def to_storage(hpa: Mapping[str, Any]) -> Obj:
    """An autoscaling/v1 HPA as the autoscaling/v2 HPA it is stored as (ConversionError when
    its round-trip annotations are not what the reverse conversion writes)."""
    annotations = as_map(as_map(hpa.get("metadata")).get("annotations"))
    spec = as_map(hpa.get("spec"))
    v2_spec = _copy(spec, _COPIED_SPEC)
    if v2_spec.get("minReplicas") is None:  # v1 defaulting, applied before conversion
        v2_spec["minReplicas"] = DEFAULT_MIN_REPLICAS
    target = spec.get("targetCPUUtilizationPercentage")
    metric_specs = [] if target is None else [_cpu_metric(target, "target")]
    others = _annotated_list(annotations, METRICS_ANNOTATION)
    if others is not None:  # the annotated metrics first, the CPU target after them
        metric_specs = [metrics.spec_from_v1(m) for m in others] + metric_specs
    v2_spec["metrics"] = metric_specs or [_cpu_metric(DEFAULT_CPU_UTILIZATION, "target")]
    try:
        behavior = metrics.behavior_from_go(_annotation(annotations, BEHAVIOR_ANNOTATION))
    except ConversionError:
        behavior = None  # upstream ignores a behavior annotation it cannot read
    if behavior is not None:
        v2_spec["behavior"] = behavior

    status = as_map(hpa.get("status"))
    v2_status = _copy(status, _COPIED_STATUS)
    current = status.get("currentCPUUtilizationPercentage")
    if current is not None:
        v2_status["currentMetrics"] = [_cpu_metric(current, "current")]
    statuses = _annotated_list(annotations, CURRENT_METRICS_ANNOTATION)
    if statuses is not None:  # "the ones here have more information"
        v2_status["currentMetrics"] = [metrics.status_from_v1(m) for m in statuses]
    conditions = _annotated_list(annotations, CONDITIONS_ANNOTATION)
    if conditions is not None:
        v2_status["conditions"] = [dict(c) for c in conditions]

    out: Obj = {"apiVersion": STORAGE_API_VERSION, "kind": KIND}
    if "metadata" in hpa:
        out["metadata"] = _metadata_without_round_trip(hpa["metadata"])
    out["spec"] = v2_spec
    if "status" in hpa or v2_status:
        out["status"] = v2_status
    return out
