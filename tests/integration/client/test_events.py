"""Events through a real API server: written as events.k8s.io/v1, read back as the core v1
Events kubectl describe lists, and repeats folded into one event's series."""

from __future__ import annotations

import asyncio
import shutil
from typing import Any

import pytest

from pocketkube.apiserver.app import APIServer
from pocketkube.client import Client, EventRecorder
from pocketkube.client.resources import EVENTS, NODES, PODS
from tests.integration.client.helpers import NS


def pod(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }


def recorder(client: Client) -> EventRecorder:
    return EventRecorder(
        client=client,
        reporting_controller="default-scheduler",
        reporting_instance="default-scheduler-test",
    )


async def events_about(client: Client, obj: dict[str, Any]) -> list[dict[str, Any]]:
    """What ``kubectl describe`` asks for: core v1 Events by involvedObject fields."""
    meta = obj["metadata"]
    selector = ",".join(
        (
            f"involvedObject.name={meta['name']}",
            f"involvedObject.namespace={meta.get('namespace', '')}",
            f"involvedObject.kind={obj['kind']}",
            f"involvedObject.uid={meta['uid']}",
        )
    )
    namespace = meta.get("namespace") or "default"
    listed = await client.list(EVENTS.path(namespace=namespace), params={"fieldSelector": selector})
    items: list[dict[str, Any]] = listed["items"]
    return items


async def test_an_event_reads_back_as_a_core_event(client: Client) -> None:
    p = await client.create(PODS.path(namespace=NS), pod("web"))
    sent = await recorder(client).emit(
        p, type="Warning", reason="FailedScheduling", action="Scheduling", note="0/1 nodes"
    )
    assert sent is not None
    assert sent["metadata"]["name"].startswith("web.")
    [event] = await events_about(client, p)
    assert event["reason"] == "FailedScheduling"
    assert event["message"] == "0/1 nodes"
    assert event["type"] == "Warning"
    assert event["reportingComponent"] == "default-scheduler"  # kubectl's "From"
    assert event["reportingInstance"] == "default-scheduler-test"
    assert event["involvedObject"]["uid"] == p["metadata"]["uid"]
    assert event["involvedObject"]["apiVersion"] == "v1"
    assert event["eventTime"].endswith("Z")


async def test_repeats_fold_into_one_series(client: Client) -> None:
    p = await client.create(PODS.path(namespace=NS), pod("web"))
    events = recorder(client)
    for _ in range(3):
        await events.emit(p, type="Normal", reason="Pulled", action="Pull", note="pulled")
    await events.emit(p, type="Normal", reason="Pulled", action="Pull", note="pulled again")
    stored = await events_about(client, p)
    by_note = {e["message"]: e for e in stored}
    assert set(by_note) == {"pulled", "pulled again"}
    assert by_note["pulled"]["series"]["count"] == 3
    assert "series" not in by_note["pulled again"]


async def test_a_folded_event_that_was_deleted_is_created_again(client: Client) -> None:
    p = await client.create(PODS.path(namespace=NS), pod("web"))
    events = recorder(client)
    first = await events.emit(p, type="Normal", reason="R", action="A", note="n")
    assert first is not None
    await client.delete(EVENTS.path(namespace=NS, name=first["metadata"]["name"]))
    again = await events.emit(p, type="Normal", reason="R", action="A", note="n")
    assert again is not None
    assert again["metadata"]["name"] != first["metadata"]["name"]
    [stored] = await events_about(client, p)
    assert "series" not in stored


async def test_cluster_scoped_objects_get_events_in_default(client: Client) -> None:
    node = await client.create(
        NODES.path(), {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}
    )
    sent = await recorder(client).emit(
        node, type="Normal", reason="Starting", action="Start", note="kubelet started"
    )
    assert sent is not None
    assert sent["metadata"]["namespace"] == "default"
    [event] = await events_about(client, node)
    assert event["involvedObject"]["name"] == "n1"


async def test_posted_events_are_sent_by_the_worker(client: Client) -> None:
    p = await client.create(PODS.path(namespace=NS), pod("web"))
    events = recorder(client)
    async with asyncio.TaskGroup() as group:
        worker = group.create_task(events.run())
        events.post(p, type="Normal", reason="Scheduled", action="Binding", note="assigned")
        events.post(p, type="Normal", reason="Scheduled", action="Binding", note="assigned")
        await asyncio.wait_for(events.flush(), 10)
        worker.cancel()
    [event] = await events_about(client, p)
    assert event["series"]["count"] == 2


async def test_failed_sends_are_dropped_not_raised(client: Client) -> None:
    ghost = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "ghost", "namespace": "no-such-namespace", "uid": "u"},
    }
    events = recorder(client)
    assert await events.emit(ghost, type="Normal", reason="R", action="A", note="n") is None
    assert events.dropped == 1


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
async def test_kubectl_describe_shows_the_event(apiserver: APIServer, client: Client) -> None:
    p = await client.create(PODS.path(namespace=NS), pod("web"))
    events = recorder(client)
    for _ in range(2):
        await events.emit(
            p, type="Warning", reason="FailedScheduling", action="Scheduling", note="no nodes"
        )
    proc = await asyncio.create_subprocess_exec(
        "kubectl",
        "--kubeconfig",
        str(apiserver.kubeconfig_path),
        "describe",
        "pod",
        "web",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    text = out.decode()
    assert proc.returncode == 0, text
    events_section = text.split("Events:", 1)[1]
    line = next(line for line in events_section.splitlines() if "FailedScheduling" in line)
    assert "default-scheduler" in line
    assert "no nodes" in line
    assert "(x2 over" in line, text
