"""Bootstrap tokens: shape, detached JWS (upstream cluster-bootstrap vectors), kubeadm's CA pin."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from pocketkube.api import bootstraptoken as bt

CONTENT = "Hello from the other side. I must have called a thousand times."
SECRET = "my voice is my passcode"
ID = "joshua"


@pytest.mark.parametrize(
    ("content", "secret", "expected"),
    [
        (
            CONTENT,
            SECRET,
            "eyJhbGciOiJIUzI1NiIsImtpZCI6Impvc2h1YSJ9..VShe2taLd-YTrmWuRkcL_8QTNDHYxQIEBsAYYiIj1_8",
        ),
        (
            "",
            SECRET,
            "eyJhbGciOiJIUzI1NiIsImtpZCI6Impvc2h1YSJ9..7Ui1ALizW4jXphVUB7xUqC9vLYLL9RZeOFfVLoB7Tgk",
        ),
        (
            CONTENT,
            "",
            "eyJhbGciOiJIUzI1NiIsImtpZCI6Impvc2h1YSJ9..UfkqvDGiIFxrMnFseDj9LYJOLNrvjW8aHhF71mvvAs8",
        ),
    ],
)
def test_detached_signature_matches_upstream(content: str, secret: str, expected: str) -> None:
    assert bt.detached_signature(content, ID, secret) == expected
    assert bt.verify_detached_signature(expected, content, ID, secret)


@pytest.mark.parametrize(
    ("signature", "content", "token_id", "secret"),
    [
        ("eyJhbGciOiJIUzI1NiIsImtpZCI6Impvc2h1YSJ9..VShe2taLd-YTrmWuRkcL_8QTNDHYxQIEBsAYYiIj1_8foo",
         CONTENT, ID, SECRET),
        ("eyJhbGciOiJIUzI1NiIsImtpZCI6Impvc2h1YSJ9..VShe2taLd-YTrmWuRkcL_8QTNDHYxQIEBsAYYiIj1_8",
         CONTENT + "x", ID, SECRET),
        ("eyJhbGciOiJIUzI1NiIsImtpZCI6Impvc2h1YSJ9..VShe2taLd-YTrmWuRkcL_8QTNDHYxQIEBsAYYiIj1_8",
         CONTENT, "joshub", SECRET),
        ("", CONTENT, ID, SECRET),
    ],
)  # fmt: skip
def test_verify_refuses_other_inputs(
    signature: str, content: str, token_id: str, secret: str
) -> None:
    assert not bt.verify_detached_signature(signature, content, token_id, secret)


def test_generate_token_has_the_upstream_shape() -> None:
    tokens = {bt.generate_token() for _ in range(20)}
    assert len(tokens) == 20
    for token in tokens:
        parsed = bt.parse_token(token)
        assert parsed is not None
        assert len(parsed[0]) == 6
        assert len(parsed[1]) == 16


@pytest.mark.parametrize(
    ("token", "ok"),
    [
        ("abcdef.0123456789abcdef", True),
        ("ABCDEF.0123456789abcdef", False),
        ("abcde.0123456789abcdef", False),
        ("abcdef:0123456789abcdef", False),
        ("abcdef.0123456789abcdef0", False),
    ],
)
def test_parse_token(token: str, ok: bool) -> None:
    assert (bt.parse_token(token) is not None) == ok


NOW = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("expiration", "expired"),
    [
        ("", False),
        ("2024-05-01T12:00:01Z", False),
        ("2024-05-01T11:59:59Z", True),
        ("2024-05-01T14:00:00+03:00", True),
        ("2024-05-01T12:00:01", True),  # no offset: unreadable, so expired
        ("tomorrow", True),
    ],
)
def test_is_expired(expiration: str, expired: bool) -> None:
    assert bt.is_expired(expiration, NOW) == expired


def test_decoded_data_skips_undecodable_values() -> None:
    secret = {
        "data": {
            "token-id": base64.b64encode(b"abcdef").decode(),
            "bad": "!!!",
            "binary": base64.b64encode(b"\xff\xfe").decode(),
        }
    }
    assert bt.decoded_data(secret) == {"token-id": "abcdef"}
    assert bt.decoded_data({}) == {}


def _certificate(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


@pytest.mark.parametrize(
    "key",
    [ec.generate_private_key(ec.SECP256R1()), rsa.generate_private_key(65537, 2048)],
    ids=["ecdsa", "rsa"],
)
def test_ca_cert_hash_is_sha256_of_the_spki(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
) -> None:
    cert = _certificate(key)
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    expected = "sha256:" + hashlib.sha256(spki).hexdigest()
    assert bt.ca_cert_hash(cert.public_bytes(serialization.Encoding.DER)) == expected
    assert bt.spki_hash(spki) == expected


@pytest.mark.parametrize("der", [b"", b"\x30\x03\x02\x01", b"\x04\x00"])
def test_ca_cert_hash_refuses_garbage(der: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        bt.ca_cert_hash(der)
