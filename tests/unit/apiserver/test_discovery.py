from __future__ import annotations

from typing import Any

import pytest

from pocketkube.apiserver import discovery
from pocketkube.apiserver.resources import Catalog, Resource, builtin_catalog
from pocketkube.apiserver.resources_builtin import CRUD

V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
PROTO_V2 = "application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


@pytest.fixture
def catalog() -> Catalog:
    return builtin_catalog()


def _group(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(item for item in doc["items"] if item["metadata"].get("name", "") == name)


def _resource(version: dict[str, Any], plural: str) -> dict[str, Any]:
    return next(r for r in version["resources"] if r["resource"] == plural)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        # kubectl 1.30+
        (f"{V2},{V2BETA1},application/json", "v2"),
        # protobuf first: we answer the JSON form it also accepts
        (f"{PROTO_V2},{V2},application/json", "v2"),
        (f"{V2BETA1},application/json", "v2beta1"),
        ("application/json;as=APIGroupDiscoveryList;v=v2;g=apidiscovery.k8s.io", "v2"),
        (f"{V2};q=0.5,{V2BETA1}", "v2beta1"),
        (f"{V2};q=0,application/json", None),
        (f"application/json, {V2}", None),
        ("application/json, */*", None),
        ("application/json;charset=utf-8", None),
        ("*/*", None),
        ("", None),
        (None, None),
        ("application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList", None),
        (f"application/json;as=Table;v=v1;g=meta.k8s.io,{V2}", "v2"),
        (PROTO_V2, None),
    ],
)
def test_wants_aggregated(accept: str | None, expected: str | None) -> None:
    assert discovery.wants_aggregated(accept) == expected


def test_content_types() -> None:
    assert discovery.AGGREGATED_CONTENT_TYPE == V2
    assert discovery.aggregated_content_type("v2beta1") == V2BETA1


def test_aggregated_deployments_match_compat_example(catalog: Catalog) -> None:
    doc = discovery.aggregated_groups(catalog)
    assert doc["kind"] == "APIGroupDiscoveryList"
    assert doc["apiVersion"] == "apidiscovery.k8s.io/v2"
    assert doc["metadata"] == {}
    apps = _group(doc, "apps")
    assert apps["metadata"] == {"name": "apps"}
    assert [v["version"] for v in apps["versions"]] == ["v1"]
    assert apps["versions"][0]["freshness"] == "Current"
    assert _resource(apps["versions"][0], "deployments") == {
        "resource": "deployments",
        "responseKind": {"group": "apps", "version": "v1", "kind": "Deployment"},
        "scope": "Namespaced",
        "singularResource": "deployment",
        "verbs": [
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ],
        "shortNames": ["deploy"],
        "categories": ["all"],
        "subresources": [
            {
                "subresource": "scale",
                "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
                "verbs": ["get", "patch", "update"],
            },
            {
                "subresource": "status",
                "responseKind": {"group": "apps", "version": "v1", "kind": "Deployment"},
                "verbs": ["get", "patch", "update"],
            },
        ],
    }


def test_aggregated_groups_order_and_shape(catalog: Catalog) -> None:
    doc = discovery.aggregated_groups(catalog)
    names = [item["metadata"]["name"] for item in doc["items"]]
    assert names == [g for g in catalog.groups() if g]
    assert "" not in names
    autoscaling = _group(doc, "autoscaling")
    assert [v["version"] for v in autoscaling["versions"]] == ["v2", "v1"]
    for item in doc["items"]:
        for version in item["versions"]:
            assert version["freshness"] == "Current"
            assert version["resources"]
            for resource in version["resources"]:
                assert resource["scope"] in ("Namespaced", "Cluster")
                # empty lists are left out, as upstream's omitempty does
                for key in ("shortNames", "categories", "subresources"):
                    assert resource.get(key, ["x"]) != []
    rbac = _group(doc, "rbac.authorization.k8s.io")["versions"][0]
    assert _resource(rbac, "clusterroles") == {
        "resource": "clusterroles",
        "responseKind": {
            "group": "rbac.authorization.k8s.io",
            "version": "v1",
            "kind": "ClusterRole",
        },
        "scope": "Cluster",
        "singularResource": "clusterrole",
        "verbs": list(CRUD),
    }


def test_aggregated_core(catalog: Catalog) -> None:
    doc = discovery.aggregated_core(catalog, version="v2beta1")
    assert doc["apiVersion"] == "apidiscovery.k8s.io/v2beta1"
    assert len(doc["items"]) == 1
    core = doc["items"][0]
    assert core["metadata"] == {}
    (v1,) = core["versions"]
    assert v1["version"] == "v1"
    pods = _resource(v1, "pods")
    assert pods["responseKind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert pods["categories"] == ["all"]
    subs = {s["subresource"]: s for s in pods["subresources"]}
    assert subs["log"] == {
        "subresource": "log",
        "responseKind": {"group": "", "version": "v1", "kind": "Pod"},
        "verbs": ["get"],
    }
    assert subs["exec"]["verbs"] == ["create", "get"]
    assert subs["eviction"]["responseKind"] == {
        "group": "policy",
        "version": "v1",
        "kind": "Eviction",
    }
    namespaces = _resource(v1, "namespaces")
    assert namespaces["scope"] == "Cluster"
    assert "deletecollection" not in namespaces["verbs"]


def test_aggregated_core_of_an_empty_catalog() -> None:
    assert discovery.aggregated_core(Catalog())["items"] == []


def test_legacy_core_resource_list(catalog: Catalog) -> None:
    doc = discovery.api_resource_list(catalog, "", "v1")
    assert doc is not None
    assert doc["kind"] == "APIResourceList"
    assert "apiVersion" not in doc  # upstream's /api/v1 carries none
    assert doc["groupVersion"] == "v1"
    entries = {e["name"]: e for e in doc["resources"]}
    assert entries["pods/log"] == {
        "name": "pods/log",
        "singularName": "",
        "namespaced": True,
        "kind": "Pod",
        "verbs": ["get"],
    }
    assert entries["pods/eviction"] == {
        "name": "pods/eviction",
        "singularName": "",
        "namespaced": True,
        "group": "policy",
        "version": "v1",
        "kind": "Eviction",
        "verbs": ["create"],
    }
    assert entries["pods"] == {
        "name": "pods",
        "singularName": "pod",
        "namespaced": True,
        "kind": "Pod",
        "verbs": list(CRUD),
        "shortNames": ["po"],
        "categories": ["all"],
        "storageVersionHash": "xPOwRZ+Yhw8=",
    }
    assert entries["bindings"] == {
        "name": "bindings",
        "singularName": "binding",
        "namespaced": True,
        "kind": "Binding",
        "verbs": ["create"],
    }
    assert entries["namespaces/finalize"]["verbs"] == ["update"]
    names = [e["name"] for e in doc["resources"]]
    assert names == sorted(names)


def test_legacy_group_resource_list(catalog: Catalog) -> None:
    doc = discovery.api_resource_list(catalog, "apps", "v1")
    assert doc is not None
    assert (doc["kind"], doc["apiVersion"], doc["groupVersion"]) == (
        "APIResourceList",
        "v1",
        "apps/v1",
    )
    entries = {e["name"]: e for e in doc["resources"]}
    assert entries["deployments/scale"] == {
        "name": "deployments/scale",
        "singularName": "",
        "namespaced": True,
        "group": "autoscaling",
        "version": "v1",
        "kind": "Scale",
        "verbs": ["get", "patch", "update"],
    }
    assert entries["deployments/status"]["kind"] == "Deployment"
    assert "group" not in entries["deployments/status"]
    assert discovery.api_resource_list(catalog, "apps", "v1beta1") is None
    assert discovery.api_resource_list(catalog, "nope", "v1") is None


def test_legacy_api_versions() -> None:
    assert discovery.api_versions(server_address="10.0.0.1:6443") == {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": "10.0.0.1:6443"}
        ],
    }


def test_legacy_group_list(catalog: Catalog) -> None:
    doc = discovery.api_group_list(catalog)
    assert (doc["kind"], doc["apiVersion"]) == ("APIGroupList", "v1")
    assert [g["name"] for g in doc["groups"]][:3] == [
        "apps",
        "events.k8s.io",
        "authentication.k8s.io",
    ]
    autoscaling = next(g for g in doc["groups"] if g["name"] == "autoscaling")
    assert autoscaling == {
        "name": "autoscaling",
        "versions": [
            {"groupVersion": "autoscaling/v2", "version": "v2"},
            {"groupVersion": "autoscaling/v1", "version": "v1"},
        ],
        "preferredVersion": {"groupVersion": "autoscaling/v2", "version": "v2"},
    }


def test_legacy_group(catalog: Catalog) -> None:
    assert discovery.api_group(catalog, "batch") == {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": "batch",
        "versions": [{"groupVersion": "batch/v1", "version": "v1"}],
        "preferredVersion": {"groupVersion": "batch/v1", "version": "v1"},
    }
    assert discovery.api_group(catalog, "") is None
    assert discovery.api_group(catalog, "nope.example.com") is None


def test_registered_crd_appears_in_discovery(catalog: Catalog) -> None:
    catalog.register(
        Resource(
            group="stable.example.com",
            version="v1",
            kind="CronTab",
            plural="crontabs",
            singular="crontab",
            namespaced=True,
            verbs=CRUD,
            short_names=("ct",),
            etcd_path="stable.example.com/crontabs",
        )
    )
    groups = discovery.aggregated_groups(catalog)["items"]
    assert groups[-1]["metadata"] == {"name": "stable.example.com"}
    assert discovery.api_group(catalog, "stable.example.com") is not None
    doc = discovery.api_resource_list(catalog, "stable.example.com", "v1")
    assert doc is not None
    assert doc["resources"][0]["storageVersionHash"]


def test_version_info() -> None:
    info = discovery.version_info()
    assert (info["major"], info["minor"], info["gitVersion"]) == ("1", "33", "v1.33.0")
    assert info["gitTreeState"] == "clean"
    assert info["compiler"] == "gc"
    assert info["platform"].count("/") == 1
    assert set(info) >= {"gitCommit", "buildDate", "goVersion"}
    assert discovery.version_info(git_version="v1.32.4")["minor"] == "32"
