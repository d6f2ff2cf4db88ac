"""The admission chain through the real API server: NamespaceLifecycle, ServiceAccount,
Priority and DefaultTolerationSeconds on pod creates, the system PriorityClasses, and
PriorityClass validation."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from pocketkube.apiserver.app import APIServer
from tests.integration.apiserver.conftest import Client

PODS = "/api/v1/namespaces/default/pods"
CLASSES = "/apis/scheduling.k8s.io/v1/priorityclasses"
APPLY = "application/apply-patch+yaml"
TOLERATIONS = [
    {
        "key": "node.kubernetes.io/not-ready",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
    {
        "key": "node.kubernetes.io/unreachable",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
]


def pod(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}], **spec},
    }


def priority_class(name: str, value: int, **fields: Any) -> dict[str, Any]:
    return {
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": {"name": name},
        "value": value,
        **fields,
    }


async def wait_cached(admin: Client, path: str) -> None:
    """Until the watch cache has the object (a list of classes is read from the cache)."""
    for _ in range(100):
        code, _ = await admin.request("GET", f"{path}?resourceVersion=0")
        if code == 200:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{path} never reached the cache")


async def test_system_priority_classes_exist(admin: Client) -> None:
    code, listed = await admin.request("GET", CLASSES)
    assert code == 200
    by_name = {pc["metadata"]["name"]: pc for pc in listed["items"]}
    assert set(by_name) == {"system-node-critical", "system-cluster-critical"}
    node = by_name["system-node-critical"]
    assert (node["value"], node["preemptionPolicy"]) == (2000001000, "PreemptLowerPriority")
    assert node["description"] == (
        "Used for system critical pods that must not be moved from their current node."
    )
    assert by_name["system-cluster-critical"]["value"] == 2000000000


async def test_bootstrap_leaves_existing_classes_alone(apiserver: APIServer, admin: Client) -> None:
    path = f"{CLASSES}/system-node-critical"
    patch = {"metadata": {"labels": {"mine": "yes"}}}
    code, _ = await admin.request("PATCH", path, patch, content_type="application/merge-patch+json")
    assert code == 200
    await apiserver._bootstrap()
    _, node = await admin.request("GET", path)
    assert node["metadata"]["labels"] == {"mine": "yes"}


async def test_a_new_pod_is_admitted(admin: Client) -> None:
    code, created = await admin.request("POST", PODS, pod("plain"))
    assert code == 201, created
    spec = created["spec"]
    assert spec["serviceAccountName"] == spec["serviceAccount"] == "default"
    assert (spec["priority"], spec["preemptionPolicy"]) == (0, "PreemptLowerPriority")
    assert "priorityClassName" not in spec
    assert spec["tolerations"] == TOLERATIONS


async def test_priority_from_the_class(admin: Client) -> None:
    code, _ = await admin.request("POST", CLASSES, priority_class("high", 1000))
    assert code == 201
    code, created = await admin.request("POST", PODS, pod("web", priorityClassName="high"))
    assert code == 201, created
    assert (created["spec"]["priority"], created["spec"]["preemptionPolicy"]) == (
        1000,
        "PreemptLowerPriority",
    )
    code, critical = await admin.request(
        "POST", PODS, pod("dns", priorityClassName="system-cluster-critical")
    )
    assert (code, critical["spec"]["priority"]) == (201, 2000000000)


async def test_refused_pods(admin: Client) -> None:
    code, body = await admin.request("POST", PODS, pod("lost", priorityClassName="missing"))
    assert (code, body["reason"]) == (403, "Forbidden")
    assert body["message"] == (
        'pods "lost" is forbidden: no PriorityClass with name missing was found'
    )
    assert body["details"] == {"name": "lost", "kind": "pods"}
    code, body = await admin.request("POST", PODS, pod("bold", priority=7))
    assert code == 403
    assert body["message"] == (
        'pods "bold" is forbidden: the integer value of priority (7) must not be provided in pod '
        "spec; priority admission controller computed 0 from the given PriorityClass name"
    )
    code, _ = await admin.request("GET", f"{PODS}/lost")
    assert code == 404


async def test_the_global_default(admin: Client) -> None:
    code, _ = await admin.request(
        "POST", CLASSES, priority_class("usual", 10, globalDefault=True, preemptionPolicy="Never")
    )
    assert code == 201
    await wait_cached(admin, f"{CLASSES}/usual")
    code, created = await admin.request("POST", PODS, pod("p"))
    assert code == 201, created
    spec = created["spec"]
    assert (spec["priorityClassName"], spec["priority"], spec["preemptionPolicy"]) == (
        "usual",
        10,
        "Never",
    )
    code, body = await admin.request(
        "POST", CLASSES, priority_class("second", 20, globalDefault=True)
    )
    assert (code, body["reason"]) == (403, "Forbidden")
    assert body["message"] == (
        'priorityclasses.scheduling.k8s.io "second" is forbidden: PriorityClass usual is '
        "already marked as default. Only one default can exist"
    )


async def test_priority_class_validation(admin: Client) -> None:
    code, body = await admin.request("POST", CLASSES, priority_class("huge", 2_000_000_000))
    assert (code, body["reason"]) == (422, "Invalid")
    assert body["message"] == (
        'PriorityClass.scheduling.k8s.io "huge" is invalid: value: Forbidden: maximum allowed '
        "value of a user defined priority is 1000000000"
    )
    code, body = await admin.request("POST", CLASSES, priority_class("system-mine", 1))
    assert code == 422
    assert "reserved for system use only" in body["message"]
    await admin.request("POST", CLASSES, priority_class("fixed", 5))
    code, body = await admin.request(
        "PATCH", f"{CLASSES}/fixed", {"value": 6}, content_type="application/merge-patch+json"
    )
    assert code == 422
    assert body["details"]["causes"] == [
        {
            "reason": "FieldValueForbidden",
            "message": "Forbidden: may not be changed in an update.",
            "field": "value",
        }
    ]
    code, body = await admin.request(
        "PATCH",
        f"{CLASSES}/fixed",
        {"description": "five"},
        content_type="application/merge-patch+json",
    )
    assert (code, body["description"]) == (200, "five")


async def test_updates_do_not_run_create_admission(admin: Client) -> None:
    code, created = await admin.request(
        "POST", PODS, pod("own", serviceAccountName="bot", tolerations=[{"operator": "Exists"}])
    )
    assert code == 201, created
    assert created["spec"]["tolerations"] == [{"operator": "Exists"}]
    code, patched = await admin.request(
        "PATCH",
        f"{PODS}/own",
        {"metadata": {"labels": {"a": "b"}}},
        content_type="application/strategic-merge-patch+json",
    )
    assert code == 200, patched
    assert patched["spec"] == created["spec"]


async def test_server_side_apply_creates_are_admitted_too(admin: Client) -> None:
    doc = orjson.dumps(pod("applied", priorityClassName="system-node-critical"))
    path = f"{PODS}/applied?fieldManager=me"
    code, created = await admin.request("PATCH", path, raw=doc, content_type=APPLY)
    assert code == 201, created
    spec = created["spec"]
    assert (spec["priority"], spec["serviceAccountName"]) == (2000001000, "default")
    assert spec["tolerations"] == TOLERATIONS
    # what admission added is not the applier's, so applying again keeps it
    code, again = await admin.request("PATCH", path, raw=doc, content_type=APPLY)
    assert code == 200, again
    assert again["spec"] == spec


async def test_namespace_lifecycle(admin: Client) -> None:
    code, body = await admin.request(
        "POST", "/api/v1/namespaces/nowhere/pods", pod("p", priorityClassName="missing")
    )
    assert (code, body["message"]) == (404, 'namespaces "nowhere" not found')


async def test_dry_run_creates_are_admitted(admin: Client) -> None:
    code, body = await admin.request("POST", f"{PODS}?dryRun=All", pod("dry"))
    assert (code, body["spec"]["serviceAccountName"]) == (201, "default")
    code, body = await admin.request(
        "POST", f"{PODS}?dryRun=All", pod("dry", priorityClassName="missing")
    )
    assert code == 403


async def test_updates_run_admission_too(admin: Client) -> None:
    code, created = await admin.request("POST", PODS, pod("kept"))
    assert code == 201, created
    assert created["spec"]["tolerations"] == TOLERATIONS
    # A replace from a manifest that leaves out what admission added keeps it (upstream runs
    # DefaultTolerationSeconds and Priority on updates), rather than failing pod immutability.
    manifest = pod("kept")
    manifest["spec"]["serviceAccountName"] = "default"
    manifest["metadata"]["labels"] = {"replaced": "yes"}
    code, replaced = await admin.request("PUT", f"{PODS}/kept", manifest)
    assert code == 200, replaced
    assert replaced["spec"]["tolerations"] == TOLERATIONS
    assert replaced["spec"]["priority"] == 0
    assert replaced["metadata"]["labels"] == {"replaced": "yes"}


async def test_a_second_default_class_is_refused_on_update(admin: Client) -> None:
    await admin.request("POST", CLASSES, priority_class("first", 1, globalDefault=True))
    await admin.request("POST", CLASSES, priority_class("other", 2))
    await wait_cached(admin, f"{CLASSES}/first")
    code, body = await admin.request(
        "PATCH",
        f"{CLASSES}/other",
        {"globalDefault": True},
        content_type="application/merge-patch+json",
    )
    assert (code, body["reason"]) == (403, "Forbidden"), body
    assert "PriorityClass first is already marked as default" in body["message"]
