"""The per-signer request rules and their upstream messages."""

from __future__ import annotations

import ipaddress

import pytest
from cryptography import x509

from pocketkube.controllers.certificates import requests
from tests.unit.controllers.fakes import csr_request

DS, KE, CA, SA = "digital signature", "key encipherment", "client auth", "server auth"


@pytest.mark.parametrize(
    ("kwargs", "usages", "error"),
    [
        ({}, (DS, CA), None),
        ({"rsa_key": True}, (DS, KE, CA), None),
        ({}, (CA, DS, DS), None),  # a set: duplicates do not matter
        ({"orgs": ("system:nodes", "x")}, (DS, CA), "subject organization is not system:nodes"),
        ({"orgs": ()}, (DS, CA), "subject organization is not system:nodes"),
        ({"sans": [x509.DNSName("n1")]}, (DS, CA), "DNS subjectAltNames are not allowed"),
        ({"sans": [x509.RFC822Name("a@b")]}, (DS, CA), "Email subjectAltNames are not allowed"),
        (
            {"sans": [x509.IPAddress(ipaddress.ip_address("10.0.0.1"))]},
            (DS, CA),
            "IP subjectAltNames are not allowed",
        ),
        (
            {"sans": [x509.UniformResourceIdentifier("spiffe://x")]},
            (DS, CA),
            "URI subjectAltNames are not allowed",
        ),
        ({"cn": "node1"}, (DS, CA), "subject common name does not begin with system:node:"),
        ({}, (CA,), "usages did not match [client auth digital signature key encipherment]"),
        ({}, (DS, CA, SA), "usages did not match [client auth digital signature key encipherment]"),
    ],
)
def test_kubelet_client(
    kwargs: dict[str, object], usages: tuple[str, ...], error: str | None
) -> None:
    request = csr_request(**kwargs)  # type: ignore[arg-type]
    if error is None:
        requests.validate_kubelet_client(request, usages)
        assert requests.is_kubelet_client(request, usages)
    else:
        with pytest.raises(requests.RequestError) as caught:
            requests.validate_kubelet_client(request, usages)
        assert str(caught.value) == error
        assert not requests.is_kubelet_client(request, usages)


@pytest.mark.parametrize(
    ("kwargs", "usages", "error"),
    [
        ({"sans": [x509.DNSName("n1")]}, (DS, SA), None),
        ({"sans": [x509.IPAddress(ipaddress.ip_address("10.0.0.1"))]}, (DS, KE, SA), None),
        ({}, (DS, SA), "DNS or IP subjectAltName is required"),
        (
            {"sans": [x509.DNSName("n1"), x509.RFC822Name("a@b")]},
            (DS, SA),
            "Email subjectAltNames are not allowed",
        ),
        (
            {"sans": [x509.DNSName("n1")]},
            (DS, CA),
            "usages did not match [digital signature key encipherment server auth]",
        ),
        (
            {"sans": [x509.DNSName("n1")], "cn": "x"},
            (DS, SA),
            "subject common name does not begin with system:node:",
        ),
    ],
)
def test_kubelet_serving(
    kwargs: dict[str, object], usages: tuple[str, ...], error: str | None
) -> None:
    request = csr_request(**kwargs)  # type: ignore[arg-type]
    if error is None:
        requests.validate_kubelet_serving(request, usages)
    else:
        with pytest.raises(requests.RequestError, match=error.replace("[", r"\[")):
            requests.validate_kubelet_serving(request, usages)


@pytest.mark.parametrize(
    ("usages", "error"),
    [
        ((CA,), None),
        ((DS, KE, CA), None),
        ((DS,), "missing required usage for client certificate: client auth"),
        ((CA, SA), "invalid usage for client certificate: server auth"),
    ],
)
def test_apiserver_client(usages: tuple[str, ...], error: str | None) -> None:
    request = csr_request(cn="jane", orgs=("devs",))
    if error is None:
        requests.validate_apiserver_client(request, usages)
    else:
        with pytest.raises(requests.RequestError, match=error):
            requests.validate_apiserver_client(request, usages)
