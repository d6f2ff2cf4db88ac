from __future__ import annotations

from typing import Any

import pytest

from pocketkube.api import validation as v

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
NAME_PART_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)


@pytest.mark.parametrize(
    ("name", "errors"),
    [
        ("a", []),
        ("example.com", []),
        ("a-b.c-d", []),
        ("0", []),
        ("a" * 253, []),
        ("a" * 254, ["must be no more than 253 characters"]),
        ("A" * 254, ["must be no more than 253 characters", SUBDOMAIN_MSG]),
        ("Foo", [SUBDOMAIN_MSG]),
        ("", [SUBDOMAIN_MSG]),
        ("..", [SUBDOMAIN_MSG]),
        (".", [SUBDOMAIN_MSG]),
        ("a/b", [SUBDOMAIN_MSG]),
        ("%2e%2e", [SUBDOMAIN_MSG]),
        ("-a", [SUBDOMAIN_MSG]),
        ("a-", [SUBDOMAIN_MSG]),
        ("a..b", [SUBDOMAIN_MSG]),
        ("a_b", [SUBDOMAIN_MSG]),
        ("a\n", [SUBDOMAIN_MSG]),
    ],
)
def test_is_dns1123_subdomain(name: str, errors: list[str]) -> None:
    assert v.is_dns1123_subdomain(name) == errors


@pytest.mark.parametrize(
    ("name", "errors"),
    [
        ("abc", []),
        ("a" * 63, []),
        ("a" * 64, ["must be no more than 63 characters"]),
        ("a.b", ["must not contain dots"]),
        ("ABC", [LABEL_MSG]),
        ("", [LABEL_MSG]),
    ],
)
def test_is_dns1123_label(name: str, errors: list[str]) -> None:
    assert v.is_dns1123_label(name) == errors


@pytest.mark.parametrize(
    ("key", "errors"),
    [
        ("simple", []),
        ("Upper_Case.ok-1", []),
        ("example.com/name", []),
        ("a" * 63, []),
        ("a" * 64, ["name part must be no more than 63 characters"]),
        ("", ["name part must be non-empty", NAME_PART_MSG]),
        ("/name", ["prefix part must be non-empty"]),
        ("Example.com/name", ["prefix part " + SUBDOMAIN_MSG]),
        ("example.com/", ["name part must be non-empty", NAME_PART_MSG]),
        ("-bad", [NAME_PART_MSG]),
    ],
)
def test_is_qualified_name(key: str, errors: list[str]) -> None:
    assert v.is_qualified_name(key) == errors


def test_qualified_name_with_two_slashes() -> None:
    (msg,) = v.is_qualified_name("a/b/c")
    assert msg.startswith("a qualified name must consist of")
    assert msg.endswith("with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')")


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("", True),
        ("a", True),
        ("A_b-c.d", True),
        ("a" * 63, True),
        ("a" * 64, False),
        ("-a", False),
    ],
)
def test_is_valid_label_value(value: str, valid: bool) -> None:
    assert (v.is_valid_label_value(value) == []) is valid


@pytest.mark.parametrize(
    ("name", "prefix", "errors"),
    [
        ("ok", False, []),
        (".", False, ["may not be '.'"]),
        ("..", False, ["may not be '..'"]),
        ("a/b", False, ["may not contain '/'"]),
        ("%2e%2e", False, ["may not contain '%'"]),
        ("a/%", False, ["may not contain '/'", "may not contain '%'"]),
        ("..", True, []),
        ("a/", True, ["may not contain '/'"]),
    ],
)
def test_path_segment_names(name: str, prefix: bool, errors: list[str]) -> None:
    assert v.validate_path_segment_name(name, prefix) == errors


def test_generate_name_prefix_may_end_with_dash() -> None:
    assert v.name_is_dns_subdomain("web-", True) == []
    assert v.name_is_dns_subdomain("web-", False) == [SUBDOMAIN_MSG]


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (v.invalid("metadata.name", "Foo", "bad"), 'metadata.name: Invalid value: "Foo": bad'),
        (v.invalid("spec.replicas", -1, "neg"), "spec.replicas: Invalid value: -1: neg"),
        (v.invalid("spec.x", True, "no"), "spec.x: Invalid value: true: no"),
        (v.invalid("spec.x", ["a", "b"], "no"), 'spec.x: Invalid value: ["a","b"]: no'),
        (v.invalid("f", 'q"\n\x01', "d"), 'f: Invalid value: "q\\"\\n\\x01": d'),
        (v.required("metadata.name", "name or generateName is required"),
         "metadata.name: Required value: name or generateName is required"),
        (v.required("metadata.namespace"), "metadata.namespace: Required value"),
        (v.forbidden("metadata.namespace", "not allowed on this type"),
         "metadata.namespace: Forbidden: not allowed on this type"),
        (v.too_long("metadata.annotations", 262144),
         "metadata.annotations: Too long: must have at most 262144 bytes"),
        (v.duplicate("spec.ports[1].port", 80), "spec.ports[1].port: Duplicate value: 80"),
        (v.not_supported("spec.restartPolicy", "Sometimes", ["Always", "Never"]),
         'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "Never"'),
        (v.type_invalid("spec.replicas", "x", "must be of type integer"),
         'spec.replicas: Invalid value: "x": must be of type integer'),
    ],
)  # fmt: skip
def test_field_error_messages(error: v.FieldError, message: str) -> None:
    assert error.message == message
    assert str(error) == message


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        ([], ""),
        (["a"], "a"),
        (["a", "b"], "[a, b]"),
        (["a", "a"], "a"),
        (["a", "b", "a"], "[a, b]"),
    ],
)
def test_aggregate(messages: list[str], expected: str) -> None:
    assert v.aggregate(messages) == expected


def _fields(meta: dict[str, Any], **kwargs: Any) -> list[tuple[str, str]]:
    return [(str(e.type), e.field) for e in v.validate_object_meta(meta, **kwargs)]


@pytest.mark.parametrize(
    ("meta", "namespaced", "expected"),
    [
        ({"name": "ok", "namespace": "default"}, True, []),
        ({"name": "ok"}, False, []),
        ({"name": "ok"}, True, [("FieldValueRequired", "metadata.namespace")]),
        (
            {"name": "ok", "namespace": "x"},
            False,
            [("FieldValueForbidden", "metadata.namespace")],
        ),
        ({"namespace": "d"}, True, [("FieldValueRequired", "metadata.name")]),
        ({"name": "Foo", "namespace": "d"}, True, [("FieldValueInvalid", "metadata.name")]),
        ({"name": "a" * 254, "namespace": "d"}, True, [("FieldValueInvalid", "metadata.name")]),
        ({"name": "..", "namespace": "d"}, True, [("FieldValueInvalid", "metadata.name")]),
        ({"name": "a/b", "namespace": "d"}, True, [("FieldValueInvalid", "metadata.name")]),
        ({"name": "%2e%2e", "namespace": "d"}, True, [("FieldValueInvalid", "metadata.name")]),
        (
            {"name": "ok", "namespace": "Bad.NS"},
            True,
            [("FieldValueInvalid", "metadata.namespace")],
        ),
        (
            {"generateName": "Web-", "name": "Web-abcde", "namespace": "d"},
            True,
            [
                ("FieldValueInvalid", "metadata.generateName"),
                ("FieldValueInvalid", "metadata.name"),
            ],
        ),
        ({"name": "ok", "generation": -1}, False, [("FieldValueInvalid", "metadata.generation")]),
        (
            {"name": "ok", "labels": {"Bad Key": "v", "k": "a" * 64}},
            False,
            [("FieldValueInvalid", "metadata.labels"), ("FieldValueInvalid", "metadata.labels")],
        ),
        ({"name": "ok", "annotations": {"UPPER/Key": "v"}}, False, []),
        (
            {"name": "ok", "annotations": {"bad key": "v"}},
            False,
            [("FieldValueInvalid", "metadata.annotations")],
        ),
        (
            {"name": "ok", "finalizers": ["example.com/f", "bad finalizer"]},
            False,
            [("FieldValueInvalid", "metadata.finalizers")],
        ),
        (
            {"name": "ok", "finalizers": ["orphan", "foregroundDeletion"]},
            False,
            [("FieldValueInvalid", "metadata.finalizers")],
        ),
    ],
)
def test_validate_object_meta(
    meta: dict[str, Any], namespaced: bool, expected: list[tuple[str, str]]
) -> None:
    assert _fields(meta, namespaced=namespaced) == expected


def test_name_error_message_matches_upstream() -> None:
    (error,) = v.validate_object_meta({"name": "Foo"}, namespaced=False)
    assert error.message == f'metadata.name: Invalid value: "Foo": {SUBDOMAIN_MSG}'


def test_long_name_reports_length_and_format() -> None:
    errors = v.validate_object_meta({"name": "A" * 254}, namespaced=False)
    assert [e.detail for e in errors] == ["must be no more than 253 characters", SUBDOMAIN_MSG]


def test_custom_name_validator() -> None:
    meta = {"name": "system:admin"}
    assert (
        v.validate_object_meta(meta, namespaced=False, name_validator=v.validate_path_segment_name)
        == []
    )
    assert _fields(meta, namespaced=False) == [("FieldValueInvalid", "metadata.name")]


def test_annotation_size_limit() -> None:
    at_limit = {"k": "x" * (v.TOTAL_ANNOTATION_SIZE_LIMIT - 1)}
    assert v.validate_object_meta({"name": "a", "annotations": at_limit}, namespaced=False) == []
    over = {"k": "x" * v.TOTAL_ANNOTATION_SIZE_LIMIT}
    (error,) = v.validate_object_meta({"name": "a", "annotations": over}, namespaced=False)
    assert error.message == "metadata.annotations: Too long: must have at most 262144 bytes"


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ({"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "r", "uid": "u"}, []),
        (
            {"apiVersion": "", "kind": "", "name": "", "uid": ""},
            [
                'metadata.ownerReferences.apiVersion: Invalid value: "": version must not be empty',
                'metadata.ownerReferences.kind: Invalid value: "": must not be empty',
                'metadata.ownerReferences.name: Invalid value: "": must not be empty',
                'metadata.ownerReferences.uid: Invalid value: "": must not be empty',
            ],
        ),
        (
            {"apiVersion": "v1", "kind": "Event", "name": "e", "uid": "u"},
            [
                'metadata.ownerReferences: Invalid value: {"apiVersion":"v1","kind":"Event",'
                '"name":"e","uid":"u"}: /v1, Kind=Event is disallowed from being an owner'
            ],
        ),
    ],
)
def test_owner_references(ref: dict[str, Any], expected: list[str]) -> None:
    meta = {"name": "a", "ownerReferences": [ref]}
    assert [e.message for e in v.validate_object_meta(meta, namespaced=False)] == expected


def test_only_one_controller_owner() -> None:
    refs = [
        {"apiVersion": "v1", "kind": "A", "name": "a", "uid": "1", "controller": True},
        {"apiVersion": "v1", "kind": "B", "name": "b", "uid": "2", "controller": True},
    ]
    (error,) = v.validate_object_meta({"name": "x", "ownerReferences": refs}, namespaced=False)
    assert error.detail == (
        'Only one reference can have Controller set to true. Found "true" in references for '
        "A/a and B/b"
    )
