"""Server-side apply and managedFields through the real API server."""

from __future__ import annotations

from typing import Any

import orjson

from tests.integration.apiserver.conftest import Client
from tests.integration.apiserver.test_crds import CRD, CRDS, CRONTABS

APPLY = "application/apply-patch+yaml"
DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: nginx
        image: nginx:1
        ports: [{containerPort: 80}]
"""


async def _apply(
    admin: Client, path: str, doc: str | dict[str, Any], query: str = "fieldManager=test"
) -> tuple[int, Any]:
    raw = doc.encode() if isinstance(doc, str) else orjson.dumps(doc)
    return await admin.request("PATCH", f"{path}?{query}", raw=raw, content_type=APPLY)


def _managers(obj: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (m["manager"], m["operation"], m.get("subresource", ""))
        for m in obj["metadata"].get("managedFields", [])
    ]


async def test_apply_creates_then_updates(admin: Client) -> None:
    code, created = await _apply(admin, f"{DEPLOYMENTS}/web", DEPLOYMENT)
    assert code == 201, created
    assert created["spec"]["replicas"] == 2
    assert created["spec"]["strategy"]["type"] == "RollingUpdate"  # defaults still apply
    [entry] = created["metadata"]["managedFields"]
    assert entry["manager"] == "test"
    assert entry["operation"] == "Apply"
    assert entry["fieldsType"] == "FieldsV1"
    assert entry["apiVersion"] == "apps/v1"
    containers = entry["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]
    assert containers['k:{"name":"nginx"}']["."] == {}
    assert "f:strategy" not in entry["fieldsV1"]["f:spec"]  # defaulted fields are not owned

    code, again = await _apply(admin, f"{DEPLOYMENTS}/web", DEPLOYMENT)
    assert code == 200
    assert again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert again["metadata"]["managedFields"] == created["metadata"]["managedFields"]


async def test_conflicts_are_409_with_the_managers_and_force_takes_over(admin: Client) -> None:
    await _apply(admin, f"{DEPLOYMENTS}/web", DEPLOYMENT)
    code, _ = await admin.request(
        "PATCH",
        f"{DEPLOYMENTS}/web?fieldManager=scaler",
        {"spec": {"replicas": 5}},
        content_type="application/merge-patch+json",
    )
    assert code == 200
    changed = DEPLOYMENT.replace("replicas: 2", "replicas: 3")
    code, body = await _apply(admin, f"{DEPLOYMENTS}/web", changed)
    assert code == 409, body
    assert body["reason"] == "Conflict"
    assert body["message"] == (
        'Apply failed with 1 conflict: conflict with "scaler" using apps/v1: .spec.replicas'
    )
    assert body["details"]["causes"] == [
        {
            "reason": "FieldManagerConflict",
            "message": 'conflict with "scaler" using apps/v1',
            "field": ".spec.replicas",
        }
    ]
    code, forced = await _apply(
        admin, f"{DEPLOYMENTS}/web", changed, "fieldManager=test&force=true"
    )
    assert code == 200
    assert forced["spec"]["replicas"] == 3
    assert _managers(forced) == [("test", "Apply", "")]  # scaler owned nothing else


async def test_same_value_is_shared_not_a_conflict(admin: Client) -> None:
    await _apply(admin, f"{CONFIGMAPS}/shared", _configmap("shared", a="1"), "fieldManager=one")
    code, body = await _apply(
        admin, f"{CONFIGMAPS}/shared", _configmap("shared", a="1"), "fieldManager=two"
    )
    assert code == 200, body
    assert {m for m, _, _ in _managers(body)} == {"one", "two"}
    code, body = await _apply(
        admin, f"{CONFIGMAPS}/shared", _configmap("shared", a="2"), "fieldManager=two"
    )
    assert code == 409
    assert 'conflict with "one"' in body["message"]


def _configmap(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


async def test_fields_left_out_are_removed_unless_someone_else_owns_them(admin: Client) -> None:
    path = f"{CONFIGMAPS}/prune"
    await _apply(admin, path, _configmap("prune", a="1", b="2"))
    code, body = await admin.request(
        "PATCH",
        f"{path}?fieldManager=editor",
        {"data": {"c": "3"}},
        content_type="application/merge-patch+json",
    )
    assert code == 200
    code, body = await _apply(admin, path, _configmap("prune", a="1"))
    assert code == 200, body
    assert body["data"] == {"a": "1", "c": "3"}


async def test_updates_record_their_manager(admin: Client) -> None:
    code, created = await admin.request(
        "POST",
        f"{CONFIGMAPS}?fieldManager=creator",
        _configmap("tracked", a="1"),
    )
    assert code == 201
    [entry] = created["metadata"]["managedFields"]
    assert entry["manager"] == "creator"
    assert entry["operation"] == "Update"
    assert entry["fieldsV1"] == {"f:data": {".": {}, "f:a": {}}}
    code, patched = await admin.request(
        "PATCH",
        f"{CONFIGMAPS}/tracked",
        {"metadata": {"labels": {"x": "y"}}},
        content_type="application/strategic-merge-patch+json",
        headers={"User-Agent": "labeller/1.0 (linux)"},
    )
    assert code == 200
    assert _managers(patched) == [("creator", "Update", ""), ("labeller", "Update", "")]
    # A client sending the object back without managedFields keeps them.
    replaced = {**patched, "data": {"a": "2"}}
    replaced["metadata"] = {k: v for k, v in patched["metadata"].items() if k != "managedFields"}
    code, updated = await admin.request(
        "PUT", f"{CONFIGMAPS}/tracked?fieldManager=creator", replaced
    )
    assert code == 200
    # (entries are sorted by operation, then time: the creator's write may be the later now)
    assert sorted(_managers(updated)) == [("creator", "Update", ""), ("labeller", "Update", "")]
    # [{}] clears them.
    code, cleared = await admin.request(
        "PATCH",
        f"{CONFIGMAPS}/tracked",
        {"metadata": {"managedFields": [{}]}},
        content_type="application/merge-patch+json",
    )
    assert code == 200
    assert "managedFields" not in cleared["metadata"]


async def test_patch_options_are_validated(admin: Client) -> None:
    raw = orjson.dumps(_configmap("opts", a="1"))
    code, body = await admin.request("PATCH", f"{CONFIGMAPS}/opts", raw=raw, content_type=APPLY)
    assert code == 422
    assert body["message"] == (
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for '
        "apply patch"
    )
    code, body = await admin.request(
        "PATCH",
        f"{CONFIGMAPS}/opts?force=true",
        {"data": {}},
        content_type="application/merge-patch+json",
    )
    assert code == 422
    assert "force: Forbidden: may not be specified for non-apply patch" in body["message"]
    code, body = await admin.request(
        "POST", f"{CONFIGMAPS}?fieldManager={'x' * 129}", _configmap("long", a="1")
    )
    assert code == 422


async def test_bad_apply_bodies_are_400_and_store_nothing(admin: Client) -> None:
    path = f"{CONFIGMAPS}/bad"
    for doc in (
        "data: [unclosed",
        "- a list",
        {"apiVersion": "v1", "metadata": {"name": "bad"}},  # no kind
        {"apiVersion": "apps/v1", "kind": "ConfigMap", "metadata": {"name": "bad"}},
        {**_configmap("other"), "metadata": {"name": "other"}},
        {**_configmap("bad"), "metadata": {"name": "bad", "namespace": "kube-system"}},
        {**_configmap("bad"), "metadata": {"name": "bad", "managedFields": [{"manager": "x"}]}},
    ):
        code, body = await _apply(admin, path, doc)
        assert code == 400, (doc, body)
        assert body["kind"] == "Status"
    code, _ = await admin.request("GET", path)
    assert code == 404


async def test_dry_run_apply_writes_nothing(admin: Client) -> None:
    code, body = await _apply(
        admin, f"{CONFIGMAPS}/dry", _configmap("dry", a="1"), "fieldManager=t&dryRun=All"
    )
    assert code == 201
    assert body["metadata"]["managedFields"][0]["manager"] == "t"
    code, _ = await admin.request("GET", f"{CONFIGMAPS}/dry")
    assert code == 404


async def test_apply_to_the_status_subresource(admin: Client) -> None:
    await _apply(admin, f"{DEPLOYMENTS}/web", DEPLOYMENT)
    status_doc = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "status": {"replicas": 2, "availableReplicas": 1},
    }
    code, body = await _apply(
        admin, f"{DEPLOYMENTS}/web/status", status_doc, "fieldManager=controller"
    )
    assert code == 200, body
    assert body["status"]["availableReplicas"] == 1
    assert ("controller", "Apply", "status") in _managers(body)
    missing = {**status_doc, "metadata": {"name": "missing"}}
    code, _ = await _apply(admin, f"{DEPLOYMENTS}/missing/status", missing)
    assert code == 404  # /status never creates


async def test_scale_subresource_writes_are_owned(admin: Client) -> None:
    await _apply(admin, f"{DEPLOYMENTS}/web", DEPLOYMENT)
    code, _ = await admin.request(
        "PATCH",
        f"{DEPLOYMENTS}/web/scale",
        {"spec": {"replicas": 4}},
        content_type="application/merge-patch+json",
        headers={"User-Agent": "kubectl/v1.33.0"},
    )
    assert code == 200
    code, body = await _apply(admin, f"{DEPLOYMENTS}/web", DEPLOYMENT.replace("2", "3"))
    assert code == 409
    assert 'conflict with "kubectl" with subresource "scale" using apps/v1' in body["message"]


async def test_apply_on_a_custom_resource(admin: Client) -> None:
    code, _ = await admin.request("POST", CRDS, CRD)
    assert code == 201
    doc = {
        "apiVersion": "stable.example.com/v1",
        "kind": "CronTab",
        "metadata": {"name": "c1"},
        "spec": {"cronSpec": "* * * * *", "image": "a", "free": {"x": {"y": 1}}},
    }
    code, body = await _apply(admin, f"{CRONTABS}/c1", doc)
    assert code == 201, body
    fields = body["metadata"]["managedFields"][0]["fieldsV1"]
    assert fields["f:spec"]["f:free"] == {"f:x": {".": {}, "f:y": {}}}
    del doc["spec"]["image"]
    code, body = await _apply(admin, f"{CRONTABS}/c1", doc)
    assert code == 200
    assert "image" not in body["spec"]
