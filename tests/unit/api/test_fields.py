from __future__ import annotations

from typing import Any

import pytest

from pocketkube.api.fields import (
    FieldRequirement,
    allowed_fields,
    escape_value,
    parse_field_selector,
    selectable_fields,
    validate_fields,
)
from pocketkube.api.labels import SelectorError


@pytest.mark.parametrize(
    ("text", "requirements", "canonical"),
    [
        ("", [], ""),
        ("a=b", [("a", "=", "b")], "a=b"),
        ("a==b", [("a", "=", "b")], "a=b"),
        ("a!=b", [("a", "!=", "b")], "a!=b"),
        ("a=", [("a", "=", "")], "a="),
        ("b=2,a=1", [("a", "=", "1"), ("b", "=", "2")], "a=1,b=2"),
        ("a=1,,b=2", [("a", "=", "1"), ("b", "=", "2")], "a=1,b=2"),
        (r"a=x\,y", [("a", "=", "x,y")], r"a=x\,y"),
        (r"a=x\=y", [("a", "=", "x=y")], r"a=x\=y"),
        (r"a=x\\y", [("a", "=", "x\\y")], r"a=x\\y"),
        ("a=x!y", [("a", "=", "x!y")], "a=x!y"),
        ("spec.nodeName=", [("spec.nodeName", "=", "")], "spec.nodeName="),
        (" a=b", [(" a", "=", "b")], " a=b"),
    ],
)
def test_parse(text: str, requirements: list[tuple[str, str, str]], canonical: str) -> None:
    selector = parse_field_selector(text)
    assert [(r.field, r.operator, r.value) for r in selector.requirements] == requirements
    assert str(selector) == canonical
    assert parse_field_selector(str(selector)) == selector


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a", "invalid selector: 'a'; can't understand 'a'"),
        ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
        ("a=b=c", "invalid field selector: unescaped character in value: 61"),
        (r"a=b\x", r"invalid field selector: invalid escape sequence: \x"),
        ("a=b\\", "invalid field selector: invalid escape sequence: \\"),
        (r"a=b\!", r"invalid field selector: invalid escape sequence: \!"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as caught:
        parse_field_selector(text)
    assert str(caught.value) == message


@pytest.mark.parametrize("value", ["", "plain", "a,b", "a=b", "a\\b", "\\,=", "x!=y"])
def test_escape_round_trips(value: str) -> None:
    selector = parse_field_selector("f=" + escape_value(value))
    assert selector.requirements == (FieldRequirement("f", "=", value),)


@pytest.mark.parametrize(
    ("text", "fields", "expected"),
    [
        ("", {}, True),
        ("a=b", {"a": "b"}, True),
        ("a=b", {"a": "c"}, False),
        ("a=", {}, True),
        ("a!=b", {}, True),
        ("a!=b", {"a": "b"}, False),
        ("a=1,b!=2", {"a": "1", "b": "3"}, True),
        ("a=1,b!=2", {"a": "1", "b": "2"}, False),
    ],
)
def test_matches(text: str, fields: dict[str, str], expected: bool) -> None:
    assert parse_field_selector(text).matches(fields) is expected


def test_requires_exact_match() -> None:
    selector = parse_field_selector("spec.nodeName=n1,status.phase!=Failed")
    assert selector.requires_exact_match("spec.nodeName") == "n1"
    assert selector.requires_exact_match("status.phase") is None


@pytest.mark.parametrize(
    ("resource", "text", "message"),
    [
        ("pods", "spec.foo=1", "field label not supported: spec.foo"),
        ("nodes", "metadata.namespace=x", "field label not supported: metadata.namespace"),
        ("events", "involvedObject.foo=x", "field label not supported: involvedObject.foo"),
        (
            "deployments.apps",
            "spec.replicas=1",
            '"spec.replicas" is not a known field selector: only "metadata.name", '
            '"metadata.namespace"',
        ),
        (
            "jobs.batch",
            "status.failed=1",
            'field label "status.failed" not supported for batchv1.Job',
        ),
    ],
)
def test_validate_fields_rejects(resource: str, text: str, message: str) -> None:
    with pytest.raises(SelectorError) as caught:
        validate_fields(parse_field_selector(text), allowed_fields(resource), resource)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("resource", "text", "canonical"),
    [
        (
            "pods",
            "spec.nodeName=n1,status.phase!=Running",
            "spec.nodeName=n1,status.phase!=Running",
        ),
        ("pods", "spec.host=n1", "spec.nodeName=n1"),
        (
            "configmaps",
            "metadata.name=x,metadata.namespace=y",
            "metadata.name=x,metadata.namespace=y",
        ),
        ("secrets", "type=Opaque", "type=Opaque"),
        ("namespaces", "status.phase=Active", "status.phase=Active"),
        ("services", "spec.type=ClusterIP", "spec.type=ClusterIP"),
    ],
)
def test_validate_fields_accepts(resource: str, text: str, canonical: str) -> None:
    selector = validate_fields(parse_field_selector(text), allowed_fields(resource), resource)
    assert str(selector) == canonical


POD: dict[str, Any] = {
    "metadata": {"name": "p", "namespace": "ns"},
    "spec": {
        "nodeName": "n1",
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "serviceAccountName": "default",
        "hostNetwork": True,
    },
    "status": {"phase": "Running", "podIP": "10.0.0.9", "podIPs": [{"ip": "10.0.0.1"}]},
}


@pytest.mark.parametrize(
    ("resource", "obj", "expected"),
    [
        (
            "pods",
            POD,
            {
                "metadata.name": "p",
                "metadata.namespace": "ns",
                "spec.nodeName": "n1",
                "spec.restartPolicy": "Always",
                "spec.schedulerName": "default-scheduler",
                "spec.serviceAccountName": "default",
                "spec.hostNetwork": "true",
                "status.phase": "Running",
                "status.podIP": "10.0.0.1",
                "status.nominatedNodeName": "",
            },
        ),
        (
            "pods",
            {"metadata": {"name": "p"}},
            {
                "metadata.name": "p",
                "metadata.namespace": "",
                "spec.nodeName": "",
                "spec.restartPolicy": "",
                "spec.schedulerName": "",
                "spec.serviceAccountName": "",
                "spec.hostNetwork": "false",
                "status.phase": "",
                "status.podIP": "",
                "status.nominatedNodeName": "",
            },
        ),
        ("configmaps", {"metadata": {"name": "c", "namespace": "d"}}, None),
        ("nodes", {"metadata": {"name": "n"}, "spec": {"unschedulable": True}}, None),
        ("namespaces", {"metadata": {"name": "n"}, "status": {"phase": "Terminating"}}, None),
        ("secrets", {"metadata": {"name": "s"}, "type": "Opaque"}, None),
        ("replicasets.apps", {"metadata": {"name": "r"}, "status": {"replicas": 3}}, None),
        ("jobs.batch", {"metadata": {"name": "j"}, "status": {"succeeded": 2}}, None),
        ("services", {"metadata": {"name": "s"}, "spec": {"clusterIP": "10.96.0.1"}}, None),
    ],
)
def test_selectable_fields(
    resource: str, obj: dict[str, Any], expected: dict[str, str] | None
) -> None:
    fields = selectable_fields(resource, obj)
    if expected is not None:
        assert fields == expected
    assert fields["metadata.name"] == obj["metadata"]["name"]


@pytest.mark.parametrize(
    ("resource", "obj", "field", "value"),
    [
        (
            "nodes",
            {"metadata": {"name": "n"}, "spec": {"unschedulable": True}},
            "spec.unschedulable",
            "true",
        ),
        ("nodes", {"metadata": {"name": "n"}}, "spec.unschedulable", "false"),
        (
            "namespaces",
            {"metadata": {"name": "n"}, "status": {"phase": "Active"}},
            "status.phase",
            "Active",
        ),
        (
            "secrets",
            {"metadata": {"name": "s"}, "type": "kubernetes.io/tls"},
            "type",
            "kubernetes.io/tls",
        ),
        (
            "replicasets.apps",
            {"metadata": {"name": "r"}, "status": {"replicas": 3}},
            "status.replicas",
            "3",
        ),
        ("replicasets.apps", {"metadata": {"name": "r"}}, "status.replicas", "0"),
        (
            "jobs.batch",
            {"metadata": {"name": "j"}, "status": {"succeeded": 2}},
            "status.successful",
            "2",
        ),
        (
            "services",
            {"metadata": {"name": "s"}, "spec": {"type": "NodePort"}},
            "spec.type",
            "NodePort",
        ),
        (
            "services",
            {"metadata": {"name": "s"}, "spec": {"clusterIP": "None"}},
            "spec.clusterIP",
            "None",
        ),
        (
            "pods",
            {"metadata": {"name": "p"}, "status": {"podIP": "10.1.1.1"}},
            "status.podIP",
            "10.1.1.1",
        ),
    ],
)
def test_selectable_field_values(
    resource: str, obj: dict[str, Any], field: str, value: str
) -> None:
    assert selectable_fields(resource, obj)[field] == value


def test_event_fields() -> None:
    event = {
        "metadata": {"name": "e", "namespace": "ns"},
        "involvedObject": {
            "kind": "Pod",
            "namespace": "ns",
            "name": "p",
            "uid": "u1",
            "apiVersion": "v1",
            "resourceVersion": "7",
            "fieldPath": "spec.containers{c}",
        },
        "reason": "Scheduled",
        "reportingComponent": "default-scheduler",
        "source": {},
        "type": "Normal",
    }
    fields = selectable_fields("events", event)
    assert fields["involvedObject.fieldPath"] == "spec.containers{c}"
    assert fields["involvedObject.uid"] == "u1"
    assert fields["reason"] == "Scheduled"
    assert fields["type"] == "Normal"
    # source.component is empty, so "source" falls back to the reporting controller.
    assert fields["source"] == "default-scheduler"
    event["source"] = {"component": "kubelet"}
    assert selectable_fields("events", event)["source"] == "kubelet"
    assert set(fields) == allowed_fields("events")


def test_pod_fields_cover_every_allowed_label_but_pod_ips() -> None:
    assert set(selectable_fields("pods", POD)) == allowed_fields("pods") - {"status.podIPs"}
