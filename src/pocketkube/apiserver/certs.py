"""Certificate mechanics for the PKI: keys, a self-signed CA and the leaves it signs, on disk.

Every ``ensure_*`` here loads what is on disk when it still fits and otherwise makes it anew: a
leaf is reissued when its key, issuer, subject, extended key usage or SANs no longer match its
:class:`CertSpec`, or when it expires within :data:`RENEW_BEFORE`. Keys are written before the
certificates that certify them, and every file is replaced atomically, so a crash between two
writes leaves a state the next call repairs.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

CA_VALIDITY = datetime.timedelta(days=3650)
LEAF_VALIDITY = datetime.timedelta(days=365)
RENEW_BEFORE = datetime.timedelta(days=90)  # k3s renews at start within 90 days of expiry
BACKDATE = datetime.timedelta(hours=1)  # accept peers whose clocks run a little behind

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class CertSpec:
    """What a leaf certificate must say; SANs beyond the requested ones are tolerated."""

    subject: x509.Name
    usage: x509.ObjectIdentifier  # the one extendedKeyUsage: serverAuth or clientAuth
    dns: tuple[str, ...] = ()
    ips: tuple[IPAddress, ...] = ()


def write_file_atomic(path: Path, data: bytes, *, mode: int) -> None:
    """Replace ``path`` with ``data`` so readers see the old or the new file, never a part."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def ensure_ca(
    cert_path: Path, key_path: Path, *, common_name: str
) -> tuple[x509.Certificate, SigningKey]:
    """The self-signed CA at ``cert_path``/``key_path``; kept as long as it matches its key, since
    replacing it would invalidate every credential it has signed."""
    key = ensure_key(key_path)
    subject = subject_name(common_name)
    cert = _load_existing(cert_path)
    if cert is not None and _same_key(cert, key) and cert.subject == subject:
        return cert, key
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    now = _now()
    builder = (
        _builder(subject, subject, key, now - BACKDATE, now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), False)
    )
    cert = builder.sign(key, hashes.SHA256())
    write_file_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return cert, key


def ensure_leaf(
    cert_path: Path, key_path: Path, leaf: CertSpec, ca_cert: x509.Certificate, ca_key: SigningKey
) -> None:
    """The certificate at ``cert_path`` for ``leaf``, signed by the CA, reissued unless it fits."""
    key = ensure_key(key_path)
    cert = _load_existing(cert_path)
    if cert is not None and _fits(cert, key, leaf, ca_cert):
        return
    now = _now()
    not_after = min(now + LEAF_VALIDITY, ca_cert.not_valid_after_utc)
    ca_public = ca_key.public_key()
    builder = (
        _builder(leaf.subject, ca_cert.subject, key, now - BACKDATE, not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([leaf.usage]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_public), False)
    )
    if leaf.dns or leaf.ips:
        sans = [*map(x509.DNSName, leaf.dns), *map(x509.IPAddress, leaf.ips)]
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    write_file_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)


def _fits(
    cert: x509.Certificate, key: SigningKey, leaf: CertSpec, ca_cert: x509.Certificate
) -> bool:
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    if not _same_key(cert, key) or cert.subject != leaf.subject:
        return False
    if cert.not_valid_after_utc - RENEW_BEFORE < _now():
        return False
    try:
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        sans = x509.SubjectAlternativeName([])
    has_dns = set(sans.get_values_for_type(x509.DNSName))
    has_ips = set(sans.get_values_for_type(x509.IPAddress))
    return leaf.usage in usage and has_dns >= set(leaf.dns) and has_ips >= set(leaf.ips)


def ensure_key(path: Path, *, rsa_bits: int = 0) -> SigningKey:
    """Load the key at ``path``, or make and write one (RSA if ``rsa_bits``, else P-256)."""
    if path.exists():
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        return load_signing_key(path)
    key: SigningKey = (
        rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
        if rsa_bits
        else ec.generate_private_key(ec.SECP256R1())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    write_file_atomic(path, pem, mode=0o600)
    return key


def load_signing_key(path: Path) -> SigningKey:
    """Load a private key; an unreadable one is an error for the operator, never replaced, since
    a new CA or service-account key would invalidate every credential issued with the old one."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError as err:
        raise ValueError(f"{path}: not a readable PEM private key ({err})") from err
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"{path}: unsupported key type {type(key).__name__}")
    return key


def load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _load_existing(path: Path) -> x509.Certificate | None:
    """A certificate can always be reissued, so one that is missing or unreadable is no error."""
    try:
        return load_cert(path)
    except (FileNotFoundError, ValueError):
        return None


def _same_key(cert: x509.Certificate, key: SigningKey) -> bool:
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return cert.public_key().public_bytes(*spki) == key.public_key().public_bytes(*spki)


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    key: SigningKey,
    not_before: datetime.datetime,
    not_after: datetime.datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def subject_name(common_name: str, organizations: Sequence[str] = ()) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    return x509.Name([*attributes, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)
