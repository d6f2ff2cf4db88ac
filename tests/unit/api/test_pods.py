from __future__ import annotations

import copy
from typing import Any

import pytest

from pocketkube.api.pods import default_pod, qos_class, validate_pod


def pod(**container: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "busybox", **container}]},
    }


def test_defaults_match_upstream() -> None:
    obj = pod(ports=[{"containerPort": 80}], readinessProbe={"httpGet": {"port": 80}})
    default_pod(obj)
    spec = obj["spec"]
    assert (spec["restartPolicy"], spec["dnsPolicy"], spec["schedulerName"]) == (
        "Always",
        "ClusterFirst",
        "default-scheduler",
    )
    assert spec["terminationGracePeriodSeconds"] == 30
    # the service account, priority and default tolerations are admission's (on create only)
    assert not {"serviceAccountName", "serviceAccount", "priority", "tolerations"} & set(spec)
    assert spec["enableServiceLinks"] is True
    container = spec["containers"][0]
    assert container["imagePullPolicy"] == "Always"
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert container["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert container["readinessProbe"] == {
        "httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }
    assert obj["status"] == {"phase": "Pending", "qosClass": "BestEffort"}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({}, {}),
        ({"serviceAccount": "old"}, {"serviceAccountName": "old", "serviceAccount": "old"}),
        ({"serviceAccountName": "bot"}, {"serviceAccountName": "bot", "serviceAccount": "bot"}),
        (
            {"serviceAccountName": "bot", "serviceAccount": "old"},
            {"serviceAccountName": "bot", "serviceAccount": "bot"},
        ),
    ],
)
def test_service_account_alias(given: dict[str, str], expected: dict[str, str]) -> None:
    """``serviceAccount`` is the deprecated alias upstream's v1 conversion keeps in step."""
    obj = pod()
    obj["spec"].update(given)
    default_pod(obj)
    names = ("serviceAccountName", "serviceAccount")
    assert {k: v for k, v in obj["spec"].items() if k in names} == expected


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("busybox", "Always"),
        ("busybox:latest", "Always"),
        ("busybox:1.36", "IfNotPresent"),
        ("registry:5000/busybox", "Always"),
        ("busybox@sha256:abc", "IfNotPresent"),
    ],
)
def test_pull_policy(image: str, policy: str) -> None:
    obj = pod(image=image)
    default_pod(obj)
    assert obj["spec"]["containers"][0]["imagePullPolicy"] == policy


@pytest.mark.parametrize(
    ("resources", "qos"),
    [
        ({}, "BestEffort"),
        ({"requests": {"cpu": "1"}}, "Burstable"),
        ({"limits": {"cpu": "1", "memory": "1Gi"}}, "Guaranteed"),
        (
            {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "1Gi"}},
            "Burstable",
        ),
    ],
)
def test_qos_class(resources: dict[str, Any], qos: str) -> None:
    assert qos_class({"containers": [{"name": "c", "resources": resources}]}) == qos


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda p: p["spec"].update(containers=[]), "spec.containers"),
        (lambda p: p["spec"]["containers"][0].pop("image"), "spec.containers[0].image"),
        (lambda p: p["spec"]["containers"][0].update(name="Bad_Name"), "spec.containers[0].name"),
        (lambda p: p["spec"].update(restartPolicy="Sometimes"), "spec.restartPolicy"),
    ],
)
def test_invalid_pods(change: Any, field: str) -> None:
    obj = pod()
    default_pod(obj)
    change(obj)
    assert field in [e.field for e in validate_pod(obj, None)]


def test_updates_may_change_images_only() -> None:
    old = pod()
    default_pod(old)
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["image"] = "busybox:1.36"
    assert validate_pod(new, old) == []
    new["spec"]["containers"][0]["command"] = ["sleep"]
    assert [e.field for e in validate_pod(new, old)] == ["spec"]


def test_ephemeral_containers_cannot_be_set_on_create() -> None:
    created = pod()
    created["spec"]["ephemeralContainers"] = [{"name": "dbg", "image": "busybox"}]
    default_pod(created)
    errors = validate_pod(created, None)
    assert [str(e) for e in errors] == [
        "spec.ephemeralContainers: Forbidden: cannot be set on create"
    ]
