"""The downward API's values and errors, as upstream's fieldpath and resource helpers give them."""

from __future__ import annotations

from typing import Any

import pytest

from pocketkube.kubelet import fieldpath
from pocketkube.kubelet.fieldpath import FieldPathError

POD: dict[str, Any] = {
    "metadata": {
        "name": "web",
        "namespace": "shop",
        "uid": "1234",
        "labels": {"app": "web", "tier": "front"},
        "annotations": {"note": 'say "hi"\n', "z": "é\x01"},
    },
    "spec": {
        "nodeName": "node-1",
        "serviceAccountName": "robot",
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "containers": [
            {
                "name": "app",
                "resources": {
                    "requests": {"cpu": "250m", "memory": "64Mi"},
                    "limits": {"cpu": "1500m", "memory": "128Mi"},
                },
            },
            {"name": "side", "resources": {"requests": {"cpu": "100m"}}},
        ],
        "initContainers": [{"name": "init", "resources": {"limits": {"memory": "1Gi"}}}],
    },
    "status": {"phase": "Running"},
}
ALLOCATABLE = {"cpu": "4", "memory": "8Gi", "ephemeral-storage": "100Gi"}


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("plain", '"plain"'),
        ('say "hi"\n', '"say \\"hi\\"\\n"'),
        ("tab\there\\", '"tab\\there\\\\"'),
        ("é\x01\x7f", '"é\\x01\\x7f"'),
        ("\u2028", '"\\u2028"'),
    ],
)
def test_go_quote(text: str, quoted: str) -> None:
    assert fieldpath.go_quote(text) == quoted


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("metadata.name", "web"),
        ("metadata.namespace", "shop"),
        ("metadata.uid", "1234"),
        ("metadata.labels", 'app="web"\ntier="front"'),
        ("metadata.annotations", 'note="say \\"hi\\"\\n"\nz="é\\x01"'),
        ("metadata.labels['app']", "web"),
        ("metadata.labels['missing']", ""),
        ("metadata.annotations['note']", 'say "hi"\n'),
    ],
)
def test_metadata_field(path: str, value: str) -> None:
    assert fieldpath.metadata_field(POD, path) == value


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("spec.nodeName", "unsupported fieldPath: spec.nodeName"),
        ("metadata.name['x']", "fieldPath \"metadata.name['x']\" does not support subscript"),
    ],
)
def test_metadata_field_errors(path: str, message: str) -> None:
    with pytest.raises(FieldPathError) as caught:
        fieldpath.metadata_field(POD, path)
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("metadata.name", "web"),
        ("metadata.labels['tier']", "front"),
        ("spec.nodeName", "node-1"),
        ("spec.host", "node-1"),
        ("spec.serviceAccountName", "robot"),
        ("spec.restartPolicy", "Always"),
        ("spec.schedulerName", "default-scheduler"),
        ("status.phase", "Running"),
        ("status.podIP", "10.42.0.5"),
        ("status.podIPs", "10.42.0.5,fd00::5"),
        ("status.hostIP", "192.168.1.10"),
        ("status.hostIPs", "192.168.1.10,fd01::10"),
    ],
)
def test_pod_field(path: str, value: str) -> None:
    got = fieldpath.pod_field(
        POD,
        {"apiVersion": "v1", "fieldPath": path},
        pod_ips=["10.42.0.5", "fd00::5"],
        host_ips=["192.168.1.10", "fd01::10"],
    )
    assert got == value


def test_pod_ip_empty_before_the_sandbox_has_one() -> None:
    assert fieldpath.pod_field(POD, {"fieldPath": "status.podIP"}, pod_ips=[], host_ips=[]) == ""


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ({"apiVersion": "v2", "fieldPath": "metadata.name"}, "unsupported pod version: v2"),
        ({"fieldPath": "spec.containers"}, "field label not supported: spec.containers"),
        (
            {"fieldPath": "spec.nodeName['x']"},
            "field label does not support subscript: spec.nodeName['x']",
        ),
        ({"fieldPath": "status.hostIP"}, "can't get hostIP, node IP is unknown"),
    ],
)
def test_pod_field_errors(ref: dict[str, str], message: str) -> None:
    with pytest.raises(FieldPathError) as caught:
        fieldpath.pod_field(POD, ref, pod_ips=[], host_ips=[])
    assert caught.value.message == message


APP = POD["spec"]["containers"][0]


@pytest.mark.parametrize(
    ("ref", "container", "value"),
    [
        ({"resource": "limits.cpu"}, APP, "2"),  # 1.5 cores rounded up
        ({"resource": "limits.cpu", "divisor": "1m"}, APP, "1500"),
        ({"resource": "requests.cpu", "divisor": "1m"}, APP, "250"),
        ({"resource": "requests.cpu"}, APP, "1"),
        ({"resource": "limits.memory"}, APP, str(128 * 2**20)),
        ({"resource": "limits.memory", "divisor": "1Mi"}, APP, "128"),
        ({"resource": "requests.memory", "divisor": "1M"}, APP, "68"),  # 67.1 up
        ({"resource": "requests.memory", "divisor": "0"}, APP, str(64 * 2**20)),
        # unset limits are the node's allocatable
        ({"resource": "limits.ephemeral-storage", "divisor": "1Gi"}, APP, "100"),
        ({"resource": "limits.cpu", "containerName": "side"}, None, "4"),
        ({"resource": "limits.memory", "containerName": "side", "divisor": "1Gi"}, None, "8"),
        ({"resource": "requests.memory", "containerName": "side"}, None, "0"),
        ({"resource": "limits.memory", "containerName": "init", "divisor": "1Mi"}, None, "1024"),
        ({"resource": "limits.hugepages-2Mi"}, APP, "0"),
    ],
)
def test_resource_field(ref: dict[str, str], container: dict[str, Any] | None, value: str) -> None:
    assert fieldpath.resource_field(ref, POD, container, ALLOCATABLE) == value


def test_zero_limit_is_defaulted_too() -> None:
    container = {"name": "z", "resources": {"limits": {"cpu": "0"}}}
    assert fieldpath.resource_field({"resource": "limits.cpu"}, POD, container, ALLOCATABLE) == "4"


def test_without_allocatable_an_unset_limit_is_zero() -> None:
    assert fieldpath.resource_field({"resource": "limits.cpu"}, POD, {"name": "x"}, {}) == "0"


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ({"resource": "limits.gpu"}, "unsupported container resource : limits.gpu"),
        ({"resource": "cpu"}, "unsupported container resource : cpu"),
        ({"resource": "limits.cpu", "containerName": "ghost"}, "container ghost not found"),
    ],
)
def test_resource_field_errors(ref: dict[str, str], message: str) -> None:
    with pytest.raises(FieldPathError) as caught:
        fieldpath.resource_field(ref, POD, APP, ALLOCATABLE)
    assert caught.value.message == message
