"""``Client`` against a real API server: CRUD, patches, Status errors, watches."""

from __future__ import annotations

import asyncio
import contextlib
from contextlib import aclosing
from typing import Any

import pytest

from pocketkube.client import ApiError, Client, ClientConfig, TransportError, WatchEvent
from pocketkube.client.resources import NAMESPACES, NODES
from tests.integration.client.helpers import CMS, churn, cm, configmap


async def test_create_get_list_update_delete(client: Client) -> None:
    created = await client.create(CMS, configmap("a", x="1"))
    assert created["metadata"]["uid"]
    assert created["metadata"]["managedFields"][0]["manager"] == "pocketkube-test"
    got = await client.get(cm("a"))
    assert got["data"] == {"x": "1"}
    got["data"]["x"] = "2"
    updated = await client.update(cm("a"), got)
    assert updated["data"] == {"x": "2"}
    listed = await client.list(CMS)
    assert [item["metadata"]["name"] for item in listed["items"]] == ["a"]
    await client.delete(cm("a"))
    with pytest.raises(ApiError) as caught:
        await client.get(cm("a"))
    assert caught.value.not_found


@pytest.mark.parametrize(
    ("patch_type", "patch", "params", "expected"),
    [
        ("merge", {"data": {"y": "2", "x": None}}, None, {"y": "2"}),
        ("strategic", {"data": {"y": "2"}}, None, {"x": "1", "y": "2"}),
        ("json", [{"op": "replace", "path": "/data/x", "value": "9"}], None, {"x": "9"}),
        (
            "apply",
            configmap("p", z="3"),
            {"fieldManager": "tester", "force": True},
            {"x": "1", "z": "3"},
        ),
    ],
)
async def test_patch_types(
    client: Client, patch_type: Any, patch: Any, params: Any, expected: dict[str, str]
) -> None:
    await client.create(CMS, configmap("p", x="1"))
    patched = await client.patch(cm("p"), patch, patch_type=patch_type, params=params)
    assert patched["data"] == expected


async def test_list_params_and_cluster_scoped_paths(client: Client) -> None:
    for i in range(3):
        await client.create(CMS, configmap(f"page-{i}"))
    first = await client.list(CMS, params={"limit": 2})
    assert len(first["items"]) == 2
    assert first["metadata"]["continue"]
    rest = await client.list(CMS, params={"limit": 2, "continue": first["metadata"]["continue"]})
    assert [i["metadata"]["name"] for i in rest["items"]] == ["page-2"]
    namespaces = await client.list(NAMESPACES.path())
    assert "kube-system" in {n["metadata"]["name"] for n in namespaces["items"]}


@pytest.mark.parametrize(
    ("setup", "request_", "status", "reason"),
    [
        (None, ("GET", cm("missing"), None), 404, "NotFound"),
        (configmap("dup"), ("POST", CMS, configmap("dup")), 409, "AlreadyExists"),
        (None, ("POST", CMS, configmap("Not_A_Name")), 422, "Invalid"),
        (None, ("GET", "/api/v1/nosuchresource", None), 404, "NotFound"),
        (None, ("POST", CMS, "{not json"), 400, "BadRequest"),
    ],
)
async def test_errors_carry_the_status(
    client: Client, setup: Any, request_: Any, status: int, reason: str
) -> None:
    if setup is not None:
        await client.create(CMS, setup)
    method, path, body = request_
    with pytest.raises(ApiError) as caught:
        await client.request(method, path, body=body)
    err = caught.value
    assert (err.status, err.reason) == (status, reason)
    assert err.body.get("kind") == "Status"
    assert err.message


async def test_update_with_a_stale_resource_version_is_a_conflict(client: Client) -> None:
    created = await client.create(CMS, configmap("c"))
    await client.patch(cm("c"), {"data": {"n": "1"}})
    with pytest.raises(ApiError) as caught:
        await client.update(cm("c"), created)
    assert caught.value.conflict
    assert caught.value.status == 409


async def test_a_server_that_is_not_there_is_a_transport_error(client: Client) -> None:
    config = ClientConfig(server="https://127.0.0.1:1", ca_data=client.config.ca_data)
    async with Client(config=config, timeout=5) as nowhere:
        with pytest.raises(TransportError) as caught:
            await nowhere.get("/version")
    assert caught.value.status == 0
    assert isinstance(caught.value, ApiError)


async def test_anonymous_requests_are_refused_with_401(client: Client) -> None:
    config = ClientConfig(server=client.config.server, ca_data=client.config.ca_data)
    async with Client(config=config) as anonymous:
        assert (await anonymous.get("/version"))["gitVersion"].startswith("v1.")
        with pytest.raises(ApiError) as caught:
            await anonymous.list(CMS)
    assert caught.value.status == 401


async def test_closed_client_refuses_requests(client: Client) -> None:
    unopened = Client(config=client.config)
    with pytest.raises(RuntimeError):
        await unopened.get("/version")


async def collect(client: Client, path: str, params: dict[str, Any], n: int) -> list[WatchEvent]:
    events: list[WatchEvent] = []
    async with asyncio.timeout(10), aclosing(client.watch(path, params=params)) as stream:
        async for event in stream:
            events.append(event)
            if len(events) == n:
                break
    return events


async def test_watch_streams_events_from_a_resource_version(client: Client) -> None:
    rv = (await client.list(CMS))["metadata"]["resourceVersion"]
    await client.create(CMS, configmap("w", v="1"))
    await client.patch(cm("w"), {"data": {"v": "2"}})
    await client.delete(cm("w"))
    events = await collect(client, CMS, {"resourceVersion": rv, "timeoutSeconds": 30}, 3)
    assert [(e.type, e.object["metadata"]["name"]) for e in events] == [
        ("ADDED", "w"),
        ("MODIFIED", "w"),
        ("DELETED", "w"),
    ]
    assert events[1].object["data"] == {"v": "2"}


async def test_watch_ends_cleanly_at_its_timeout(client: Client) -> None:
    rv = (await client.list(NODES.path()))["metadata"]["resourceVersion"]
    events = []
    async with asyncio.timeout(10):
        async for event in client.watch(
            NODES.path(), params={"resourceVersion": rv, "timeoutSeconds": 1}
        ):
            events.append(event)
    assert events == []


async def test_watch_carries_objects_larger_than_aiohttps_line_buffer(client: Client) -> None:
    rv = (await client.list(CMS))["metadata"]["resourceVersion"]
    big = "x" * 600_000
    await client.create(CMS, configmap("big", big=big))
    [event] = await collect(client, CMS, {"resourceVersion": rv}, 1)
    assert event.object["data"]["big"] == big


async def test_watch_from_a_compacted_version_raises_410(client: Client) -> None:
    await churn(client, 1100)  # the watch cache keeps ~1000 events per resource
    with pytest.raises(ApiError) as caught:
        await collect(client, CMS, {"resourceVersion": "1"}, 1)
    assert caught.value.gone
    assert caught.value.reason in ("Expired", "Gone")


async def test_a_user_agent_view_shares_the_connections_and_names_itself(client: Client) -> None:
    """As kube-controller-manager's per-controller clients: the view's writes are recorded under
    the first segment of its User-Agent, and closing nothing extra is needed."""
    view = client.with_user_agent("kube-controller-manager/v1.33.0 (pocketkube)/job-controller")
    created = await view.create(
        "/api/v1/namespaces/default/configmaps",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "ua-view"},
            "data": {"a": "1"},
        },
    )
    managers = [entry["manager"] for entry in created["metadata"]["managedFields"]]
    assert managers == ["kube-controller-manager"]
    assert view.session is client.session
    events = []
    async with contextlib.aclosing(
        view.watch(
            "/api/v1/namespaces/default/configmaps",
            params={"fieldSelector": "metadata.name=ua-view", "timeoutSeconds": 1},
        )
    ) as stream:
        async for event in stream:
            events.append(event)
            break
    assert [e.type for e in events] == ["ADDED"]
