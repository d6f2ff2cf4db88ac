"""The API server's PKI: the cluster CA and the credentials it signs, kept in ``<data-dir>/tls``.

As k3s does, the server makes its own PKI on first start and reuses it on every later start, so
kubeconfigs and component credentials stay valid across restarts: a cluster CA, the serving
certificate (reissued when a requested SAN such as a new ``--tls-san`` is missing), the
service-account signing key (RSA 2048: Kubernetes signs its tokens with RS256) and an admin client
certificate in group ``system:masters``. Files that still fit are left byte for byte alone
(:mod:`~pocketkube.apiserver.certs` decides); writers hold a lock on the directory, so two servers
started on one data directory do not race. Requests authenticate with a client certificate as
Kubernetes' x509 authenticator reads it: user = CN, groups = every O.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import re
import socket
import ssl
import struct
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from pocketkube.apiserver.certs import (
    CertSpec,
    IPAddress,
    SigningKey,
    ensure_ca,
    ensure_key,
    ensure_leaf,
    load_cert,
    load_signing_key,
    subject_name,
    write_file_atomic,
)

CA_CN = "pocketkube-ca"
SERVING_CN = "kube-apiserver"
ADMIN_CN = "pocketkube-admin"
ADMIN_GROUPS = ("system:masters",)
DEFAULT_DNS_SANS = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
DEFAULT_IP_SANS = ("127.0.0.1", "::1")
_RESERVED_NAMES = frozenset({"ca", "serving", "sa"})
_FILE_NAME = re.compile(r"[a-z0-9][a-z0-9.-]*")
_DNS_NAME = re.compile(
    r"(\*\.)?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*"
)
_SIOCGIFADDR = 0x8915  # Linux ioctl: an interface's IPv4 address, answered by the kernel


@dataclass(frozen=True)
class PKI:
    """Where the cluster's certificates and keys live, and how to load them."""

    dir: Path

    @property
    def ca_cert(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.dir / "ca.key"

    @property
    def serving_cert(self) -> Path:
        return self.dir / "serving.crt"

    @property
    def serving_key(self) -> Path:
        return self.dir / "serving.key"

    @property
    def sa_key(self) -> Path:
        return self.dir / "sa.key"

    @property
    def sa_pub(self) -> Path:
        return self.dir / "sa.pub"

    @property
    def admin_cert(self) -> Path:
        return self.dir / "admin.crt"

    @property
    def admin_key(self) -> Path:
        return self.dir / "admin.key"

    def load_ca(self) -> tuple[x509.Certificate, SigningKey]:
        return load_cert(self.ca_cert), load_signing_key(self.ca_key)

    def load_sa_key(self) -> rsa.RSAPrivateKey:
        key = serialization.load_pem_private_key(self.sa_key.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{self.sa_key}: not an RSA private key")
        return key

    def load_sa_public_key(self) -> rsa.RSAPublicKey:
        key = serialization.load_pem_public_key(self.sa_pub.read_bytes())
        if not isinstance(key, rsa.RSAPublicKey):
            raise ValueError(f"{self.sa_pub}: not an RSA public key")
        return key


def ensure_pki(
    data_dir: Path, *, tls_sans: Sequence[str] = (), host_addresses: Sequence[str] | None = None
) -> PKI:
    """Create what is missing or stale under ``data_dir/tls`` and reuse the rest unchanged.

    ``host_addresses`` defaults to :func:`local_addresses`; ``tls_sans`` are extra names or IPs
    (``--tls-san``) for the serving certificate. Blocking (key generation, fsync): call it before
    the event loop serves, or in a thread.
    """
    _private_dir(data_dir, only_if_new=True)
    pki = PKI(dir=data_dir / "tls")
    _private_dir(pki.dir, only_if_new=False)
    hostname = socket.gethostname().lower()
    names = [*DEFAULT_DNS_SANS, *([hostname] if _DNS_NAME.fullmatch(hostname) else [])]
    addresses = [
        *DEFAULT_IP_SANS,
        *(local_addresses() if host_addresses is None else host_addresses),
    ]
    dns, ips = split_sans([*names, *addresses, *tls_sans])
    serving = CertSpec(subject_name(SERVING_CN), ExtendedKeyUsageOID.SERVER_AUTH, dns, ips)
    with _locked(pki.dir):
        ca_cert, ca_key = ensure_ca(pki.ca_cert, pki.ca_key, common_name=CA_CN)
        ensure_leaf(pki.serving_cert, pki.serving_key, serving, ca_cert, ca_key)
        ensure_leaf(pki.admin_cert, pki.admin_key, _client(ADMIN_CN, ADMIN_GROUPS), ca_cert, ca_key)
        _ensure_sa_key(pki)
    return pki


def issue_client_cert(pki: PKI, name: str, *, cn: str, groups: Sequence[str]) -> tuple[Path, Path]:
    """Ensure ``<name>.crt``/``<name>.key``: a client certificate for user ``cn`` in ``groups``."""
    if not _FILE_NAME.fullmatch(name) or name in _RESERVED_NAMES:
        raise ValueError(f"invalid client certificate name {name!r}")
    cert_path, key_path = pki.dir / f"{name}.crt", pki.dir / f"{name}.key"
    with _locked(pki.dir):
        ca_cert, ca_key = pki.load_ca()
        ensure_leaf(cert_path, key_path, _client(cn, groups), ca_cert, ca_key)
    return cert_path, key_path


def server_ssl_context(pki: PKI) -> ssl.SSLContext:
    """TLS ≥ 1.2 with forward-secret AEAD ciphers; client certificates optional but, when
    presented, verified against the cluster CA (other clients authenticate with tokens)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20")  # TLS 1.3 suites are all modern already
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    context.load_cert_chain(pki.serving_cert, pki.serving_key)
    context.load_verify_locations(cafile=pki.ca_cert)
    context.verify_mode = ssl.CERT_OPTIONAL
    return context


def client_identity(peercert: Mapping[str, object] | None) -> tuple[str, list[str]] | None:
    """User (CN) and groups (every O) of a verified client certificate, as Kubernetes' x509
    authenticator reads them; None without a certificate."""
    common_name: str | None = None
    groups: list[str] = []
    subject = peercert.get("subject", ()) if peercert else ()
    for rdn in subject if isinstance(subject, tuple) else ():
        for attribute in rdn:
            match attribute:
                case ("commonName", str(value)) if common_name is None:
                    common_name = value
                case ("organizationName", str(value)):
                    groups.append(value)
    return (common_name, groups) if common_name else None


def split_sans(names: Sequence[str]) -> tuple[tuple[str, ...], tuple[IPAddress, ...]]:
    """Sort subject alternative names into DNS names and IPs, dropping duplicates."""
    dns: dict[str, None] = {}
    ips: dict[IPAddress, None] = {}
    for raw in names:
        name = raw.strip().lower()
        if not name:
            continue
        try:
            ips[ipaddress.ip_address(name)] = None
        except ValueError:
            if not _DNS_NAME.fullmatch(name):
                raise ValueError(f"SAN {raw!r} is neither an IP address nor a DNS name") from None
            dns[name] = None
    return tuple(dns), tuple(ips)


def local_addresses() -> list[str]:
    """This host's non-loopback, non-link-local addresses, asked of the kernel (no packet sent).

    IPv4 comes from one ``SIOCGIFADDR`` per interface (the primary address), IPv6 from
    ``/proc/net/if_inet6``; elsewhere than Linux the list is empty.
    """
    found: list[IPAddress] = []
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _, interface in socket.if_nameindex():
            request = struct.pack("256s", interface.encode()[:15])
            try:
                reply = fcntl.ioctl(probe.fileno(), _SIOCGIFADDR, request)
            except OSError:
                continue  # the interface has no IPv4 address
            found.append(ipaddress.IPv4Address(reply[20:24]))
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/net/if_inet6").read_text().splitlines():
            found.append(ipaddress.IPv6Address(bytes.fromhex(line.split()[0])))
    usable = (a for a in found if not (a.is_loopback or a.is_link_local or a.is_unspecified))
    return [str(a) for a in dict.fromkeys(usable)]


def _ensure_sa_key(pki: PKI) -> None:
    key = ensure_key(pki.sa_key, rsa_bits=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if not pki.sa_pub.exists() or pki.sa_pub.read_bytes() != public:
        write_file_atomic(pki.sa_pub, public, mode=0o644)


def _client(common_name: str, groups: Sequence[str]) -> CertSpec:
    return CertSpec(subject_name(common_name, groups), ExtendedKeyUsageOID.CLIENT_AUTH)


def _private_dir(path: Path, *, only_if_new: bool) -> None:
    existed = path.is_dir()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not (existed and only_if_new):
        path.chmod(0o700)


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Serialise PKI writers, in this process or another server sharing the data directory."""
    fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
