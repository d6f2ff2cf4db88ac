"""The REST semantics every resource shares, over HTTPS against a real server on SQLite."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from tests.integration.apiserver.conftest import Client

CMS = "/api/v1/namespaces/default/configmaps"


def configmap(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


async def test_version_and_health_are_public(anonymous: Client) -> None:
    code, body = await anonymous.request("GET", "/version")
    assert code == 200
    assert (body["major"], body["minor"], body["gitVersion"]) == ("1", "33", "v1.33.0")
    code, body = await anonymous.request("GET", "/readyz")
    assert (code, body) == (200, "ok")


async def test_resources_need_credentials(anonymous: Client) -> None:
    code, body = await anonymous.request("GET", CMS)
    assert code == 401
    assert body["kind"] == "Status"
    assert body["reason"] == "Unauthorized"


async def test_system_namespaces_exist(admin: Client) -> None:
    code, body = await admin.request("GET", "/api/v1/namespaces")
    assert code == 200
    names = {item["metadata"]["name"] for item in body["items"]}
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= names
    default = next(i for i in body["items"] if i["metadata"]["name"] == "default")
    assert default["status"] == {"phase": "Active"}
    assert body["kind"] == "NamespaceList"


async def test_create_get_update_delete(admin: Client) -> None:
    code, created = await admin.request("POST", CMS, configmap("web", a="1"))
    assert code == 201
    meta = created["metadata"]
    assert meta["namespace"] == "default"
    assert meta["uid"]
    assert meta["creationTimestamp"].endswith("Z")
    assert int(meta["resourceVersion"]) > 0

    code, body = await admin.request("POST", CMS, configmap("web"))
    assert (code, body["reason"]) == (409, "AlreadyExists")
    assert body["message"] == 'configmaps "web" already exists'

    code, got = await admin.request("GET", f"{CMS}/web")
    assert (code, got) == (200, created)

    changed = {**got, "data": {"a": "2"}}
    code, updated = await admin.request("PUT", f"{CMS}/web", changed)
    assert code == 200
    assert int(updated["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])
    assert updated["metadata"]["uid"] == meta["uid"]

    code, stale = await admin.request("PUT", f"{CMS}/web", {**got, "data": {"a": "3"}})
    assert (code, stale["reason"]) == (409, "Conflict")

    code, deleted = await admin.request("DELETE", f"{CMS}/web")
    assert code == 200
    assert deleted["data"] == {"a": "2"}
    code, body = await admin.request("GET", f"{CMS}/web")
    assert (code, body["reason"], body["message"]) == (
        404,
        "NotFound",
        'configmaps "web" not found',
    )


@pytest.mark.parametrize(
    ("content_type", "patch", "expected"),
    [
        ("application/merge-patch+json", {"data": {"a": None, "b": "2"}}, {"b": "2"}),
        (
            "application/json-patch+json",
            [{"op": "replace", "path": "/data/a", "value": "9"}],
            {"a": "9"},
        ),
        ("application/strategic-merge-patch+json", {"data": {"c": "3"}}, {"a": "1", "c": "3"}),
    ],
)
async def test_patches(admin: Client, content_type: str, patch: Any, expected: Any) -> None:
    await admin.request("POST", CMS, configmap("p", a="1"))
    code, body = await admin.request("PATCH", f"{CMS}/p", patch, content_type=content_type)
    assert code == 200, body
    assert body["data"] == expected


async def test_labels_select(admin: Client) -> None:
    for name, app in (("a", "web"), ("b", "db"), ("c", "web")):
        obj = configmap(name)
        obj["metadata"]["labels"] = {"app": app}
        await admin.request("POST", CMS, obj)
    code, body = await admin.request("GET", f"{CMS}?labelSelector=app%3Dweb")
    assert code == 200
    assert [i["metadata"]["name"] for i in body["items"]] == ["a", "c"]
    code, body = await admin.request("GET", f"{CMS}?fieldSelector=metadata.name%3Db")
    assert [i["metadata"]["name"] for i in body["items"]] == ["b"]
    code, body = await admin.request("GET", f"{CMS}?labelSelector=app+in+(")
    assert (code, body["reason"]) == (400, "BadRequest")
    code, body = await admin.request("GET", f"{CMS}?fieldSelector=spec.nodeName%3Dx")
    assert (code, body["reason"]) == (400, "BadRequest")


async def test_paging(admin: Client) -> None:
    for i in range(5):
        await admin.request("POST", CMS, configmap(f"page-{i}"))
    _, first = await admin.request("GET", f"{CMS}?limit=2")
    assert len(first["items"]) == 2
    token = first["metadata"]["continue"]
    _code, second = await admin.request("GET", f"{CMS}?limit=10&continue={token}")
    assert [i["metadata"]["name"] for i in second["items"]] == ["page-2", "page-3", "page-4"]
    assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]


async def test_table_output(admin: Client) -> None:
    await admin.request("POST", CMS, configmap("t", a="1", b="2"))
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    code, table = await admin.request("GET", CMS, headers={"Accept": accept})
    assert code == 200
    assert table["kind"] == "Table"
    names = [c["name"] for c in table["columnDefinitions"]]
    assert names[0] == "Name"
    row = table["rows"][0]
    assert row["cells"][0] == "t"
    assert row["object"]["kind"] == "PartialObjectMetadata"


async def test_create_in_missing_namespace_is_not_found(admin: Client) -> None:
    code, body = await admin.request(
        "POST", "/api/v1/namespaces/nowhere/configmaps", configmap("x")
    )
    assert (code, body["message"]) == (404, 'namespaces "nowhere" not found')


async def test_invalid_names_are_422(admin: Client) -> None:
    code, body = await admin.request("POST", CMS, configmap("Not_Valid"))
    assert (code, body["reason"]) == (422, "Invalid")
    assert body["details"]["causes"][0]["field"] == "metadata.name"


async def test_dry_run_stores_nothing(admin: Client) -> None:
    code, _body = await admin.request("POST", f"{CMS}?dryRun=All", configmap("dry"))
    assert code == 201
    code, _ = await admin.request("GET", f"{CMS}/dry")
    assert code == 404


@pytest.mark.parametrize(
    ("raw", "content_type", "code"),
    [
        (b'{"metadata": {"name": "x"', "application/json", 400),
        (b"[" * 100_000, "application/json", 400),
        (b'{"metadata": {"name": "x"}, "data": {"a": NaN}}', "application/json", 400),
        (b'{"metadata": {"name": "x"}, "n": 1' + b"0" * 5000 + b"}", "application/json", 400),
        (b'{"metadata": {"name": "\xff"}}', "application/json", 400),
        (b'{"metadata": {"name": "\\ud800"}}', "application/json", 400),
        (b"a: &a [1]\nb: *a\n", "application/yaml", 400),
        (b"{}", "text/plain", 415),
        (b"x" * (3 * 1024 * 1024 + 1), "application/json", 413),
    ],
)
async def test_bad_input_is_a_status_never_a_500(
    admin: Client, raw: bytes, content_type: str, code: int
) -> None:
    got, body = await admin.request("POST", CMS, raw=raw, content_type=content_type)
    assert got == code, body
    assert body["kind"] == "Status"
    _code2, listed = await admin.request("GET", CMS)
    assert listed["items"] == []


async def test_watch_streams_changes(admin: Client) -> None:
    _code, listed = await admin.request("GET", CMS)
    rv = listed["metadata"]["resourceVersion"]
    url = f"{admin.base}{CMS}?watch=1&resourceVersion={rv}&timeoutSeconds=5"
    async with admin.session.get(url) as response:
        assert response.status == 200
        await admin.request("POST", CMS, configmap("w1"))
        await admin.request("DELETE", f"{CMS}/w1")
        events = []
        async with asyncio.timeout(10):
            async for line in response.content:
                events.append(orjson.loads(line))
                if len(events) == 2:
                    break
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "w1"),
        ("DELETED", "w1"),
    ]


async def test_watch_from_a_too_old_version_is_an_error_event(admin: Client) -> None:
    url = f"{admin.base}{CMS}?watch=1&resourceVersion=1&timeoutSeconds=5"
    for i in range(1100):  # push revision 1 out of the cache's window
        if i % 100 == 0:
            await asyncio.sleep(0)
        await admin.request("POST", CMS, configmap(f"old-{i}"))
    async with admin.session.get(url) as response:
        line = await response.content.readline()
    event = orjson.loads(line)
    assert event["type"] == "ERROR"
    assert (event["object"]["code"], event["object"]["reason"]) == (410, "Expired")


async def test_discovery_aggregated_and_legacy(admin: Client) -> None:
    accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
    async with admin.session.get(admin.base + "/apis", headers={"Accept": accept}) as response:
        assert response.headers["Content-Type"] == (
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
        )
        body = await response.json(content_type=None)
    groups = {item["metadata"]["name"] for item in body["items"]}
    assert {"apps", "batch"} <= groups
    _code, legacy = await admin.request("GET", "/api/v1")
    assert legacy["kind"] == "APIResourceList"
    assert "pods/log" in {r["name"] for r in legacy["resources"]}


async def test_large_lists_are_gzipped_like_upstream(admin: Client) -> None:
    """Over 128 KiB and ``Accept-Encoding: gzip``: ``Content-Encoding: gzip``, the same JSON."""
    padding = "x" * 2048
    for i in range(80):
        code, _ = await admin.request("POST", CMS, configmap(f"big-{i}", pad=padding))
        assert code == 201
    plain_headers = {"Accept-Encoding": "identity"}
    async with admin.session.get(admin.base + CMS, headers=plain_headers) as response:
        assert "Content-Encoding" not in response.headers
        plain = orjson.loads(await response.read())
    assert len(plain["items"]) == 80
    gzip_headers = {"Accept-Encoding": "gzip"}
    async with admin.session.get(admin.base + CMS, headers=gzip_headers) as response:
        assert response.headers["Content-Encoding"] == "gzip"
        assert response.headers["Vary"] == "Accept-Encoding"
        compressed = orjson.loads(await response.read())  # aiohttp inflates it
    assert compressed == plain
    async with admin.session.get(admin.base + CMS + "?limit=1", headers=gzip_headers) as response:
        assert "Content-Encoding" not in response.headers  # small: sent as is


async def test_long_tables_are_streamed_in_row_batches(admin: Client) -> None:
    """Over TABLE_BATCH rows a Table goes out batch by batch; it reads as one Table, gzip or not."""
    namespace = "/api/v1/namespaces/long-table"
    await admin.request("POST", "/api/v1/namespaces", {"metadata": {"name": "long-table"}})
    sem = asyncio.Semaphore(16)

    async def create(i: int) -> None:
        async with sem:
            code, _ = await admin.request(
                "POST", namespace + "/configmaps", configmap(f"row-{i:04}", pad="x" * 200)
            )
            assert code == 201

    await asyncio.gather(*(create(i) for i in range(1_050)))
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    tables = []
    for encoding in ("gzip", "identity"):
        headers = {"Accept": accept, "Accept-Encoding": encoding}
        async with admin.session.get(admin.base + namespace + "/configmaps", headers=headers) as r:
            assert r.status == 200
            assert r.headers.get("Content-Encoding") == (encoding if encoding == "gzip" else None)
            assert r.headers["Transfer-Encoding"] == "chunked"
            tables.append(orjson.loads(await r.read()))
    for table in tables:
        assert table["kind"] == "Table"
        assert [c["name"] for c in table["columnDefinitions"]][:2] == ["Name", "Data"]
        names = [row["cells"][0] for row in table["rows"]]
        assert names == sorted(names) == [f"row-{i:04}" for i in range(1_050)]
        assert all(row["object"]["kind"] == "PartialObjectMetadata" for row in table["rows"])
    assert tables[0]["metadata"] == tables[1]["metadata"]
