"""Conversions between served and stored versions, against upstream's field mappings."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from pocketkube.api import fields
from pocketkube.api.labels import SelectorError
from pocketkube.apiserver.conversion import converter_for, events, hpa, hpa_metrics
from pocketkube.apiserver.conversion.errors import ConversionError
from pocketkube.apiserver.resources import GroupVersionKind
from pocketkube.apiserver.tables import to_table

META = {"name": "e1", "namespace": "default", "uid": "u-1", "resourceVersion": "7"}

CORE_EVENT: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Event",
    "metadata": META,
    "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web", "uid": "p-1"},
    "reason": "Started",
    "message": "Started container web",
    "source": {"component": "kubelet", "host": "node-1"},
    "firstTimestamp": "2025-01-01T00:00:00Z",
    "lastTimestamp": "2025-01-01T00:01:00Z",
    "count": 3,
    "type": "Normal",
    "eventTime": "2025-01-01T00:00:00.000001Z",
    "series": {"count": 2, "lastObservedTime": "2025-01-01T00:01:00.000001Z"},
    "action": "Start",
    "related": {"kind": "Node", "name": "node-1"},
    "reportingComponent": "kubelet",
    "reportingInstance": "node-1",
}

NEW_EVENT: dict[str, Any] = {
    "apiVersion": "events.k8s.io/v1",
    "kind": "Event",
    "metadata": META,
    "eventTime": "2025-01-01T00:00:00.000001Z",
    "series": {"count": 2, "lastObservedTime": "2025-01-01T00:01:00.000001Z"},
    "action": "Start",
    "reason": "Started",
    "related": {"kind": "Node", "name": "node-1"},
    "reportingInstance": "node-1",
    "type": "Normal",
    "note": "Started container web",
    "regarding": {"kind": "Pod", "namespace": "default", "name": "web", "uid": "p-1"},
    "reportingController": "kubelet",
    "deprecatedSource": {"component": "kubelet", "host": "node-1"},
    "deprecatedFirstTimestamp": "2025-01-01T00:00:00Z",
    "deprecatedLastTimestamp": "2025-01-01T00:01:00Z",
    "deprecatedCount": 3,
}


# -- events ---------------------------------------------------------------------------------------
def test_core_event_reads_as_events_k8s_io() -> None:
    assert events.from_storage(CORE_EVENT) == NEW_EVENT


def test_events_k8s_io_event_is_stored_as_core() -> None:
    assert events.to_storage(NEW_EVENT) == CORE_EVENT


@pytest.mark.parametrize(
    "event",
    [
        CORE_EVENT,
        {"apiVersion": "v1", "kind": "Event", "metadata": META, "message": "only a message"},
        {"apiVersion": "v1", "kind": "Event", "metadata": META},
    ],
)
def test_core_event_round_trips(event: dict[str, Any]) -> None:
    before = copy.deepcopy(event)
    assert events.to_storage(events.from_storage(event)) == event
    assert event == before  # inputs are never changed


@pytest.mark.parametrize(
    "event",
    [
        NEW_EVENT,
        {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": META, "note": "n"},
    ],
)
def test_events_k8s_io_event_round_trips(event: dict[str, Any]) -> None:
    assert events.from_storage(events.to_storage(event)) == event


def test_event_fields_neither_version_has_are_dropped() -> None:
    assert "bogus" not in events.to_storage({**NEW_EVENT, "bogus": 1})


# -- HorizontalPodAutoscaler ----------------------------------------------------------------------
SCALE_TARGET = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
HPA_META = {"name": "web", "namespace": "default", "annotations": {"team": "a"}}


def cpu_target(percent: int) -> dict[str, Any]:
    return {
        "type": "Resource",
        "resource": {
            "name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": percent},
        },
    }


V1_HPA: dict[str, Any] = {
    "apiVersion": "autoscaling/v1",
    "kind": "HorizontalPodAutoscaler",
    "metadata": HPA_META,
    "spec": {
        "scaleTargetRef": SCALE_TARGET,
        "minReplicas": 2,
        "maxReplicas": 5,
        "targetCPUUtilizationPercentage": 50,
    },
    "status": {
        "observedGeneration": 1,
        "currentReplicas": 2,
        "desiredReplicas": 3,
        "currentCPUUtilizationPercentage": 70,
    },
}

V2_HPA: dict[str, Any] = {
    "apiVersion": "autoscaling/v2",
    "kind": "HorizontalPodAutoscaler",
    "metadata": HPA_META,
    "spec": {
        "scaleTargetRef": SCALE_TARGET,
        "minReplicas": 2,
        "maxReplicas": 5,
        "metrics": [cpu_target(50)],
    },
    "status": {
        "observedGeneration": 1,
        "currentReplicas": 2,
        "desiredReplicas": 3,
        "currentMetrics": [
            {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 70}}}
        ],
    },
}

MEMORY_VALUE = {
    "type": "Resource",
    "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}},
}
PODS_METRIC = {
    "type": "Pods",
    "pods": {
        "metric": {"name": "qps", "selector": {"matchLabels": {"a": "b"}}},
        "target": {"type": "AverageValue", "averageValue": "10"},
    },
}
OBJECT_METRIC = {
    "type": "Object",
    "object": {
        "describedObject": {"apiVersion": "v1", "kind": "Service", "name": "front"},
        "target": {"type": "Value", "value": "2k"},
        "metric": {"name": "requests"},
    },
}
EXTERNAL_METRIC = {
    "type": "External",
    "external": {
        "metric": {"name": "queue", "selector": {"matchLabels": {"q": "jobs"}}},
        "target": {"type": "AverageValue", "averageValue": "30"},
    },
}
CONTAINER_METRIC = {
    "type": "ContainerResource",
    "containerResource": {
        "name": "cpu",
        "container": "app",
        "target": {"type": "Utilization", "averageUtilization": 60},
    },
}
BEHAVIOR = {
    "scaleUp": {
        "stabilizationWindowSeconds": 0,
        "selectPolicy": "Max",
        "policies": [
            {"type": "Pods", "value": 4, "periodSeconds": 15},
            {"type": "Percent", "value": 100, "periodSeconds": 15},
        ],
    },
    "scaleDown": {"policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]},
}
CONDITIONS = [
    {
        "type": "AbleToScale",
        "status": "True",
        "lastTransitionTime": "2025-01-01T00:00:00Z",
        "reason": "ReadyForNewScale",
        "message": "recommended size matches current size",
    }
]
CURRENT_METRICS = [
    {
        "type": "Resource",
        "resource": {"name": "cpu", "current": {"averageValue": "120m", "averageUtilization": 70}},
    },
    {
        "type": "Pods",
        "pods": {"metric": {"name": "qps"}, "current": {"averageValue": "9"}},
    },
]
V2_WITH_RAW_VALUES: dict[str, Any] = {
    **V2_HPA,
    "status": {**V2_HPA["status"], "currentMetrics": CURRENT_METRICS[:1]},
}
RICH_V2: dict[str, Any] = {
    **V2_HPA,
    "spec": {
        **V2_HPA["spec"],
        "metrics": [
            MEMORY_VALUE,
            PODS_METRIC,
            OBJECT_METRIC,
            EXTERNAL_METRIC,
            CONTAINER_METRIC,
            cpu_target(50),  # last: the CPU target comes back after the annotated metrics
        ],
        "behavior": BEHAVIOR,
    },
    "status": {**V2_HPA["status"], "currentMetrics": CURRENT_METRICS, "conditions": CONDITIONS},
}


def test_v1_hpa_is_stored_as_v2() -> None:
    assert hpa.to_storage(V1_HPA) == V2_HPA


def test_v2_hpa_reads_as_v1() -> None:
    # Current metrics always travel in the annotation too, with the raw values v1 has no field
    # for (a Quantity Go does not point to reads "0" when unset).
    raw = '[{"type":"Resource","resource":{"name":"cpu","currentAverageUtilization":70,'
    raw += '"currentAverageValue":"0"}}]'
    annotations = {**HPA_META["annotations"], hpa.CURRENT_METRICS_ANNOTATION: raw}
    expected = {**V1_HPA, "metadata": {**HPA_META, "annotations": annotations}}
    assert hpa.from_storage(V2_HPA) == expected


@pytest.mark.parametrize("obj", [V2_WITH_RAW_VALUES, RICH_V2])
def test_v2_hpa_round_trips_through_v1(obj: dict[str, Any]) -> None:
    before = copy.deepcopy(obj)
    assert hpa.to_storage(hpa.from_storage(obj)) == obj
    assert obj == before


def test_v1_hpa_round_trips_through_v2() -> None:
    no_status = {key: value for key, value in V1_HPA.items() if key != "status"}
    assert hpa.from_storage(hpa.to_storage(no_status)) == no_status
    again = hpa.from_storage(hpa.to_storage(V1_HPA))
    assert again["spec"] == V1_HPA["spec"]
    assert again["status"] == V1_HPA["status"]


def test_what_v1_cannot_say_travels_in_annotations() -> None:
    v1 = hpa.from_storage(RICH_V2)
    annotations = v1["metadata"]["annotations"]
    assert annotations["team"] == "a"
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 50
    assert v1["status"]["currentCPUUtilizationPercentage"] == 70
    metrics = json.loads(annotations[hpa.METRICS_ANNOTATION])
    assert [m["type"] for m in metrics] == [
        "Resource",
        "Pods",
        "Object",
        "External",
        "ContainerResource",
    ]
    # autoscaling/v1's own MetricSpec layout (the old v2beta1 one).
    assert metrics[0] == {
        "type": "Resource",
        "resource": {"name": "memory", "targetAverageValue": "100Mi"},
    }
    assert metrics[1]["pods"] == {
        "metricName": "qps",
        "targetAverageValue": "10",
        "selector": {"matchLabels": {"a": "b"}},
    }
    assert metrics[2]["object"] == {
        "target": {"apiVersion": "v1", "kind": "Service", "name": "front"},
        "metricName": "requests",
        "targetValue": "2k",
    }
    assert metrics[3]["external"] == {
        "metricName": "queue",
        "metricSelector": {"matchLabels": {"q": "jobs"}},
        "targetAverageValue": "30",
    }
    current = json.loads(annotations[hpa.CURRENT_METRICS_ANNOTATION])
    assert current[0] == {
        "type": "Resource",
        "resource": {"name": "cpu", "currentAverageUtilization": 70, "currentAverageValue": "120m"},
    }
    assert json.loads(annotations[hpa.CONDITIONS_ANNOTATION]) == CONDITIONS
    behavior = json.loads(annotations[hpa.BEHAVIOR_ANNOTATION])
    # The internal type has no json tags: Go field names, nil as null.
    assert behavior["ScaleUp"] == {
        "StabilizationWindowSeconds": 0,
        "SelectPolicy": "Max",
        "Policies": [
            {"Type": "Pods", "Value": 4, "PeriodSeconds": 15},
            {"Type": "Percent", "Value": 100, "PeriodSeconds": 15},
        ],
        "Tolerance": None,
    }
    assert behavior["ScaleDown"]["StabilizationWindowSeconds"] is None


def test_v1_without_a_target_gets_the_default_cpu_metric_and_one_replica() -> None:
    v1 = {"metadata": {"name": "x"}, "spec": {"scaleTargetRef": SCALE_TARGET, "maxReplicas": 3}}
    v2 = hpa.to_storage(v1)
    assert v2["spec"]["metrics"] == [cpu_target(hpa.DEFAULT_CPU_UTILIZATION)]
    assert v2["spec"]["minReplicas"] == 1
    assert "status" not in v2
    assert hpa.from_storage(v2)["spec"]["targetCPUUtilizationPercentage"] == 80


def test_v1_annotations_do_not_reach_storage() -> None:
    v2 = hpa.to_storage(hpa.from_storage(RICH_V2))
    assert v2["metadata"]["annotations"] == {"team": "a"}
    only_ours = {**RICH_V2, "metadata": {"name": "web"}}
    assert "annotations" not in hpa.to_storage(hpa.from_storage(only_ours))["metadata"]


def test_stale_round_trip_annotations_on_a_stored_object_are_replaced() -> None:
    stale = {hpa.METRICS_ANNOTATION: "[]", hpa.CONDITIONS_ANNOTATION: "garbage", "keep": "me"}
    v1 = hpa.from_storage({**V2_HPA, "metadata": {"name": "web", "annotations": stale}})
    assert v1["metadata"]["annotations"].keys() == {"keep", hpa.CURRENT_METRICS_ANNOTATION}


def test_a_v1_metric_annotation_that_is_not_json_is_refused() -> None:
    bad = {**V1_HPA, "metadata": {"name": "web", "annotations": {hpa.METRICS_ANNOTATION: "{"}}}
    with pytest.raises(ConversionError):
        hpa.to_storage(bad)


def test_an_unreadable_behavior_annotation_is_ignored() -> None:
    odd = {**V1_HPA, "metadata": {"name": "web", "annotations": {hpa.BEHAVIOR_ANNOTATION: "{"}}}
    assert "behavior" not in hpa.to_storage(odd)["spec"]


def test_behavior_keys_are_read_ignoring_case() -> None:
    raw = {"scaleup": {"selectpolicy": "Min", "policies": None}, "ScaleDown": None}
    assert hpa_metrics.behavior_from_go(raw) == {"scaleUp": {"selectPolicy": "Min"}}
    assert hpa_metrics.behavior_from_go({"ScaleUp": None, "ScaleDown": None}) is None


def test_only_the_first_cpu_metric_is_the_v1_target() -> None:
    cpu_value = {
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "AverageValue", "averageValue": "500m"}},
    }
    v2 = {**V2_HPA, "spec": {**V2_HPA["spec"], "metrics": [cpu_value, cpu_target(40)]}}
    v1 = hpa.from_storage(v2)
    assert "targetCPUUtilizationPercentage" not in v1["spec"]  # upstream stops at the first
    assert json.loads(v1["metadata"]["annotations"][hpa.METRICS_ANNOTATION]) == [
        {"type": "Resource", "resource": {"name": "cpu", "targetAverageValue": "500m"}}
    ]


# -- the table of converters ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("served", "stored", "known"),
    [
        (("events.k8s.io", "v1", "Event"), ("", "v1", "Event"), True),
        (
            ("autoscaling", "v1", "HorizontalPodAutoscaler"),
            ("autoscaling", "v2", "HorizontalPodAutoscaler"),
            True,
        ),
        (
            ("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            ("apiextensions.k8s.io", "v1beta1", "CustomResourceDefinition"),
            False,
        ),
    ],
)
def test_converter_for(
    served: tuple[str, str, str], stored: tuple[str, str, str], known: bool
) -> None:
    found = converter_for(GroupVersionKind(*served), GroupVersionKind(*stored))
    assert (found is not None) is known


# -- printing -------------------------------------------------------------------------------------
def test_events_k8s_io_events_print_as_core_events() -> None:
    now = datetime(2025, 1, 1, 0, 2, tzinfo=UTC)
    core = to_table("Event", [CORE_EVENT], list_meta={}, now=now)
    new = to_table("Event", [NEW_EVENT], list_meta={}, now=now)
    assert new["columnDefinitions"] == core["columnDefinitions"]
    assert new["rows"][0]["cells"] == core["rows"][0]["cells"]
    assert new["rows"][0]["cells"][3] == "pod/web"


def test_field_selectors_of_events_k8s_io_are_the_stored_core_fields() -> None:
    allowed = fields.allowed_fields("events.events.k8s.io")
    selector = fields.parse_field_selector("regarding.name=web,reportingController=kubelet")
    translated = fields.validate_fields(selector, allowed, "events.events.k8s.io")
    assert str(translated) == "involvedObject.name=web,reportingComponent=kubelet"
    assert translated.matches(fields.selectable_fields("events.events.k8s.io", CORE_EVENT))
    core_spelling = fields.parse_field_selector("involvedObject.name=web")
    with pytest.raises(SelectorError, match=r"field label not supported: involvedObject\.name"):
        fields.validate_fields(core_spelling, allowed, "events.events.k8s.io")
