"""Deleting a namespace through the real API server (upstream's namespace registry): the first
DELETE marks it Terminating, it stays while ``spec.finalizers`` (or metadata finalizers) remain,
and it goes once both are empty; the system namespaces cannot be deleted."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.integration.apiserver.conftest import Client

NAMESPACES = "/api/v1/namespaces"
MERGE = "application/merge-patch+json"


async def _namespace(admin: Client, name: str = "team", **meta: Any) -> dict[str, Any]:
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, **meta}}
    code, created = await admin.request("POST", NAMESPACES, body)
    assert code == 201, created
    result: dict[str, Any] = created
    return result


async def _finalize(admin: Client, namespace: dict[str, Any], finalizers: list[str]) -> Any:
    wanted = copy.deepcopy(namespace)
    wanted["spec"]["finalizers"] = finalizers
    name = namespace["metadata"]["name"]
    code, body = await admin.request("PUT", f"{NAMESPACES}/{name}/finalize", wanted)
    assert code == 200, body
    return body


async def test_first_delete_marks_the_namespace_terminating(admin: Client) -> None:
    await _namespace(admin)
    code, marked = await admin.request("DELETE", f"{NAMESPACES}/team")
    assert code == 200, marked
    assert marked["kind"] == "Namespace"
    assert marked["metadata"]["deletionTimestamp"]
    assert "deletionGracePeriodSeconds" not in marked["metadata"]
    assert marked["status"]["phase"] == "Terminating"
    assert marked["spec"]["finalizers"] == ["kubernetes"]
    code, again = await admin.request("DELETE", f"{NAMESPACES}/team")
    assert code == 200, again
    assert again["metadata"]["deletionTimestamp"] == marked["metadata"]["deletionTimestamp"]
    code, stored = await admin.request("GET", f"{NAMESPACES}/team")
    assert code == 200
    assert stored["status"]["phase"] == "Terminating"


async def test_finalize_removes_a_terminating_namespace(admin: Client) -> None:
    await _namespace(admin)
    _, marked = await admin.request("DELETE", f"{NAMESPACES}/team")
    gone = await _finalize(admin, marked, [])
    assert gone["metadata"]["name"] == "team"
    code, _ = await admin.request("GET", f"{NAMESPACES}/team")
    assert code == 404


async def test_nothing_new_in_a_terminating_namespace(admin: Client) -> None:
    await _namespace(admin)
    await admin.request("DELETE", f"{NAMESPACES}/team")
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    code, body = await admin.request("POST", f"{NAMESPACES}/team/configmaps", cm)
    assert code == 403, body
    assert body["details"]["causes"][0]["reason"] == "NamespaceTerminating"


async def test_a_finalized_namespace_goes_on_the_next_delete(admin: Client) -> None:
    created = await _namespace(admin)
    await _finalize(admin, created, [])  # not deleted: spec.finalizers may be emptied early
    code, marked = await admin.request("DELETE", f"{NAMESPACES}/team")
    assert code == 200
    assert marked["status"]["phase"] == "Terminating"
    code, _ = await admin.request("GET", f"{NAMESPACES}/team")
    assert code == 200
    code, body = await admin.request("DELETE", f"{NAMESPACES}/team")
    assert code == 200, body
    code, _ = await admin.request("GET", f"{NAMESPACES}/team")
    assert code == 404


async def test_metadata_finalizers_hold_it_after_finalize(admin: Client) -> None:
    await _namespace(admin, finalizers=["example.com/hold"])
    _, marked = await admin.request("DELETE", f"{NAMESPACES}/team")
    held = await _finalize(admin, marked, [])
    code, _ = await admin.request("GET", f"{NAMESPACES}/team")
    assert code == 200
    # removing the last metadata finalizer with an ordinary patch removes the namespace
    patch = {"metadata": {"finalizers": None}}
    code, body = await admin.request("PATCH", f"{NAMESPACES}/team", patch, content_type=MERGE)
    assert code == 200, body
    assert held["metadata"]["name"] == "team"
    code, _ = await admin.request("GET", f"{NAMESPACES}/team")
    assert code == 404


@pytest.mark.parametrize(
    ("policy", "finalizers"),
    [("Orphan", ["orphan"]), ("Foreground", ["foregroundDeletion"]), ("Background", None)],
)
async def test_propagation_policy_sets_the_gc_finalizers(
    admin: Client, policy: str, finalizers: list[str] | None
) -> None:
    await _namespace(admin)
    body = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": policy}
    code, marked = await admin.request("DELETE", f"{NAMESPACES}/team", body)
    assert code == 200, marked
    assert marked["metadata"].get("finalizers") == finalizers


async def test_main_resource_updates_keep_spec_finalizers(admin: Client) -> None:
    created = await _namespace(admin)
    created["spec"]["finalizers"] = []
    created["metadata"]["labels"]["team"] = "a"
    code, updated = await admin.request("PUT", f"{NAMESPACES}/team", created)
    assert code == 200, updated
    assert updated["spec"]["finalizers"] == ["kubernetes"]
    assert updated["metadata"]["labels"]["team"] == "a"


@pytest.mark.parametrize("name", ["default", "kube-system", "kube-public"])
async def test_system_namespaces_may_not_be_deleted(admin: Client, name: str) -> None:
    code, body = await admin.request("DELETE", f"{NAMESPACES}/{name}")
    assert code == 403, body
    assert body["message"] == f'namespaces "{name}" is forbidden: this namespace may not be deleted'
    code, stored = await admin.request("GET", f"{NAMESPACES}/{name}")
    assert code == 200
    assert not stored["metadata"].get("deletionTimestamp")


async def test_uid_precondition_and_dry_run(admin: Client) -> None:
    await _namespace(admin)
    body = {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": "nope"}}
    code, refused = await admin.request("DELETE", f"{NAMESPACES}/team", body)
    assert code == 409, refused
    code, dry = await admin.request("DELETE", f"{NAMESPACES}/team?dryRun=All")
    assert code == 200, dry
    assert dry["status"]["phase"] == "Terminating"
    code, stored = await admin.request("GET", f"{NAMESPACES}/team")
    assert stored["status"]["phase"] == "Active"
    assert not stored["metadata"].get("deletionTimestamp")
