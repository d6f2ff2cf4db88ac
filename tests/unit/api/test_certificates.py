"""CertificateSigningRequest validation: upstream's rules and messages, table-driven."""

from __future__ import annotations

import base64
import copy
import datetime
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pocketkube.api import certificates
from pocketkube.api.certificates import (
    GoBytes,
    certificate_error,
    pem_blocks,
    request_error,
    summary,
    validate_create,
    validate_signer_name,
    validate_update,
)

KEY = ec.generate_private_key(ec.SECP256R1())


def csr_pem(key: ec.EllipticCurvePrivateKey = KEY, cn: str = "system:node:n1") -> bytes:
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )
    request = (
        x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM)


def cert_pem() -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ca")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(KEY.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(KEY, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def tampered_csr() -> bytes:
    """A request whose content changed after it was signed (its CN, same length)."""
    der = x509.load_pem_x509_csr(csr_pem()).public_bytes(serialization.Encoding.DER)
    assert der.count(b"system:node:n1") == 1
    der = der.replace(b"system:node:n1", b"system:node:n2")
    return (
        b"-----BEGIN CERTIFICATE REQUEST-----\n"
        + base64.encodebytes(der)
        + b"-----END CERTIFICATE REQUEST-----\n"
    )


def csr(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "request": b64(csr_pem()),
        "signerName": certificates.KUBE_APISERVER_CLIENT_KUBELET_SIGNER,
        "usages": ["digital signature", "client auth"],
    }
    body.update(spec)
    return {"metadata": {"name": "node-csr-abc"}, "spec": body, "status": {}}


def messages(errors: list[Any]) -> list[str]:
    return [e.message for e in errors]


def test_valid_request() -> None:
    assert validate_create(csr()) == []
    assert validate_create(csr(expirationSeconds=600)) == []


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {"request": b64(b"hello")},
            "spec.request: Invalid value: []byte{0x68, 0x65, 0x6c, 0x6c, 0x6f}: "
            "PEM block type must be CERTIFICATE REQUEST",
        ),
        (
            {"request": None},
            "spec.request: Invalid value: []byte(nil): PEM block type must be CERTIFICATE REQUEST",
        ),
        ({"usages": []}, "spec.usages: Required value"),
        (
            {"usages": ["client auth", "fly"]},
            'spec.usages[1]: Unsupported value: "fly": supported values: "any", "cert sign", ',
        ),
        (
            {"usages": ["client auth", "client auth"]},
            'spec.usages[1]: Duplicate value: "client auth"',
        ),
        ({"signerName": ""}, "spec.signerName: Required value"),
        (
            {"signerName": "example.com"},
            'spec.signerName: Invalid value: "example.com": must be a fully qualified domain and '
            "path of the form 'example.com/signer-name'",
        ),
        (
            {"signerName": "example/signer"},
            'spec.signerName: Invalid value: "example": should be a domain with at least two '
            "segments separated by dots",
        ),
        (
            {"signerName": "Example.com/signer"},
            'spec.signerName: Invalid value: "Example.com": validating label "Example": a '
            "lowercase RFC 1123 label must consist of",
        ),
        (
            {"signerName": "kubernetes.io/legacy-unknown"},
            'spec.signerName: Invalid value: "kubernetes.io/legacy-unknown": the legacy '
            "signerName is not allowed via this API version",
        ),
        (
            {"expirationSeconds": 599},
            "spec.expirationSeconds: Invalid value: 599: may not specify a duration less than "
            "600 seconds (10 minutes)",
        ),
    ],
)
def test_invalid_spec(spec: dict[str, Any], expected: str) -> None:
    found = messages(validate_create(csr(**spec)))
    assert len(found) == 1, found
    assert found[0].startswith(expected)


def test_request_needs_a_valid_signature() -> None:
    assert request_error(csr_pem()) is None
    assert request_error(tampered_csr()) == "x509: signature verification failure"
    junk = b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"
    assert request_error(junk) == "x509: malformed certificate request"
    assert request_error(cert_pem()) == "PEM block type must be CERTIFICATE REQUEST"


def test_not_base64() -> None:
    found = messages(validate_create(csr(request="%%%")))
    assert found == ['spec.request: Invalid value: "%%%": illegal base64 data']


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", None),
        (cert_pem(), None),
        (cert_pem() + cert_pem(), None),
        (b"junk", "must contain at least one CERTIFICATE PEM block"),
        (
            cert_pem() + csr_pem(),
            'only CERTIFICATE PEM blocks are allowed, found "CERTIFICATE REQUEST"',
        ),
        (
            b"-----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED\n\nAAAA\n"
            b"-----END CERTIFICATE-----\n",
            "no PEM block headers are permitted",
        ),
        (
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "x509: malformed certificate",
        ),
    ],
)
def test_certificate_content(data: bytes, expected: str | None) -> None:
    assert certificate_error(data) == expected


def test_pem_blocks_skip_text_between() -> None:
    blocks = pem_blocks(b"intro\n" + cert_pem() + b"middle\n" + csr_pem())
    assert [b.type for b in blocks] == ["CERTIFICATE", "CERTIFICATE REQUEST"]


def cond(kind: str, status: str = "True", **extra: str) -> dict[str, Any]:
    return {"type": kind, "status": status, **extra}


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        ([cond("Approved")], []),
        ([cond("Custom", "False")], []),
        ([cond("Approved", "False")], ['status.conditions[0].status: Unsupported value: "False"']),
        ([cond("Approved", "")], ["status.conditions[0].status: Required value"]),
        ([cond("", "True")], ["status.conditions[0].type: Required value"]),
        (
            [cond("Approved"), cond("Denied")],
            [
                'status.conditions[1].type: Invalid value: "Denied": Approved and Denied '
                "conditions are mutually exclusive"
            ],
        ),
        (
            [cond("Failed"), cond("Failed")],
            ['status.conditions[1].type: Duplicate value: "Failed"'],
        ),
    ],
)
def test_conditions(conditions: list[dict[str, Any]], expected: list[str]) -> None:
    obj = csr()
    obj["status"] = {"conditions": conditions}
    found = messages(validate_create(obj))
    assert len(found) == len(expected), found
    for message, prefix in zip(found, expected, strict=True):
        assert message.startswith(prefix)


def with_status(obj: dict[str, Any], *conds: dict[str, Any], cert: bytes = b"") -> dict[str, Any]:
    out = copy.deepcopy(obj)
    out["status"] = {"conditions": list(conds)}
    if cert:
        out["status"]["certificate"] = b64(cert)
    return out


BASE = csr()
APPROVED = with_status(BASE, cond("Approved", reason="KubectlApprove"))
ISSUED = with_status(BASE, cond("Approved", reason="KubectlApprove"), cert=cert_pem())


@pytest.mark.parametrize(
    ("old", "new", "kwargs", "expected"),
    [
        # /approval may add Approved or Denied, never both, never take one away
        (BASE, APPROVED, {"set_approval": True}, []),
        (BASE, with_status(BASE, cond("Denied")), {"set_approval": True}, []),
        (
            APPROVED,
            with_status(BASE, cond("Approved"), cond("Denied")),
            {"set_approval": True},
            ['status.conditions[1].type: Invalid value: "Denied": Approved and Denied'],
        ),
        (
            APPROVED,
            BASE,
            {"set_approval": True},
            ['status.conditions: Forbidden: updates may not remove a condition of type "Approved"'],
        ),
        # /status and the main resource may not touch approval
        (
            BASE,
            APPROVED,
            {"set_certificate": True},
            ['status.conditions: Forbidden: updates may not add a condition of type "Approved"'],
        ),
        (
            APPROVED,
            with_status(BASE, cond("Approved", reason="Other")),
            {},
            ['status.conditions: Forbidden: updates may not modify a condition of type "Approved"'],
        ),
        # /status may set a certificate once; nobody else may
        (APPROVED, ISSUED, {"set_certificate": True}, []),
        (
            APPROVED,
            ISSUED,
            {"set_approval": True},
            ["status.certificate: Forbidden: updates may not set certificate content"],
        ),
        (
            ISSUED,
            with_status(ISSUED, cond("Approved", reason="KubectlApprove"), cert=cert_pem()),
            {"set_certificate": True},
            ["status.certificate: Forbidden: updates may not modify existing certificate content"],
        ),
        (
            APPROVED,
            with_status(APPROVED, cond("Approved", reason="KubectlApprove"), cert=b"junk"),
            {"set_certificate": True},
            [
                'status.certificate: Invalid value: "<certificate data>": must contain at least '
                "one CERTIFICATE PEM block"
            ],
        ),
        # Failed may be added by the signer but never removed
        (
            APPROVED,
            with_status(APPROVED, cond("Approved", reason="KubectlApprove"), cond("Failed")),
            {"set_certificate": True},
            [],
        ),
        (
            with_status(BASE, cond("Approved", reason="KubectlApprove"), cond("Failed")),
            APPROVED,
            {"set_certificate": True},
            ['status.conditions: Forbidden: updates may not remove a condition of type "Failed"'],
        ),
    ],
)
def test_updates(
    old: dict[str, Any], new: dict[str, Any], kwargs: dict[str, bool], expected: list[str]
) -> None:
    found = messages(validate_update(new, old, **kwargs))
    assert len(found) == len(expected), found
    for message, prefix in zip(found, expected, strict=True):
        assert message.startswith(prefix)


def test_updates_tolerate_what_was_stored() -> None:
    """Problems the stored object already has do not block other writes to it."""
    old = csr(usages=["fly", "fly"], signerName=certificates.LEGACY_UNKNOWN_SIGNER)
    old["status"] = {"conditions": [cond("Approved"), cond("Denied")]}
    new = copy.deepcopy(old)
    new["metadata"]["labels"] = {"a": "b"}
    assert validate_update(new, old) == []


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({}, "Pending"),
        ({"conditions": [cond("Approved")]}, "Approved"),
        ({"conditions": [cond("Approved")], "certificate": b64(b"x")}, "Approved,Issued"),
        ({"conditions": [cond("Denied")]}, "Denied"),
        ({"conditions": [cond("Approved"), cond("Failed")]}, "Approved,Failed"),
        ({"conditions": [cond("Failed")]}, "Pending,Failed"),
    ],
)
def test_summary(status: dict[str, Any], expected: str) -> None:
    assert summary({"status": status}) == expected


def test_signer_name_lengths() -> None:
    long_domain = ".".join(["a" * 63] * 4) + "/x"
    assert [e.message for e in validate_signer_name("s", long_domain)] == [
        "s: Too long: must have at most 253 bytes"
    ]


def test_go_bytes() -> None:
    assert repr(GoBytes(b64(b"\x00\xff"))) == "[]byte{0x0, 0xff}"
    assert repr(GoBytes(None)) == "[]byte(nil)"
    assert repr(GoBytes("")) == "[]byte{}"
