from __future__ import annotations

from typing import Any

import pytest

from pocketkube.api.status import StatusError
from pocketkube.apiserver.admission import Attributes, MemoryReader, Operation, namespacelifecycle
from pocketkube.apiserver.admission.interface import NAMESPACES as NAMESPACES_GVR
from tests.unit.apiserver.admission_helpers import CONFIGMAPS, NAMESPACES, pod, pod_create


def reader(*namespaces: dict[str, Any]) -> MemoryReader:
    return MemoryReader({NAMESPACES_GVR: list(namespaces)})


ACTIVE = {"metadata": {"name": "default"}, "status": {"phase": "Active"}}
TERMINATING = {"metadata": {"name": "old"}, "status": {"phase": "Terminating"}}
DELETED = {"metadata": {"name": "old", "deletionTimestamp": "2026-01-01T00:00:00Z"}}


async def test_creates_in_an_active_namespace_pass() -> None:
    plugin = namespacelifecycle.new(reader(ACTIVE))
    await plugin.admit(pod_create(pod(), "default"))


async def test_a_missing_namespace_is_404() -> None:
    plugin = namespacelifecycle.new(reader(ACTIVE))
    with pytest.raises(StatusError) as err:
        await plugin.admit(pod_create(pod(), "nowhere"))
    assert (err.value.code, err.value.status["message"]) == (404, 'namespaces "nowhere" not found')


@pytest.mark.parametrize("namespace", [TERMINATING, DELETED])
async def test_a_terminating_namespace_is_403(namespace: dict[str, Any]) -> None:
    plugin = namespacelifecycle.new(reader(namespace))
    with pytest.raises(StatusError) as err:
        await plugin.admit(pod_create(pod("web"), "old"))
    assert err.value.status["message"] == (
        'pods "web" is forbidden: unable to create new content in namespace old because it is '
        "being terminated"
    )
    assert err.value.status["details"] == {
        "name": "web",
        "kind": "pods",
        "causes": [
            {
                "reason": "NamespaceTerminating",
                "message": "namespace old is being terminated",
                "field": "metadata.namespace",
            }
        ],
    }


@pytest.mark.parametrize(
    "attrs",
    [
        # cluster-scoped objects have no namespace to check
        Attributes(resource=NAMESPACES, namespace="", obj={"metadata": {"name": "x"}}),
        # updates are not refused
        Attributes(
            resource=CONFIGMAPS, namespace="old", obj={}, operation=Operation.UPDATE, old={}
        ),
    ],
)
async def test_what_it_leaves_alone(attrs: Attributes) -> None:
    fake = reader(TERMINATING)
    await namespacelifecycle.new(fake).admit(attrs)
    assert fake.reads == []
