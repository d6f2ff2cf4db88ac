"""The HorizontalPodAutoscaler Table, against upstream's printHorizontalPodAutoscaler."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pocketkube.apiserver.conversion import hpa as hpa_conversion
from pocketkube.apiserver.tables import column_definitions, has_printer, to_table
from pocketkube.apiserver.tables.autoscaling import format_metrics

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
CREATED = (NOW - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")


def hpa(spec: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "default", "creationTimestamp": CREATED},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            **spec,
        },
    }
    if status is not None:
        obj["status"] = status
    return obj


def cells(obj: dict[str, Any]) -> list[Any]:
    table = to_table("HorizontalPodAutoscaler", [obj], list_meta={}, now=NOW)
    row: list[Any] = table["rows"][0]["cells"]
    return row


def resource(name: str, **target: Any) -> dict[str, Any]:
    return {"type": "Resource", "resource": {"name": name, "target": target}}


def resource_status(name: str, **current: Any) -> dict[str, Any]:
    return {"type": "Resource", "resource": {"name": name, "current": current}}


def test_columns() -> None:
    assert has_printer("HorizontalPodAutoscaler")
    columns = column_definitions("HorizontalPodAutoscaler")
    assert [(c["name"], c["type"], c["priority"]) for c in columns] == [
        ("Name", "string", 0),
        ("Reference", "string", 0),
        ("Targets", "string", 0),
        ("MinPods", "string", 0),
        ("MaxPods", "string", 0),
        ("Replicas", "string", 0),
        ("Age", "string", 0),
    ]
    assert columns[0]["format"] == "name"
    assert columns[1]["description"].startswith("scaleTargetRef points to the target resource")


def test_kubectl_autoscale_object() -> None:
    cpu50 = resource("cpu", type="Utilization", averageUtilization=50)
    obj = hpa({"minReplicas": 1, "maxReplicas": 3, "metrics": [cpu50]}, {"desiredReplicas": 0})
    assert cells(obj) == ["web", "Deployment/web", "cpu: <unknown>/50%", "1", 3, 0, "5m"]


def test_unset_min_replicas_and_no_metrics() -> None:
    assert cells(hpa({"maxReplicas": 2})) == [
        "web",
        "Deployment/web",
        "<none>",
        "<unset>",
        2,
        0,
        "5m",
    ]


CPU = resource("cpu", type="Utilization", averageUtilization=50)
MEMORY = resource("memory", type="AverageValue", averageValue="100Mi")
PODS = {
    "type": "Pods",
    "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "1k"}},
}
OBJECT_VALUE = {
    "type": "Object",
    "object": {
        "describedObject": {"kind": "Ingress", "name": "main"},
        "metric": {"name": "rps"},
        "target": {"type": "Value", "value": "10k"},
    },
}
OBJECT_AVERAGE = {
    "type": "Object",
    "object": {
        "describedObject": {"kind": "Ingress", "name": "main"},
        "metric": {"name": "rps"},
        "target": {"type": "AverageValue", "averageValue": "500"},
    },
}
EXTERNAL = {
    "type": "External",
    "external": {"metric": {"name": "queue"}, "target": {"type": "Value", "value": "30"}},
}
CONTAINER = {
    "type": "ContainerResource",
    "containerResource": {
        "name": "cpu",
        "container": "app",
        "target": {"type": "Utilization", "averageUtilization": 60},
    },
}


@pytest.mark.parametrize(
    ("specs", "statuses", "expected"),
    [
        ([], [], "<none>"),
        ([CPU], [], "cpu: <unknown>/50%"),
        ([CPU], [resource_status("cpu", averageUtilization=12, averageValue="3m")], "cpu: 12%/50%"),
        # a status without a utilization (yet): still unknown
        ([CPU], [resource_status("cpu", averageValue="3m")], "cpu: <unknown>/50%"),
        ([resource("cpu", type="Utilization")], [], "cpu: <unknown>/<auto>"),
        ([MEMORY], [], "memory: <unknown>/100Mi"),
        ([MEMORY], [resource_status("memory", averageValue="80Mi")], "memory: 80Mi/100Mi"),
        # upstream prints a nil quantity pointer as Go does
        ([MEMORY], [resource_status("memory", averageUtilization=3)], "memory: <nil>/100Mi"),
        ([PODS], [], "<unknown>/1k"),
        (
            [PODS],
            [
                {
                    "type": "Pods",
                    "pods": {"metric": {"name": "qps"}, "current": {"averageValue": "7"}},
                }
            ],
            "7/1k",
        ),
        ([OBJECT_VALUE], [], "<unknown>/10k"),
        (
            [OBJECT_VALUE],
            [{"type": "Object", "object": {"current": {"value": "9k"}}}],
            "9k/10k",
        ),
        ([OBJECT_AVERAGE], [], "<unknown>/500 (avg)"),
        (
            [OBJECT_AVERAGE],
            [{"type": "Object", "object": {"current": {"averageValue": "400"}}}],
            "400/500 (avg)",
        ),
        ([EXTERNAL], [{"type": "External", "external": {"current": {"value": "2"}}}], "2/30"),
        ([CONTAINER], [], "cpu: <unknown>/60%"),
        ([{"type": "Custom"}], [], "<unknown type>"),
        ([CPU, MEMORY], [], "cpu: <unknown>/50%, memory: <unknown>/100Mi"),
        (
            [CPU, MEMORY, PODS, EXTERNAL],
            [],
            "cpu: <unknown>/50%, memory: <unknown>/100Mi + 2 more...",
        ),
        # statuses are matched by position, as upstream does
        (
            [MEMORY, CPU],
            [resource_status("cpu", averageUtilization=12)],
            "memory: <nil>/100Mi, cpu: <unknown>/50%",
        ),
    ],
)
def test_targets(specs: list[Any], statuses: list[Any], expected: str) -> None:
    assert format_metrics(specs, statuses) == expected


def test_status_replicas() -> None:
    obj = hpa(
        {"minReplicas": 2, "maxReplicas": 10, "metrics": [CPU]},
        {
            "currentReplicas": 4,
            "desiredReplicas": 5,
            "currentMetrics": [resource_status("cpu", averageUtilization=71)],
        },
    )
    assert cells(obj) == ["web", "Deployment/web", "cpu: 71%/50%", "2", 10, 4, "5m"]


def test_autoscaling_v1_prints_as_v2() -> None:
    v2 = hpa(
        {"minReplicas": 1, "maxReplicas": 4, "metrics": [MEMORY, CPU]},
        {"currentReplicas": 2, "currentMetrics": [resource_status("memory", averageValue="1Mi")]},
    )
    v1 = hpa_conversion.from_storage(v2)
    assert v1["apiVersion"] == "autoscaling/v1"
    assert (
        cells(v1)
        == cells(v2)
        == [
            "web",
            "Deployment/web",
            "memory: 1Mi/100Mi, cpu: <unknown>/50%",
            "1",
            4,
            2,
            "5m",
        ]
    )


def test_v1_with_unreadable_annotations_prints_its_own_fields() -> None:
    v1 = {
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": "web",
            "creationTimestamp": CREATED,
            "annotations": {"autoscaling.alpha.kubernetes.io/metrics": "{"},
        },
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "web"},
            "maxReplicas": 3,
            "targetCPUUtilizationPercentage": 40,
        },
    }
    assert cells(v1) == ["web", "Deployment/web", "cpu: <unknown>/40%", "1", 3, 0, "5m"]
