"""The status manager: patches that clear stale fields, and the final delete of a pod."""

from __future__ import annotations

import asyncio

from pocketkube.kubelet.statusmanager import StatusManager, patch_body
from tests.unit.kubelet.harness import Client


def test_patch_clears_reasons_the_status_no_longer_has() -> None:
    status = {
        "phase": "Running",
        "conditions": [
            {"type": "Ready", "status": "True"},
            {"type": "Initialized", "status": "False", "reason": "X", "message": "m"},
        ],
    }
    body = patch_body(status)
    assert body["reason"] is None
    assert body["message"] is None
    assert body["conditions"][0] == {
        "type": "Ready",
        "status": "True",
        "reason": None,
        "message": None,
    }
    assert body["conditions"][1]["reason"] == "X"
    assert "reason" not in status["conditions"][0]  # the manager's copy is untouched


async def test_a_status_is_sent_once_and_the_pod_deleted_when_asked() -> None:
    client = Client()
    pod = {"metadata": {"name": "p", "namespace": "ns", "uid": "u1"}}
    manager = StatusManager(client=client, api_pod=lambda uid: None)
    status = {"phase": "Running", "conditions": []}
    manager.set(pod, status)
    semaphore = asyncio.Semaphore(1)
    await manager._sync_one("u1", semaphore)
    await manager._sync_one("u1", semaphore)
    assert len(client.patches) == 1
    path, body = client.patches[0]
    assert path == "/api/v1/namespaces/ns/pods/p/status"
    assert body["metadata"] == {"uid": "u1"}
    manager.delete_when_synced(pod)
    await manager._sync_one("u1", semaphore)
    assert client.deletes == [
        ("/api/v1/namespaces/ns/pods/p", {"gracePeriodSeconds": 0, "preconditions": {"uid": "u1"}})
    ]


async def test_a_held_status_is_replaced_and_only_the_newest_written() -> None:
    client = Client()
    pod = {"metadata": {"name": "p", "namespace": "ns", "uid": "u1"}}
    manager = StatusManager(client=client, api_pod=lambda uid: None)
    task = asyncio.create_task(manager.run())
    try:
        manager.set(pod, {"phase": "Pending"}, hold=30)
        await asyncio.sleep(0.05)
        assert client.patches == []  # held: a start is about to supersede it
        manager.set(pod, {"phase": "Running"}, hold=30)
        await asyncio.sleep(0.05)
        assert client.patches == []
        manager.flush("u1")  # the worker has nothing more to do at once
        await asyncio.sleep(0.05)
        assert [body["status"]["phase"] for _, body in client.patches] == ["Running"]
        manager.flush("u1")  # nothing held: nothing more to write
        await asyncio.sleep(0.05)
        assert len(client.patches) == 1
    finally:
        task.cancel()


async def test_a_held_status_is_written_when_the_hold_runs_out() -> None:
    client = Client()
    pod = {"metadata": {"name": "p", "namespace": "ns", "uid": "u1"}}
    manager = StatusManager(client=client, api_pod=lambda uid: None)
    task = asyncio.create_task(manager.run())
    try:
        manager.set(pod, {"phase": "Pending"}, hold=0.1)
        manager.set(pod, {"phase": "Pending", "reason": "x"}, hold=30)  # keeps the first limit
        await asyncio.sleep(0.05)
        assert client.patches == []
        await asyncio.sleep(0.2)
        assert [body["status"].get("reason") for _, body in client.patches] == ["x"]
    finally:
        task.cancel()


async def test_a_status_without_hold_is_written_at_once_even_after_a_held_one() -> None:
    client = Client()
    pod = {"metadata": {"name": "p", "namespace": "ns", "uid": "u1"}}
    manager = StatusManager(client=client, api_pod=lambda uid: None)
    task = asyncio.create_task(manager.run())
    try:
        manager.set(pod, {"phase": "Pending"}, hold=30)
        manager.set(pod, {"phase": "Failed"})
        await asyncio.sleep(0.05)
        assert [body["status"]["phase"] for _, body in client.patches] == ["Failed"]
        manager.forget("u1")
        manager.set(pod, {"phase": "Pending"}, hold=30)
        manager.delete_when_synced(pod)  # a final status never waits
        await asyncio.sleep(0.05)
        assert [body["status"]["phase"] for _, body in client.patches] == ["Failed", "Pending"]
        assert len(client.deletes) == 1
    finally:
        task.cancel()


async def test_an_equal_status_set_while_the_patch_is_sent_is_not_sent_again() -> None:
    client = Client()
    pod = {"metadata": {"name": "p", "namespace": "ns", "uid": "u1"}}
    manager = StatusManager(client=client, api_pod=lambda uid: None)
    sent = client.patch

    async def patch(path: str, body: dict[str, object], **kw: object) -> dict[str, object]:
        manager.set(pod, {"phase": "Running"})  # e.g. a resync while the patch is on its way
        return await sent(path, body, **kw)

    client.patch = patch  # type: ignore[method-assign,assignment]
    manager.set(pod, {"phase": "Running"})
    semaphore = asyncio.Semaphore(1)
    await manager._sync_one("u1", semaphore)
    await manager._sync_one("u1", semaphore)
    assert len(client.patches) == 1


class _SlowClient(Client):
    """Patches that take a while, so a newer status can be set while one is on the way; it
    notes how many patches of a pod were ever under way at once."""

    def __init__(self) -> None:
        super().__init__()
        self.under_way = 0
        self.most_at_once = 0

    async def patch(self, path: str, patch: dict[str, object], **kw: object) -> dict[str, object]:
        self.under_way += 1
        self.most_at_once = max(self.most_at_once, self.under_way)
        try:
            await asyncio.sleep(0.05)
            return await super().patch(path, patch, **kw)
        finally:
            self.under_way -= 1


async def test_one_patch_of_a_pod_at_a_time_and_the_newest_last() -> None:
    client = _SlowClient()
    pod = {"metadata": {"name": "p", "namespace": "ns", "uid": "u1"}}
    manager = StatusManager(client=client, api_pod=lambda uid: None)
    task = asyncio.create_task(manager.run())
    try:
        manager.set(pod, {"phase": "Running", "ready": 1})
        await asyncio.sleep(0.01)  # its patch is on the way
        manager.set(pod, {"phase": "Running", "ready": 2})
        await asyncio.sleep(0.01)
        manager.set(pod, {"phase": "Running", "ready": 3})
        await asyncio.sleep(0.3)
        assert client.most_at_once == 1
        assert client.patches[-1][1]["status"]["ready"] == 3
    finally:
        task.cancel()


async def test_a_resync_sends_again_what_the_api_lost() -> None:
    client = Client()
    pod = {"metadata": {"name": "p", "namespace": "ns", "uid": "u1"}}
    api_copy = {**pod, "status": {"phase": "Pending"}}  # our Running was lost (or overtaken)
    manager = StatusManager(client=client, api_pod=lambda uid: api_copy, resync=0.1)
    task = asyncio.create_task(manager.run())
    try:
        manager.set(pod, {"phase": "Running"})
        await asyncio.sleep(0.05)
        assert len(client.patches) == 1
        await asyncio.sleep(0.2)  # a resync finds the API copy without it: sent again
        assert len(client.patches) >= 2
        assert client.patches[-1][1]["status"]["phase"] == "Running"
    finally:
        task.cancel()
