"""Subresources through the real API server: scale, binding, eviction; and /metrics."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.apiserver.conftest import Client

DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"
PODS = "/api/v1/namespaces/default/pods"
PDBS = "/apis/policy/v1/namespaces/default/poddisruptionbudgets"


def _deployment(name: str = "web", replicas: int = 1) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            },
        },
    }


def _pod(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
    }


async def _create(admin: Client, path: str, obj: dict[str, Any]) -> dict[str, Any]:
    code, body = await admin.request("POST", path, obj)
    assert code == 201, body
    result: dict[str, Any] = body
    return result


# -- scale ---------------------------------------------------------------------------------------
async def test_scale_get_reads_the_parent(admin: Client) -> None:
    created = await _create(admin, DEPLOYMENTS, _deployment(replicas=2))
    code, scale = await admin.request("GET", f"{DEPLOYMENTS}/web/scale")
    assert code == 200, scale
    assert (scale["apiVersion"], scale["kind"]) == ("autoscaling/v1", "Scale")
    meta = created["metadata"]
    assert scale["metadata"] == {
        key: meta[key]
        for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
    }
    assert scale["spec"] == {"replicas": 2}
    assert scale["status"] == {"replicas": 0, "selector": "app=web"}


async def test_scale_selector_string_with_expressions(admin: Client) -> None:
    deployment = _deployment()
    deployment["spec"]["selector"]["matchExpressions"] = [
        {"key": "tier", "operator": "In", "values": ["front", "back"]}
    ]
    deployment["spec"]["template"]["metadata"]["labels"]["tier"] = "front"
    await _create(admin, DEPLOYMENTS, deployment)
    _, scale = await admin.request("GET", f"{DEPLOYMENTS}/web/scale")
    assert scale["status"]["selector"] == "app=web,tier in (back,front)"


@pytest.mark.parametrize(
    ("content_type", "patch"),
    [
        ("application/merge-patch+json", {"spec": {"replicas": 5}}),
        ("application/strategic-merge-patch+json", {"spec": {"replicas": 5}}),
        ("application/json-patch+json", [{"op": "replace", "path": "/spec/replicas", "value": 5}]),
    ],
)
async def test_scale_patch_writes_spec_replicas(
    admin: Client, content_type: str, patch: Any
) -> None:
    await _create(admin, DEPLOYMENTS, _deployment())
    code, scale = await admin.request(
        "PATCH", f"{DEPLOYMENTS}/web/scale", patch, content_type=content_type
    )
    assert code == 200, scale
    assert scale["spec"]["replicas"] == 5
    _, deployment = await admin.request("GET", f"{DEPLOYMENTS}/web")
    assert deployment["spec"]["replicas"] == 5
    assert deployment["metadata"]["resourceVersion"] == scale["metadata"]["resourceVersion"]


async def test_scale_put_with_resource_version_precondition(admin: Client) -> None:
    await _create(admin, DEPLOYMENTS, _deployment())
    _, scale = await admin.request("GET", f"{DEPLOYMENTS}/web/scale")
    scale["spec"]["replicas"] = 3
    code, updated = await admin.request("PUT", f"{DEPLOYMENTS}/web/scale", scale)
    assert code == 200, updated
    assert updated["spec"]["replicas"] == 3
    # the same (now stale) resourceVersion again
    scale["spec"]["replicas"] = 4
    code, body = await admin.request("PUT", f"{DEPLOYMENTS}/web/scale", scale)
    assert code == 409, body
    assert body["reason"] == "Conflict"
    assert 'deployments.apps "web"' in body["message"]
    _, deployment = await admin.request("GET", f"{DEPLOYMENTS}/web")
    assert deployment["spec"]["replicas"] == 3


async def test_scale_refuses_negative_replicas(admin: Client) -> None:
    await _create(admin, DEPLOYMENTS, _deployment())
    code, body = await admin.request(
        "PATCH",
        f"{DEPLOYMENTS}/web/scale",
        {"spec": {"replicas": -1}},
        content_type="application/merge-patch+json",
    )
    assert code == 422, body
    assert body["message"] == (
        'Scale.autoscaling "web" is invalid: spec.replicas: Invalid value: -1: '
        "must be greater than or equal to 0"
    )


async def test_scale_of_a_missing_parent_is_404(admin: Client) -> None:
    code, body = await admin.request("GET", f"{DEPLOYMENTS}/nothing/scale")
    assert code == 404, body
    assert body["message"] == 'deployments.apps "nothing" not found'


async def test_scale_of_a_replication_controller(admin: Client) -> None:
    rc = {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": "old"},
        "spec": {
            "replicas": 1,
            "selector": {"app": "old", "tier": "x"},
            "template": {
                "metadata": {"labels": {"app": "old", "tier": "x"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            },
        },
    }
    await _create(admin, "/api/v1/namespaces/default/replicationcontrollers", rc)
    path = "/api/v1/namespaces/default/replicationcontrollers/old/scale"
    _, scale = await admin.request("GET", path)
    assert scale["status"]["selector"] == "app=old,tier=x"


# -- binding -------------------------------------------------------------------------------------
def _binding(pod: str, node: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": pod, "annotations": {"scheduled-by": "test"}},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    }


async def test_binding_sets_node_name_once(admin: Client) -> None:
    await _create(admin, PODS, _pod("p"))
    code, body = await admin.request("POST", f"{PODS}/p/binding", _binding("p", "node-1"))
    assert code == 201, body
    assert body["status"] == "Success"
    _, pod = await admin.request("GET", f"{PODS}/p")
    assert pod["spec"]["nodeName"] == "node-1"
    assert pod["metadata"]["annotations"]["scheduled-by"] == "test"
    scheduled = [c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled"]
    assert scheduled[0]["status"] == "True"

    code, body = await admin.request("POST", f"{PODS}/p/binding", _binding("p", "node-2"))
    assert code == 409, body
    assert body["reason"] == "Conflict"
    assert body["message"] == (
        'Operation cannot be fulfilled on pods/binding "p": '
        'pod p is already assigned to node "node-1"'
    )


async def test_legacy_bindings_resource(admin: Client) -> None:
    await _create(admin, PODS, _pod("q"))
    code, body = await admin.request(
        "POST", "/api/v1/namespaces/default/bindings", _binding("q", "node-9")
    )
    assert code == 201, body
    _, pod = await admin.request("GET", f"{PODS}/q")
    assert pod["spec"]["nodeName"] == "node-9"


async def test_binding_checks_name_and_target(admin: Client) -> None:
    await _create(admin, PODS, _pod("r"))
    code, body = await admin.request("POST", f"{PODS}/r/binding", _binding("other", "n"))
    assert code == 400, body
    assert body["message"] == "name in URL does not match name in Binding object"
    bad = _binding("r", "")
    code, body = await admin.request("POST", f"{PODS}/r/binding", bad)
    assert code == 422, body
    code, body = await admin.request("POST", f"{PODS}/missing/binding", _binding("missing", "n"))
    assert code == 404, body


# -- eviction ------------------------------------------------------------------------------------
async def _running_pod(admin: Client, name: str) -> None:
    await _create(admin, PODS, _pod(name))
    await admin.request("POST", f"{PODS}/{name}/binding", _binding(name, "node-1"))
    code, body = await admin.request(
        "PATCH",
        f"{PODS}/{name}/status",
        {
            "status": {
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": "True"}],
            }
        },
        content_type="application/merge-patch+json",
    )
    assert code == 200, body


async def _pdb(admin: Client, allowed: int) -> None:
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "budget"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}},
    }
    created = await _create(admin, PDBS, pdb)
    code, body = await admin.request(
        "PATCH",
        f"{PDBS}/budget/status",
        {
            "status": {
                "observedGeneration": created["metadata"].get("generation", 1),
                "disruptionsAllowed": allowed,
                "currentHealthy": 1,
                "desiredHealthy": 1,
                "expectedPods": 1,
            }
        },
        content_type="application/merge-patch+json",
    )
    assert code == 200, body


def _eviction(name: str, **delete_options: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": name, "namespace": "default"},
    }
    if delete_options:
        body["deleteOptions"] = delete_options
    return body


async def test_eviction_without_budget_deletes_gracefully(admin: Client) -> None:
    await _running_pod(admin, "e1")
    code, body = await admin.request("POST", f"{PODS}/e1/eviction", _eviction("e1"))
    assert code == 201, body
    assert (body["kind"], body["status"]) == ("Status", "Success")
    _, pod = await admin.request("GET", f"{PODS}/e1")
    assert pod["metadata"]["deletionTimestamp"]
    assert pod["metadata"]["deletionGracePeriodSeconds"] == 30
    target = [c for c in pod["status"]["conditions"] if c["type"] == "DisruptionTarget"]
    assert target[0]["reason"] == "EvictionByEvictionAPI"


async def test_eviction_honours_delete_options(admin: Client) -> None:
    await _running_pod(admin, "e2")
    code, body = await admin.request(
        "POST", f"{PODS}/e2/eviction", _eviction("e2", gracePeriodSeconds=0)
    )
    assert code == 201, body
    code, _ = await admin.request("GET", f"{PODS}/e2")
    assert code == 404


async def test_eviction_blocked_by_budget(admin: Client) -> None:
    await _running_pod(admin, "e3")
    await _pdb(admin, allowed=0)
    code, body = await admin.request("POST", f"{PODS}/e3/eviction", _eviction("e3"))
    assert code == 429, body
    assert body["reason"] == "TooManyRequests"
    assert body["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
    assert body["details"]["causes"] == [
        {
            "reason": "DisruptionBudget",
            "message": "The disruption budget budget needs 1 healthy pods and has 1 currently",
        }
    ]
    code, pod = await admin.request("GET", f"{PODS}/e3")
    assert code == 200
    assert "deletionTimestamp" not in pod["metadata"]


async def test_eviction_spends_the_budget(admin: Client) -> None:
    await _running_pod(admin, "e4")
    await _pdb(admin, allowed=1)
    code, body = await admin.request("POST", f"{PODS}/e4/eviction", _eviction("e4"))
    assert code == 201, body
    _, pdb = await admin.request("GET", f"{PDBS}/budget")
    assert pdb["status"]["disruptionsAllowed"] == 0
    assert "e4" in pdb["status"]["disruptedPods"]
    await _running_pod(admin, "e5")
    code, body = await admin.request("POST", f"{PODS}/e5/eviction", _eviction("e5"))
    assert code == 429, body


async def test_eviction_of_a_pending_pod_ignores_the_budget(admin: Client) -> None:
    await _create(admin, PODS, _pod("e6"))
    await _pdb(admin, allowed=0)
    code, body = await admin.request("POST", f"{PODS}/e6/eviction", _eviction("e6"))
    assert code == 201, body
    code, _ = await admin.request("GET", f"{PODS}/e6")
    assert code == 404  # unscheduled: no grace period


# -- metrics -------------------------------------------------------------------------------------
async def test_metrics_count_requests(admin: Client, anonymous: Client) -> None:
    await admin.request("GET", "/api/v1/namespaces")
    await admin.request("GET", "/api/v1/namespaces/default")
    code, text = await admin.request("GET", "/metrics")
    assert code == 200
    assert isinstance(text, str)
    lines = text.splitlines()
    listed = (
        'apiserver_request_total{code="200",component="apiserver",dry_run="",group="",'
        'resource="namespaces",scope="cluster",subresource="",verb="LIST",version="v1"} 1'
    )
    assert listed in lines
    got = (
        'apiserver_request_total{code="200",component="apiserver",dry_run="",group="",'
        'resource="namespaces",scope="resource",subresource="",verb="GET",version="v1"} 1'
    )
    assert got in lines
    assert any(
        line.startswith("apiserver_request_duration_seconds_bucket{")
        and 'resource="namespaces"' in line
        and 'le="+Inf"' in line
        for line in lines
    )
    assert 'apiserver_storage_objects{resource="namespaces"} 4' in lines
    assert any(line.startswith("process_resident_memory_bytes ") for line in lines)
    assert any(line.startswith("process_start_time_seconds ") for line in lines)

    code, _ = await anonymous.request("GET", "/metrics")
    assert code == 401


async def test_metrics_do_not_grow_labels_for_unknown_resources(admin: Client) -> None:
    await admin.request("GET", "/api/v1/made-up-things")
    _, text = await admin.request("GET", "/metrics")
    assert "made-up-things" not in text


async def test_metrics_gauge_open_watches(admin: Client) -> None:
    url = admin.base + "/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=30"
    async with admin.session.get(url) as response:
        assert response.status == 200
        _, text = await admin.request("GET", "/metrics")
        watching = (
            'apiserver_longrunning_requests{component="apiserver",group="",'
            'resource="configmaps",scope="namespace",subresource="",verb="WATCH",version="v1"} 1'
        )
        assert watching in text.splitlines()
