"""HorizontalPodAutoscalers through the HTTP API: protobuf bodies, upstream's defaults and
validation, and the Table both served versions print."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.integration.apiserver.conftest import Client
from tests.unit.apiserver.test_protobuf_hpa import AUTOSCALE_V2

HPAS_V1 = "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers"
HPAS_V2 = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers"
PROTOBUF = "application/vnd.kubernetes.protobuf"
# what client-go's typed clients accept
PROTOBUF_ACCEPT = "application/vnd.kubernetes.protobuf,application/json"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
TARGET = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}


def hpa_v2(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name},
        "spec": {"scaleTargetRef": TARGET, "maxReplicas": 3, **spec},
    }


async def _ok(admin: Client, method: str, path: str, body: Any = None, **kw: Any) -> Any:
    code, result = await admin.request(method, path, body, **kw)
    assert code in (200, 201), (code, result)
    return result


async def test_kubectl_autoscale_protobuf_body_is_created(admin: Client) -> None:
    code, created = await admin.request(
        "POST",
        f"{HPAS_V2}?fieldManager=kubectl-autoscale",
        raw=AUTOSCALE_V2,
        content_type=PROTOBUF,
        headers={"Accept": PROTOBUF_ACCEPT},
    )
    assert code == 201, created
    assert created["apiVersion"] == "autoscaling/v2"
    spec = created["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (1, 3)
    assert spec["scaleTargetRef"] == TARGET
    assert spec["metrics"][0]["resource"]["target"] == {
        "type": "Utilization",
        "averageUtilization": 50,
    }
    [entry] = created["metadata"]["managedFields"]
    assert (entry["manager"], entry["apiVersion"]) == ("kubectl-autoscale", "autoscaling/v2")
    v1 = await _ok(admin, "GET", f"{HPAS_V1}/web")
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 50


async def test_v2_defaults(admin: Client) -> None:
    created = await _ok(
        admin,
        "POST",
        HPAS_V2,
        hpa_v2("api", behavior={"scaleDown": {"stabilizationWindowSeconds": 120}}),
    )
    spec = created["spec"]
    assert spec["minReplicas"] == 1
    assert spec["metrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 80},
            },
        }
    ]
    assert spec["behavior"] == {
        "scaleUp": {
            "stabilizationWindowSeconds": 0,
            "selectPolicy": "Max",
            "policies": [
                {"type": "Pods", "value": 4, "periodSeconds": 15},
                {"type": "Percent", "value": 100, "periodSeconds": 15},
            ],
        },
        "scaleDown": {
            "stabilizationWindowSeconds": 120,
            "selectPolicy": "Max",
            "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
        },
    }
    assert created["status"] == {"desiredReplicas": 0}
    stored = await _ok(admin, "GET", f"{HPAS_V2}/api")
    assert stored["spec"] == spec


@pytest.mark.parametrize(
    ("spec", "causes"),
    [
        (
            {"maxReplicas": 0},
            [
                ("spec.maxReplicas", "Invalid value: 0: must be greater than 0"),
                (
                    "spec.maxReplicas",
                    "Invalid value: 0: must be greater than or equal to `minReplicas`",
                ),
            ],
        ),
        (
            {"scaleTargetRef": {"apiVersion": "apps/v1"}},
            [
                ("spec.scaleTargetRef.kind", "Required value"),
                ("spec.scaleTargetRef.name", "Required value"),
            ],
        ),
        (
            {"metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {}}}]},
            [
                (
                    "spec.metrics[0].resource.target.type",
                    "Required value: must specify a metric target type",
                ),
                (
                    "spec.metrics[0].resource.target.type",
                    'Invalid value: "": must be either Utilization, Value, or AverageValue',
                ),
                (
                    "spec.metrics[0].resource.target.averageUtilization",
                    "Required value: must set either a target raw value or a target utilization",
                ),
            ],
        ),
    ],
)
async def test_invalid_v2_is_422_with_causes(
    admin: Client, spec: dict[str, Any], causes: list[tuple[str, str]]
) -> None:
    obj = hpa_v2("bad")
    obj["spec"].update(spec)
    code, body = await admin.request("POST", HPAS_V2, obj)
    assert (code, body["reason"]) == (422, "Invalid"), body
    assert body["message"].startswith('HorizontalPodAutoscaler.autoscaling "bad" is invalid: ')
    assert body["details"]["kind"] == "HorizontalPodAutoscaler"
    assert [(c["field"], c["message"]) for c in body["details"]["causes"]] == causes
    code, _ = await admin.request("GET", f"{HPAS_V2}/bad")
    assert code == 404


async def test_invalid_v1_is_refused_too(admin: Client) -> None:
    v1 = {
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "old"},
        "spec": {"scaleTargetRef": TARGET, "minReplicas": 4, "maxReplicas": 2},
    }
    code, body = await admin.request("POST", HPAS_V1, v1)
    assert code == 422, body
    assert body["message"] == (
        'HorizontalPodAutoscaler.autoscaling "old" is invalid: spec.maxReplicas: Invalid value: 2:'
        " must be greater than or equal to `minReplicas`"
    )


async def test_updates_are_validated(admin: Client) -> None:
    created = await _ok(admin, "POST", HPAS_V2, hpa_v2("web", minReplicas=2))
    changed = copy.deepcopy(created)
    changed["spec"]["minReplicas"] = 0
    code, body = await admin.request("PUT", f"{HPAS_V2}/web", changed)
    assert code == 422, body
    assert [c["field"] for c in body["details"]["causes"]] == ["spec.minReplicas", "spec.metrics"]
    patch = {"spec": {"behavior": {"scaleUp": {"selectPolicy": "Min"}}}}
    patched = await _ok(
        admin, "PATCH", f"{HPAS_V2}/web", patch, content_type="application/merge-patch+json"
    )
    assert patched["spec"]["behavior"]["scaleUp"]["selectPolicy"] == "Min"
    assert len(patched["spec"]["behavior"]["scaleUp"]["policies"]) == 2


async def test_both_versions_print_the_same_table(admin: Client) -> None:
    await _ok(admin, "POST", HPAS_V2, hpa_v2("web", minReplicas=1, metrics=[_cpu(50)]))
    await _ok(admin, "POST", HPAS_V2, hpa_v2("api", maxReplicas=5))
    tables = [
        await _ok(admin, "GET", path, headers={"Accept": TABLE}) for path in (HPAS_V2, HPAS_V1)
    ]
    for table in tables:
        assert table["kind"] == "Table"
        assert [c["name"] for c in table["columnDefinitions"]] == [
            "Name",
            "Reference",
            "Targets",
            "MinPods",
            "MaxPods",
            "Replicas",
            "Age",
        ]
        rows = [row["cells"][:6] for row in table["rows"]]
        assert rows == [
            ["api", "Deployment/web", "cpu: <unknown>/80%", "1", 5, 0],
            ["web", "Deployment/web", "cpu: <unknown>/50%", "1", 3, 0],
        ]
    single = await _ok(admin, "GET", f"{HPAS_V1}/web", headers={"Accept": TABLE})
    assert single["rows"][0]["cells"][:3] == ["web", "Deployment/web", "cpu: <unknown>/50%"]


def _cpu(percent: int) -> dict[str, Any]:
    return {
        "type": "Resource",
        "resource": {
            "name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": percent},
        },
    }
