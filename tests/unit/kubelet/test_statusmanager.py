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
