from __future__ import annotations

import json
from typing import Any

import pytest

from pocketkube.api import status as s
from pocketkube.api.validation import invalid, required

HEAD = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}


@pytest.mark.parametrize(
    ("built", "expected"),
    [
        (
            s.not_found("pods", "x"),
            {
                "message": 'pods "x" not found',
                "reason": "NotFound",
                "details": {"name": "x", "kind": "pods"},
                "code": 404,
            },
        ),
        (
            s.not_found("deployments", "web", group="apps"),
            {
                "message": 'deployments.apps "web" not found',
                "reason": "NotFound",
                "details": {"name": "web", "group": "apps", "kind": "deployments"},
                "code": 404,
            },
        ),
        (
            s.already_exists("pods", "x"),
            {
                "message": 'pods "x" already exists',
                "reason": "AlreadyExists",
                "details": {"name": "x", "kind": "pods"},
                "code": 409,
            },
        ),
        (
            s.conflict("pods", "x", s.OPTIMISTIC_LOCK_MESSAGE),
            {
                "message": 'Operation cannot be fulfilled on pods "x": the object has been '
                "modified; please apply your changes to the latest version and try again",
                "reason": "Conflict",
                "details": {"name": "x", "kind": "pods"},
                "code": 409,
            },
        ),
        (
            s.bad_request("bad"),
            {"message": "bad", "reason": "BadRequest", "code": 400},
        ),
        (
            s.unauthorized(),
            {"message": "Unauthorized", "reason": "Unauthorized", "code": 401},
        ),
        (
            s.method_not_supported("pods", "watch"),
            {
                "message": 'watch is not supported on resources of kind "pods"',
                "reason": "MethodNotAllowed",
                "details": {"kind": "pods"},
                "code": 405,
            },
        ),
        (
            s.not_acceptable(["application/json", "application/yaml"]),
            {
                "message": "only the following media types are accepted: application/json, "
                "application/yaml",
                "reason": "NotAcceptable",
                "code": 406,
            },
        ),
        (
            s.unsupported_media_type(["application/json"]),
            {
                "message": "the body of the request was in an unknown format - accepted media "
                "types include: application/json",
                "reason": "UnsupportedMediaType",
                "code": 415,
            },
        ),
        (
            s.request_entity_too_large("limit is 3145728"),
            {
                "message": "Request entity too large: limit is 3145728",
                "reason": "RequestEntityTooLarge",
                "code": 413,
            },
        ),
        (s.gone("gone"), {"message": "gone", "reason": "Gone", "code": 410}),
        (s.expired("too old"), {"message": "too old", "reason": "Expired", "code": 410}),
        (
            s.too_many_requests(),
            {
                "message": "Too many requests, please try again later.",
                "reason": "TooManyRequests",
                "details": {"retryAfterSeconds": 1},
                "code": 429,
            },
        ),
        (
            s.service_unavailable("db locked", retry_after_seconds=2),
            {
                "message": "db locked",
                "reason": "ServiceUnavailable",
                "details": {"retryAfterSeconds": 2},
                "code": 503,
            },
        ),
        (
            s.service_unavailable("down"),
            {"message": "down", "reason": "ServiceUnavailable", "code": 503},
        ),
        (
            s.timeout("request did not complete within 60s", 0),
            {
                "message": "Timeout: request did not complete within 60s",
                "reason": "Timeout",
                "code": 504,
            },
        ),
        (
            s.too_large_resource_version(10, 5),
            {
                "message": "Timeout: Too large resource version: 10, current: 5",
                "reason": "Timeout",
                "details": {
                    "causes": [
                        {
                            "reason": "ResourceVersionTooLarge",
                            "message": "Too large resource version",
                        }
                    ],
                    "retryAfterSeconds": 1,
                },
                "code": 504,
            },
        ),
        (
            s.server_timeout("pods", "get", 2),
            {
                "message": "The get operation against pods could not be completed at this time, "
                "please try again.",
                "reason": "ServerTimeout",
                "details": {"name": "get", "kind": "pods", "retryAfterSeconds": 2},
                "code": 500,
            },
        ),
        (
            s.internal_error("boom"),
            {
                "message": "Internal error occurred: boom",
                "reason": "InternalError",
                "details": {"causes": [{"message": "boom"}]},
                "code": 500,
            },
        ),
    ],
)
def test_failure_shapes(built: dict[str, Any], expected: dict[str, Any]) -> None:
    assert built == {**HEAD, **expected}
    # Field order matters to byte-for-byte comparisons with kube-apiserver output.
    assert json.dumps(built) == json.dumps({**HEAD, **expected})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"user": "u", "verb": "get", "resource": "pods", "name": "x", "namespace": "default"},
            'pods "x" is forbidden: User "u" cannot get resource "pods" in API group "" in the '
            'namespace "default"',
        ),
        (
            {"user": "u", "verb": "list", "resource": "nodes"},
            'nodes is forbidden: User "u" cannot list resource "nodes" in API group "" at the '
            "cluster scope",
        ),
        (
            {
                "user": "system:anonymous",
                "verb": "create",
                "resource": "deployments",
                "group": "apps",
                "namespace": "ns",
            },
            'deployments.apps is forbidden: User "system:anonymous" cannot create resource '
            '"deployments" in API group "apps" in the namespace "ns"',
        ),
        (
            {
                "user": "u",
                "verb": "create",
                "resource": "pods",
                "subresource": "exec",
                "name": "p",
                "namespace": "d",
            },
            'pods "p" is forbidden: User "u" cannot create resource "pods/exec" in API group "" '
            'in the namespace "d"',
        ),
        (
            {"user": "u", "verb": "get", "path": "/metrics"},
            'forbidden: User "u" cannot get path "/metrics"',
        ),
        (
            {"user": "u", "verb": "get", "resource": "secrets", "namespace": "d", "reason": "no"},
            'secrets is forbidden: User "u" cannot get resource "secrets" in API group "" in the '
            'namespace "d": no',
        ),
    ],
)
def test_forbidden(kwargs: dict[str, str], message: str) -> None:
    status = s.forbidden(**kwargs)
    assert status["code"] == 403
    assert status["reason"] == "Forbidden"
    assert status["message"] == message


def test_forbidden_details() -> None:
    status = s.forbidden(user="u", verb="get", resource="pods", name="x", namespace="d")
    assert status["details"] == {"name": "x", "kind": "pods"}


def test_invalid_single_error() -> None:
    error = invalid("metadata.name", "Foo", "bad name")
    status = s.invalid("Pod", "Foo", [error])
    assert status == {
        **HEAD,
        "message": 'Pod "Foo" is invalid: metadata.name: Invalid value: "Foo": bad name',
        "reason": "Invalid",
        "details": {
            "name": "Foo",
            "kind": "Pod",
            "causes": [
                {
                    "reason": "FieldValueInvalid",
                    "message": 'Invalid value: "Foo": bad name',
                    "field": "metadata.name",
                }
            ],
        },
        "code": 422,
    }


def test_invalid_several_errors_and_group() -> None:
    errors = [required("spec.selector"), invalid("spec.replicas", -1, "must be >= 0")]
    status = s.invalid("Deployment", "web", errors, group="apps")
    assert status["message"] == (
        'Deployment.apps "web" is invalid: [spec.selector: Required value, '
        "spec.replicas: Invalid value: -1: must be >= 0]"
    )
    assert status["details"]["group"] == "apps"
    assert [c["field"] for c in status["details"]["causes"]] == ["spec.selector", "spec.replicas"]
    assert status["details"]["causes"][0] == {
        "reason": "FieldValueRequired",
        "message": "Required value",
        "field": "spec.selector",
    }


def test_invalid_without_errors() -> None:
    assert s.invalid("Pod", "x", [])["message"] == 'Pod "x" is invalid'


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, {**HEAD, "status": "Success"}),
        (
            {"name": "x", "kind": "pods", "uid": "u1"},
            {**HEAD, "status": "Success", "details": {"name": "x", "kind": "pods", "uid": "u1"}},
        ),
        ({"code": 200}, {**HEAD, "status": "Success", "code": 200}),
    ],
)
def test_success(kwargs: dict[str, Any], expected: dict[str, Any]) -> None:
    assert s.success(**kwargs) == expected


def test_status_error_carries_status() -> None:
    error = s.StatusError(s.not_found("pods", "x"))
    assert (error.code, error.reason, str(error)) == (404, "NotFound", 'pods "x" not found')
