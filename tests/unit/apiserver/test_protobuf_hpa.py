"""autoscaling/v1 and autoscaling/v2 HorizontalPodAutoscalers in protobuf, as client-go writes
them (`kubectl autoscale` sends v2 first), decode into the JSON a JSON body would give."""

from __future__ import annotations

from typing import Any

import pytest

from pocketkube.apiserver.protobuf import decode_kubernetes_protobuf
from pocketkube.apiserver.protobuf.schema import KINDS, MESSAGES
from tests.unit.apiserver.test_protobuf import envelope, ld, meta, msg, num


def target_ref(number: int, kind: str, name: str, api_version: str = "") -> bytes:
    return msg(number, ld(1, kind), ld(2, name), ld(3, api_version))


def quantity(number: int, text: str) -> bytes:
    return msg(number, ld(1, text))


def metric_target(number: int, target_type: str, *values: bytes) -> bytes:
    return msg(number, ld(1, target_type), *values)


# What client-go writes for `kubectl autoscale deployment web --cpu-percent=50 --min=1 --max=3`:
# every non-pointer field, zero or not, including the empty status.
AUTOSCALE_V2 = envelope(
    "autoscaling/v2",
    "HorizontalPodAutoscaler",
    meta("web"),
    msg(
        2,
        target_ref(1, "Deployment", "web", "apps/v1"),
        num(2, 1),
        num(3, 3),
        msg(
            4,
            ld(1, "Resource"),
            msg(4, ld(1, "cpu"), metric_target(2, "Utilization", num(4, 50))),
        ),
    ),
    msg(3, num(3, 0), num(4, 0)),
)


def test_kubectl_autoscale_v2() -> None:
    assert decode_kubernetes_protobuf(AUTOSCALE_V2) == {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
            "minReplicas": 1,
            "maxReplicas": 3,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 50},
                    },
                }
            ],
        },
        "status": {"desiredReplicas": 0},
    }


def test_every_metric_source_and_behavior() -> None:
    selector = msg(2, msg(1, ld(1, "tier"), ld(2, "web")))
    body = envelope(
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        meta("all"),
        msg(
            2,
            target_ref(1, "StatefulSet", "db"),
            num(3, 0),  # maxReplicas is not omitempty: a zero stays
            msg(
                4,
                ld(1, "Object"),
                msg(
                    2,
                    target_ref(1, "Ingress", "main", "networking.k8s.io/v1"),
                    metric_target(2, "Value", quantity(2, "10k")),
                    msg(3, ld(1, "rps")),
                ),
            ),
            msg(
                4,
                ld(1, "Pods"),
                msg(
                    3,
                    msg(1, ld(1, "qps"), selector),
                    metric_target(2, "AverageValue", quantity(3, "1")),
                ),
            ),
            msg(
                4,
                ld(1, "ContainerResource"),
                msg(
                    7,
                    ld(1, "memory"),
                    metric_target(2, "AverageValue", quantity(3, "1Gi")),
                    ld(3, "app"),
                ),
            ),
            msg(
                4,
                ld(1, "External"),
                msg(5, msg(1, ld(1, "queue")), metric_target(2, "Value", quantity(2, "30"))),
            ),
            msg(
                5,
                msg(1, num(3, 0), ld(1, "Max"), msg(2, ld(1, "Pods"), num(2, 4), num(3, 15))),
                msg(
                    2,
                    num(3, 300),
                    msg(2, ld(1, "Percent"), num(2, 10), num(3, 60)),
                    quantity(4, "0.05"),
                ),
            ),
        ),
    )
    spec = decode_kubernetes_protobuf(body)["spec"]
    assert spec["maxReplicas"] == 0
    assert "minReplicas" not in spec
    assert spec["scaleTargetRef"] == {"kind": "StatefulSet", "name": "db"}
    assert spec["metrics"] == [
        {
            "type": "Object",
            "object": {
                "describedObject": {
                    "kind": "Ingress",
                    "name": "main",
                    "apiVersion": "networking.k8s.io/v1",
                },
                "target": {"type": "Value", "value": "10k"},
                "metric": {"name": "rps"},
            },
        },
        {
            "type": "Pods",
            "pods": {
                "metric": {"name": "qps", "selector": {"matchLabels": {"tier": "web"}}},
                "target": {"type": "AverageValue", "averageValue": "1"},
            },
        },
        {
            "type": "ContainerResource",
            "containerResource": {
                "name": "memory",
                "target": {"type": "AverageValue", "averageValue": "1Gi"},
                "container": "app",
            },
        },
        {
            "type": "External",
            "external": {"metric": {"name": "queue"}, "target": {"type": "Value", "value": "30"}},
        },
    ]
    assert spec["behavior"] == {
        "scaleUp": {
            "stabilizationWindowSeconds": 0,  # a pointer: zero is a value
            "selectPolicy": "Max",
            "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15}],
        },
        "scaleDown": {
            "stabilizationWindowSeconds": 300,
            "policies": [{"type": "Percent", "value": 10, "periodSeconds": 60}],
            "tolerance": "0.05",
        },
    }


def test_v2_status_as_the_controller_writes_it() -> None:
    body = envelope(
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        meta("web"),
        msg(2, target_ref(1, "Deployment", "web"), num(3, 3)),
        msg(
            3,
            num(1, 2),
            msg(2, num(1, 1_735_732_800)),
            num(3, 2),
            num(4, 3),
            msg(
                5,
                ld(1, "Resource"),
                msg(4, ld(1, "cpu"), msg(2, quantity(2, "250m"), num(3, 71))),
            ),
            msg(
                6,
                ld(1, "AbleToScale"),
                ld(2, "True"),
                msg(3, num(1, 1_735_732_800)),
                ld(4, "ReadyForNewScale"),
                ld(5, ""),
            ),
        ),
    )
    assert decode_kubernetes_protobuf(body)["status"] == {
        "observedGeneration": 2,
        "lastScaleTime": "2025-01-01T12:00:00Z",
        "currentReplicas": 2,
        "desiredReplicas": 3,
        "currentMetrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "current": {"averageValue": "250m", "averageUtilization": 71},
                },
            }
        ],
        "conditions": [
            {
                "type": "AbleToScale",
                "status": "True",
                "lastTransitionTime": "2025-01-01T12:00:00Z",
                "reason": "ReadyForNewScale",
            }
        ],
    }


def test_v1_with_status() -> None:
    body = envelope(
        "autoscaling/v1",
        "HorizontalPodAutoscaler",
        meta("web"),
        msg(2, target_ref(1, "Deployment", "web", "apps/v1"), num(2, 1), num(3, 5), num(4, 80)),
        msg(3, num(3, 0), num(4, 0)),
    )
    decoded: dict[str, Any] = decode_kubernetes_protobuf(body)
    assert decoded["spec"] == {
        "scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
        "minReplicas": 1,
        "maxReplicas": 5,
        "targetCPUUtilizationPercentage": 80,
    }
    # neither replica count is omitempty in v1
    assert decoded["status"] == {"currentReplicas": 0, "desiredReplicas": 0}


@pytest.mark.parametrize("version", ["autoscaling/v1", "autoscaling/v2"])
def test_both_versions_have_tables(version: str) -> None:
    table = KINDS[(version, "HorizontalPodAutoscaler")]
    assert table in MESSAGES
    assert {field.json_name for field in MESSAGES[table].values()} == {
        "metadata",
        "spec",
        "status",
    }
