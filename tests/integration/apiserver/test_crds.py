"""CustomResourceDefinitions through the real API server: the resources they define are served."""

from __future__ import annotations

import copy
from typing import Any

from tests.integration.apiserver.conftest import Client

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
CRONTABS = "/apis/stable.example.com/v1/namespaces/default/crontabs"

CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "crontabs.stable.example.com"},
    "spec": {
        "group": "stable.example.com",
        "scope": "Namespaced",
        "names": {
            "plural": "crontabs",
            "singular": "crontab",
            "kind": "CronTab",
            "shortNames": ["ct"],
        },
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["cronSpec"],
                                "properties": {
                                    "cronSpec": {"type": "string", "pattern": "^\\S+( \\S+)*$"},
                                    "image": {"type": "string"},
                                    "replicas": {"type": "integer", "minimum": 0},
                                    "mode": {"type": "string", "enum": ["a", "b"]},
                                    "free": {
                                        "type": "object",
                                        "x-kubernetes-preserve-unknown-fields": True,
                                    },
                                },
                            },
                            "status": {
                                "type": "object",
                                "properties": {"phase": {"type": "string"}},
                            },
                        },
                    }
                },
            }
        ],
    },
}


def _crontab(name: str = "tab", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "stable.example.com/v1",
        "kind": "CronTab",
        "metadata": {"name": name},
        "spec": {"cronSpec": "* * * * */5", "image": "cron", **spec},
    }


async def _create_crd(admin: Client) -> dict[str, Any]:
    code, body = await admin.request("POST", CRDS, copy.deepcopy(CRD))
    assert code == 201, body
    result: dict[str, Any] = body
    return result


async def test_a_crd_is_established_and_discoverable(admin: Client) -> None:
    created = await _create_crd(admin)
    conditions = {c["type"]: c for c in created["status"]["conditions"]}
    assert conditions["Established"]["status"] == "True"
    assert conditions["NamesAccepted"]["reason"] == "NoConflicts"
    assert created["status"]["storedVersions"] == ["v1"]
    assert created["status"]["acceptedNames"]["kind"] == "CronTab"
    code, listing = await admin.request("GET", "/apis/stable.example.com/v1")
    assert code == 200, listing
    (resource,) = [r for r in listing["resources"] if r["name"] == "crontabs"]
    assert resource["kind"] == "CronTab"
    assert resource["shortNames"] == ["ct"]
    assert resource["namespaced"] is True


async def test_custom_objects_crud(admin: Client) -> None:
    await _create_crd(admin)
    code, created = await admin.request("POST", CRONTABS, _crontab())
    assert code == 201, created
    assert created["spec"]["image"] == "cron"
    code, got = await admin.request("GET", f"{CRONTABS}/tab")
    assert code == 200
    assert got["metadata"]["uid"] == created["metadata"]["uid"]
    got["spec"]["image"] = "cron:2"
    code, updated = await admin.request("PUT", f"{CRONTABS}/tab", got)
    assert code == 200, updated
    assert updated["spec"]["image"] == "cron:2"
    code, patched = await admin.request(
        "PATCH",
        f"{CRONTABS}/tab",
        {"spec": {"replicas": 3}},
        content_type="application/merge-patch+json",
    )
    assert code == 200, patched
    assert patched["spec"]["replicas"] == 3, patched
    code, listed = await admin.request("GET", CRONTABS)
    assert code == 200
    assert [o["metadata"]["name"] for o in listed["items"]] == ["tab"]
    assert listed["kind"] == "CronTabList"
    code, _ = await admin.request("DELETE", f"{CRONTABS}/tab")
    assert code == 200
    code, _ = await admin.request("GET", f"{CRONTABS}/tab")
    assert code == 404


async def test_schema_violations_are_invalid(admin: Client) -> None:
    await _create_crd(admin)
    code, body = await admin.request("POST", CRONTABS, _crontab(replicas="string"))
    assert code == 422, body
    assert body["reason"] == "Invalid"
    assert (
        'spec.replicas: Invalid value: "string": spec.replicas in body must be of type '
        'integer: "string"' in body["message"]
    )
    assert body["details"]["causes"][0]["field"] == "spec.replicas"
    bad = _crontab()
    del bad["spec"]["cronSpec"]
    code, body = await admin.request("POST", CRONTABS, bad)
    assert code == 422, body
    assert "spec.cronSpec: Required value" in body["message"], body
    code, body = await admin.request("POST", CRONTABS, _crontab(mode="c"))
    assert code == 422, body
    assert 'Unsupported value: "c"' in body["message"], body
    code, body = await admin.request("POST", CRONTABS, _crontab(replicas=-1))
    assert code == 422, body
    assert "greater than or equal to 0" in body["message"], body


async def test_unknown_fields_are_pruned_unless_preserved(admin: Client) -> None:
    await _create_crd(admin)
    obj = _crontab(unknown=1, free={"anything": {"goes": True}})
    obj["extra"] = "top"
    code, created = await admin.request("POST", CRONTABS, obj)
    assert code == 201, created
    assert "unknown" not in created["spec"]
    assert "extra" not in created
    assert created["spec"]["free"] == {"anything": {"goes": True}}


async def test_status_subresource_splits_writes(admin: Client) -> None:
    await _create_crd(admin)
    obj = _crontab()
    obj["status"] = {"phase": "ignored"}
    code, created = await admin.request("POST", CRONTABS, obj)
    assert code == 201, created
    assert "status" not in created
    created["status"] = {"phase": "Running"}
    code, updated = await admin.request("PUT", f"{CRONTABS}/tab/status", created)
    assert code == 200, updated
    assert updated["status"] == {"phase": "Running"}, updated
    updated["spec"]["image"] = "other"
    updated["status"] = {"phase": "Lost"}
    code, main = await admin.request("PUT", f"{CRONTABS}/tab", updated)
    assert code == 200
    assert main["status"] == {"phase": "Running"}
    assert main["spec"]["image"] == "other"


async def test_strategic_merge_patch_is_unsupported(admin: Client) -> None:
    await _create_crd(admin)
    await admin.request("POST", CRONTABS, _crontab())
    code, body = await admin.request(
        "PATCH",
        f"{CRONTABS}/tab",
        {"spec": {"image": "x"}},
        content_type="application/strategic-merge-patch+json",
    )
    assert code == 415, body
    assert body["reason"] == "UnsupportedMediaType"


async def test_table_has_the_printer_columns(admin: Client) -> None:
    crd = copy.deepcopy(CRD)
    crd["spec"]["versions"][0]["additionalPrinterColumns"] = [
        {"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"}
    ]
    code, body = await admin.request("POST", CRDS, crd)
    assert code == 201, body
    await admin.request("POST", CRONTABS, _crontab())
    table_accept = "application/json;as=Table;v=v1;g=meta.k8s.io"
    code, table = await admin.request("GET", CRONTABS, headers={"Accept": table_accept})
    assert code == 200, table
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Spec"]
    assert table["rows"][0]["cells"] == ["tab", "* * * * */5"]


async def test_deleting_the_crd_removes_its_objects_and_endpoint(admin: Client) -> None:
    await _create_crd(admin)
    code, body = await admin.request("POST", CRONTABS, _crontab())
    assert code == 201, body
    code, body = await admin.request("DELETE", f"{CRDS}/crontabs.stable.example.com")
    assert code == 200, body
    code, _ = await admin.request("GET", CRONTABS)
    assert code == 404
    code, _ = await admin.request("GET", "/apis/stable.example.com/v1")
    assert code == 404
    await _create_crd(admin)
    code, listed = await admin.request("GET", CRONTABS)
    assert code == 200, listed
    assert listed["items"] == [], listed


async def test_crds_are_served_again_after_a_restart(apiserver: Any, admin: Client) -> None:
    await _create_crd(admin)
    await admin.request("POST", CRONTABS, _crontab())
    for gvr in [g for g in apiserver.registries if g[0] == "stable.example.com"]:
        apiserver.catalog.unregister(*gvr)
        del apiserver.registries[gvr]
    await apiserver.crds.start()
    code, listed = await admin.request("GET", CRONTABS)
    assert code == 200
    assert [o["metadata"]["name"] for o in listed["items"]] == ["tab"]
