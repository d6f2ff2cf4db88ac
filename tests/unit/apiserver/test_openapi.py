from __future__ import annotations

from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from pocketkube.apiserver.openapi import OpenAPIDocuments, add_openapi_routes
from pocketkube.apiserver.openapi.table import closure, name_for_kind, refs_in, schemas
from pocketkube.apiserver.resources import Catalog, builtin_catalog


@pytest.fixture
def catalog() -> Catalog:
    return builtin_catalog()


@pytest.fixture
def documents(catalog: Catalog) -> OpenAPIDocuments:
    return OpenAPIDocuments(catalog)


def _doc(documents: OpenAPIDocuments, key: str) -> dict[str, Any]:
    body = documents.body(key)
    assert body is not None
    doc: dict[str, Any] = orjson.loads(body)
    return doc


def _props(doc: dict[str, Any], name: str) -> dict[str, Any]:
    props: dict[str, Any] = doc["components"]["schemas"][name]["properties"]
    return props


def test_index_lists_every_served_group_version(
    catalog: Catalog, documents: OpenAPIDocuments
) -> None:
    paths = documents.index()["paths"]
    expected = {
        f"apis/{gv.group}/{gv.version}" if gv.group else "api/v1" for gv in catalog.group_versions()
    }
    assert set(paths) == expected
    for key, entry in paths.items():
        url = entry["serverRelativeURL"]
        assert url.startswith(f"/openapi/v3/{key}?hash=")
        assert url.rsplit("=", 1)[1] == documents.hash(key)


def test_hash_is_stable(catalog: Catalog) -> None:
    assert OpenAPIDocuments(catalog).index() == OpenAPIDocuments(catalog).index()


@pytest.mark.parametrize(
    ("schema", "field", "merge_key", "strategy"),
    [
        ("io.k8s.api.core.v1.PodSpec", "containers", "name", "merge"),
        ("io.k8s.api.core.v1.PodSpec", "volumes", "name", "merge,retainKeys"),
        ("io.k8s.api.core.v1.Container", "ports", "containerPort", "merge"),
        ("io.k8s.api.core.v1.Container", "env", "name", "merge"),
        ("io.k8s.api.core.v1.Container", "volumeMounts", "mountPath", "merge"),
        ("io.k8s.api.core.v1.ServiceSpec", "ports", "port", "merge"),
        ("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "ownerReferences", "uid", "merge"),
    ],
)
def test_patch_merge_keys(
    documents: OpenAPIDocuments, schema: str, field: str, merge_key: str, strategy: str
) -> None:
    prop = _props(_doc(documents, "api/v1"), schema)[field]
    assert prop["x-kubernetes-patch-merge-key"] == merge_key
    assert prop["x-kubernetes-patch-strategy"] == strategy
    assert prop["x-kubernetes-list-map-keys"] == [merge_key]
    assert prop["items"]["$ref"].startswith("#/components/schemas/")


def test_retain_keys_on_a_referenced_object(documents: OpenAPIDocuments) -> None:
    prop = _props(_doc(documents, "apis/apps/v1"), "io.k8s.api.apps.v1.DeploymentSpec")["strategy"]
    assert prop["x-kubernetes-patch-strategy"] == "retainKeys"
    assert prop["allOf"] == [{"$ref": "#/components/schemas/io.k8s.api.apps.v1.DeploymentStrategy"}]


@pytest.mark.parametrize(
    ("key", "schema", "gvk"),
    [
        ("api/v1", "io.k8s.api.core.v1.Pod", ("", "v1", "Pod")),
        ("apis/apps/v1", "io.k8s.api.apps.v1.Deployment", ("apps", "v1", "Deployment")),
        ("apis/apps/v1", "io.k8s.api.autoscaling.v1.Scale", ("autoscaling", "v1", "Scale")),
        ("apis/batch/v1", "io.k8s.api.batch.v1.CronJob", ("batch", "v1", "CronJob")),
        (
            "apis/events.k8s.io/v1",
            "io.k8s.api.events.v1.Event",
            ("events.k8s.io", "v1", "Event"),
        ),
        (
            "apis/apiextensions.k8s.io/v1",
            "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
            ("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
        ),
    ],
)
def test_kinds_carry_their_group_version_kind(
    documents: OpenAPIDocuments, key: str, schema: str, gvk: tuple[str, str, str]
) -> None:
    found = _doc(documents, key)["components"]["schemas"][schema]
    group, version, kind = gvk
    assert {"group": group, "version": version, "kind": kind} in found[
        "x-kubernetes-group-version-kind"
    ]
    assert name_for_kind(*gvk) == schema


@pytest.mark.parametrize(
    ("key", "path", "kind"),
    [
        ("api/v1", "/api/v1/namespaces/{namespace}/configmaps/{name}", "ConfigMap"),
        ("api/v1", "/api/v1/nodes/{name}", "Node"),
        ("apis/apps/v1", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}", "Deployment"),
    ],
)
def test_patch_operations_offer_field_validation(
    documents: OpenAPIDocuments, key: str, path: str, kind: str
) -> None:
    item = _doc(documents, key)["paths"][path]
    patch = item["patch"]
    assert patch["x-kubernetes-action"] == "patch"
    assert patch["x-kubernetes-group-version-kind"]["kind"] == kind
    names = {p["name"] for p in patch["parameters"]}
    assert {"fieldValidation", "dryRun", "fieldManager"} <= names
    assert {"get", "put", "delete"} <= set(item)
    assert "application/strategic-merge-patch+json" in patch["requestBody"]["content"]


def test_virtual_resources_only_create(documents: OpenAPIDocuments) -> None:
    paths = _doc(documents, "apis/authorization.k8s.io/v1")["paths"]
    item = paths["/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"]
    assert "post" in item
    assert "get" not in item
    assert not any(p.endswith("{name}") for p in paths)


def test_csr_subresources(documents: OpenAPIDocuments) -> None:
    doc = _doc(documents, "apis/certificates.k8s.io/v1")
    named = "/apis/certificates.k8s.io/v1/certificatesigningrequests/{name}"
    for sub in ("status", "approval"):
        item = doc["paths"][f"{named}/{sub}"]
        assert {"get", "put", "patch"} <= item.keys()
        (content,) = item["put"]["requestBody"]["content"].values()
        schema = content["schema"]["$ref"]
        assert schema.endswith("io.k8s.api.certificates.v1.CertificateSigningRequest")
    spec = _props(doc, "io.k8s.api.certificates.v1.CertificateSigningRequestSpec")
    assert spec["request"]["format"] == "byte"


def test_every_reference_resolves(documents: OpenAPIDocuments) -> None:
    for key in documents.document_keys():
        doc = _doc(documents, key)
        components = doc["components"]["schemas"]
        for ref in refs_in([doc["paths"], components]):
            assert ref in components, (key, ref)


def test_schemas_have_descriptions_and_meta_types() -> None:
    table = schemas()
    container = table["io.k8s.api.core.v1.Container"]
    assert "image" in container["properties"]
    assert container["properties"]["image"]["description"]
    assert "name" in container["required"]
    meta = "io.k8s.apimachinery.pkg.apis.meta.v1."
    assert table[meta + "ObjectMeta"]["properties"]["creationTimestamp"] == {
        "allOf": [{"$ref": f"#/components/schemas/{meta}Time"}],
        "description": table[meta + "ObjectMeta"]["properties"]["creationTimestamp"]["description"],
    }
    assert table["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["x-kubernetes-int-or-string"]
    assert meta + "ObjectMeta" in closure(["io.k8s.api.core.v1.Pod"])


async def test_routes_serve_index_documents_and_etags(catalog: Catalog) -> None:
    app = web.Application()
    add_openapi_routes(app, catalog)
    async with TestClient(TestServer(app)) as client:
        index = await (await client.get("/openapi/v3")).json()
        url = index["paths"]["apis/apps/v1"]["serverRelativeURL"]
        response = await client.get(url)
        assert response.status == 200
        assert response.headers["Cache-Control"] == "public, immutable"
        doc = await response.json()
        assert doc["openapi"] == "3.0.0"
        etag = response.headers["ETag"]
        again = await client.get("/openapi/v3/apis/apps/v1", headers={"If-None-Match": etag})
        assert again.status == 304
        assert (await client.get("/openapi/v3/apis/nope/v1")).status == 404
        v2 = await client.get("/openapi/v2")
        assert v2.status == 200
        assert (await v2.json())["swagger"] == "2.0"
