from __future__ import annotations

from typing import Any

import pytest

from pocketkube.api.status import StatusError
from pocketkube.apiserver.fieldvalidation import (
    check_fields,
    directive,
    unknown_fields,
    warning_header,
)

POD = "io.k8s.api.core.v1.Pod"
DEPLOYMENT = "io.k8s.api.apps.v1.Deployment"
CONFIGMAP = "io.k8s.api.core.v1.ConfigMap"
CRD = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition"


def _pod(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "labels": {"any": "label"}, "annotations": {"a": "b"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec},
    }


@pytest.mark.parametrize(
    ("obj", "schema", "expected"),
    [
        (_pod(), POD, []),
        (_pod(foo=1), POD, [".spec.foo"]),
        ({**_pod(), "extra": True}, POD, [".extra"]),
        (
            _pod(containers=[{"name": "c", "image": "x"}, {"name": "d", "imag": "x"}]),
            POD,
            [".spec.containers[1].imag"],
        ),
        (
            _pod(containers=[{"name": "c", "ports": [{"containerPort": 80, "hostPot": 1}]}]),
            POD,
            [".spec.containers[0].ports[0].hostPot"],
        ),
        # maps take any key; resource quantities may be numbers or strings
        (
            _pod(
                nodeSelector={"disk": "ssd"},
                containers=[{"name": "c", "resources": {"limits": {"cpu": 1, "memory": "1Gi"}}}],
            ),
            POD,
            [],
        ),
        (
            {"metadata": {"name": "m", "bogus": 1}, "data": {"k": "v"}},
            CONFIGMAP,
            [".metadata.bogus"],
        ),
        (
            {
                "spec": {
                    "selector": {"matchLabels": {"a": "b"}},
                    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}},
                    "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containrs": []}},
                }
            },
            DEPLOYMENT,
            [".spec.template.spec.containrs"],
        ),
        # free-form JSON below a CRD's schema is accepted as it is
        (
            {
                "spec": {
                    "group": "x.io",
                    "versions": [
                        {
                            "name": "v1",
                            "schema": {
                                "openAPIV3Schema": {
                                    "type": "object",
                                    "properties": {"spec": {"type": "object", "default": {}}},
                                    "x-kubernetes-preserve-unknown-fields": True,
                                }
                            },
                        }
                    ],
                }
            },
            CRD,
            [],
        ),
        ({"metadata": {"managedFields": [{"fieldsV1": {"f:data": {}}}]}}, CONFIGMAP, []),
        ({"anything": 1}, "io.k8s.api.no.v1.Such", []),
    ],
)
def test_unknown_fields(obj: dict[str, Any], schema: str, expected: list[str]) -> None:
    assert unknown_fields(obj, schema) == expected


@pytest.mark.parametrize(
    ("mode", "warnings"),
    [
        ("Ignore", []),
        ("Warn", ['unknown field "spec.foo"', 'unknown field "spec.bar"']),
    ],
)
def test_check_fields_modes(mode: str, warnings: list[str]) -> None:
    got = check_fields(_pod(foo=1, bar=2), group="", version="v1", kind="Pod", mode=mode)
    assert got == warnings


def test_strict_is_a_bad_request_naming_every_field() -> None:
    with pytest.raises(StatusError) as caught:
        check_fields(_pod(foo=1, bar=2), group="", version="v1", kind="Pod", mode="Strict")
    assert caught.value.status["code"] == 400
    assert caught.value.status["reason"] == "BadRequest"
    assert caught.value.status["message"] == (
        'strict decoding error: unknown field "spec.foo", unknown field "spec.bar"'
    )


def test_kinds_without_a_schema_are_not_checked() -> None:
    assert check_fields({"x": 1}, group="x.io", version="v1", kind="Foo", mode="Strict") == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, "Warn"),  # upstream's default since 1.23
        ({"fieldValidation": "Strict"}, "Strict"),
        ({"fieldValidation": "Warn"}, "Warn"),
        ({"fieldValidation": "Ignore"}, "Ignore"),
    ],
)
def test_directive(query: dict[str, str], expected: str) -> None:
    assert directive(query) == expected


def test_unsupported_directive_is_rejected() -> None:
    with pytest.raises(StatusError) as caught:
        directive({"fieldValidation": "Loud"})
    assert caught.value.status["code"] == 400


def test_warning_header_escapes_quotes() -> None:
    assert warning_header('unknown field "spec.foo"') == '299 - "unknown field \\"spec.foo\\""'
