"""The cluster CA as a certificate signer (upstream's ``certificates/authority``).

``CertificateAuthority.sign`` issues a certificate for a CSR under upstream's permissive
policy: the request's subject, public key and SANs are kept, every other extension it asked
for is dropped; key usages come from the CSR's ``usages`` (unknown ones are refused), the
certificate is never a CA; it starts 5 minutes in the past (clock skew between machines), and
lasts its TTL from then, or from now for a TTL under 8 hours so that backdating does not eat
a short certificate; it never outlives the CA. ``FileCA`` reads the CA from its two files and
rereads them when they change, as upstream's dynamic CA loader does.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

log = logging.getLogger(__name__)

BACKDATE = dt.timedelta(minutes=5)
SHORT = dt.timedelta(hours=8)  # 5 minutes of backdating is roughly 1% of 8 hours

SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

_KEY_USAGES = {
    "signing": "digital_signature",
    "digital signature": "digital_signature",
    "content commitment": "content_commitment",
    "key encipherment": "key_encipherment",
    "key agreement": "key_agreement",
    "data encipherment": "data_encipherment",
    "cert sign": "key_cert_sign",
    "crl sign": "crl_sign",
    "encipher only": "encipher_only",
    "decipher only": "decipher_only",
}
_EXT_KEY_USAGES = {
    "any": ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    "server auth": ExtendedKeyUsageOID.SERVER_AUTH,
    "client auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "code signing": ExtendedKeyUsageOID.CODE_SIGNING,
    "email protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "s/mime": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "ipsec end system": x509.ObjectIdentifier("1.3.6.1.5.5.7.3.5"),
    "ipsec tunnel": x509.ObjectIdentifier("1.3.6.1.5.5.7.3.6"),
    "ipsec user": x509.ObjectIdentifier("1.3.6.1.5.5.7.3.7"),
    "timestamping": ExtendedKeyUsageOID.TIME_STAMPING,
    "ocsp signing": ExtendedKeyUsageOID.OCSP_SIGNING,
    "microsoft sgc": x509.ObjectIdentifier("1.3.6.1.4.1.311.10.3.3"),
    "netscape sgc": x509.ObjectIdentifier("2.16.840.1.113730.4.1"),
}
# Go orders extended key usages by its own enum; this is that order.
_EKU_ORDER = [
    "any",
    "server auth",
    "client auth",
    "code signing",
    "email protection",
    "ipsec end system",
    "ipsec tunnel",
    "ipsec user",
    "timestamping",
    "ocsp signing",
    "microsoft sgc",
    "netscape sgc",
]


class SigningError(ValueError):
    pass


def validity(
    *, now: dt.datetime, ttl: dt.timedelta, ca_not_after: dt.datetime
) -> tuple[dt.datetime, dt.datetime]:
    """(notBefore, notAfter) under upstream's policy; SigningError once the CA has expired."""
    not_before = now - BACKDATE
    not_after = now + ttl if ttl < SHORT else not_before + ttl
    not_after = min(not_after, ca_not_after)
    if not_before >= ca_not_after:
        raise SigningError(f"the signer has expired: NotAfter={ca_not_after}")
    if now >= ca_not_after:
        raise SigningError(
            f"refusing to sign a certificate that expired in the past: NotAfter={ca_not_after}"
        )
    return not_before, not_after


def _key_usage(usages: list[str]) -> tuple[x509.KeyUsage | None, x509.ExtendedKeyUsage | None]:
    flags = dict.fromkeys(set(_KEY_USAGES.values()), False)
    ekus: set[str] = set()
    unrecognized = []
    for usage in usages:
        if usage in _KEY_USAGES:
            flags[_KEY_USAGES[usage]] = True
        elif usage in _EXT_KEY_USAGES:
            ekus.add(usage)
        else:
            unrecognized.append(usage)
    if unrecognized:
        quoted = " ".join(f'"{u}"' for u in unrecognized)
        raise SigningError(f"unrecognized usage values: [{quoted}]")
    key_usage = None
    if any(flags.values()):
        try:
            key_usage = x509.KeyUsage(**flags)
        except ValueError as err:
            raise SigningError(str(err)) from None
    ordered = sorted(ekus, key=_EKU_ORDER.index)
    extended = x509.ExtendedKeyUsage([_EXT_KEY_USAGES[u] for u in ordered]) if ordered else None
    return key_usage, extended


def _hash_for(key: SigningKey) -> hashes.SHA256 | hashes.SHA384 | hashes.SHA512 | None:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.key_size > 384:
            return hashes.SHA512()
        if key.curve.key_size > 256:
            return hashes.SHA384()
    return hashes.SHA256()


@dataclass(frozen=True)
class CertificateAuthority:
    certificate: x509.Certificate
    key: SigningKey

    def sign(
        self,
        request: x509.CertificateSigningRequest,
        *,
        usages: list[str],
        ttl: dt.timedelta,
        now: dt.datetime,
    ) -> x509.Certificate:
        if not request.is_signature_valid:
            raise SigningError(
                "unable to verify certificate request signature: "
                "x509: signature verification failure"
            )
        not_before, not_after = validity(
            now=now, ttl=ttl, ca_not_after=self.certificate.not_valid_after_utc
        )
        key_usage, extended = _key_usage(usages)
        builder = (
            x509.CertificateBuilder()
            .subject_name(request.subject)
            .issuer_name(self.certificate.subject)
            .public_key(request.public_key())
            .serial_number(int.from_bytes(os.urandom(16), "big") or 1)
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        )
        if key_usage is not None:
            builder = builder.add_extension(key_usage, critical=True)
        if extended is not None:
            builder = builder.add_extension(extended, critical=False)
        try:
            sans = request.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
        except x509.ExtensionNotFound:
            pass
        else:
            # Critical when the subject is empty, as RFC 5280 (and Go) has it.
            builder = builder.add_extension(sans.value, critical=not list(request.subject))
        try:
            ski = self.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        except x509.ExtensionNotFound:
            pass
        else:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski.value),
                critical=False,
            )
        return builder.sign(self.key, _hash_for(self.key))


class FileCA:
    """The CA in ``cert_file``/``key_file``, reloaded when either file changes."""

    def __init__(self, *, cert_file: Path, key_file: Path) -> None:
        self._cert_file = cert_file
        self._key_file = key_file
        self._stamp: tuple[tuple[int, int], tuple[int, int]] | None = None
        self._ca: CertificateAuthority | None = None
        self.current()  # fail at start on unreadable files, as upstream does

    def _stat(self, path: Path) -> tuple[int, int]:
        info = path.stat()
        return info.st_mtime_ns, info.st_size

    def current(self) -> CertificateAuthority:
        stamp = (self._stat(self._cert_file), self._stat(self._key_file))
        if self._ca is None or stamp != self._stamp:
            self._ca = load_ca(self._cert_file, self._key_file)
            self._stamp = stamp
            log.info("loaded the signing CA from %s", self._cert_file)
        return self._ca


def load_ca(cert_file: Path, key_file: Path) -> CertificateAuthority:
    certificate = x509.load_pem_x509_certificate(cert_file.read_bytes())
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    if not isinstance(
        key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    ):
        raise SigningError(f"{key_file}: unsupported private key type {type(key).__name__}")
    return CertificateAuthority(certificate=certificate, key=key)
