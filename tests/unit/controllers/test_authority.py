"""The CA's signing policy: validity window, usages, extensions kept and dropped."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from pocketkube.controllers.certificates import authority
from tests.unit.controllers.fakes import NOW, csr_request, make_ca

H = dt.timedelta(hours=1)
M = dt.timedelta(minutes=1)
FAR = NOW + 10000 * H


@pytest.mark.parametrize(
    ("ttl", "ca_not_after", "expected"),
    [
        # long: the TTL counts from the backdated start
        (8760 * H, FAR, (NOW - 5 * M, NOW - 5 * M + 8760 * H)),
        (8 * H, FAR, (NOW - 5 * M, NOW - 5 * M + 8 * H)),
        # short: from now, so the backdate does not eat it
        (10 * M, FAR, (NOW - 5 * M, NOW + 10 * M)),
        # never past the CA
        (8760 * H, NOW + H, (NOW - 5 * M, NOW + H)),
    ],
)
def test_validity(
    ttl: dt.timedelta, ca_not_after: dt.datetime, expected: tuple[dt.datetime, dt.datetime]
) -> None:
    assert authority.validity(now=NOW, ttl=ttl, ca_not_after=ca_not_after) == expected


@pytest.mark.parametrize(
    ("ca_not_after", "message"),
    [
        (NOW - 10 * M, "the signer has expired"),
        (NOW - M, "refusing to sign a certificate that expired in the past"),
    ],
)
def test_validity_refuses_an_expired_ca(ca_not_after: dt.datetime, message: str) -> None:
    with pytest.raises(authority.SigningError, match=message):
        authority.validity(now=NOW, ttl=H, ca_not_after=ca_not_after)


def test_sign_keeps_subject_key_and_sans_and_sets_usages(tmp_path: Path) -> None:
    cert_file, key_file = make_ca(tmp_path)
    ca = authority.FileCA(cert_file=cert_file, key_file=key_file).current()
    request = csr_request(
        cn="system:node:n1",
        sans=[x509.DNSName("n1"), x509.IPAddress(ipaddress.ip_address("10.0.0.1"))],
    )
    cert = ca.sign(
        request,
        usages=["digital signature", "key encipherment", "server auth", "client auth"],
        ttl=24 * H,
        now=NOW,
    )
    assert cert.subject == request.subject
    assert cert.issuer == ca.certificate.subject
    assert cert.public_key() == request.public_key()
    assert cert.not_valid_before_utc == NOW - 5 * M
    assert cert.not_valid_after_utc == NOW - 5 * M + 24 * H
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical
    assert ku.value.digital_signature
    assert ku.value.key_encipherment
    assert not ku.value.key_cert_sign
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["n1"]
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    cert.verify_directly_issued_by(ca.certificate)


def test_sign_refuses_unknown_usages(tmp_path: Path) -> None:
    ca = authority.load_ca(*make_ca(tmp_path))
    with pytest.raises(authority.SigningError, match=r'unrecognized usage values: \["bogus"\]'):
        ca.sign(csr_request(), usages=["client auth", "bogus"], ttl=H, now=NOW)


def test_file_ca_reloads_when_the_files_change(tmp_path: Path) -> None:
    cert_file, key_file = make_ca(tmp_path)
    files = authority.FileCA(cert_file=cert_file, key_file=key_file)
    first = files.current()
    assert files.current() is first
    make_ca(tmp_path, not_after=NOW + 5 * H)
    second = files.current()
    assert second is not first
    assert second.certificate.not_valid_after_utc == NOW + 5 * H
