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


async def test_unscheduled_pods_go_at_once_scheduled_ones_gracefully(admin: Client) -> None:
    await admin.request("POST", PODS, pod("free"))
    code, _ = await admin.request("DELETE", f"{PODS}/free")
    assert code == 200
    code, _ = await admin.request("GET", f"{PODS}/free")
    assert code == 404

    bound = pod("bound")
    bound["spec"]["nodeName"] = "node-a"  # type: ignore[index]
    await admin.request("POST", PODS, bound)
    code, marked = await admin.request("DELETE", f"{PODS}/bound")
    assert code == 200
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 30
    assert marked["metadata"]["deletionTimestamp"]
    code, _ = await admin.request("GET", f"{PODS}/bound")
    assert code == 200  # it stays until its kubelet confirms the stop
    code, _ = await admin.request("DELETE", f"{PODS}/bound?gracePeriodSeconds=0")
    assert code == 200
    code, _ = await admin.request("GET", f"{PODS}/bound")
    assert code == 404


async def test_finalizers_hold_an_object_until_removed(admin: Client) -> None:
    cms = "/api/v1/namespaces/default/configmaps"
    obj = {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}
    await admin.request("POST", cms, obj)
    code, marked = await admin.request("DELETE", f"{cms}/held")
    assert code == 200
    assert marked["metadata"]["deletionTimestamp"]
    patch = {"metadata": {"finalizers": None}}
    code, _ = await admin.request(
        "PATCH", f"{cms}/held", patch, content_type="application/merge-patch+json"
    )
    assert code == 200
    code, _ = await admin.request("GET", f"{cms}/held")
    assert code == 404


async def test_foreground_deletion_adds_its_finalizer(admin: Client) -> None:
    cms = "/api/v1/namespaces/default/configmaps"
    await admin.request("POST", cms, {"metadata": {"name": "fg"}})
    code, marked = await admin.request(
        "DELETE", f"{cms}/fg", {"kind": "DeleteOptions", "propagationPolicy": "Foreground"}
    )
    assert code == 200
    assert marked["metadata"]["finalizers"] == ["foregroundDeletion"]
    code, body = await admin.request("DELETE", f"{cms}/fg", {"propagationPolicy": "Sideways"})
    assert (code, body["reason"]) == (400, "BadRequest")
