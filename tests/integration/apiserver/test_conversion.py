"""Versions served by conversion: events.k8s.io/v1 over core Events, autoscaling/v1 over v2 HPAs.

An object written through one version is read, listed, watched, patched and deleted through the
other, as on a kube-apiserver where both share their etcd keys.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import orjson
import pytest

from tests.integration.apiserver.conftest import Client

CORE_EVENTS = "/api/v1/namespaces/default/events"
NEW_EVENTS = "/apis/events.k8s.io/v1/namespaces/default/events"
HPAS_V1 = "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers"
HPAS_V2 = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
MERGE = "application/merge-patch+json"


def core_event(name: str, pod: str = "web", reporter: str = "kubelet") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name},
        "involvedObject": {"kind": "Pod", "namespace": "default", "name": pod},
        "reason": "Started",
        "message": f"Started {pod}",
        "type": "Normal",
        "source": {"component": reporter},
        "reportingComponent": reporter,
        "count": 1,
        "firstTimestamp": "2025-01-01T00:00:00Z",
        "lastTimestamp": "2025-01-01T00:00:00Z",
    }


def new_event(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": name},
        "eventTime": "2025-01-01T00:00:00.000000Z",
        "reportingController": "example.com/controller",
        "reportingInstance": "controller-0",
        "action": "Reconcile",
        "reason": "Synced",
        "regarding": {"kind": "ConfigMap", "namespace": "default", "name": "settings"},
        "note": "synced settings",
        "type": "Normal",
    }


async def _ok(admin: Client, method: str, path: str, body: Any = None, **kw: Any) -> Any:
    code, result = await admin.request(method, path, body, **kw)
    assert code in (200, 201), result
    return result


# -- events ---------------------------------------------------------------------------------------
async def test_core_event_reads_through_events_k8s_io(admin: Client) -> None:
    created = await _ok(admin, "POST", CORE_EVENTS, core_event("e1"))
    got = await _ok(admin, "GET", f"{NEW_EVENTS}/e1")
    assert (got["apiVersion"], got["kind"]) == ("events.k8s.io/v1", "Event")
    assert got["note"] == "Started web"
    assert got["regarding"]["name"] == "web"
    assert got["reportingController"] == "kubelet"
    assert got["deprecatedSource"] == {"component": "kubelet"}
    assert got["deprecatedCount"] == 1
    assert "message" not in got
    assert "involvedObject" not in got
    assert got["metadata"]["uid"] == created["metadata"]["uid"]
    assert got["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


async def test_events_k8s_io_event_is_stored_as_core(admin: Client) -> None:
    created = await _ok(admin, "POST", NEW_EVENTS, new_event("n1"))
    assert (created["apiVersion"], created["note"]) == ("events.k8s.io/v1", "synced settings")
    core = await _ok(admin, "GET", f"{CORE_EVENTS}/n1")
    assert (core["apiVersion"], core["kind"]) == ("v1", "Event")
    assert core["message"] == "synced settings"
    assert core["involvedObject"]["name"] == "settings"
    assert core["reportingComponent"] == "example.com/controller"
    assert "note" not in core


@pytest.mark.parametrize("query", ["", "?resourceVersion=0", "?limit=1"])
async def test_events_k8s_io_lists_are_converted(admin: Client, query: str) -> None:
    await _ok(admin, "POST", CORE_EVENTS, core_event("e1"))
    listed = await _ok(admin, "GET", NEW_EVENTS + query)
    assert (listed["apiVersion"], listed["kind"]) == ("events.k8s.io/v1", "EventList")
    item = listed["items"][0]
    assert (item["apiVersion"], item["kind"], item["note"]) == (
        "events.k8s.io/v1",
        "Event",
        "Started web",
    )
    assert "message" not in item


@pytest.mark.parametrize(
    ("selector", "names"),
    [
        ("regarding.name=web", ["a"]),
        ("regarding.name!=web", ["b"]),
        ("reportingController=scheduler", ["b"]),
        ("regarding.kind=Pod,reason=Started", ["a", "b"]),
        ("source=kubelet", ["a"]),
        ("metadata.name=b", ["b"]),
    ],
)
async def test_events_k8s_io_field_selectors(
    admin: Client, selector: str, names: list[str]
) -> None:
    await _ok(admin, "POST", CORE_EVENTS, core_event("a", pod="web"))
    await _ok(admin, "POST", CORE_EVENTS, core_event("b", pod="db", reporter="scheduler"))
    for rv in ("", "0"):
        listed = await _ok(
            admin, "GET", f"{NEW_EVENTS}?fieldSelector={selector}&resourceVersion={rv}"
        )
        assert [i["metadata"]["name"] for i in listed["items"]] == names


async def test_events_k8s_io_refuses_the_core_field_names(admin: Client) -> None:
    code, body = await admin.request("GET", f"{NEW_EVENTS}?fieldSelector=involvedObject.name=web")
    assert code == 400, body
    assert body["message"] == "field label not supported: involvedObject.name"
    code, body = await admin.request("GET", f"{CORE_EVENTS}?fieldSelector=regarding.name=web")
    assert code == 400, body


async def test_events_k8s_io_watch_sees_core_writes(admin: Client) -> None:
    listed = await _ok(admin, "GET", NEW_EVENTS)
    rv = listed["metadata"]["resourceVersion"]
    url = f"{admin.base}{NEW_EVENTS}?watch=1&resourceVersion={rv}&timeoutSeconds=5"
    async with admin.session.get(url) as response:
        assert response.status == 200
        await _ok(admin, "POST", CORE_EVENTS, core_event("w1"))
        await _ok(admin, "DELETE", f"{CORE_EVENTS}/w1")
        seen = []
        async with asyncio.timeout(10):
            async for line in response.content:
                seen.append(orjson.loads(line))
                if len(seen) == 2:
                    break
    assert [(e["type"], e["object"]["note"]) for e in seen] == [
        ("ADDED", "Started web"),
        ("DELETED", "Started web"),
    ]
    assert {e["object"]["apiVersion"] for e in seen} == {"events.k8s.io/v1"}


async def test_patch_and_update_through_the_other_version(admin: Client) -> None:
    await _ok(admin, "POST", CORE_EVENTS, core_event("p1"))
    patched = await _ok(admin, "PATCH", f"{NEW_EVENTS}/p1", {"note": "patched"}, content_type=MERGE)
    assert patched["note"] == "patched"
    core = await _ok(admin, "GET", f"{CORE_EVENTS}/p1")
    assert core["message"] == "patched"
    json_patch = [{"op": "replace", "path": "/deprecatedCount", "value": 5}]
    await _ok(
        admin,
        "PATCH",
        f"{NEW_EVENTS}/p1",
        json_patch,
        content_type="application/json-patch+json",
    )
    assert (await _ok(admin, "GET", f"{CORE_EVENTS}/p1"))["count"] == 5
    current = await _ok(admin, "GET", f"{NEW_EVENTS}/p1")
    current["regarding"]["name"] = "other"
    replaced = await _ok(admin, "PUT", f"{NEW_EVENTS}/p1", current)
    assert replaced["regarding"]["name"] == "other"
    assert (await _ok(admin, "GET", f"{CORE_EVENTS}/p1"))["involvedObject"]["name"] == "other"
    stale = {**current, "note": "late"}
    code, body = await admin.request("PUT", f"{NEW_EVENTS}/p1", stale)
    assert code == 409, body  # the resourceVersion it was read at is gone


async def test_delete_through_the_other_version(admin: Client) -> None:
    await _ok(admin, "POST", NEW_EVENTS, new_event("d1"))
    deleted = await _ok(admin, "DELETE", f"{NEW_EVENTS}/d1")
    assert deleted["note"] == "synced settings"
    code, body = await admin.request("GET", f"{CORE_EVENTS}/d1")
    assert code == 404, body
    await _ok(admin, "POST", CORE_EVENTS, core_event("d2"))
    listed = await _ok(admin, "DELETE", NEW_EVENTS)  # deletecollection
    assert [(i["metadata"]["name"], i["note"]) for i in listed["items"]] == [("d2", "Started web")]


async def test_events_k8s_io_table_has_the_core_event_columns(admin: Client) -> None:
    await _ok(admin, "POST", CORE_EVENTS, core_event("t1"))
    headers = {"Accept": TABLE}
    core = await _ok(admin, "GET", CORE_EVENTS, headers=headers)
    new = await _ok(admin, "GET", NEW_EVENTS, headers=headers)
    assert [c["name"] for c in new["columnDefinitions"]] == [
        c["name"] for c in core["columnDefinitions"]
    ]
    assert new["rows"][0]["cells"] == core["rows"][0]["cells"]
    assert new["rows"][0]["cells"][3] == "pod/web"


async def test_discovery_lists_events_k8s_io(admin: Client) -> None:
    listed = await _ok(admin, "GET", "/apis/events.k8s.io/v1")
    assert "events" in {r["name"] for r in listed["resources"]}


# -- HorizontalPodAutoscalers ---------------------------------------------------------------------
SCALE_TARGET = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}


def hpa_v1(name: str, percent: int | None = 50) -> dict[str, Any]:
    spec: dict[str, Any] = {"scaleTargetRef": SCALE_TARGET, "minReplicas": 1, "maxReplicas": 3}
    if percent is not None:
        spec["targetCPUUtilizationPercentage"] = percent
    return {
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name},
        "spec": spec,
    }


MEMORY = {
    "type": "Resource",
    "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}},
}
BEHAVIOR = {"scaleDown": {"stabilizationWindowSeconds": 60, "selectPolicy": "Max"}}


def hpa_v2(name: str) -> dict[str, Any]:
    cpu = {
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
    }
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": SCALE_TARGET,
            "minReplicas": 1,
            "maxReplicas": 4,
            "metrics": [MEMORY, cpu],
            "behavior": BEHAVIOR,
        },
    }


async def test_v1_hpa_is_stored_as_v2(admin: Client) -> None:
    created = await _ok(admin, "POST", HPAS_V1, hpa_v1("h1"))
    assert created["apiVersion"] == "autoscaling/v1"
    assert created["spec"]["targetCPUUtilizationPercentage"] == 50
    v2 = await _ok(admin, "GET", f"{HPAS_V2}/h1")
    assert v2["spec"]["metrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 50},
            },
        }
    ]
    assert "targetCPUUtilizationPercentage" not in v2["spec"]


async def test_v1_hpa_without_a_target_gets_80_percent(admin: Client) -> None:
    await _ok(admin, "POST", HPAS_V1, hpa_v1("h0", percent=None))
    v2 = await _ok(admin, "GET", f"{HPAS_V2}/h0")
    target = v2["spec"]["metrics"][0]["resource"]["target"]
    assert target == {"type": "Utilization", "averageUtilization": 80}
    v1 = await _ok(admin, "GET", f"{HPAS_V1}/h0")
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 80


async def test_v2_hpa_survives_a_v1_read_modify_write(admin: Client) -> None:
    created = await _ok(admin, "POST", HPAS_V2, hpa_v2("h2"))
    assert created["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 60
    v1 = await _ok(admin, "GET", f"{HPAS_V1}/h2")
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 70
    annotations = v1["metadata"]["annotations"]
    assert json.loads(annotations["autoscaling.alpha.kubernetes.io/metrics"]) == [
        {"type": "Resource", "resource": {"name": "memory", "targetAverageValue": "100Mi"}}
    ]
    assert "autoscaling.alpha.kubernetes.io/behavior" in annotations
    v1["spec"]["maxReplicas"] = 9
    await _ok(admin, "PUT", f"{HPAS_V1}/h2", v1)
    v2 = await _ok(admin, "GET", f"{HPAS_V2}/h2")
    assert v2["spec"]["maxReplicas"] == 9
    assert v2["spec"]["metrics"][0] == MEMORY
    assert v2["spec"]["behavior"] == created["spec"]["behavior"]  # defaulted on create
    assert "annotations" not in v2["metadata"]


async def test_v1_writes_keep_the_v2_status(admin: Client) -> None:
    await _ok(admin, "POST", HPAS_V2, hpa_v2("h3"))
    v2 = await _ok(admin, "GET", f"{HPAS_V2}/h3")
    v2["status"] = {
        "currentReplicas": 1,
        "desiredReplicas": 2,
        "currentMetrics": [
            {
                "type": "Resource",
                "resource": {"name": "memory", "current": {"averageValue": "50Mi"}},
            }
        ],
        "conditions": [{"type": "AbleToScale", "status": "True", "reason": "Ready"}],
    }
    await _ok(admin, "PUT", f"{HPAS_V2}/h3/status", v2)
    await _ok(
        admin,
        "PATCH",
        f"{HPAS_V1}/h3",
        {"metadata": {"labels": {"tier": "web"}}},
        content_type=MERGE,
    )
    after = await _ok(admin, "GET", f"{HPAS_V2}/h3")
    assert after["metadata"]["labels"] == {"tier": "web"}
    assert after["status"] == v2["status"]
    status = await _ok(
        admin,
        "PATCH",
        f"{HPAS_V1}/h3/status",
        {"status": {"desiredReplicas": 3}},
        content_type=MERGE,
    )
    assert status["status"]["desiredReplicas"] == 3
    after = await _ok(admin, "GET", f"{HPAS_V2}/h3")
    assert after["status"]["desiredReplicas"] == 3
    assert after["status"]["conditions"] == v2["status"]["conditions"]


async def test_v1_hpa_list_and_watch(admin: Client) -> None:
    listed = await _ok(admin, "GET", HPAS_V1)
    rv = listed["metadata"]["resourceVersion"]
    url = f"{admin.base}{HPAS_V1}?watch=1&resourceVersion={rv}&timeoutSeconds=5"
    async with admin.session.get(url) as response:
        await _ok(admin, "POST", HPAS_V2, hpa_v2("h4"))
        async with asyncio.timeout(10):
            line = await response.content.readline()
    event = orjson.loads(line)
    assert (event["type"], event["object"]["apiVersion"]) == ("ADDED", "autoscaling/v1")
    assert event["object"]["spec"]["targetCPUUtilizationPercentage"] == 70
    for query in ("", "?resourceVersion=0"):
        listed = await _ok(admin, "GET", HPAS_V1 + query)
        assert listed["kind"] == "HorizontalPodAutoscalerList"
        assert [i["spec"]["targetCPUUtilizationPercentage"] for i in listed["items"]] == [70]


async def test_a_bad_round_trip_annotation_is_a_bad_request(admin: Client) -> None:
    obj = hpa_v1("bad")
    obj["metadata"]["annotations"] = {"autoscaling.alpha.kubernetes.io/metrics": "{"}
    code, body = await admin.request("POST", HPAS_V1, obj)
    assert code == 400, body
    assert body["reason"] == "BadRequest"


async def test_managed_fields_are_recorded_in_the_served_version(admin: Client) -> None:
    created = await _ok(admin, "POST", f"{NEW_EVENTS}?fieldManager=me", new_event("m1"))
    (entry,) = created["metadata"]["managedFields"]
    assert (entry["manager"], entry["apiVersion"]) == ("me", "events.k8s.io/v1")
    assert "f:note" in entry["fieldsV1"]
    assert "f:message" not in entry["fieldsV1"]
    core = await _ok(admin, "GET", f"{CORE_EVENTS}/m1")
    assert core["metadata"]["managedFields"] == created["metadata"]["managedFields"]
