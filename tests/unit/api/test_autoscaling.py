"""autoscaling/v2 HorizontalPodAutoscaler defaults and validation, with upstream's messages."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pocketkube.api.autoscaling import default_hpa, quantity_sign, validate_hpa
from pocketkube.api.status import invalid as invalid_status

TARGET = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
CPU_80 = {
    "type": "Resource",
    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
}
SCALE_UP = {
    "stabilizationWindowSeconds": 0,
    "selectPolicy": "Max",
    "policies": [
        {"type": "Pods", "value": 4, "periodSeconds": 15},
        {"type": "Percent", "value": 100, "periodSeconds": 15},
    ],
}
SCALE_DOWN = {
    "selectPolicy": "Max",
    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
}


def hpa(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"scaleTargetRef": dict(TARGET), "maxReplicas": 3, **spec},
    }


def defaulted(**spec: Any) -> dict[str, Any]:
    obj = hpa(**spec)
    default_hpa(obj)
    return obj


# -- defaults -------------------------------------------------------------------------------------
def test_minimal_hpa_gets_one_replica_and_80_percent_cpu() -> None:
    obj = defaulted()
    assert obj["spec"] == {
        "scaleTargetRef": TARGET,
        "maxReplicas": 3,
        "minReplicas": 1,
        "metrics": [CPU_80],
    }
    assert "behavior" not in obj["spec"]
    assert obj["status"] == {"desiredReplicas": 0}
    assert validate_hpa(obj, None) == []


@pytest.mark.parametrize(
    ("given", "want"),
    [
        ({"minReplicas": 2}, 2),
        ({"minReplicas": None}, 1),
        ({"minReplicas": 0}, 0),  # kept: validation, not defaulting, refuses it
    ],
)
def test_min_replicas_default(given: dict[str, Any], want: int) -> None:
    assert defaulted(**given)["spec"]["minReplicas"] == want


@pytest.mark.parametrize("metrics", [None, []])
def test_empty_metrics_default_to_cpu(metrics: Any) -> None:
    assert defaulted(metrics=metrics)["spec"]["metrics"] == [CPU_80]


def test_given_metrics_are_kept() -> None:
    memory = {
        "type": "Resource",
        "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "1Gi"}},
    }
    assert defaulted(metrics=[memory])["spec"]["metrics"] == [memory]


@pytest.mark.parametrize(
    ("behavior", "want"),
    [
        ({}, {"scaleUp": SCALE_UP, "scaleDown": SCALE_DOWN}),
        (
            {"scaleDown": {"stabilizationWindowSeconds": 60}},
            {"scaleUp": SCALE_UP, "scaleDown": {**SCALE_DOWN, "stabilizationWindowSeconds": 60}},
        ),
        (
            {"scaleUp": {"selectPolicy": "Disabled", "policies": None}},
            {"scaleUp": {**SCALE_UP, "selectPolicy": "Disabled"}, "scaleDown": SCALE_DOWN},
        ),
        (
            {"scaleUp": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}},
            {
                "scaleUp": {
                    **SCALE_UP,
                    "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
                },
                "scaleDown": SCALE_DOWN,
            },
        ),
        (
            {"scaleDown": {"tolerance": "0.05"}},
            {"scaleUp": SCALE_UP, "scaleDown": {**SCALE_DOWN, "tolerance": "0.05"}},
        ),
    ],
)
def test_behavior_rules_are_filled_in(behavior: dict[str, Any], want: dict[str, Any]) -> None:
    obj = defaulted(behavior=behavior)
    assert obj["spec"]["behavior"] == want
    assert validate_hpa(obj, None) == []


def test_defaults_are_idempotent_and_never_share_the_rule_templates() -> None:
    obj = defaulted(behavior={})
    again = copy.deepcopy(obj)
    default_hpa(again)
    assert again == obj
    obj["spec"]["behavior"]["scaleUp"]["policies"].append({"type": "Pods"})
    assert len(defaulted(behavior={})["spec"]["behavior"]["scaleUp"]["policies"]) == 2


def test_explicit_empty_policies_are_kept_and_refused() -> None:
    obj = defaulted(behavior={"scaleUp": {"policies": []}})
    assert obj["spec"]["behavior"]["scaleUp"]["policies"] == []
    [err] = validate_hpa(obj, None)
    assert err.message == (
        "spec.behavior.scaleUp.policies: Required value: must specify at least one Policy"
    )


# -- validation -----------------------------------------------------------------------------------
def resource_metric(name: str = "cpu", **target: Any) -> dict[str, Any]:
    return {"type": "Resource", "resource": {"name": name, "target": target}}


@pytest.mark.parametrize(
    ("spec", "messages"),
    [
        (
            {"maxReplicas": 0},
            [
                "spec.maxReplicas: Invalid value: 0: must be greater than 0",
                "spec.maxReplicas: Invalid value: 0:"
                " must be greater than or equal to `minReplicas`",
            ],
        ),
        (
            {"minReplicas": 5, "maxReplicas": 3},
            ["spec.maxReplicas: Invalid value: 3: must be greater than or equal to `minReplicas`"],
        ),
        (
            {"minReplicas": 0},
            [
                "spec.minReplicas: Invalid value: 0: must be greater than or equal to 1",
                "spec.metrics: Forbidden: must specify at least one Object or External metric"
                " to support scaling to zero replicas",
            ],
        ),
        (
            {"scaleTargetRef": {"name": "a/b"}},
            [
                "spec.scaleTargetRef.kind: Required value",
                "spec.scaleTargetRef.name: Invalid value: \"a/b\": may not contain '/'",
            ],
        ),
        (
            {"scaleTargetRef": {"kind": "..", "name": ""}},
            [
                "spec.scaleTargetRef.kind: Invalid value: \"..\": may not be '..'",
                "spec.scaleTargetRef.name: Required value",
            ],
        ),
        (
            {"metrics": [resource_metric(type="Utilization", averageUtilization=0)]},
            [
                "spec.metrics[0].resource.target.averageUtilization: Invalid value: 0:"
                " must be greater than 0"
            ],
        ),
        (
            {"metrics": [resource_metric(type="Percent", averageUtilization=50)]},
            [
                'spec.metrics[0].resource.target.type: Invalid value: "Percent":'
                " must be either Utilization, Value, or AverageValue"
            ],
        ),
        (
            {"metrics": [resource_metric(name="", type="Utilization")]},
            [
                "spec.metrics[0].resource.name: Required value: must specify a resource name",
                "spec.metrics[0].resource.target.averageUtilization: Required value:"
                " must set either a target raw value or a target utilization",
            ],
        ),
        (
            {
                "metrics": [
                    resource_metric(type="AverageValue", averageValue="-100m", averageUtilization=5)
                ]
            },
            [
                "spec.metrics[0].resource.target.averageValue: Invalid value: -100m:"
                " must be positive",
                "spec.metrics[0].resource.target.averageValue: Forbidden:"
                " may not set both a target raw value and a target utilization",
            ],
        ),
        (
            {"metrics": [{"type": "Resource"}]},
            [
                "spec.metrics[0].resource: Required value:"
                " must populate information for the given metric source"
            ],
        ),
        (
            {"metrics": [{"type": "Cpu"}]},
            # twice, as upstream: once for the type, once again for finding no source for it
            [
                'spec.metrics[0].type: Unsupported value: "Cpu": supported values:'
                ' "ContainerResource", "External", "Object", "Pods", "Resource"',
            ]
            * 2,
        ),
        (
            {
                "metrics": [
                    {
                        "type": "Pods",
                        "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue"}},
                        "resource": {"name": "cpu"},
                    }
                ]
            },
            [
                "spec.metrics[0].pods.target.averageValue: Required value:"
                " must specify a positive target averageValue",
                "spec.metrics[0].resource: Forbidden: must populate the given metric source only",
            ],
        ),
        (
            {
                "metrics": [
                    {
                        "type": "Object",
                        "object": {
                            "describedObject": {"kind": "Ingress", "name": "main"},
                            "metric": {"name": ""},
                            "target": {"type": "Value"},
                        },
                    }
                ]
            },
            [
                "spec.metrics[0].object.metric.name: Required value: must specify a metric name",
                "spec.metrics[0].object.target.averageValue: Required value:"
                " must set either a target value or averageValue",
            ],
        ),
        (
            {
                "metrics": [
                    {
                        "type": "External",
                        "external": {
                            "metric": {"name": "queue"},
                            "target": {"type": "Value", "value": "0", "averageValue": 3},
                        },
                    }
                ]
            },
            [
                "spec.metrics[0].external.target.value: Invalid value: 0: must be positive",
                "spec.metrics[0].external.target.value: Forbidden:"
                " may not set both a target value for metric and a per-pod target",
            ],
        ),
        (
            {
                "metrics": [
                    {
                        "type": "ContainerResource",
                        "containerResource": {
                            "name": "gpu",
                            "container": "App",
                            "target": {"type": "Utilization", "averageUtilization": 60},
                        },
                    }
                ]
            },
            [
                'spec.metrics[0].containerResource.name: Invalid value: "gpu":'
                " must be a standard resource type or fully qualified",
                'spec.metrics[0].containerResource.name: Invalid value: "gpu":'
                " must be a standard resource for containers",
                'spec.metrics[0].containerResource.container: Invalid value: "App":'
                " a lowercase RFC 1123 label must consist of lower case alphanumeric characters"
                " or '-', and must start and end with an alphanumeric character (e.g. 'my-name',"
                "  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
            ],
        ),
        (
            {
                "behavior": {
                    "scaleUp": {
                        "stabilizationWindowSeconds": 3601,
                        "selectPolicy": "Fastest",
                        "policies": [{"type": "Nodes", "value": 0, "periodSeconds": 1801}],
                    },
                    "scaleDown": {"stabilizationWindowSeconds": -1, "tolerance": "-0.1"},
                }
            },
            [
                "spec.behavior.scaleUp.stabilizationWindowSeconds: Invalid value: 3601:"
                " must be less than or equal to 3600",
                'spec.behavior.scaleUp.selectPolicy: Unsupported value: "Fastest":'
                ' supported values: "Disabled", "Max", "Min"',
                'spec.behavior.scaleUp.policies[0].type: Unsupported value: "Nodes":'
                ' supported values: "Percent", "Pods"',
                "spec.behavior.scaleUp.policies[0].value: Invalid value: 0:"
                " must be greater than zero",
                "spec.behavior.scaleUp.policies[0].periodSeconds: Invalid value: 1801:"
                " must be less than or equal to 1800",
                "spec.behavior.scaleDown.stabilizationWindowSeconds: Invalid value: -1:"
                " must be greater than or equal to zero",
                "spec.behavior.scaleDown.tolerance: Invalid value: -0.1:"
                " must be greater than or equal to 0",
            ],
        ),
    ],
)
def test_validation_messages(spec: dict[str, Any], messages: list[str]) -> None:
    obj = hpa()
    obj["spec"].update(spec)
    default_hpa(obj)
    assert [err.message for err in validate_hpa(obj, None)] == messages


def test_metric_without_type_is_required_and_unsupported_as_upstream() -> None:
    obj = defaulted(metrics=[{"resource": {"name": "cpu"}}])
    fields = [(err.field, err.type.text) for err in validate_hpa(obj, None)]
    assert fields[0] == ("spec.metrics[0].type", "Required value")
    assert fields.count(("spec.metrics[0].type", "Unsupported value")) == 2


def test_an_hpa_already_at_zero_replicas_may_stay_there() -> None:
    queue = {
        "type": "External",
        "external": {"metric": {"name": "queue"}, "target": {"type": "Value", "value": "10"}},
    }
    old = defaulted(minReplicas=0, metrics=[queue])
    new = copy.deepcopy(old)
    new["spec"]["maxReplicas"] = 5
    assert validate_hpa(new, old) == []
    assert [e.field for e in validate_hpa(new, None)] == ["spec.minReplicas"]


def test_errors_become_a_422_status_with_causes() -> None:
    obj = defaulted(maxReplicas=0)
    status = invalid_status(
        "HorizontalPodAutoscaler", "web", validate_hpa(obj, None), "autoscaling"
    )
    assert status["code"] == 422
    assert status["message"].startswith(
        'HorizontalPodAutoscaler.autoscaling "web" is invalid: [spec.maxReplicas: Invalid value: 0'
    )
    assert status["details"]["causes"][0] == {
        "reason": "FieldValueInvalid",
        "message": "Invalid value: 0: must be greater than 0",
        "field": "spec.maxReplicas",
    }


@pytest.mark.parametrize(
    ("value", "sign"),
    [
        ("1", 1),
        ("100m", 1),
        ("1.5Gi", 1),
        ("+2e3", 1),
        (".5", 1),
        ("0", 0),
        ("0.000", 0),
        ("0Ki", 0),
        ("-1", -1),
        ("-0.5k", -1),
        (3, 1),
        (0, 0),
        (-2.5, -1),
        ("", None),
        ("abc", None),
        ("1Kb", None),
        (True, None),
        (None, None),
    ],
)
def test_quantity_sign(value: Any, sign: int | None) -> None:
    assert quantity_sign(value) == sign
