"""The HorizontalPodAutoscaler table, as upstream's ``printHorizontalPodAutoscaler`` and
``formatHPAMetrics`` compute it: ``kubectl get hpa`` shows the scale target as ``Kind/name`` and
each metric as ``current/target`` (``cpu: <unknown>/50%`` until the controller reports a value).

Upstream prints the internal type, so both served versions print the same: an autoscaling/v1
object is first converted to the autoscaling/v2 form it is stored in.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pocketkube.apiserver.conversion import hpa
from pocketkube.apiserver.conversion.errors import ConversionError
from pocketkube.apiserver.tables.common import (
    AGE,
    NAME,
    Cells,
    Column,
    Obj,
    Printer,
    age_of,
    as_int,
    as_list,
    as_map,
    doc,
    get,
    name_of,
)

UNKNOWN = "<unknown>"
# Go's (*resource.Quantity)(nil).String(), which upstream prints for a value that is not set
NIL_QUANTITY = "<nil>"
SHOWN_METRICS = 2


def _quantity(value: Any) -> str:
    if value is None:
        return NIL_QUANTITY
    return str(value)


def _percent(value: Any) -> str:
    return f"{as_int(value)}%"


def _status_source(statuses: list[Any], index: int, source: str) -> Mapping[str, Any] | None:
    """statuses[index].<source> when the status list is that long and the source is set."""
    if index >= len(statuses):
        return None
    found = get(statuses[index], source)
    return as_map(found) if found is not None else None


def _value_or_average(spec: Mapping[str, Any], status: Mapping[str, Any] | None) -> str:
    """Object and External metrics: an averageValue target prints "(avg)", else the value."""
    target = as_map(spec.get("target"))
    if target.get("averageValue") is not None:
        current = UNKNOWN
        if status is not None and get(status, "current", "averageValue") is not None:
            current = _quantity(get(status, "current", "averageValue"))
        return f"{current}/{_quantity(target['averageValue'])} (avg)"
    current = UNKNOWN
    if status is not None:
        current = _quantity(get(status, "current", "value"))
    return f"{current}/{_quantity(target.get('value'))}"


def _resource(spec: Mapping[str, Any], status: Mapping[str, Any] | None) -> str:
    """Resource and ContainerResource metrics, named after the resource (``cpu: 10%/50%``)."""
    name = str(spec.get("name") or "")
    target = as_map(spec.get("target"))
    if target.get("averageValue") is not None:
        current = UNKNOWN
        if status is not None:
            current = _quantity(get(status, "current", "averageValue"))
        return f"{name}: {current}/{_quantity(target['averageValue'])}"
    current = UNKNOWN
    if status is not None and get(status, "current", "averageUtilization") is not None:
        current = _percent(get(status, "current", "averageUtilization"))
    utilization = target.get("averageUtilization")
    wanted = "<auto>" if utilization is None else _percent(utilization)
    return f"{name}: {current}/{wanted}"


def _metric(spec: Mapping[str, Any], statuses: list[Any], index: int) -> str:
    metric_type = spec.get("type")
    if metric_type == "External":
        source = as_map(spec.get("external"))
        return _value_or_average(source, _status_source(statuses, index, "external"))
    if metric_type == "Pods":
        source = as_map(spec.get("pods"))
        status = _status_source(statuses, index, "pods")
        current = UNKNOWN if status is None else _quantity(get(status, "current", "averageValue"))
        return f"{current}/{_quantity(get(source, 'target', 'averageValue'))}"
    if metric_type == "Object":
        source = as_map(spec.get("object"))
        return _value_or_average(source, _status_source(statuses, index, "object"))
    if metric_type == "Resource":
        source = as_map(spec.get("resource"))
        return _resource(source, _status_source(statuses, index, "resource"))
    if metric_type == "ContainerResource":
        source = as_map(spec.get("containerResource"))
        return _resource(source, _status_source(statuses, index, "containerResource"))
    return "<unknown type>"


def format_metrics(specs: Any, statuses: Any) -> str:
    """formatHPAMetrics: the first two metrics, then "+ N more...", "<none>" without any."""
    metric_specs = as_list(specs)
    if not metric_specs:
        return "<none>"
    current = as_list(statuses)
    shown = [_metric(as_map(spec), current, i) for i, spec in enumerate(metric_specs)]
    text = ", ".join(shown[:SHOWN_METRICS])
    if len(shown) > SHOWN_METRICS:
        return f"{text} + {len(shown) - SHOWN_METRICS} more..."
    return text


def _as_v2(obj: Obj) -> Obj:
    if obj.get("apiVersion") != hpa.API_VERSION:
        return obj
    try:
        return hpa.to_storage(obj)
    except ConversionError:  # annotations we cannot read: print what v1 itself says
        return hpa.to_storage({**obj, "metadata": {}})


def hpa_cells(obj: Obj, now: datetime) -> Cells:
    v2 = _as_v2(obj)
    spec = as_map(v2.get("spec"))
    ref = as_map(spec.get("scaleTargetRef"))
    min_replicas = spec.get("minReplicas")
    return [
        name_of(obj),
        f"{ref.get('kind') or ''}/{ref.get('name') or ''}",
        format_metrics(spec.get("metrics"), get(v2, "status", "currentMetrics")),
        "<unset>" if min_replicas is None else str(as_int(min_replicas)),
        as_int(spec.get("maxReplicas")),
        as_int(get(v2, "status", "currentReplicas")),
        age_of(obj, now),
    ]


HPA_COLUMNS = (
    NAME,
    Column("Reference", "string", doc("HorizontalPodAutoscalerSpec.scaleTargetRef")),
    Column("Targets", "string", doc("HorizontalPodAutoscalerSpec.metrics")),
    Column("MinPods", "string", doc("HorizontalPodAutoscalerSpec.minReplicas")),
    Column("MaxPods", "string", doc("HorizontalPodAutoscalerSpec.maxReplicas")),
    Column("Replicas", "string", doc("HorizontalPodAutoscalerStatus.currentReplicas")),
    AGE,
)

PRINTERS = {"HorizontalPodAutoscaler": Printer(HPA_COLUMNS, hpa_cells)}
