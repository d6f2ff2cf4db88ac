"""The node join token: its forms, its Secret, and the server's once-only creation of it."""

from __future__ import annotations

import copy
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pocketkube.api import bootstraptoken as bt
from pocketkube.apiserver.authn.bootstrap import BootstrapTokens
from pocketkube.cli import jointoken as jt
from pocketkube.client import ApiError
from pocketkube.client.rest import Obj, Params

HEX = "ab" * 32


def ca_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ca")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("abcdef.0123456789abcdef", ("abcdef", "0123456789abcdef", None)),
        (" abcdef.0123456789abcdef\n", ("abcdef", "0123456789abcdef", None)),
        (f"K10{HEX}::abcdef.0123456789abcdef", ("abcdef", "0123456789abcdef", f"sha256:{HEX}")),
        (f"K10{HEX[:-2]}::abcdef.0123456789abcdef", "CA hash is not 64 hex digits"),
        (f"K10{HEX}::abcdef.0123", "was not of the form"),
        ("ABCDEF.0123456789abcdef", "was not of the form"),
        (f"K10{HEX}::server:password", "was not of the form"),  # k3s's older password form
        ("", "was not of the form"),
    ],
)
def test_parse_join_token(text: str, expected: tuple[str, str, str | None] | str) -> None:
    if isinstance(expected, str):
        with pytest.raises(jt.JoinTokenError, match=expected) as info:
            jt.parse_join_token(text)
        assert "0123" not in str(info.value)  # the secret is never echoed
    else:
        token = jt.parse_join_token(text)
        assert (token.token_id, token.token_secret, token.ca_hash) == expected
        assert jt.parse_join_token(str(token)) == token


def test_the_secret_stays_out_of_repr() -> None:
    token = jt.JoinToken("abcdef", "0123456789abcdef", f"sha256:{HEX}")
    assert "0123456789abcdef" not in repr(token)
    assert str(token) == f"K10{HEX}::abcdef.0123456789abcdef"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f"sha256:{HEX}", f"sha256:{HEX}"),
        (f"sha256:{HEX.upper()}", f"sha256:{HEX}"),
        (HEX, f"sha256:{HEX}"),
        (f"md5:{HEX}", 'unknown hash format "md5"'),
        ("sha256:abcd", "expected a 32 byte SHA-256 hash, found 2 bytes"),
        (f"sha256:{'zz' * 32}", "not hex"),
    ],
)
def test_parse_ca_cert_hash(value: str, expected: str) -> None:
    if expected.startswith("sha256:"):
        assert jt.parse_ca_cert_hash(value) == expected
    else:
        with pytest.raises(jt.JoinTokenError, match=expected):
            jt.parse_ca_cert_hash(value)


def test_the_ca_hash_is_kubeadms_pin() -> None:
    pem = ca_pem()
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    assert jt.ca_hashes(pem) == [bt.ca_cert_hash(der)]


async def test_the_secret_authenticates_as_a_node_bootstrapper() -> None:
    token = jt.JoinToken("abcdef", "0123456789abcdef")
    secret = jt.token_secret(token)
    assert secret["metadata"] == {"name": "bootstrap-token-abcdef", "namespace": "kube-system"}

    async def lookup(resource: str, namespace: str, name: str) -> Obj | None:
        assert (resource, namespace, name) == ("secrets", "kube-system", "bootstrap-token-abcdef")
        return secret

    result = await BootstrapTokens(lookup=lookup).authenticate_token(token.token)
    assert result is not None
    assert result.identity.user == "system:bootstrap:abcdef"
    assert jt.NODE_GROUP in result.identity.groups
    assert "system:bootstrappers" in result.identity.groups
    assert bt.decoded_data(secret)["usage-bootstrap-signing"] == "true"
    assert "expiration" not in secret["data"]


class FakeSecrets:
    def __init__(self) -> None:
        self.secrets: dict[str, Obj] = {}
        self.creates = 0

    async def get(self, path: str, *, params: Params | None = None) -> Obj:
        name = path.rsplit("/", 1)[1]
        assert path == f"/api/v1/namespaces/kube-system/secrets/{name}"
        if name not in self.secrets:
            raise ApiError(404, "NotFound", f'secrets "{name}" not found')
        return copy.deepcopy(self.secrets[name])

    async def create(self, path: str, obj: Obj, *, params: Params | None = None) -> Obj:
        assert path == "/api/v1/namespaces/kube-system/secrets"
        name = obj["metadata"]["name"]
        if name in self.secrets:
            raise ApiError(409, "AlreadyExists", "exists")
        self.creates += 1
        self.secrets[name] = copy.deepcopy(obj)
        return obj


async def test_the_server_makes_the_token_once(tmp_path: Path) -> None:
    api = FakeSecrets()
    ca = tmp_path / "ca.crt"
    ca.write_bytes(ca_pem())
    path = await jt.ensure_join_token(client=api, data_dir=tmp_path, ca_cert=ca)
    assert path == tmp_path / "node-token"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    token = jt.parse_join_token(path.read_text())
    assert token.ca_hash == jt.ca_hashes(ca.read_bytes())[0]
    assert api.creates == 1
    stored = bt.decoded_data(api.secrets[f"bootstrap-token-{token.token_id}"])
    assert stored["token-secret"] == token.token_secret

    # A restart: the same token, nothing created, the file untouched.
    mtime = path.stat().st_mtime_ns
    assert await jt.ensure_join_token(client=api, data_dir=tmp_path, ca_cert=ca) == path
    assert api.creates == 1
    assert path.stat().st_mtime_ns == mtime

    # A datastore that lost the Secret gets it back, for the token nodes already have.
    api.secrets.clear()
    await jt.ensure_join_token(client=api, data_dir=tmp_path, ca_cert=ca)
    assert jt.parse_join_token(path.read_text()) == token
    assert api.creates == 2

    # A new CA: the same token with the new pin.
    ca.write_bytes(ca_pem())
    await jt.ensure_join_token(client=api, data_dir=tmp_path, ca_cert=ca)
    renewed = jt.parse_join_token(path.read_text())
    assert renewed.token == token.token
    assert renewed.ca_hash == jt.ca_hashes(ca.read_bytes())[0] != token.ca_hash


async def test_a_token_whose_secret_holds_another_one_is_replaced(tmp_path: Path) -> None:
    api = FakeSecrets()
    ca = tmp_path / "ca.crt"
    ca.write_bytes(ca_pem())
    (tmp_path / "node-token").write_text("abcdef.0123456789abcdef\n")
    other = jt.token_secret(jt.JoinToken("abcdef", "ffffffffffffffff"))
    api.secrets["bootstrap-token-abcdef"] = other
    await jt.ensure_join_token(client=api, data_dir=tmp_path, ca_cert=ca)
    token = jt.parse_join_token((tmp_path / "node-token").read_text())
    assert token.token_id != "abcdef"
    assert api.secrets["bootstrap-token-abcdef"] == other  # someone else's token is left alone


def test_the_join_command_reads_the_token_file() -> None:
    command = jt.join_command("https://10.0.0.1:6443", Path("/d/node-token"))
    assert (
        command == 'pocketkube agent --server https://10.0.0.1:6443 --token "$(cat /d/node-token)"'
    )
