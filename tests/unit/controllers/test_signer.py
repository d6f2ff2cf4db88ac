"""csrsigning: which CSRs get a certificate, its lifetime, and failures for broken rules."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from pocketkube.client.resources import CERTIFICATE_SIGNING_REQUESTS
from pocketkube.controllers.certificates.authority import FileCA
from pocketkube.controllers.certificates.signer import CSRSigningController, certificate_duration
from tests.unit.controllers.fakes import (
    NOW,
    FakeClient,
    approved,
    csr_obj,
    csr_pem,
    informer,
    make_ca,
)

STATUS = "/apis/certificates.k8s.io/v1/certificatesigningrequests/node-csr-1/status"
H = dt.timedelta(hours=1)
M = dt.timedelta(minutes=1)
DENIED = {"type": "Denied", "status": "True", "reason": "No", "message": "no"}
FAILED = {"type": "Failed", "status": "True", "reason": "X", "message": "x"}


def controller(
    client: FakeClient, tmp: Path, *csrs: dict[str, Any], duration: dt.timedelta = 8760 * H
) -> CSRSigningController:
    cert_file, key_file = make_ca(tmp)
    return CSRSigningController(
        client=client,
        csr_informer=informer(client, CERTIFICATE_SIGNING_REQUESTS, *csrs),
        ca=FileCA(cert_file=cert_file, key_file=key_file),
        duration=duration,
        now=lambda: NOW,
    )


def issued(client: FakeClient) -> x509.Certificate:
    (update,) = client.writes()
    assert update.verb == "PUT"
    assert update.path == STATUS
    pem = base64.b64decode(update.body["status"]["certificate"])
    return x509.load_pem_x509_certificate(pem)


@pytest.mark.parametrize(
    ("requested", "default", "expected"),
    [
        (None, 8760 * H, 8760 * H),
        (3600, 8760 * H, H),
        (600, 8760 * H, 10 * M),
        (60, 8760 * H, 10 * M),  # never under twice the backdate
        (10**9, 24 * H, 24 * H),  # never over the configured duration
        ("3600", 24 * H, 24 * H),
    ],
)
def test_certificate_duration(
    requested: object, default: dt.timedelta, expected: dt.timedelta
) -> None:
    assert certificate_duration(requested, default) == expected


@pytest.mark.parametrize(
    ("csr", "lifetime"),
    [
        (csr_obj(conditions=[approved()]), 8760 * H),
        (csr_obj(conditions=[approved()], expiration_seconds=3600), H + 5 * M),
        (
            csr_obj(
                conditions=[approved()],
                signer="kubernetes.io/kube-apiserver-client",
                pem=csr_pem(cn="jane", orgs=("devs",)),
                usages=("client auth",),
            ),
            8760 * H,
        ),
        (
            csr_obj(
                conditions=[approved()],
                signer="kubernetes.io/kubelet-serving",
                pem=csr_pem(sans=[x509.DNSName("n1")]),
                usages=("digital signature", "server auth"),
            ),
            8760 * H,
        ),
    ],
    ids=["kubelet-client", "expiration-seconds", "apiserver-client", "kubelet-serving"],
)
async def test_issues_approved_requests(
    tmp_path: Path, csr: dict[str, Any], lifetime: dt.timedelta
) -> None:
    client = FakeClient()
    await controller(client, tmp_path, csr).sync("node-csr-1")
    cert = issued(client)
    assert cert.not_valid_before_utc == NOW - 5 * M
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == lifetime
    request = x509.load_pem_x509_csr(base64.b64decode(csr["spec"]["request"]))
    assert cert.subject == request.subject


@pytest.mark.parametrize(
    "csr",
    [
        csr_obj(),
        csr_obj(conditions=[approved(), DENIED]),
        csr_obj(conditions=[approved(), FAILED]),
        csr_obj(conditions=[approved()], certificate=b"-----BEGIN CERTIFICATE-----\n"),
        csr_obj(conditions=[approved()], signer="example.com/custom"),
        csr_obj(conditions=[approved()], signer="kubernetes.io/legacy-unknown"),
    ],
    ids=["pending", "denied", "failed", "issued", "custom-signer", "legacy-unknown"],
)
async def test_leaves_other_requests_alone(tmp_path: Path, csr: dict[str, Any]) -> None:
    client = FakeClient()
    await controller(client, tmp_path, csr).sync("node-csr-1")
    assert client.calls == []


@pytest.mark.parametrize(
    ("csr", "message"),
    [
        (
            csr_obj(conditions=[approved()], pem=csr_pem(cn="jane")),
            "subject common name does not begin with system:node:",
        ),
        (
            csr_obj(conditions=[approved()], usages=("client auth",)),
            "usages did not match [client auth digital signature key encipherment]",
        ),
        (
            csr_obj(
                conditions=[approved()],
                signer="kubernetes.io/kube-apiserver-client",
                usages=("server auth", "client auth"),
            ),
            "invalid usage for client certificate: server auth",
        ),
    ],
)
async def test_requests_breaking_the_signer_rules_fail(
    tmp_path: Path, csr: dict[str, Any], message: str
) -> None:
    client = FakeClient()
    await controller(client, tmp_path, csr).sync("node-csr-1")
    (update,) = client.writes()
    assert update.path == STATUS
    assert "certificate" not in update.body["status"]
    assert update.body["status"]["conditions"][-1] == {
        "type": "Failed",
        "status": "True",
        "reason": "SignerValidationFailure",
        "message": message,
        "lastUpdateTime": "2024-05-01T12:00:00Z",
    }
