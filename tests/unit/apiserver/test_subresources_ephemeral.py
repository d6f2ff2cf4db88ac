"""pods/ephemeralcontainers: the strategy that keeps only the ephemeral containers of a write,
its validation, and the registry it writes through (over the in-memory datastore)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pocketkube.api.status import StatusError
from pocketkube.apiserver.registry import ResourceInfo, ResourceRegistry
from pocketkube.apiserver.subresources.ephemeralcontainers import (
    EphemeralContainersRegistry,
    keep_ephemeral_containers,
)
from pocketkube.apiserver.subresources.ephemeralvalidation import (
    validate_ephemeral_containers,
    validate_update,
)
from pocketkube.storage.memory import MemoryBackend
from pocketkube.storage.store import KVStorage

PODS = ResourceInfo(
    group="", version="v1", kind="Pod", plural="pods", namespaced=True, storage_prefix="/pods/"
)
PATH = "spec.ephemeralContainers[0].ephemeralContainerCommon"


def _ec(name: str = "dbg", **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "image": "busybox",
        "imagePullPolicy": "Always",
        "terminationMessagePolicy": "File",
        **fields,
    }


def _spec(*ephemeral: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "containers": [{"name": "app", "image": "nginx"}],
        "initContainers": [{"name": "init", "image": "busybox"}],
        "ephemeralContainers": list(ephemeral),
        **extra,
    }


def test_keep_ephemeral_containers_takes_nothing_else() -> None:
    current = {
        "metadata": {"name": "p", "uid": "u", "labels": {"a": "1"}, "resourceVersion": "5"},
        "spec": {"containers": [{"name": "app", "image": "nginx"}]},
        "status": {"phase": "Running"},
    }
    desired = copy.deepcopy(current)
    desired["metadata"]["labels"] = {"a": "2"}
    desired["metadata"]["managedFields"] = [{"manager": "m"}]
    desired["spec"]["containers"][0]["image"] = "nginx:2"
    desired["spec"]["ephemeralContainers"] = [_ec()]
    desired["status"] = {"phase": "Failed"}
    kept = keep_ephemeral_containers(desired, current)
    assert kept["metadata"] == {**current["metadata"], "managedFields": [{"manager": "m"}]}
    assert kept["spec"] == {**current["spec"], "ephemeralContainers": [_ec()]}
    assert kept["status"] == current["status"]
    assert "ephemeralContainers" not in current["spec"]  # the input is not changed


def test_keep_ephemeral_containers_without_any() -> None:
    current = {"metadata": {"name": "p"}, "spec": {"ephemeralContainers": [_ec()]}}
    assert keep_ephemeral_containers({"metadata": {}}, current)["spec"] == {}


@pytest.mark.parametrize(
    ("container", "messages"),
    [
        (_ec(), []),
        (_ec(targetContainerName="app"), []),
        (_ec(targetContainerName="init"), []),
        (
            _ec(targetContainerName="nope"),
            ['spec.ephemeralContainers[0].targetContainerName: Not found: "nope"'],
        ),
        (
            {"image": "busybox"},
            [
                'spec.ephemeralContainers[0].ephemeralContainerCommon: Invalid value: {"image":'
                '"busybox"}: ephemeralContainer requires a name'
            ],
        ),
        (_ec(image=""), [f"{PATH}.image: Required value"]),
        (
            _ec(image=" busybox"),
            [
                f'{PATH}.image: Invalid value: " busybox": must not have leading or trailing '
                "whitespace"
            ],
        ),
        (_ec("app"), [f'{PATH}.name: Duplicate value: "app"']),
        (_ec("init"), [f'{PATH}.name: Duplicate value: "init"']),
        (
            _ec("Bad_Name"),
            [
                f'{PATH}.name: Invalid value: "Bad_Name": a lowercase RFC 1123 label must consist '
                "of lower case alphanumeric characters or '-', and must start and end with an "
                "alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation "
                "is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
            ],
        ),
        (
            _ec(imagePullPolicy="Sometimes"),
            [
                f'{PATH}.imagePullPolicy: Unsupported value: "Sometimes": supported values: '
                '"Always", "IfNotPresent", "Never"'
            ],
        ),
        (
            _ec(ports=[{"containerPort": 80}], lifecycle={"preStop": {}}, resources={}),
            [
                f"{PATH}.ports: Forbidden: cannot be set for an Ephemeral Container",
                f"{PATH}.lifecycle: Forbidden: cannot be set for an Ephemeral Container",
            ],
        ),
        (
            _ec(resources={"limits": {"cpu": "1"}}, restartPolicy="Always"),
            [
                f"{PATH}.resources: Forbidden: cannot be set for an Ephemeral Container",
                f"{PATH}.restartPolicy: Forbidden: cannot be set for an Ephemeral Container",
            ],
        ),
        (
            _ec(volumeMounts=[{"name": "data", "mountPath": "/d", "subPath": "x"}]),
            [
                f"{PATH}.volumeMounts[0].subPath: Forbidden: cannot be set for an Ephemeral "
                "Container"
            ],
        ),
        (
            _ec(volumeMounts=[{"name": "other", "mountPath": "/o"}]),
            [f'{PATH}.volumeMounts[0].name: Not found: "other"'],
        ),
    ],
)
def test_validate_ephemeral_containers(container: dict[str, Any], messages: list[str]) -> None:
    spec = _spec(container, volumes=[{"name": "data", "emptyDir": {}}])
    assert [e.message for e in validate_ephemeral_containers(spec)] == messages


def test_two_ephemeral_containers_of_one_name() -> None:
    errors = validate_ephemeral_containers(_spec(_ec(), _ec()))
    assert [e.message for e in errors] == [
        'spec.ephemeralContainers[1].ephemeralContainerCommon.name: Duplicate value: "dbg"'
    ]


@pytest.mark.parametrize(
    ("old", "new", "messages"),
    [
        ([], [_ec()], []),
        ([_ec()], [_ec()], []),
        ([_ec("a"), _ec("b")], [_ec("b"), _ec("a"), _ec("c")], []),  # order is free
        (
            [_ec()],
            [],
            [
                'spec.ephemeralContainers: Forbidden: existing ephemeral containers "dbg" may '
                "not be removed\n"
            ],
        ),
        (
            [_ec()],
            [_ec(image="alpine", tty=True)],
            [
                'spec.ephemeralContainers[dbg]: Forbidden: existing ephemeral containers "dbg" '
                "may not be changed\nchanged: image, tty"
            ],
        ),
    ],
)
def test_validate_update(
    old: list[dict[str, Any]], new: list[dict[str, Any]], messages: list[str]
) -> None:
    pod = {"metadata": {"name": "p"}, "spec": _spec(*new)}
    old_pod = {"metadata": {"name": "p"}, "spec": _spec(*old)}
    assert [e.message for e in validate_update(pod, old_pod)] == messages


@pytest.fixture
async def pods() -> ResourceRegistry:
    backend = MemoryBackend()
    await backend.start()
    registry = ResourceRegistry(info=PODS, storage=KVStorage(backend))
    await registry.create(
        "ns",
        {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "app", "image": "nginx"}]}},
    )
    return registry


async def _add(registry: ResourceRegistry, *containers: dict[str, Any]) -> dict[str, Any]:
    async def mutate(current: dict[str, Any]) -> dict[str, Any]:
        current["spec"]["ephemeralContainers"] = list(containers)
        return current

    return await registry.update("ns", "p", mutate, dry_run=False)


async def test_the_pod_registry_refuses_what_the_subresource_registry_takes(
    pods: ResourceRegistry,
) -> None:
    with pytest.raises(StatusError) as caught:
        await _add(pods, {"name": "dbg", "image": "busybox"})
    assert caught.value.code == 422
    ephemeral = EphemeralContainersRegistry(info=pods.info, storage=pods.storage)
    pod = await _add(ephemeral, {"name": "dbg", "image": "busybox"})
    assert pod["spec"]["ephemeralContainers"] == [
        {
            "name": "dbg",
            "image": "busybox",
            "imagePullPolicy": "Always",
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
            "resources": {},
        }
    ]
    with pytest.raises(StatusError) as caught:
        await _add(ephemeral)
    assert "may not be removed" in caught.value.status["message"]


async def test_static_pods_answer_with_one_error(pods: ResourceRegistry) -> None:
    async def mirror(current: dict[str, Any]) -> dict[str, Any]:
        current["metadata"]["annotations"] = {"kubernetes.io/config.mirror": "x"}
        return current

    await pods.update("ns", "p", mirror, dry_run=False)
    ephemeral = EphemeralContainersRegistry(info=pods.info, storage=pods.storage)
    with pytest.raises(StatusError) as caught:
        await _add(ephemeral, {"name": "Bad_Name", "image": ""})
    assert caught.value.status["message"] == (
        'Pod "p" is invalid: []: Forbidden: static pods do not support ephemeral containers'
    )
