"""Compact JSON Web Tokens signed with RS256, the only form Kubernetes issues for service accounts.

Signing and verifying are the few lines RFC 7515/7519 need over ``cryptography``: base64url
without padding, ``header.claims.signature``, PKCS#1 v1.5 over SHA-256. Verification checks the
signature first and the time claims after, allowing upstream's one minute of clock skew; claims
other than ``exp``/``nbf`` are the caller's to judge (issuer, audience, the objects bound).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

LEEWAY_SECONDS = 60  # go-jose's DefaultLeeway, which upstream's validator uses
Clock = Callable[[], float]


class InvalidToken(Exception):
    """Not a well-formed or not a validly signed token."""


class ExpiredToken(InvalidToken):
    """Validly signed, but past ``exp`` (or before ``nbf``)."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidToken("malformed base64url segment") from None


def key_id(public_key: rsa.RSAPublicKey) -> str:
    """Upstream's ``kid``: base64url of the SHA-256 of the DER (PKIX) public key."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return b64url(hashlib.sha256(der).digest())


def sign(claims: Mapping[str, Any], key: rsa.RSAPrivateKey) -> str:
    header = {"alg": "RS256", "kid": key_id(key.public_key())}
    signing_input = ".".join(
        b64url(orjson.dumps(part, option=orjson.OPT_SORT_KEYS)) for part in (header, claims)
    )
    signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


def unverified_claims(token: str) -> dict[str, Any]:
    """The claims without checking anything: to tell whose token it is (by ``iss``)."""
    return _parse(token)[1]


def verify(
    token: str, key: rsa.RSAPublicKey, *, clock: Clock = time.time, leeway: int = LEEWAY_SECONDS
) -> dict[str, Any]:
    """The claims of a token signed by ``key`` and valid now; raises :class:`InvalidToken`."""
    header, claims, signing_input, signature = _parse(token)
    if header.get("alg") != "RS256":
        raise InvalidToken(f"unexpected signing algorithm {header.get('alg')!r}")
    try:
        key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise InvalidToken("invalid token signature") from None
    now = clock()
    expires, not_before = claims.get("exp"), claims.get("nbf")
    if expires is not None and (not _is_number(expires) or now > expires + leeway):
        raise ExpiredToken("token is expired (exp)")
    if not_before is not None and (not _is_number(not_before) or now + leeway < not_before):
        raise ExpiredToken("token not valid yet (nbf)")
    return claims


def audiences(claims: Mapping[str, Any]) -> list[str]:
    """``aud`` is a string or a list of strings (RFC 7519 §4.1.3)."""
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    if isinstance(aud, list):
        return [a for a in aud if isinstance(a, str)]
    return []


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _parse(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("a JWT has three dot-separated parts")
    try:
        header = orjson.loads(b64url_decode(parts[0]))
        claims = orjson.loads(b64url_decode(parts[1]))
    except orjson.JSONDecodeError:
        raise InvalidToken("malformed JWT segment") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise InvalidToken("JWT header and claims must be JSON objects")
    signing_input = f"{parts[0]}.{parts[1]}".encode("ascii", errors="replace")
    return header, claims, signing_input, b64url_decode(parts[2])
