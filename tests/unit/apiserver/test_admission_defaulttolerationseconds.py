from __future__ import annotations

from typing import Any

import pytest

from pocketkube.apiserver.admission import Attributes, MemoryReader, defaulttolerationseconds
from tests.unit.apiserver.admission_helpers import CONFIGMAPS, pod, pod_create, pod_update

NOT_READY = {
    "key": "node.kubernetes.io/not-ready",
    "operator": "Exists",
    "effect": "NoExecute",
    "tolerationSeconds": 300,
}
UNREACHABLE = {**NOT_READY, "key": "node.kubernetes.io/unreachable"}
MINE = {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, [NOT_READY, UNREACHABLE]),
        ([], [NOT_READY, UNREACHABLE]),
        # the pod's own toleration of the taint wins (no tolerationSeconds: forever)
        ([MINE], [MINE, UNREACHABLE]),
        # an effect left out tolerates every effect, NoExecute included
        (
            [{"key": "node.kubernetes.io/unreachable", "operator": "Exists"}],
            [{"key": "node.kubernetes.io/unreachable", "operator": "Exists"}, NOT_READY],
        ),
        # no key (with Exists) tolerates every taint
        ([{"operator": "Exists"}], None),
        ([{"operator": "Exists", "effect": "NoExecute"}], None),
        # another effect or another key does not count
        (
            [{"operator": "Exists", "effect": "NoSchedule"}],
            [{"operator": "Exists", "effect": "NoSchedule"}, NOT_READY, UNREACHABLE],
        ),
        (
            [{"key": "gpu", "operator": "Exists", "effect": "NoExecute"}],
            [{"key": "gpu", "operator": "Exists", "effect": "NoExecute"}, NOT_READY, UNREACHABLE],
        ),
    ],
)
async def test_tolerations_on_create(given: Any, expected: Any) -> None:
    obj = pod() if given is None else pod(tolerations=given)
    await defaulttolerationseconds.new(MemoryReader()).admit(pod_create(obj))
    assert obj["spec"].get("tolerations") == (given if expected is None else expected)


async def test_updates_get_them_back_as_upstream() -> None:
    old = pod(tolerations=[NOT_READY, UNREACHABLE])
    new = pod()
    await defaulttolerationseconds.new(MemoryReader()).admit(pod_update(new, old))
    assert new["spec"]["tolerations"] == [NOT_READY, UNREACHABLE]


@pytest.mark.parametrize(
    "attrs",
    [
        Attributes(resource=CONFIGMAPS, namespace="default", obj={"spec": {}}),
        Attributes(
            resource=pod_create(pod()).resource,
            namespace="default",
            obj={"spec": {}},
            subresource="status",
        ),
        pod_create({"metadata": {"name": "p"}, "spec": "not an object"}),
    ],
)
async def test_what_it_leaves_alone(attrs: Attributes) -> None:
    before = repr(attrs.obj)
    await defaulttolerationseconds.new(MemoryReader()).admit(attrs)
    assert repr(attrs.obj) == before
