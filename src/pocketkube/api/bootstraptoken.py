"""Bootstrap tokens and the signatures made with them, as ``k8s.io/cluster-bootstrap`` has them.

A bootstrap token ``<id>.<secret>`` lives in a Secret ``bootstrap-token-<id>`` in kube-system
of type ``bootstrap.kubernetes.io/token``. It serves two purposes: authenticating a joining
node (the API server's bootstrap authenticator) and signing the ``cluster-info`` ConfigMap in
kube-public, so a joining node that knows only the token can trust what it downloaded
anonymously (kubeadm's token discovery). The signature is a JWS (HS256, the token secret as
the key, ``kid`` = the token id) in compact form with the payload cut out
(``header..signature``): the payload is the ConfigMap's ``kubeconfig`` value, which the
reader already has.

``ca_cert_hash`` is kubeadm's CA pin: SHA-256 over the certificate's SubjectPublicKeyInfo. It
walks just enough DER to find the SPKI, keeping this module stdlib-only; ``spki_hash`` takes
an SPKI that a caller with an X.509 parser already has.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from datetime import UTC, datetime

NAMESPACE = "kube-system"
SECRET_PREFIX = "bootstrap-token-"
SECRET_TYPE = "bootstrap.kubernetes.io/token"

TOKEN_ID_KEY = "token-id"
TOKEN_SECRET_KEY = "token-secret"
EXPIRATION_KEY = "expiration"
DESCRIPTION_KEY = "description"
EXTRA_GROUPS_KEY = "auth-extra-groups"
USAGE_AUTHENTICATION_KEY = "usage-bootstrap-authentication"
USAGE_SIGNING_KEY = "usage-bootstrap-signing"

USER_PREFIX = "system:bootstrap:"
DEFAULT_GROUP = "system:bootstrappers"

# The discovery ConfigMap kubeadm publishes and the bootstrap signer signs.
CLUSTER_INFO_NAMESPACE = "kube-public"
CLUSTER_INFO_NAME = "cluster-info"
KUBECONFIG_KEY = "kubeconfig"
JWS_KEY_PREFIX = "jws-kubeconfig-"

TOKEN = re.compile(r"([a-z0-9]{6})\.([a-z0-9]{16})")
TOKEN_ID = re.compile(r"[a-z0-9]{6}")
EXTRA_GROUP = re.compile(r"system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]")
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def parse_token(token: str) -> tuple[str, str] | None:
    """``(id, secret)`` of a well-formed token, else None."""
    match = TOKEN.fullmatch(token)
    return (match.group(1), match.group(2)) if match else None


def generate_token() -> str:
    """A fresh random token ``<6 chars>.<16 chars>`` from ``[a-z0-9]``."""
    token_id = "".join(secrets.choice(_ALPHABET) for _ in range(6))
    token_secret = "".join(secrets.choice(_ALPHABET) for _ in range(16))
    return f"{token_id}.{token_secret}"


def secret_name(token_id: str) -> str:
    return SECRET_PREFIX + token_id


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def detached_signature(content: str, token_id: str, token_secret: str) -> str:
    """The detached JWS (``header..signature``) of ``content`` under the token."""
    # go-jose marshals the protected header from a map, so its keys come out sorted.
    header = _b64url(json.dumps({"alg": "HS256", "kid": token_id}, separators=(",", ":")).encode())
    payload = _b64url(content.encode())
    mac = hmac.new(token_secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256)
    return f"{header}..{_b64url(mac.digest())}"


def verify_detached_signature(
    signature: str, content: str, token_id: str, token_secret: str
) -> bool:
    """Whether ``signature`` is the detached JWS of ``content`` made with this token."""
    expected = detached_signature(content, token_id, token_secret)
    return hmac.compare_digest(signature.encode(), expected.encode())


def parse_expiration(value: str) -> datetime | None:
    """An RFC 3339 ``expiration`` value; None if it cannot be read or has no offset."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def is_expired(expiration: str, now: datetime) -> bool:
    """Whether a token with this ``expiration`` data value is expired at ``now`` (strictly
    after it). An empty value never expires; one that cannot be parsed counts as expired, as
    upstream.
    """
    if not expiration:
        return False
    moment = parse_expiration(expiration)
    return moment is None or now > moment


def format_expiration(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def decoded_data(secret: dict[str, object]) -> dict[str, str]:
    """A Secret's ``data`` as text; values that are not base64 of UTF-8 are left out."""
    out: dict[str, str] = {}
    data = secret.get("data")
    if not isinstance(data, dict):
        return out
    for key, value in data.items():
        try:
            out[str(key)] = base64.b64decode(str(value), validate=True).decode()
        except ValueError:  # binascii.Error and UnicodeDecodeError are both ValueErrors
            continue
    return out


def spki_hash(spki_der: bytes) -> str:
    """kubeadm's pin form of a SubjectPublicKeyInfo: ``sha256:<hex>``."""
    return "sha256:" + hashlib.sha256(spki_der).hexdigest()


def ca_cert_hash(der_cert: bytes) -> str:
    """kubeadm's ``--discovery-token-ca-cert-hash`` value for a DER certificate."""
    return spki_hash(_subject_public_key_info(der_cert))


def _tlv(der: bytes, offset: int) -> tuple[int, int, int]:
    """(tag, start of contents, end of contents) of the DER element at ``offset``."""
    tag = der[offset]
    length = der[offset + 1]
    start = offset + 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4:
            raise ValueError("unsupported DER length")
        length = int.from_bytes(der[start : start + count], "big")
        start += count
    end = start + length
    if end > len(der):
        raise ValueError("truncated DER")
    return tag, start, end


def _subject_public_key_info(der_cert: bytes) -> bytes:
    """The SPKI element of a certificate: tbsCertificate's 7th field (6th without version)."""
    try:
        _, cert_start, _ = _tlv(der_cert, 0)
        _, tbs_start, tbs_end = _tlv(der_cert, cert_start)
        offset = tbs_start
        tag, _, end = _tlv(der_cert, offset)
        if tag == 0xA0:  # [0] EXPLICIT version
            offset = end
        # serialNumber, signature, issuer, validity, subject
        for _ in range(5):
            _, _, offset = _tlv(der_cert, offset)
        tag, _, end = _tlv(der_cert, offset)
    except IndexError as exc:
        raise ValueError("truncated DER") from exc
    if tag != 0x30 or end > tbs_end:
        raise ValueError("not an X.509 certificate")
    return der_cert[offset:end]
