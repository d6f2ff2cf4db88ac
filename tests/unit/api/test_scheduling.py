from __future__ import annotations

from typing import Any

import pytest

from pocketkube.api.scheduling import (
    default_priority_class,
    system_priority_classes,
    validate_priority_class,
)


def pc(name: str = "high", value: Any = 1000, **fields: Any) -> dict[str, Any]:
    obj = {"metadata": {"name": name}, "value": value, **fields}
    default_priority_class(obj)
    return obj


def test_defaults() -> None:
    obj: dict[str, Any] = {"metadata": {"name": "x"}}
    default_priority_class(obj)
    assert obj == {
        "metadata": {"name": "x"},
        "value": 0,
        "preemptionPolicy": "PreemptLowerPriority",
    }
    kept = pc(preemptionPolicy="Never")
    assert kept["preemptionPolicy"] == "Never"


def test_system_classes_are_valid_and_as_upstream() -> None:
    classes = system_priority_classes()
    assert [(c["metadata"]["name"], c["value"]) for c in classes] == [
        ("system-node-critical", 2000001000),
        ("system-cluster-critical", 2000000000),
    ]
    assert classes[0]["description"] == (
        "Used for system critical pods that must not be moved from their current node."
    )
    assert classes[1]["description"] == (
        "Used for system critical pods that must run in the cluster, but can be moved to another "
        "node if necessary."
    )
    for obj in classes:
        default_priority_class(obj)
        assert validate_priority_class(obj, None) == []


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (
            pc(value=1_000_000_001),
            "value: Forbidden: maximum allowed value of a user defined priority is 1000000000",
        ),
        (
            pc("system-mine", 5),
            "metadata.name: Forbidden: priority class names with 'system-' prefix are reserved "
            "for system use only. error: system-mine is not a known system priority class",
        ),
        (
            pc("system-node-critical", 5),
            "metadata.name: Forbidden: priority class names with 'system-' prefix are reserved "
            "for system use only. error: value of system-node-critical PriorityClass must be "
            "2000001000",
        ),
        (
            pc("system-cluster-critical", 2_000_000_000, globalDefault=True),
            "metadata.name: Forbidden: priority class names with 'system-' prefix are reserved "
            "for system use only. error: globalDefault of system-cluster-critical PriorityClass "
            "must be false",
        ),
        (
            pc(preemptionPolicy="Sometimes"),
            'preemptionPolicy: Unsupported value: "Sometimes": supported values: '
            '"PreemptLowerPriority", "Never"',
        ),
        (pc(preemptionPolicy=""), "preemptionPolicy: Required value"),
        (pc(value="high"), 'value: Invalid value: "high": must be a 32-bit integer'),
        (pc(value=2**31), "value: Invalid value: 2147483648: must be a 32-bit integer"),
    ],
)
def test_invalid_classes(obj: dict[str, Any], message: str) -> None:
    assert [e.message for e in validate_priority_class(obj, None)] == [message]


def test_negative_and_maximum_user_values_are_fine() -> None:
    assert validate_priority_class(pc(value=-(2**31)), None) == []
    assert validate_priority_class(pc(value=1_000_000_000), None) == []


def test_value_and_preemption_policy_are_immutable() -> None:
    old = pc()
    assert validate_priority_class(pc(description="now described"), old) == []
    assert [e.message for e in validate_priority_class(pc(value=1), old)] == [
        "value: Forbidden: may not be changed in an update."
    ]
    assert [e.message for e in validate_priority_class(pc(preemptionPolicy="Never"), old)] == [
        'preemptionPolicy: Invalid value: "Never": field is immutable'
    ]
