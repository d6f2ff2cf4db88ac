from __future__ import annotations

from typing import Any

import pytest

from pocketkube.kubelet.node.conditions import (
    aggregate,
    find_condition,
    rfc3339,
    set_pressure_condition,
    set_ready_condition,
)
from pocketkube.kubelet.node.pressure import DISK, MEMORY, PID
from pocketkube.kubelet.node.protocols import EventType

T0, T1 = "2024-01-01T00:00:00Z", "2024-01-01T00:00:10Z"
FULL_CAPACITY = {"cpu": "4", "memory": "8Gi", "pods": "110", "ephemeral-storage": "100Gi"}


class Events:
    def __init__(self) -> None:
        self.reasons: list[str] = []

    def __call__(self, type: EventType, reason: str) -> None:
        self.reasons.append(reason)


def node_with(*conditions: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": {"capacity": dict(FULL_CAPACITY), "conditions": [dict(c) for c in conditions]}
    }


def test_rfc3339() -> None:
    assert rfc3339(1_700_000_000.9) == "2023-11-14T22:13:20Z"


@pytest.mark.parametrize(
    ("messages", "text"),
    [(["a"], "a"), (["a", "b"], "[a, b]"), (["a", "a"], "a"), (["a", "b", "a"], "[a, b]")],
)
def test_aggregate(messages: list[str], text: str) -> None:
    assert aggregate(messages) == text


@pytest.mark.parametrize(
    ("type_", "under", "reason", "message", "event"),
    [
        (
            MEMORY,
            False,
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
            "NodeHasSufficientMemory",
        ),
        (
            MEMORY,
            True,
            "KubeletHasInsufficientMemory",
            "kubelet has insufficient memory available",
            "NodeHasInsufficientMemory",
        ),
        (
            DISK,
            False,
            "KubeletHasNoDiskPressure",
            "kubelet has no disk pressure",
            "NodeHasNoDiskPressure",
        ),
        (DISK, True, "KubeletHasDiskPressure", "kubelet has disk pressure", "NodeHasDiskPressure"),
        (
            PID,
            False,
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available",
            "NodeHasSufficientPID",
        ),
        (
            PID,
            True,
            "KubeletHasInsufficientPID",
            "kubelet has insufficient PID available",
            "NodeHasInsufficientPID",
        ),
    ],
)
def test_new_pressure_condition(
    type_: str, under: bool, reason: str, message: str, event: str
) -> None:
    node = node_with()
    events = Events()
    set_pressure_condition(node, type_=type_, under_pressure=under, now=T0, record=events)
    assert node["status"]["conditions"] == [
        {
            "type": type_,
            "status": "True" if under else "False",
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": T0,
            "lastTransitionTime": T0,
        }
    ]
    assert events.reasons == [event]


def test_pressure_condition_keeps_transition_time_while_unchanged() -> None:
    node = node_with()
    events = Events()
    set_pressure_condition(node, type_=MEMORY, under_pressure=False, now=T0, record=events)
    set_pressure_condition(node, type_=MEMORY, under_pressure=False, now=T1, record=events)
    condition = find_condition(node, MEMORY)
    assert condition is not None
    assert (condition["lastHeartbeatTime"], condition["lastTransitionTime"]) == (T1, T0)
    assert events.reasons == ["NodeHasSufficientMemory"]
    set_pressure_condition(node, type_=MEMORY, under_pressure=True, now=T1, record=events)
    assert condition["lastTransitionTime"] == T1
    assert events.reasons == ["NodeHasSufficientMemory", "NodeHasInsufficientMemory"]


def test_pressure_condition_replaces_unknown_from_the_node_controller() -> None:
    node = node_with(
        {"type": MEMORY, "status": "Unknown", "reason": "NodeStatusUnknown", "message": "x"}
    )
    events = Events()
    set_pressure_condition(node, type_=MEMORY, under_pressure=False, now=T1, record=events)
    assert find_condition(node, MEMORY) == {
        "type": MEMORY,
        "status": "False",
        "reason": "KubeletHasSufficientMemory",
        "message": "kubelet has sufficient memory available",
        "lastHeartbeatTime": T1,
        "lastTransitionTime": T1,
    }


@pytest.mark.parametrize(
    ("errors", "notes", "capacity", "status", "reason", "message"),
    [
        ([], [], FULL_CAPACITY, "True", "KubeletReady", "kubelet is posting ready status"),
        (
            ["container runtime is down"],
            [],
            FULL_CAPACITY,
            "False",
            "KubeletNotReady",
            "container runtime is down",
        ),
        (
            ["a", "b"],
            [],
            FULL_CAPACITY,
            "False",
            "KubeletNotReady",
            "[a, b]",
        ),
        (
            [],
            [],
            {"cpu": "1", "memory": "1Gi"},
            "False",
            "KubeletNotReady",
            "missing node capacity for resources: pods, ephemeral-storage",
        ),
        (
            [],
            ["no root: pods share the host's network", "no cgroups"],
            FULL_CAPACITY,
            "True",
            "KubeletReady",
            "kubelet is posting ready status. WARNING: no root: pods share the host's network; "
            "no cgroups",
        ),
    ],
)
def test_ready_condition(
    errors: list[str],
    notes: list[str],
    capacity: dict[str, str],
    status: str,
    reason: str,
    message: str,
) -> None:
    node = node_with({"type": MEMORY, "status": "False"})
    node["status"]["capacity"] = dict(capacity)
    events = Events()
    set_ready_condition(node, errors=errors, notes=notes, now=T0, record=events)
    ready = node["status"]["conditions"][-1]
    assert ready == {
        "type": "Ready",
        "status": status,
        "reason": reason,
        "message": message,
        "lastHeartbeatTime": T0,
        "lastTransitionTime": T0,
    }
    assert events.reasons == []  # a new condition is no transition


def test_ready_transitions_record_events() -> None:
    node = node_with()
    events = Events()
    set_ready_condition(node, errors=["down"], notes=[], now=T0, record=events)
    set_ready_condition(node, errors=[], notes=[], now=T1, record=events)
    ready = find_condition(node, "Ready")
    assert ready is not None
    assert (ready["status"], ready["lastTransitionTime"]) == ("True", T1)
    set_ready_condition(node, errors=[], notes=[], now="2024-01-01T00:01:00Z", record=events)
    assert ready is not find_condition(node, "Ready")  # replaced, as upstream does
    assert find_condition(node, "Ready")["lastTransitionTime"] == T1  # type: ignore[index]
    set_ready_condition(node, errors=["down"], notes=[], now=T1, record=events)
    assert events.reasons == ["NodeReady", "NodeNotReady"]
