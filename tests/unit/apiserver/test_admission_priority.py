from __future__ import annotations

from typing import Any

import pytest

from pocketkube.api.status import StatusError
from pocketkube.apiserver.admission import Attributes, MemoryReader, Operation, priority
from pocketkube.apiserver.admission.interface import PRIORITY_CLASSES as PRIORITY_CLASSES_GVR
from tests.unit.apiserver.admission_helpers import (
    PRIORITY_CLASSES,
    pod,
    pod_create,
    pod_update,
    priority_class,
)

HIGH = priority_class("high", 1000, preemptionPolicy="PreemptLowerPriority")
CALM = priority_class("calm", 500, preemptionPolicy="Never")
DEFAULT = priority_class("usual", 10, globalDefault=True, preemptionPolicy="PreemptLowerPriority")
LOWER_DEFAULT = priority_class("lower", 5, globalDefault=True, preemptionPolicy="Never")


def plugin(*classes: dict[str, Any]) -> priority.Priority:
    return priority.new(MemoryReader({PRIORITY_CLASSES_GVR: list(classes)}))


@pytest.mark.parametrize(
    ("classes", "given", "expected"),
    [
        # no class and no default: priority 0, PreemptLowerPriority
        ((HIGH,), {}, {"priority": 0, "preemptionPolicy": "PreemptLowerPriority"}),
        (
            (HIGH, CALM),
            {"priorityClassName": "high"},
            {
                "priorityClassName": "high",
                "priority": 1000,
                "preemptionPolicy": "PreemptLowerPriority",
            },
        ),
        (
            (CALM,),
            {"priorityClassName": "calm"},
            {"priorityClassName": "calm", "priority": 500, "preemptionPolicy": "Never"},
        ),
        # no class: the globalDefault one, the lowest-valued if a race left several
        (
            (HIGH, DEFAULT),
            {},
            {
                "priorityClassName": "usual",
                "priority": 10,
                "preemptionPolicy": "PreemptLowerPriority",
            },
        ),
        (
            (DEFAULT, LOWER_DEFAULT),
            {},
            {"priorityClassName": "lower", "priority": 5, "preemptionPolicy": "Never"},
        ),
        # stating what would be computed anyway is fine
        (
            (HIGH,),
            {"priorityClassName": "high", "priority": 1000},
            {
                "priorityClassName": "high",
                "priority": 1000,
                "preemptionPolicy": "PreemptLowerPriority",
            },
        ),
        # a class from before preemptionPolicy existed leaves the pod's policy alone
        (
            (priority_class("old", 7),),
            {"priorityClassName": "old", "preemptionPolicy": "Never"},
            {"priorityClassName": "old", "priority": 7, "preemptionPolicy": "Never"},
        ),
    ],
)
async def test_priority_on_create(
    classes: tuple[dict[str, Any], ...], given: dict[str, Any], expected: dict[str, Any]
) -> None:
    obj = pod(**given)
    await plugin(*classes).admit(pod_create(obj))
    keys = ("priorityClassName", "priority", "preemptionPolicy")
    assert {k: v for k, v in obj["spec"].items() if k in keys} == expected


@pytest.mark.parametrize(
    ("classes", "given", "message"),
    [
        ((HIGH,), {"priorityClassName": "missing"}, "no PriorityClass with name missing was found"),
        (
            (HIGH,),
            {"priorityClassName": "high", "priority": 5},
            "the integer value of priority (5) must not be provided in pod spec; priority "
            "admission controller computed 1000 from the given PriorityClass name",
        ),
        (
            (),
            {"priority": 5},
            "the integer value of priority (5) must not be provided in pod spec; priority "
            "admission controller computed 0 from the given PriorityClass name",
        ),
        (
            (CALM,),
            {"priorityClassName": "calm", "preemptionPolicy": "PreemptLowerPriority"},
            "the string value of PreemptionPolicy (PreemptLowerPriority) must not be provided in "
            "pod spec; priority admission controller computed Never from the given "
            "PriorityClass name",
        ),
    ],
)
async def test_refused_pods(
    classes: tuple[dict[str, Any], ...], given: dict[str, Any], message: str
) -> None:
    with pytest.raises(StatusError) as err:
        await plugin(*classes).admit(pod_create(pod("web", **given)))
    assert err.value.status["code"] == 403
    assert err.value.status["reason"] == "Forbidden"
    assert err.value.status["message"] == f'pods "web" is forbidden: {message}'
    assert err.value.status["details"] == {"name": "web", "kind": "pods"}


async def test_generate_name_names_the_refused_pod() -> None:
    obj = pod(priorityClassName="missing")
    obj["metadata"] = {"generateName": "web-"}
    with pytest.raises(StatusError) as err:
        await plugin().admit(pod_create(obj))
    assert err.value.status["message"].startswith('pods "web-" is forbidden: ')


async def test_updates_keep_the_stored_priority() -> None:
    old = pod(priorityClassName="high", priority=1000, preemptionPolicy="PreemptLowerPriority")
    new = pod(priorityClassName="high")
    await plugin(HIGH).admit(pod_update(new, old))
    assert (new["spec"]["priority"], new["spec"]["preemptionPolicy"]) == (
        1000,
        "PreemptLowerPriority",
    )
    changed = pod(priorityClassName="high", priority=7)
    await plugin(HIGH).admit(pod_update(changed, old))
    assert changed["spec"]["priority"] == 7  # left for pod validation to refuse


def class_write(obj: dict[str, Any], operation: Operation = Operation.CREATE) -> Attributes:
    return Attributes(
        resource=PRIORITY_CLASSES,
        namespace="",
        obj=obj,
        operation=operation,
        old=obj if operation is Operation.UPDATE else None,
    )


async def test_one_global_default() -> None:
    second = priority_class("second", 1, globalDefault=True)
    with pytest.raises(StatusError) as err:
        await plugin(DEFAULT).validate(class_write(second))
    assert err.value.status["message"] == (
        'priorityclasses.scheduling.k8s.io "second" is forbidden: PriorityClass usual is already '
        "marked as default. Only one default can exist"
    )
    assert err.value.status["details"] == {
        "name": "second",
        "group": "scheduling.k8s.io",
        "kind": "priorityclasses",
    }
    with pytest.raises(StatusError):  # nor may another class become the default
        await plugin(DEFAULT).validate(class_write(second, Operation.UPDATE))
    # the default may be updated, a class that is not the default created, the first created
    await plugin(DEFAULT).validate(class_write(DEFAULT, Operation.UPDATE))
    await plugin(DEFAULT).validate(class_write(HIGH))
    await plugin(HIGH).validate(class_write(second))
