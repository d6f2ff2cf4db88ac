"""The API server's PKI on disk: what ensure_pki creates, what it reuses byte for byte, what it
reissues (a missing SAN, a near expiry, a replaced CA), client identities and the kubeconfig."""

from __future__ import annotations

import base64
import concurrent.futures
import datetime
import ipaddress
import socket
import stat
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pocketkube.apiserver import certs
from pocketkube.apiserver.kubeconfig import write_kubeconfig
from pocketkube.apiserver.pki import (
    PKI,
    client_identity,
    ensure_pki,
    issue_client_cert,
    local_addresses,
    split_sans,
)

HOST = ["10.1.2.3"]
KEY_FILES = ["ca.key", "serving.key", "sa.key", "admin.key"]
ALL_FILES = [*KEY_FILES, "ca.crt", "serving.crt", "sa.pub", "admin.crt"]


def snapshot(pki: PKI) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(pki.dir.iterdir()) if p.name != ".lock"}


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def sans(cert: x509.Certificate) -> tuple[set[str], set[str]]:
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(ext.get_values_for_type(x509.DNSName)), {
        str(ip) for ip in ext.get_values_for_type(x509.IPAddress)
    }


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def pki(tmp_path: Path) -> PKI:
    return ensure_pki(tmp_path / "data", host_addresses=HOST)


def test_creates_every_file_with_private_modes(tmp_path: Path, pki: PKI) -> None:
    assert pki.dir == tmp_path / "data" / "tls"
    assert mode(tmp_path / "data") == 0o700
    assert mode(pki.dir) == 0o700
    assert sorted(snapshot(pki)) == sorted(ALL_FILES)
    for name in KEY_FILES:
        assert mode(pki.dir / name) == 0o600, name


def test_tightens_a_loosened_key_file(pki: PKI) -> None:
    pki.ca_key.chmod(0o644)
    pki.dir.chmod(0o755)
    ensure_pki(pki.dir.parent, host_addresses=HOST)
    assert mode(pki.ca_key) == 0o600
    assert mode(pki.dir) == 0o700


def test_second_call_reuses_every_file_unchanged(pki: PKI) -> None:
    before = snapshot(pki)
    again = ensure_pki(pki.dir.parent, host_addresses=HOST)
    assert again == pki
    assert snapshot(again) == before


def test_certificates_chain_to_the_ca(pki: PKI) -> None:
    ca = load(pki.ca_cert)
    assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "pocketkube-ca"
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert isinstance(ca.public_key(), ec.EllipticCurvePublicKey)
    life = ca.not_valid_after_utc - ca.not_valid_before_utc
    assert datetime.timedelta(days=3649) < life < datetime.timedelta(days=3651)
    for leaf in (load(pki.serving_cert), load(pki.admin_cert)):
        leaf.verify_directly_issued_by(ca)
        assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        life = leaf.not_valid_after_utc - leaf.not_valid_before_utc
        assert datetime.timedelta(days=364) < life < datetime.timedelta(days=366)


def test_serving_certificate(pki: PKI) -> None:
    cert = load(pki.serving_cert)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "kube-apiserver"
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    dns, ips = sans(cert)
    assert dns >= {
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        socket.gethostname().lower(),
    }
    assert ips == {"127.0.0.1", "::1", "10.1.2.3"}


def test_admin_certificate(pki: PKI) -> None:
    cert = load(pki.admin_cert)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "pocketkube-admin"
    orgs = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert orgs == ["system:masters"]
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_service_account_key_pair(pki: PKI) -> None:
    key = pki.load_sa_key()
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 2048
    assert pki.load_sa_public_key().public_numbers() == key.public_key().public_numbers()


@pytest.mark.parametrize(
    ("extra", "dns", "ip"),
    [
        (["api.example.com"], {"api.example.com"}, set()),
        (["203.0.113.7"], set(), {"203.0.113.7"}),
        (["2001:db8::7", " *.Apps.Example.com "], {"*.apps.example.com"}, {"2001:db8::7"}),
    ],
)
def test_extra_san_reissues_only_the_serving_certificate(
    pki: PKI, extra: list[str], dns: set[str], ip: set[str]
) -> None:
    before = snapshot(pki)
    ensure_pki(pki.dir.parent, host_addresses=HOST, tls_sans=extra)
    after = snapshot(pki)
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"serving.crt"}
    has_dns, has_ips = sans(load(pki.serving_cert))
    assert has_dns >= dns
    assert has_ips >= ip
    # Asked again with the same SANs, or with fewer, the new certificate is kept.
    ensure_pki(pki.dir.parent, host_addresses=HOST, tls_sans=extra)
    ensure_pki(pki.dir.parent, host_addresses=HOST)
    assert snapshot(pki) == after


def test_new_host_address_reissues_the_serving_certificate(pki: PKI) -> None:
    before = load(pki.serving_cert)
    ensure_pki(pki.dir.parent, host_addresses=["10.9.9.9"])
    assert load(pki.serving_cert) != before
    assert "10.9.9.9" in sans(load(pki.serving_cert))[1]


def test_invalid_san_is_refused() -> None:
    with pytest.raises(ValueError, match="neither an IP address nor a DNS name"):
        split_sans(["not a name"])


def test_split_sans_deduplicates() -> None:
    dns, ips = split_sans(["A.example", "a.example", "127.0.0.1", "::1", "0:0::1", ""])
    assert dns == ("a.example",)
    assert ips == (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))


@pytest.mark.parametrize("lost", ["serving.crt", "admin.crt", "sa.pub"])
def test_a_lost_file_is_remade_and_nothing_else_changes(pki: PKI, lost: str) -> None:
    before = snapshot(pki)
    (pki.dir / lost).unlink()
    ensure_pki(pki.dir.parent, host_addresses=HOST)
    after = snapshot(pki)
    assert {name for name in before if before[name] != after[name]} <= {lost}
    if lost == "sa.pub":
        assert after[lost] == before[lost]  # derived from the kept key


@pytest.mark.parametrize("garbled", ["serving.crt", "admin.crt", "ca.crt"])
def test_an_unreadable_certificate_is_reissued(pki: PKI, garbled: str) -> None:
    before = snapshot(pki)
    (pki.dir / garbled).write_bytes(b"-----BEGIN CERTIFICATE-----\ngarbage\n")
    ensure_pki(pki.dir.parent, host_addresses=HOST)
    after = snapshot(pki)
    assert {name for name in before if before[name] != after[name]} == {garbled}
    ca = load(pki.ca_cert)
    load(pki.serving_cert).verify_directly_issued_by(ca)  # the same CA key signed both


def test_an_unreadable_key_is_an_error_not_a_new_ca(pki: PKI) -> None:
    pki.ca_key.write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"ca\.key: not a readable PEM private key"):
        ensure_pki(pki.dir.parent, host_addresses=HOST)


def test_concurrent_first_starts_agree(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: ensure_pki(data, host_addresses=HOST), range(4)))
    pki = results[0]
    ca = load(pki.ca_cert)
    for leaf in (pki.serving_cert, pki.admin_cert):
        load(leaf).verify_directly_issued_by(ca)
    assert sorted(snapshot(pki)) == sorted(ALL_FILES)  # no temporary files left behind


def test_a_new_ca_reissues_every_leaf(pki: PKI) -> None:
    before = snapshot(pki)
    pki.ca_key.unlink()
    ensure_pki(pki.dir.parent, host_addresses=HOST)
    after = snapshot(pki)
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"ca.key", "ca.crt", "serving.crt", "admin.crt"}
    ca = load(pki.ca_cert)
    load(pki.serving_cert).verify_directly_issued_by(ca)
    load(pki.admin_cert).verify_directly_issued_by(ca)


def test_a_certificate_near_expiry_is_renewed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(certs, "LEAF_VALIDITY", datetime.timedelta(days=30))
        pki = ensure_pki(tmp_path / "data", host_addresses=HOST)
    short = load(pki.admin_cert)
    ensure_pki(tmp_path / "data", host_addresses=HOST)
    renewed = load(pki.admin_cert)
    assert renewed.not_valid_after_utc - short.not_valid_after_utc > datetime.timedelta(days=300)


def test_issue_client_cert(pki: PKI) -> None:
    cert_path, key_path = issue_client_cert(
        pki, "kube-scheduler", cn="system:kube-scheduler", groups=[]
    )
    assert (cert_path, key_path) == (pki.dir / "kube-scheduler.crt", pki.dir / "kube-scheduler.key")
    assert mode(key_path) == 0o600
    cert = load(cert_path)
    cert.verify_directly_issued_by(load(pki.ca_cert))
    assert cert.subject.rfc4514_string() == "CN=system:kube-scheduler"
    first = cert_path.read_bytes(), key_path.read_bytes()
    issue_client_cert(pki, "kube-scheduler", cn="system:kube-scheduler", groups=[])
    assert (cert_path.read_bytes(), key_path.read_bytes()) == first
    # A different identity under the same name is a new certificate for the same key.
    issue_client_cert(pki, "kube-scheduler", cn="system:kube-scheduler", groups=["g1", "g2"])
    assert key_path.read_bytes() == first[1]
    orgs = load(cert_path).subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    assert [a.value for a in orgs] == ["g1", "g2"]


@pytest.mark.parametrize("name", ["ca", "serving", "sa", "../evil", "Upper", "", "a/b"])
def test_issue_client_cert_refuses_bad_names(pki: PKI, name: str) -> None:
    with pytest.raises(ValueError, match="invalid client certificate name"):
        issue_client_cert(pki, name, cn="x", groups=[])


@pytest.mark.parametrize(
    ("peercert", "identity"),
    [
        (None, None),
        ({}, None),
        ({"subject": ((("organizationName", "system:masters"),),)}, None),
        (
            {
                "subject": (
                    (("organizationName", "system:masters"),),
                    (("commonName", "pocketkube-admin"),),
                )
            },
            ("pocketkube-admin", ["system:masters"]),
        ),
        (
            {
                "subject": (
                    (("countryName", "DE"),),
                    (("organizationName", "a"), ("organizationName", "b")),
                    (("commonName", "alice"),),
                    (("organizationName", "c"),),
                ),
                "issuer": ((("commonName", "pocketkube-ca"),),),
            },
            ("alice", ["a", "b", "c"]),
        ),
        ({"subject": ((("commonName", "bob"),),)}, ("bob", [])),
    ],
)
def test_client_identity(
    peercert: dict[str, object] | None, identity: tuple[str, list[str]] | None
) -> None:
    assert client_identity(peercert) == identity


def test_local_addresses_are_usable_san_ips() -> None:
    for address in local_addresses():
        ip = ipaddress.ip_address(address)
        assert not ip.is_loopback
        assert not ip.is_link_local
        assert not ip.is_unspecified


def test_kubeconfig(tmp_path: Path, pki: PKI) -> None:
    path = tmp_path / "cred" / "admin.kubeconfig"
    write_kubeconfig(
        path,
        server_url="https://127.0.0.1:6443",
        ca_path=pki.ca_cert,
        cert_path=pki.admin_cert,
        key_path=pki.admin_key,
    )
    assert mode(path) == 0o600
    config = yaml.safe_load(path.read_text())
    assert config["apiVersion"] == "v1"
    assert config["kind"] == "Config"
    assert config["current-context"] == "pocketkube"
    assert config["contexts"] == [
        {"name": "pocketkube", "context": {"cluster": "pocketkube", "user": "admin"}}
    ]
    [cluster] = config["clusters"]
    assert cluster["name"] == "pocketkube"
    assert cluster["cluster"]["server"] == "https://127.0.0.1:6443"
    assert base64.b64decode(cluster["cluster"]["certificate-authority-data"]) == (
        pki.ca_cert.read_bytes()
    )
    [user] = config["users"]
    assert user["name"] == "admin"
    cert = x509.load_pem_x509_certificate(base64.b64decode(user["user"]["client-certificate-data"]))
    assert cert == load(pki.admin_cert)
    key = serialization.load_pem_private_key(
        base64.b64decode(user["user"]["client-key-data"]), password=None
    )
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert key.public_key().public_bytes(*spki) == cert.public_key().public_bytes(*spki)
    # Rewriting replaces the file in place, still private.
    write_kubeconfig(
        path,
        server_url="https://10.0.0.1:6443",
        ca_path=pki.ca_cert,
        cert_path=pki.admin_cert,
        key_path=pki.admin_key,
        user="u",
        cluster="c",
        context="x",
    )
    assert mode(path) == 0o600
    config = yaml.safe_load(path.read_text())
    assert config["current-context"] == "x"
    assert config["contexts"] == [{"name": "x", "context": {"cluster": "c", "user": "u"}}]
    assert sorted(p.name for p in path.parent.iterdir()) == ["admin.kubeconfig"]
