"""Kubeconfig parsing, and the TLS context it builds."""

from __future__ import annotations

import base64
import datetime
import ssl
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pocketkube.client import ConfigError, load_kubeconfig


def self_signed(name: str) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def kubeconfig(
    *, cluster: dict[str, Any], user: dict[str, Any], current: str = "main"
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "other", "cluster": {"server": "https://elsewhere:6443"}},
            {"name": "c", "cluster": cluster},
        ],
        "users": [{"name": "u", "user": user}],
        "contexts": [
            {"name": "main", "context": {"cluster": "c", "user": "u"}},
            {"name": "other", "context": {"cluster": "other"}},
        ],
        "current-context": current,
    }


def write(path: Path, document: Any) -> Path:
    path.write_text(yaml.safe_dump(document))
    return path


def test_embedded_credentials(tmp_path: Path) -> None:
    ca, _ = self_signed("ca")
    cert, key = self_signed("admin")
    path = write(
        tmp_path / "config",
        kubeconfig(
            cluster={"server": "https://127.0.0.1:6443/", "certificate-authority-data": b64(ca)},
            user={"client-certificate-data": b64(cert), "client-key-data": b64(key)},
        ),
    )
    config = load_kubeconfig(path, user_agent="tester/1")
    assert config.server == "https://127.0.0.1:6443"
    assert (config.ca_data, config.cert_data, config.key_data) == (ca, cert, key)
    assert config.headers() == {"User-Agent": "tester/1"}
    assert b64(key) not in repr(config)
    context = config.ssl_context()
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert list(tmp_path.iterdir()) == [path]  # no key left behind


def test_credentials_in_files_relative_to_the_kubeconfig(tmp_path: Path) -> None:
    ca, _ = self_signed("ca")
    cert, key = self_signed("admin")
    (tmp_path / "pki").mkdir()
    for name, data in (("ca.crt", ca), ("admin.crt", cert), ("admin.key", key)):
        (tmp_path / "pki" / name).write_bytes(data)
    path = write(
        tmp_path / "config",
        kubeconfig(
            cluster={"server": "https://h:1", "certificate-authority": "pki/ca.crt"},
            user={
                "client-certificate": "pki/admin.crt",
                "client-key": str(tmp_path / "pki/admin.key"),
            },
        ),
    )
    config = load_kubeconfig(path)
    assert (config.ca_data, config.cert_data, config.key_data) == (ca, cert, key)
    assert config.ssl_context() is not None


@pytest.mark.parametrize(
    ("user", "authorization"),
    [
        ({"token": "abc"}, "Bearer abc"),
        ({"tokenFile": "token"}, "Bearer from-file"),
        ({}, None),
    ],
)
def test_tokens(tmp_path: Path, user: dict[str, Any], authorization: str | None) -> None:
    (tmp_path / "token").write_text("from-file\n")
    path = write(tmp_path / "config", kubeconfig(cluster={"server": "https://h:1"}, user=user))
    assert load_kubeconfig(path).headers().get("Authorization") == authorization


def test_a_named_context_and_plain_http(tmp_path: Path) -> None:
    document = kubeconfig(cluster={"server": "http://127.0.0.1:8080"}, user={})
    path = write(tmp_path / "config", document)
    assert load_kubeconfig(path).ssl_context() is None
    assert load_kubeconfig(path, context="other").server == "https://elsewhere:6443"


def test_insecure_skip_tls_verify(tmp_path: Path) -> None:
    cluster = {"server": "https://h:1", "insecure-skip-tls-verify": True}
    path = write(tmp_path / "config", kubeconfig(cluster=cluster, user={}))
    context = load_kubeconfig(path).ssl_context()
    assert context is not None
    assert context.verify_mode == ssl.CERT_NONE


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("[1, 2", "cannot read"),
        ("- a list", "not a mapping"),
        (kubeconfig(cluster={"server": "https://h"}, user={}, current=""), "no current-context"),
        (kubeconfig(cluster={"server": "https://h"}, user={}, current="nope"), "no context"),
        (kubeconfig(cluster={}, user={}), "has no server"),
        (
            kubeconfig(cluster={"server": "h", "certificate-authority-data": "%%"}, user={}),
            "not valid base64",
        ),
        (
            kubeconfig(cluster={"server": "h", "certificate-authority": "missing"}, user={}),
            "cannot read certificate-authority",
        ),
    ],
)
def test_broken_kubeconfigs(tmp_path: Path, document: Any, message: str) -> None:
    path = tmp_path / "config"
    if isinstance(document, str):
        path.write_text(document)
    else:
        write(path, document)
    with pytest.raises(ConfigError, match=message):
        load_kubeconfig(path)


def test_a_missing_kubeconfig(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_kubeconfig(tmp_path / "nope")
