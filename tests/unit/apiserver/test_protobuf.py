"""Kubernetes protobuf bodies decode into the JSON objects a JSON body would give."""

from __future__ import annotations

import base64
import struct
from typing import Any

import pytest

from pocketkube.apiserver.protobuf import (
    MalformedProtobuf,
    UnsupportedProtobufKind,
    decode_kubernetes_protobuf,
)
from pocketkube.apiserver.protobuf.decode import go_duration
from pocketkube.apiserver.protobuf.schema import MESSAGES
from pocketkube.apiserver.protobuf.wire import WireError, iter_fields, read_varint

# --- a tiny encoder: enough of the wire format to build test bodies -------------------------


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negatives as two's complement, like Go's int32/int64
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def key(number: int, wire_type: int) -> bytes:
    return varint(number << 3 | wire_type)


def num(number: int, value: int) -> bytes:
    return key(number, 0) + varint(value)


def ld(number: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return key(number, 2) + varint(len(data)) + data


def msg(number: int, *parts: bytes) -> bytes:
    return ld(number, b"".join(parts))


def entry(number: int, map_key: str, value: bytes | str) -> bytes:
    return msg(number, ld(1, map_key), ld(2, value))


def envelope(api_version: str, kind: str, *parts: bytes) -> bytes:
    return b"k8s\x00" + msg(1, ld(1, api_version), ld(2, kind)) + msg(2, *parts)


def meta(name: str, *extra: bytes) -> bytes:
    # Go writes every non-pointer scalar, empty or not: those must not show up in JSON.
    return msg(1, ld(1, name), ld(2, ""), ld(3, ""), num(7, 0), msg(8), *extra)


def container(name: str, image: str, *extra: bytes) -> bytes:
    return msg(
        2,
        ld(1, name),
        ld(2, image),
        msg(8),  # resources {}
        ld(13, ""),
        ld(14, ""),
        num(16, 0),
        *extra,
    )


def pod_template(number: int, *containers: bytes, labels: dict[str, str] | None = None) -> bytes:
    label_entries = [entry(11, k, v) for k, v in (labels or {}).items()]
    return msg(number, msg(1, *label_entries), msg(2, *containers, ld(3, ""), ld(6, "")))


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


CASES: list[tuple[str, bytes, dict[str, Any]]] = [
    (
        "namespace",
        envelope("v1", "Namespace", meta("ns1"), msg(2), msg(3, ld(1, ""))),
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "ns1"},
            "spec": {},
            "status": {},
        },
    ),
    (
        "configmap",
        envelope(
            "v1",
            "ConfigMap",
            meta("cm", entry(11, "app", "web")),
            entry(2, "a", "b"),
            entry(2, "empty", ""),
            entry(3, "bin", b"\x00\xff"),
        ),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "cm", "labels": {"app": "web"}},
            "data": {"a": "b", "empty": ""},
            "binaryData": {"bin": "AP8="},
        },
    ),
    (
        "secret",
        envelope("v1", "Secret", meta("s"), entry(2, "a", b"b"), ld(3, "Opaque"), num(5, 0)),
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "s"},
            "data": {"a": b64("b")},
            "type": "Opaque",
            "immutable": False,
        },
    ),
    (
        "serviceaccount",
        envelope("v1", "ServiceAccount", meta("sa"), msg(3, ld(1, "pull"))),
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "sa"},
            "imagePullSecrets": [{"name": "pull"}],
        },
    ),
    (
        "service",
        envelope(
            "v1",
            "Service",
            meta("svc"),
            msg(
                2,
                msg(1, ld(1, "80-8080"), ld(2, "TCP"), num(3, 80), msg(4, num(1, 0), num(2, 8080))),
                msg(1, ld(1, "dns"), num(3, 53), msg(4, num(1, 1), ld(3, "dns"))),
                msg(1, ld(1, "none"), num(3, 81), msg(4, num(1, 0), num(2, 0))),
                entry(2, "app", "svc"),
                ld(4, "ClusterIP"),
            ),
            msg(3, msg(1)),
        ),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "svc"},
            "spec": {
                "ports": [
                    {"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080},
                    {"name": "dns", "port": 53, "targetPort": "dns"},
                    {"name": "none", "port": 81},
                ],
                "selector": {"app": "svc"},
                "type": "ClusterIP",
            },
        },
    ),
    (
        "deployment",
        envelope(
            "apps/v1",
            "Deployment",
            meta("web", entry(11, "app", "web")),
            msg(
                2,
                num(1, 0),
                msg(2, entry(1, "app", "web")),
                pod_template(
                    3,
                    container(
                        "nginx",
                        "nginx",
                        msg(6, num(3, 80), ld(4, "TCP")),
                        msg(7, ld(1, "MODE"), ld(2, "prod")),
                        msg(
                            7,
                            ld(1, "POD"),
                            msg(3, msg(1, ld(1, "v1"), ld(2, "metadata.name"))),
                        ),
                        msg(
                            8,
                            entry(
                                1,
                                "cpu",
                                ld(1, "500m"),
                            ),
                        ),
                        msg(9, ld(1, "data"), ld(3, "/data"), num(2, 1)),
                        msg(
                            10,
                            msg(1, msg(2, ld(1, "/healthz"), msg(2, num(1, 0), num(2, 80)))),
                            num(4, 10),
                        ),
                        msg(15, num(2, 0), msg(1, ld(2, "ALL"))),
                    ),
                    labels={"app": "web"},
                ),
                msg(
                    4,
                    ld(1, "RollingUpdate"),
                    msg(2, msg(1, num(1, 0), num(2, 0)), msg(2, num(1, 1), ld(3, "25%"))),
                ),
                num(9, 600),
            ),
            msg(3, num(1, 0)),
        ),
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "containers": [
                            {
                                "name": "nginx",
                                "image": "nginx",
                                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                                "env": [
                                    {"name": "MODE", "value": "prod"},
                                    {
                                        "name": "POD",
                                        "valueFrom": {
                                            "fieldRef": {
                                                "apiVersion": "v1",
                                                "fieldPath": "metadata.name",
                                            }
                                        },
                                    },
                                ],
                                "resources": {"limits": {"cpu": "500m"}},
                                "volumeMounts": [
                                    {"name": "data", "mountPath": "/data", "readOnly": True}
                                ],
                                "livenessProbe": {
                                    "httpGet": {"path": "/healthz", "port": 80},
                                    "periodSeconds": 10,
                                },
                                "securityContext": {
                                    "privileged": False,
                                    "capabilities": {"drop": ["ALL"]},
                                },
                            }
                        ]
                    },
                },
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"},
                },
                "progressDeadlineSeconds": 600,
            },
        },
    ),
    (
        "job",
        envelope(
            "batch/v1",
            "Job",
            meta("j"),
            msg(
                2,
                num(7, 6),
                pod_template(6, container("j", "busybox", ld(3, "sh"), ld(3, "-c"), ld(3, "true"))),
            ),
        ),
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "j"},
            "spec": {
                "backoffLimit": 6,
                "template": {
                    "metadata": {},
                    "spec": {
                        "containers": [
                            {
                                "name": "j",
                                "image": "busybox",
                                "command": ["sh", "-c", "true"],
                                "resources": {},
                            }
                        ]
                    },
                },
            },
        },
    ),
    (
        "cronjob",
        envelope(
            "batch/v1",
            "CronJob",
            meta("cj"),
            msg(2, ld(1, "*/1 * * * *"), msg(5, msg(1, ld(1, "cj")), msg(2, num(10, 0)))),
        ),
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "cj"},
            "spec": {
                "schedule": "*/1 * * * *",
                "jobTemplate": {"metadata": {"name": "cj"}, "spec": {"suspend": False}},
            },
        },
    ),
    (
        "pod volumes",
        envelope(
            "v1",
            "Pod",
            meta("p"),
            msg(
                2,
                msg(1, ld(1, "scratch"), msg(2, msg(2, msg(2, ld(1, "1Gi"))))),
                msg(1, ld(1, "cfg"), msg(2, msg(19, msg(1, ld(1, "cm")), num(3, 0o644)))),
                msg(1, ld(1, "sec"), msg(2, msg(6, ld(1, "s")))),
                msg(1, ld(1, "host"), msg(2, msg(1, ld(1, "/tmp"), ld(2, "")))),
                container("c", "busybox"),
                num(4, 30),
            ),
        ),
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p"},
            "spec": {
                "volumes": [
                    {"name": "scratch", "emptyDir": {"sizeLimit": "1Gi"}},
                    {"name": "cfg", "configMap": {"name": "cm", "defaultMode": 420}},
                    {"name": "sec", "secret": {"secretName": "s"}},
                    {"name": "host", "hostPath": {"path": "/tmp", "type": ""}},
                ],
                "containers": [{"name": "c", "image": "busybox", "resources": {}}],
                "terminationGracePeriodSeconds": 30,
            },
        },
    ),
    (
        "token request",
        envelope(
            "authentication.k8s.io/v1",
            "TokenRequest",
            msg(1, ld(1, "sa"), msg(8)),
            msg(2, ld(1, "api"), num(4, 3600), msg(3, ld(1, "Pod"), ld(3, "p"), ld(4, "u1"))),
        ),
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "metadata": {"name": "sa"},
            "spec": {
                "audiences": ["api"],
                "expirationSeconds": 3600,
                "boundObjectRef": {"kind": "Pod", "name": "p", "uid": "u1"},
            },
        },
    ),
    (
        "self subject access review",
        envelope(
            "authorization.k8s.io/v1",
            "SelfSubjectAccessReview",
            msg(1),
            msg(2, msg(1, ld(1, "default"), ld(2, "get"), ld(3, ""), ld(5, "pods"))),
            msg(3, num(1, 0)),
        ),
        {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "metadata": {},
            "spec": {
                "resourceAttributes": {"namespace": "default", "verb": "get", "resource": "pods"}
            },
        },
    ),
    (
        "self subject rules review",
        envelope("authorization.k8s.io/v1", "SelfSubjectRulesReview", msg(1), msg(2, ld(1, "x"))),
        {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectRulesReview",
            "metadata": {},
            "spec": {"namespace": "x"},
        },
    ),
    (
        "self subject review",
        envelope("authentication.k8s.io/v1", "SelfSubjectReview", msg(1), msg(2)),
        {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview", "metadata": {}},
    ),
    (
        "hpa",
        envelope(
            "autoscaling/v1",
            "HorizontalPodAutoscaler",
            meta("web"),
            msg(
                2,
                msg(1, ld(1, "Deployment"), ld(2, "web"), ld(3, "apps/v1")),
                num(2, 1),
                num(3, 5),
                num(4, 80),
            ),
        ),
        {
            "apiVersion": "autoscaling/v1",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web"},
            "spec": {
                "scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
                "minReplicas": 1,
                "maxReplicas": 5,
                "targetCPUUtilizationPercentage": 80,
            },
        },
    ),
]


CASES += [
    (
        "rolebinding",
        envelope(
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            meta("rb"),
            msg(2, ld(1, "ServiceAccount"), ld(2, ""), ld(3, "robot"), ld(4, "default")),
            msg(3, ld(1, "rbac.authorization.k8s.io"), ld(2, "Role"), ld(3, "r")),
        ),
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "rb"},
            "subjects": [{"kind": "ServiceAccount", "name": "robot", "namespace": "default"}],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
        },
    ),
    (
        "ingress (inlined rule value)",
        envelope(
            "networking.k8s.io/v1",
            "Ingress",
            meta("i"),
            msg(
                2,
                msg(
                    3,
                    ld(1, "a.com"),
                    msg(
                        2,
                        msg(
                            1,
                            msg(
                                1,
                                ld(1, "/"),
                                ld(3, "Prefix"),
                                msg(2, msg(4, ld(1, "web"), msg(2, ld(1, ""), num(2, 80)))),
                            ),
                        ),
                    ),
                ),
            ),
        ),
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": "i"},
            "spec": {
                "rules": [
                    {
                        "host": "a.com",
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "pathType": "Prefix",
                                    "backend": {"service": {"name": "web", "port": {"number": 80}}},
                                }
                            ]
                        },
                    }
                ]
            },
        },
    ),
]


@pytest.mark.parametrize(("body", "want"), [(b, w) for _, b, w in CASES], ids=[c[0] for c in CASES])
def test_decodes_kind(body: bytes, want: dict[str, Any]) -> None:
    assert decode_kubernetes_protobuf(body) == want


def test_metadata_details() -> None:
    fields_v1 = msg(7, ld(1, b'{"f:data":{}}'))
    managed = msg(17, ld(1, "kubectl"), ld(2, "Update"), msg(4, num(1, 1_700_000_000)), fields_v1)
    owner = msg(13, ld(1, "ReplicaSet"), ld(3, "rs"), ld(4, "u"), ld(5, "apps/v1"), num(6, 1))
    body = envelope(
        "v1",
        "ConfigMap",
        meta("cm", msg(8, num(1, 0), num(2, 5)), managed, owner, num(10, 0), ld(14, "f")),
    )
    assert decode_kubernetes_protobuf(body)["metadata"] == {
        "name": "cm",
        "creationTimestamp": "1970-01-01T00:00:00Z",
        "managedFields": [
            {
                "manager": "kubectl",
                "operation": "Update",
                "time": "2023-11-14T22:13:20Z",
                "fieldsV1": {"f:data": {}},
            }
        ],
        "ownerReferences": [
            {
                "kind": "ReplicaSet",
                "name": "rs",
                "uid": "u",
                "apiVersion": "apps/v1",
                "controller": True,
            }
        ],
        "deletionGracePeriodSeconds": 0,
        "finalizers": ["f"],
    }


def test_unknown_fields_of_every_wire_type_are_skipped() -> None:
    unknown = (
        num(99, 7)
        + key(98, 1)
        + struct.pack("<d", 1.5)
        + key(97, 5)
        + b"\x00\x00\x80\x3f"
        + ld(96, b"\x01\x02\x03")
    )
    body = envelope("v1", "ConfigMap", meta("cm", unknown), unknown, entry(2, "a", "b"))
    assert decode_kubernetes_protobuf(body) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cm"},
        "data": {"a": "b"},
    }


def test_negative_and_packed_integers() -> None:
    rule = msg(2, ld(1, "main"), ld(2, "In"), ld(3, varint(1) + varint(42)), num(3, 7))
    body = envelope(
        "batch/v1",
        "Job",
        meta("j"),
        msg(2, num(3, -1), msg(11, msg(1, ld(1, "FailJob"), rule))),
    )
    spec = decode_kubernetes_protobuf(body)["spec"]
    assert spec["activeDeadlineSeconds"] == -1
    assert spec["podFailurePolicy"]["rules"][0]["onExitCodes"]["values"] == [1, 42, 7]


def test_empty_type_meta_uses_the_expected_kind() -> None:
    body = b"k8s\x00" + msg(1) + msg(2, meta("x"))
    got = decode_kubernetes_protobuf(body, expected=("v1", "Namespace"))
    assert got == {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"k8s", id="short magic"),
        pytest.param(b'{"kind":"Namespace"}', id="json"),
        pytest.param(envelope("v1", "ConfigMap", meta("cm"))[:-3], id="truncated"),
        pytest.param(b"k8s\x00" + key(2, 2) + varint(50) + b"abc", id="length past end"),
        pytest.param(b"k8s\x00" + b"\x80" * 11, id="endless varint"),
        pytest.param(envelope("v1", "ConfigMap", ld(1, b"\x0a\x02\xff\xfe")), id="bad utf8"),
        pytest.param(envelope("v1", "ConfigMap", num(1, 3)), id="wrong wire type"),
        pytest.param(envelope("v1", "ConfigMap", key(1, 3)), id="group"),
        pytest.param(b"k8s\x00" + key(0, 0) + b"\x00", id="field zero"),
    ],
)
def test_malformed_bodies(body: bytes) -> None:
    with pytest.raises(MalformedProtobuf):
        decode_kubernetes_protobuf(body)


def test_malformed_is_a_value_error() -> None:
    assert issubclass(MalformedProtobuf, ValueError)
    assert issubclass(WireError, ValueError)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(envelope("v1", "Widget", meta("w")), id="unknown kind"),
        pytest.param(envelope("apps/v2", "Deployment", meta("w")), id="unknown version"),
        pytest.param(
            b"k8s\x00" + msg(1, ld(1, "v1"), ld(2, "ConfigMap")) + ld(3, "gzip"), id="encoding"
        ),
    ],
)
def test_unsupported_kinds(body: bytes) -> None:
    with pytest.raises(UnsupportedProtobufKind):
        decode_kubernetes_protobuf(body)


@pytest.mark.parametrize(
    ("data", "want"),
    [(varint(0), 0), (varint(300), 300), (varint(-1), (1 << 64) - 1), (varint(1 << 63), 1 << 63)],
)
def test_read_varint(data: bytes, want: int) -> None:
    assert read_varint(data, 0) == (want, len(data))


def test_iter_fields_fixed_values() -> None:
    data = key(1, 1) + (5).to_bytes(8, "little") + key(2, 5) + (6).to_bytes(4, "little")
    assert list(iter_fields(data)) == [(1, 1, 5), (2, 5, 6)]
    with pytest.raises(WireError):
        list(iter_fields(key(1, 1) + b"\x00" * 7))


@pytest.mark.parametrize(
    ("nanos", "want"),
    [
        (0, "0s"),
        (1_500_000, "1.5ms"),
        (90 * 10**9, "1m30s"),
        (3600 * 10**9, "1h0m0s"),
        (-2_500_000_000, "-2.5s"),
        (7, "7ns"),
    ],
)
def test_go_duration(nanos: int, want: str) -> None:
    assert go_duration(nanos) == want


def test_every_table_entry_is_well_formed() -> None:
    for name, table in MESSAGES.items():
        names = [field.json_name for field in table.values() if field.json_name]
        assert len(names) == len(set(names)), name
