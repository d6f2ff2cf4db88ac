"""The kubelet's serving certificate (what the API server verifies when it calls :10250).

Three sources, as upstream's kubelet: ``--tls-cert-file``/``--tls-private-key-file`` (``pocketkube
server`` issues them for its own node from the cluster CA); ``--rotate-server-certificates``: a
CertificateSigningRequest to signer ``kubernetes.io/kubelet-serving`` for ``CN=system:node:<n>,
O=system:nodes`` with the node's IPs and hostname as SANs and usages digital signature + server
auth, waited for with the TLS bootstrap's helpers (``certbootstrap``) and kept in
``<cert-dir>/kubelet-server-current.pem``; else a self-signed certificate in ``<cert-dir>/
kubelet.crt`` (upstream's fallback, which no verifying client accepts).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pocketkube.client.rest import Obj
from pocketkube.kubelet.certbootstrap import (
    NODE_USER_PREFIX,
    NODES_GROUP,
    BootstrapError,
    CSRClient,
    csr_object,
    digested_name,
    generate_key,
    load_or_generate_key,
    node_subject,
    request_certificate,
    wait_for_certificate,
    write_private,
)

log = logging.getLogger(__name__)

KUBELET_SERVING_SIGNER = "kubernetes.io/kubelet-serving"
SERVING_USAGES = ("digital signature", "server auth")
SERVER_CURRENT_PEM = "kubelet-server-current.pem"
SERVER_TMP_KEY = "kubelet-server.key.tmp"
RENEW_BEFORE = datetime.timedelta(days=1)


@dataclass(frozen=True)
class ServingFiles:
    cert_file: Path
    key_file: Path


def _sans(ips: Sequence[str], names: Sequence[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):
        if name:
            out.append(x509.DNSName(name))
    for ip in dict.fromkeys(ips):
        if ip:
            out.append(x509.IPAddress(ipaddress.ip_address(ip)))
    return out


def _key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise BootstrapError("the serving key is not an ECDSA key")
    return key


def _covers(cert: x509.Certificate, ips: Sequence[str], names: Sequence[str]) -> bool:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    have = {str(v) for v in ext.get_values_for_type(x509.DNSName)}
    have |= {str(v) for v in ext.get_values_for_type(x509.IPAddress)}
    want = {n for n in names if n} | {str(ipaddress.ip_address(i)) for i in ips if i}
    return want <= have


def current_pair(
    path: Path, ips: Sequence[str], names: Sequence[str], key_path: Path | None = None
) -> bool:
    """Whether ``path`` holds a certificate for these SANs, not expiring within a day, and
    ``key_path`` (default: ``path`` too) its key."""
    try:
        data = path.read_bytes()
        cert = x509.load_pem_x509_certificates(data)[0]
        key = _key(key_path.read_bytes() if key_path is not None else data)
    except (OSError, ValueError, IndexError, BootstrapError):
        return False
    if _spki(key.public_key()) != _spki(cert.public_key()):
        return False
    now = datetime.datetime.now(datetime.UTC)
    return cert.not_valid_after_utc - RENEW_BEFORE > now and _covers(cert, ips, names)


def _spki(public_key: Any) -> bytes:
    der: bytes = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der


def self_signed(
    cert_dir: Path, node_name: str, ips: Sequence[str], names: Sequence[str]
) -> ServingFiles:
    """``kubelet.crt``/``kubelet.key``: self-signed, as upstream's kubelet makes without a CA."""
    cert_path, key_path = cert_dir / "kubelet.crt", cert_dir / "kubelet.key"
    if current_pair(cert_path, ips, names, key_path):
        return ServingFiles(cert_path, key_path)
    key_pem = generate_key()
    key = _key(key_pem)
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, f"{node_name}@{int(now.timestamp())}")]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(_sans(ips, names)), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    write_private(key_path, key_pem)
    write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return ServingFiles(cert_path, key_path)


def serving_csr(key_pem: bytes, node_name: str, ips: Sequence[str], names: Sequence[str]) -> Obj:
    """The kubelet-serving CertificateSigningRequest object, named by its digest."""
    key = _key(key_pem)
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(node_subject(node_name))
        .add_extension(x509.SubjectAlternativeName(_sans(ips, names)), critical=False)
        .sign(key, hashes.SHA256())
    )
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # The SANs are part of the digest: a request for other addresses is another request.
    sans = sorted({*names, *ips})
    name = digested_name(
        spki, NODE_USER_PREFIX + node_name, [NODES_GROUP], [*SERVING_USAGES, *sans]
    )
    name = "kubelet-serving-" + name.removeprefix("node-csr-")
    obj = csr_object(name, request.public_bytes(serialization.Encoding.PEM), SERVING_USAGES)
    obj["spec"]["signerName"] = KUBELET_SERVING_SIGNER
    return obj


async def request_serving_cert(
    client: CSRClient,
    *,
    cert_dir: Path,
    node_name: str,
    ips: Sequence[str],
    names: Sequence[str],
    wait: float = 3600.0,
) -> ServingFiles:
    """The CSR flow: reuse ``kubelet-server-current.pem`` while it fits, else ask and wait."""
    current = cert_dir / SERVER_CURRENT_PEM
    if await asyncio.to_thread(current_pair, current, ips, names):
        return ServingFiles(current, current)
    await asyncio.to_thread(cert_dir.mkdir, parents=True, exist_ok=True, mode=0o700)
    key_pem = await asyncio.to_thread(load_or_generate_key, cert_dir / SERVER_TMP_KEY)
    csr = serving_csr(key_pem, node_name, ips, names)
    name = str(csr["metadata"]["name"])
    uid = await request_certificate(client, csr=csr, key_pem=key_pem)
    log.info("waiting for the kubelet-serving certificate signing request %s", name)
    try:
        async with asyncio.timeout(wait):
            certificate = await wait_for_certificate(client, name=name, uid=uid)
    except TimeoutError:
        raise BootstrapError(
            f"timed out waiting for serving certificate signing request {name}"
        ) from None
    await asyncio.to_thread(_store, cert_dir, certificate, key_pem)
    return ServingFiles(current, current)


def _store(cert_dir: Path, certificate: bytes, key_pem: bytes) -> None:
    now = datetime.datetime.now(datetime.UTC)
    name = f"kubelet-server-{now.strftime('%Y-%m-%d-%H-%M-%S')}.pem"
    write_private(cert_dir / name, certificate.rstrip(b"\n") + b"\n" + key_pem)
    link = cert_dir / f".{SERVER_CURRENT_PEM}.tmp"
    with contextlib.suppress(FileNotFoundError):
        link.unlink()
    link.symlink_to(name)
    os.replace(link, cert_dir / SERVER_CURRENT_PEM)
    with contextlib.suppress(FileNotFoundError):
        (cert_dir / SERVER_TMP_KEY).unlink()
