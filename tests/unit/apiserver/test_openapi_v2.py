"""``/openapi/v2``: the Swagger 2.0 document derived from the v3 ones, and its handler."""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterator, Mapping
from email.utils import formatdate
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from pocketkube.apiserver.openapi import add_openapi_routes, v2
from pocketkube.apiserver.openapi.swagger import SCHEMA_KEYWORDS, swagger_document, v2_schema
from pocketkube.apiserver.openapi.table import name_for_kind
from pocketkube.apiserver.resources import Catalog, Resource, builtin_catalog

META = "io.k8s.apimachinery.pkg.apis.meta.v1."
CRONTAB = Resource(
    group="stable.example.com",
    version="v1",
    kind="CronTab",
    plural="crontabs",
    singular="crontab",
    namespaced=True,
    verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"),
)
CRONTAB_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["cronSpec", "note"],
            "properties": {
                "cronSpec": {"type": "string", "default": "* * * * *"},
                "note": {"type": "string", "nullable": True},
                "size": {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}]},
                "free": {
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": True,
                    "properties": {"a": {"type": "string"}},
                },
                "any": {"type": "array", "x-kubernetes-preserve-unknown-fields": True},
                "either": {"type": "string", "oneOf": [{"pattern": "^a"}, {"pattern": "^b"}]},
            },
        },
    },
}


def _custom(schemas: Mapping[Resource, Mapping[str, Any]]) -> Any:
    return lambda resource: schemas.get(resource)


@pytest.fixture
def catalog() -> Catalog:
    catalog = builtin_catalog()
    catalog.register(CRONTAB)
    return catalog


@pytest.fixture
def document(catalog: Catalog) -> dict[str, Any]:
    return swagger_document(catalog, _custom({CRONTAB: CRONTAB_SCHEMA}))


def _schemas(node: Any) -> Iterator[dict[str, Any]]:
    """Every schema object under a schema, following its structure (not property names)."""
    if not isinstance(node, dict):
        return
    yield node
    for prop in (node.get("properties") or {}).values():
        yield from _schemas(prop)
    items = node.get("items")
    for item in items if isinstance(items, list) else [items]:
        yield from _schemas(item)
    yield from _schemas(node.get("additionalProperties"))


def _all_schemas(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for definition in document["definitions"].values():
        yield from _schemas(definition)
    for item in document["paths"].values():
        for key, op in item.items():
            if key == "parameters":
                continue
            for parameter in op.get("parameters", []):
                yield from _schemas(parameter.get("schema"))
            for response in op["responses"].values():
                yield from _schemas(response.get("schema"))


def test_header(document: dict[str, Any]) -> None:
    assert document["swagger"] == "2.0"
    assert document["info"] == {"title": "Kubernetes", "version": "v1.33.0"}
    assert document["security"] == [{"BearerToken": []}]
    assert document["securityDefinitions"]["BearerToken"]["type"] == "apiKey"


def test_every_reference_resolves_within_definitions(document: dict[str, Any]) -> None:
    assert b"#/components/" not in orjson.dumps(document)
    refs = [s["$ref"] for s in _all_schemas(document) if "$ref" in s]
    assert len(refs) > 500
    for ref in refs:
        assert ref.startswith("#/definitions/"), ref
        assert ref.removeprefix("#/definitions/") in document["definitions"], ref


def test_schemas_are_swagger_2(document: dict[str, Any]) -> None:
    """Only v2 keywords, and only what kube-openapi's proto.NewOpenAPIData accepts: a reference
    has no type or properties, an array has exactly one items schema, one type per schema."""
    for schema in _all_schemas(document):
        assert {k for k in schema if not k.startswith("x-")} <= SCHEMA_KEYWORDS, schema
        if "$ref" in schema:
            assert "type" not in schema
            assert "properties" not in schema
        kind = schema.get("type")
        assert kind in (None, "object", "array", "string", "integer", "number", "boolean")
        if kind == "array":
            assert isinstance(schema.get("items"), dict), schema


def test_every_served_kind_has_a_definition_with_its_gvk(
    catalog: Catalog, document: dict[str, Any]
) -> None:
    found = {
        (gvk["group"], gvk["version"], gvk["kind"])
        for definition in document["definitions"].values()
        for gvk in definition.get("x-kubernetes-group-version-kind", [])
    }
    for resource in catalog:
        if resource is CRONTAB or name_for_kind(*resource.gvk) is not None:
            assert tuple(resource.gvk) in found, resource.gvk
    for kind in [("", "v1", "Pod"), ("apps", "v1", "Deployment"), ("", "v1", "Service")]:
        assert kind in found


def test_references_with_siblings_lose_their_all_of(document: dict[str, Any]) -> None:
    spec = document["definitions"]["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]
    assert spec["strategy"] == {
        "$ref": "#/definitions/io.k8s.api.apps.v1.DeploymentStrategy",
        "x-kubernetes-patch-strategy": "retainKeys",
    }
    meta = document["definitions"][META + "ObjectMeta"]["properties"]["creationTimestamp"]
    assert meta == {"$ref": f"#/definitions/{META}Time", "description": meta["description"]}
    container = document["definitions"]["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert container["x-kubernetes-patch-merge-key"] == "name"
    assert container["items"] == {"$ref": "#/definitions/io.k8s.api.core.v1.Container"}


def test_custom_resource_schema_in_v2_terms(document: dict[str, Any]) -> None:
    definition = document["definitions"]["com.example.stable.v1.CronTab"]
    assert definition["x-kubernetes-group-version-kind"] == [
        {"group": "stable.example.com", "version": "v1", "kind": "CronTab"}
    ]
    assert definition["properties"]["metadata"] == {"$ref": f"#/definitions/{META}ObjectMeta"}
    spec = definition["properties"]["spec"]
    props = spec["properties"]
    assert props["cronSpec"] == {"type": "string"}  # defaults pruned
    assert props["note"] == {}  # nullable: untyped
    assert spec["required"] == ["cronSpec"]  # and no longer required
    assert props["size"] == {"x-kubernetes-int-or-string": True}
    assert props["free"] == {"x-kubernetes-preserve-unknown-fields": True}
    assert props["any"] == {"x-kubernetes-preserve-unknown-fields": True}
    assert props["either"] == {"type": "string"}
    listed = document["definitions"]["com.example.stable.v1.CronTabList"]
    assert listed["properties"]["items"]["items"] == {
        "$ref": "#/definitions/com.example.stable.v1.CronTab"
    }


def test_custom_resource_keeping_unknown_fields_is_a_bare_object(catalog: Catalog) -> None:
    schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    document = swagger_document(catalog, _custom({CRONTAB: schema}))
    assert document["definitions"]["com.example.stable.v1.CronTab"] == {
        "type": "object",
        "x-kubernetes-group-version-kind": [
            {"group": "stable.example.com", "version": "v1", "kind": "CronTab"}
        ],
    }


def test_custom_resource_paths(document: dict[str, Any]) -> None:
    item = document["paths"]["/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}"]
    patch = item["patch"]
    assert patch["operationId"] == "patchStableExampleComV1NamespacedCronTab"
    assert patch["tags"] == ["stableExampleCom_v1"]
    assert "application/strategic-merge-patch+json" not in patch["consumes"]
    assert patch["produces"] == ["application/json", "application/yaml"]
    assert patch["x-kubernetes-group-version-kind"]["kind"] == "CronTab"


@pytest.mark.parametrize(
    ("path", "method", "operation_id", "tag"),
    [
        (
            "/api/v1/namespaces/{namespace}/pods/{name}",
            "patch",
            "patchCoreV1NamespacedPod",
            "core_v1",
        ),
        (
            "/api/v1/namespaces/{namespace}/pods",
            "delete",
            "deleteCoreV1CollectionNamespacedPod",
            "core_v1",
        ),
        ("/api/v1/namespaces/{namespace}/pods", "post", "createCoreV1NamespacedPod", "core_v1"),
        ("/api/v1/nodes/{name}/status", "get", "readCoreV1NodeStatus", "core_v1"),
        ("/apis/apps/v1/deployments", "get", "listAppsV1DeploymentForAllNamespaces", "apps_v1"),
        (
            "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale",
            "put",
            "replaceAppsV1NamespacedDeploymentScale",
            "apps_v1",
        ),
        (
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/{name}",
            "get",
            "readRbacAuthorizationV1ClusterRole",
            "rbacAuthorization_v1",
        ),
    ],
)
def test_operation_ids_and_tags_as_upstream(
    document: dict[str, Any], path: str, method: str, operation_id: str, tag: str
) -> None:
    op = document["paths"][path][method]
    assert op["operationId"] == operation_id
    assert op["tags"] == [tag]
    assert op["schemes"] == ["https"]


def test_operations_in_v2_shape(document: dict[str, Any]) -> None:
    item = document["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
    assert {p["name"]: p for p in item["parameters"]}["name"] == {
        "name": "name",
        "in": "path",
        "description": "name of the Deployment",
        "required": True,
        "type": "string",
        "uniqueItems": True,
    }
    put = item["put"]
    assert put["consumes"] == ["*/*"]
    body, *query = put["parameters"]
    assert body == {
        "in": "body",
        "name": "body",
        "required": True,
        "schema": {"$ref": "#/definitions/io.k8s.api.apps.v1.Deployment"},
    }
    field_validation = next(p for p in query if p["name"] == "fieldValidation")
    assert (field_validation["in"], field_validation["type"]) == ("query", "string")
    assert "schema" not in field_validation
    assert put["responses"]["201"] == {
        "description": "Created",
        "schema": {"$ref": "#/definitions/io.k8s.api.apps.v1.Deployment"},
    }
    assert put["responses"]["401"] == {"description": "Unauthorized"}
    assert put["x-kubernetes-action"] == "put"
    delete_body = item["delete"]["parameters"][0]
    assert delete_body["in"] == "body"
    assert "required" not in delete_body
    patch = item["patch"]
    assert patch["consumes"][2] == "application/strategic-merge-patch+json"
    assert patch["parameters"][0]["schema"] == {"$ref": f"#/definitions/{META}Patch"}
    listing = document["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments"]["get"]
    assert "application/json;stream=watch" in listing["produces"]


def test_v2_schema_drops_v3_only_keywords() -> None:
    v3 = {
        "type": "object",
        "nullable": True,
        "default": {},
        "oneOf": [{"type": "string"}],
        "properties": {"x": {"allOf": [{"$ref": "#/components/schemas/A"}], "default": {}}},
        "additionalProperties": False,
    }
    assert v2_schema(v3) == {
        "type": "object",
        "properties": {"x": {"$ref": "#/definitions/A"}},
        "additionalProperties": False,
    }


# --- the handler --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("", v2.JSON),
        ("*/*", v2.JSON),
        ("*", v2.JSON),
        ("application/*", v2.JSON),
        ("application/json;charset=utf-8", v2.JSON),
        (v2.PROTOBUF_DEPRECATED, v2.PROTOBUF),
        (v2.PROTOBUF, v2.PROTOBUF),
        (f"application/json;q=0.5, {v2.PROTOBUF}", v2.PROTOBUF),
        (f"{v2.PROTOBUF_DEPRECATED}, application/json", v2.PROTOBUF),
        ("text/html, */*;q=0.1", v2.JSON),
        ("text/html", None),
        ("application/yaml, text/plain", None),
    ],
)
def test_negotiation(accept: str, expected: str | None) -> None:
    assert v2.negotiate(accept) == expected


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.25

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def client(catalog: Catalog, clock: FakeClock) -> Any:
    document = v2.SwaggerDocument(catalog, _custom({CRONTAB: CRONTAB_SCHEMA}), clock=clock)

    async def handler(request: web.Request) -> web.Response:
        return await v2.serve(request, document)

    app = web.Application()
    app.router.add_get("/openapi/v2", handler)
    async with TestClient(TestServer(app)) as client:
        yield client


async def test_routes_serve_v2(catalog: Catalog) -> None:
    app = web.Application()
    add_openapi_routes(app, catalog)
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/openapi/v2", headers={"Accept": v2.PROTOBUF_DEPRECATED})
        assert response.status == 200
        assert response.headers["Content-Type"] == v2.PROTOBUF


async def test_json_by_default(client: TestClient[Any, Any]) -> None:
    response = await client.get("/openapi/v2", headers={"Accept-Encoding": "identity"})
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Vary"] == "Accept"
    assert response.headers["Last-Modified"] == formatdate(1_000_000, usegmt=True)
    body = await response.read()
    assert response.headers["ETag"] == f'"{hashlib.sha512(body).hexdigest().upper()}"'
    doc = orjson.loads(body)
    assert doc["swagger"] == "2.0"
    assert "com.example.stable.v1.CronTab" in doc["definitions"]


@pytest.mark.parametrize("accept", [v2.PROTOBUF_DEPRECATED, v2.PROTOBUF])
async def test_protobuf_on_its_accept(client: TestClient[Any, Any], accept: str) -> None:
    json_response = await client.get("/openapi/v2")
    response = await client.get("/openapi/v2", headers={"Accept": accept})
    assert response.status == 200
    assert response.headers["Content-Type"] == v2.PROTOBUF
    assert response.headers["ETag"] == json_response.headers["ETag"]  # one ETag, as upstream
    body = await response.read()
    assert body[:5] == b"\x0a\x032.0"  # Document.swagger = 1: "2.0"


async def test_gzip_when_asked(client: TestClient[Any, Any]) -> None:
    response = await client.get(
        "/openapi/v2", headers={"Accept-Encoding": "gzip"}, auto_decompress=False
    )
    assert response.headers["Content-Encoding"] == "gzip"
    assert orjson.loads(gzip.decompress(await response.read()))["swagger"] == "2.0"


async def test_not_modified(client: TestClient[Any, Any]) -> None:
    etag = (await client.get("/openapi/v2")).headers["ETag"]
    for if_none_match in (etag, f"W/{etag}", '"other", ' + etag, "*"):
        response = await client.get("/openapi/v2", headers={"If-None-Match": if_none_match})
        assert response.status == 304
        assert response.headers["ETag"] == etag
        assert "Last-Modified" not in response.headers
        assert await response.read() == b""
    stale = await client.get("/openapi/v2", headers={"If-None-Match": '"stale"'})
    assert stale.status == 200
    since = formatdate(1_000_000, usegmt=True)
    assert (await client.get("/openapi/v2", headers={"If-Modified-Since": since})).status == 304
    earlier = formatdate(999_999, usegmt=True)
    assert (await client.get("/openapi/v2", headers={"If-Modified-Since": earlier})).status == 200
    both = {"If-Modified-Since": since, "If-None-Match": '"stale"'}
    assert (await client.get("/openapi/v2", headers=both)).status == 200


async def test_not_acceptable(client: TestClient[Any, Any]) -> None:
    response = await client.get("/openapi/v2", headers={"Accept": "text/html"})
    assert response.status == 406
    assert await response.read() == b""


def test_built_lazily_and_rebuilt_when_the_catalog_changes(
    catalog: Catalog, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds = []
    real = swagger_document

    def counting(*args: Any, **kwargs: Any) -> dict[str, Any]:
        builds.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(v2, "swagger_document", counting)
    schemas = {CRONTAB: CRONTAB_SCHEMA}
    document = v2.SwaggerDocument(catalog, _custom(schemas), clock=clock)
    assert builds == []
    first = document.etag()
    assert document.etag() == first
    document.body(v2.PROTOBUF)
    assert len(builds) == 1
    clock.now += 60
    catalog.unregister("stable.example.com", "v1", "crontabs")
    second = document.etag()
    assert second != first
    assert document.last_modified == 1_000_060
    assert "com.example.stable.v1.CronTab" not in document.document()["definitions"]
    catalog.register(CRONTAB)
    schemas[CRONTAB] = {"type": "object", "properties": {"spec": {"type": "string"}}}
    assert document.etag() not in (first, second)  # a changed CRD schema rebuilds too
    assert len(builds) == 3
