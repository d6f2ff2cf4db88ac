from __future__ import annotations

import copy
from typing import Any

import pytest

from pocketkube.api.patch import apply_merge_patch, apply_strategic_merge_patch, schema_for_kind
from pocketkube.kubelet.node.patch import object_patch, status_changed, status_patch

READY = {
    "type": "Ready",
    "status": "True",
    "reason": "KubeletReady",
    "message": "kubelet is posting ready status",
    "lastHeartbeatTime": "T0",
    "lastTransitionTime": "T0",
}
MEMORY = {"type": "MemoryPressure", "status": "False", "lastHeartbeatTime": "T0"}
BASE: dict[str, Any] = {
    "capacity": {"cpu": "4", "memory": "8Gi"},
    "allocatable": {"cpu": "4", "memory": "8Gi"},
    "conditions": [MEMORY, READY],
    "addresses": [
        {"type": "InternalIP", "address": "10.0.0.5"},
        {"type": "Hostname", "address": "n"},
    ],
    "nodeInfo": {"kubeletVersion": "v1", "bootID": "b"},
    "images": [{"names": ["a"], "sizeBytes": 1}],
    "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
}


def changed(**changes: Any) -> dict[str, Any]:
    status = copy.deepcopy(BASE)
    for key, value in changes.items():
        if value is None:
            status.pop(key)
        else:
            status[key] = value
    return status


def heartbeat(conditions: list[dict[str, Any]], when: str) -> list[dict[str, Any]]:
    return [{**c, "lastHeartbeatTime": when} for c in conditions]


CASES = {
    "nothing": changed(),
    "heartbeats": changed(conditions=heartbeat(BASE["conditions"], "T1")),
    "ready flips": changed(
        conditions=[MEMORY, {**READY, "status": "False", "reason": "KubeletNotReady"}]
    ),
    "condition added": changed(
        conditions=[MEMORY, {"type": "DiskPressure", "status": "False"}, READY]
    ),
    "condition removed": changed(conditions=[READY]),
    "capacity": changed(capacity={"cpu": "8", "memory": "8Gi", "pods": "110"}),
    "capacity key removed": changed(capacity={"cpu": "4"}),
    "address changed": changed(
        addresses=[
            {"type": "InternalIP", "address": "10.0.0.6"},
            {"type": "InternalIP", "address": "10.0.0.7"},
            {"type": "Hostname", "address": "n"},
        ]
    ),
    "images": changed(images=[{"names": ["b"], "sizeBytes": 2}]),
    "images gone": changed(images=None),
    "boot id": changed(nodeInfo={"kubeletVersion": "v1", "bootID": "c"}),
}


@pytest.mark.parametrize("name", CASES)
def test_patch_applies_to_the_updated_status(name: str) -> None:
    updated = CASES[name]
    patch = status_patch(BASE, updated)
    node = {"kind": "Node", "status": copy.deepcopy(BASE)}
    result = apply_strategic_merge_patch(node, {"status": patch}, schema_for_kind("Node"))
    assert result["status"] == updated
    assert (patch == {}) is (name == "nothing")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("nothing", False),
        ("heartbeats", False),
        ("ready flips", True),
        ("condition added", True),
        ("capacity", True),
        ("address changed", True),
        ("images gone", True),
        ("boot id", True),
    ],
)
def test_status_changed_ignores_heartbeats(name: str, expected: bool) -> None:
    assert status_changed(BASE, CASES[name]) is expected


def test_patch_is_small() -> None:
    patch = status_patch(BASE, CASES["heartbeats"])
    assert patch == {
        "$setElementOrder/conditions": [{"type": "MemoryPressure"}, {"type": "Ready"}],
        "conditions": [
            {"type": "MemoryPressure", "lastHeartbeatTime": "T1"},
            {"type": "Ready", "lastHeartbeatTime": "T1"},
        ],
    }
    assert status_patch(BASE, CASES["address changed"])["addresses"][0] == {"$patch": "replace"}
    assert status_patch({}, BASE)["addresses"] == BASE["addresses"]


def test_object_patch() -> None:
    original = {
        "metadata": {"labels": {"a": "1", "gone": "x"}, "annotations": {"k": "v"}},
        "spec": {"taints": []},
    }
    updated = {
        "metadata": {"labels": {"a": "2", "new": "y"}, "annotations": {"k": "v"}},
        "spec": {"taints": [], "podCIDR": "10.42.0.0/24", "podCIDRs": ["10.42.0.0/24"]},
    }
    patch = object_patch(original, updated)
    assert patch == {
        "metadata": {"labels": {"a": "2", "new": "y", "gone": None}},
        "spec": {"podCIDR": "10.42.0.0/24", "podCIDRs": ["10.42.0.0/24"]},
    }
    assert apply_merge_patch(original, patch) == updated
    assert object_patch(original, copy.deepcopy(original)) == {}
