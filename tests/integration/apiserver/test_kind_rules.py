"""Kind-specific defaults and validation, through the HTTP API."""

from __future__ import annotations

from tests.integration.apiserver.conftest import Client

PODS = "/api/v1/namespaces/default/pods"


def pod(name: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.36", "command": ["sleep", "1"]}]},
    }


async def test_pods_are_stored_with_upstream_defaults(admin: Client) -> None:
    code, created = await admin.request("POST", PODS, pod("p"))
    assert code == 201, created
    spec = created["spec"]
    assert spec["restartPolicy"] == "Always"
    assert spec["schedulerName"] == "default-scheduler"
    assert spec["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert created["status"]["phase"] == "Pending"


async def test_pod_spec_is_immutable_but_images(admin: Client) -> None:
    await admin.request("POST", PODS, pod("p"))
    patch = {"spec": {"containers": [{"name": "c", "image": "busybox:1.37"}]}}
    code, body = await admin.request(
        "PATCH", f"{PODS}/p", patch, content_type="application/strategic-merge-patch+json"
    )
    assert code == 200, body
    assert body["spec"]["containers"][0]["image"] == "busybox:1.37"
    bad = {"spec": {"restartPolicy": "Never"}}
    code, body = await admin.request(
        "PATCH", f"{PODS}/p", bad, content_type="application/merge-patch+json"
    )
    assert (code, body["reason"]) == (422, "Invalid")
    assert body["details"]["causes"][0]["field"] == "spec"


async def test_pod_without_containers_is_invalid(admin: Client) -> None:
    obj = pod("empty")
    obj["spec"] = {"containers": []}
    code, body = await admin.request("POST", PODS, obj)
    assert (code, body["reason"]) == (422, "Invalid")
    assert body["message"].startswith('Pod "empty" is invalid')


async def test_deployment_selector_must_match(admin: Client) -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "other"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            },
        },
    }
    code, body = await admin.request(
        "POST", "/apis/apps/v1/namespaces/default/deployments", deployment
    )
    assert (code, body["reason"]) == (422, "Invalid")
    assert body["details"]["group"] == "apps"
