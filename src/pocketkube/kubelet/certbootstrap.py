"""Kubelet TLS bootstrap: a node's first client certificate, asked for with a bootstrap token.

Upstream's ``pkg/kubelet/certificate/bootstrap``: a kubelet started with
``--bootstrap-kubeconfig B --kubeconfig K`` uses K when K's client certificate is still valid.
Otherwise it makes an ECDSA P-256 key, posts a CertificateSigningRequest for
``CN=system:node:<node>, O=system:nodes`` to signer ``kubernetes.io/kube-apiserver-client-kubelet``
with B's (bootstrap token) credentials, watches it until the csrapproving and csrsigning
controllers have approved and signed it, stores certificate and key in
``<cert-dir>/kubelet-client-current.pem`` and writes K pointing at that file.

Three details make restarts cheap and safe, as upstream: the CSR's name is a digest of the public
key, subject and usages, so a kubelet that restarts while waiting finds its own request again
(409 → the existing CSR, if it is for the same key) instead of filing a new one; the key waits in
``kubelet-client.key.tmp`` until the certificate arrives, so that restart reuses it; and a kubelet
whose certificate expired asks again with the key it already has.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import os
from collections.abc import AsyncGenerator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pocketkube.client import (
    ApiError,
    Client,
    ClientConfig,
    ConfigError,
    TransportError,
    load_kubeconfig,
)
from pocketkube.client.resources import CERTIFICATE_SIGNING_REQUESTS
from pocketkube.client.rest import Obj, Params, WatchEvent

log = logging.getLogger(__name__)

KUBELET_CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
# An ECDSA key encrypts nothing: upstream accepts these two without key encipherment for it.
NODE_CLIENT_USAGES = ("digital signature", "client auth")
NODES_GROUP = "system:nodes"
NODE_USER_PREFIX = "system:node:"
CURRENT_PEM = "kubelet-client-current.pem"
TMP_KEY = "kubelet-client.key.tmp"
WAIT_TIMEOUT = 3600.0  # upstream gives the approver and signer an hour
SERVER_WAIT = 60.0  # how long an unreachable API server is retried before giving up
RETRY_INTERVAL = 2.0
WATCH_TIMEOUT = 300


class BootstrapError(Exception):
    """The node could not get its client certificate (refused, denied, failed or timed out)."""


class CSRClient(Protocol):
    """What the bootstrap needs of ``Client``."""

    async def create(self, path: str, obj: Obj, *, params: Params | None = None) -> Obj: ...

    async def get(self, path: str, *, params: Params | None = None) -> Obj: ...

    async def list(self, path: str, *, params: Params | None = None) -> Obj: ...

    def watch(
        self, path: str, *, params: Params | None = None
    ) -> AsyncGenerator[WatchEvent, None]: ...


# -- the current credentials -------------------------------------------------------------------
def client_config_still_valid(kubeconfig: Path, *, now: datetime | None = None) -> bool:
    """K exists and every certificate of its client credentials is unexpired (upstream
    ``isClientConfigStillValid``); an unreadable K only means "bootstrap again"."""
    if not kubeconfig.exists():
        return False
    try:
        config = load_kubeconfig(kubeconfig)
    except ConfigError as err:
        log.warning("cannot use the existing kubeconfig %s: %s", kubeconfig, err)
        return False
    if not config.cert_data or not config.key_data:
        return False
    try:
        certs = x509.load_pem_x509_certificates(config.cert_data)
    except ValueError as err:
        log.warning("no client certificate in %s: %s", kubeconfig, err)
        return False
    moment = now or datetime.now(UTC)
    for cert in certs:
        if moment > cert.not_valid_after_utc:
            log.warning(
                "part of the client certificate in %s expired at %s",
                kubeconfig,
                cert.not_valid_after_utc,
            )
            return False
    return bool(certs)


def _private_key(pem: bytes) -> ec.EllipticCurvePrivateKey | None:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        return None
    return key if isinstance(key, ec.EllipticCurvePrivateKey) else None


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,  # "EC PRIVATE KEY", as keyutil writes
        serialization.NoEncryption(),
    )


def reusable_key(cert_dir: Path) -> bytes | None:
    """The key of the current (maybe expired) pair: a renewed certificate keeps its key."""
    try:
        pem = (cert_dir / CURRENT_PEM).read_bytes()
    except OSError:
        return None
    key = _private_key(pem)
    return _key_pem(key) if key is not None else None


def generate_key() -> bytes:
    """A new ECDSA P-256 key, PEM."""
    return _key_pem(ec.generate_private_key(ec.SECP256R1()))


def load_or_generate_key(path: Path) -> bytes:
    """The key in ``path``, or a new ECDSA P-256 key written there (0600) first."""
    with contextlib.suppress(OSError):
        key = _private_key(path.read_bytes())
        if key is not None:
            return _key_pem(key)
    pem = generate_key()
    write_private(path, pem)
    return pem


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically with ``data``, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# -- the request -------------------------------------------------------------------------------
def node_subject(node_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, NODES_GROUP),
            x509.NameAttribute(NameOID.COMMON_NAME, NODE_USER_PREFIX + node_name),
        ]
    )


def make_csr(key_pem: bytes, node_name: str) -> bytes:
    """A PEM ``CERTIFICATE REQUEST`` for the node's client identity, signed by ``key_pem``."""
    key = _private_key(key_pem)
    if key is None:
        raise BootstrapError("invalid private key for certificate request")
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(node_subject(node_name))
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM)


def digested_name(
    public_key_der: bytes, common_name: str, organizations: Sequence[str], usages: Sequence[str]
) -> str:
    """``node-csr-<digest>``: the same key, subject and usages always give the same name.

    Each part is base64url-encoded and followed by ``|`` (outside that alphabet) so that
    different inputs cannot run together into the same stream (upstream ``digestedName``).
    """
    digest = hashlib.new("sha512_256")
    for part in (public_key_der, common_name.encode(), *(o.encode() for o in organizations)):
        digest.update(_b64url(part) + b"|")
    for usage in usages:
        digest.update(_b64url(usage.encode()) + b"|")
    return "node-csr-" + _b64url(digest.digest()).decode()


def _b64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def csr_object(name: str, request_pem: bytes, usages: Sequence[str] = NODE_CLIENT_USAGES) -> Obj:
    return {
        "apiVersion": CERTIFICATE_SIGNING_REQUESTS.api_version,
        "kind": CERTIFICATE_SIGNING_REQUESTS.kind,
        "metadata": {"name": name},
        "spec": {
            "request": base64.b64encode(request_pem).decode("ascii"),
            "signerName": KUBELET_CLIENT_SIGNER,
            "usages": list(usages),
        },
    }


def ensure_compatible(new: Obj, existing: Obj, key_pem: bytes) -> None:
    """An existing CSR of the same name is ours only if it asks the same thing for our key."""
    try:
        theirs = x509.load_pem_x509_csr(base64.b64decode(existing["spec"]["request"]))
        ours = x509.load_pem_x509_csr(base64.b64decode(new["spec"]["request"]))
    except (KeyError, TypeError, ValueError) as err:
        raise BootstrapError(f"retrieved csr is not compatible: unable to parse: {err}") from err
    key = _private_key(key_pem)
    if theirs.subject != ours.subject:
        raise BootstrapError(
            "retrieved csr is not compatible: csr subjects differ: "
            f"new: {ours.subject.rfc4514_string()}, orig: {theirs.subject.rfc4514_string()}"
        )
    if key is None or _spki(theirs.public_key()) != _spki(key.public_key()):
        raise BootstrapError("retrieved csr is not compatible: public keys differ")
    spec = existing.get("spec") or {}
    if spec.get("signerName") != new["spec"]["signerName"]:
        raise BootstrapError(
            "retrieved csr is not compatible: csr signerNames differ: "
            f"new: {new['spec']['signerName']}, orig: {spec.get('signerName')}"
        )
    if sorted(spec.get("usages") or []) != sorted(new["spec"]["usages"]):
        raise BootstrapError("retrieved csr is not compatible: csr usages differ")


def _spki(public_key: Any) -> bytes:
    der: bytes = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der


async def request_certificate(
    client: CSRClient, *, csr: Obj, key_pem: bytes, server_wait: float = SERVER_WAIT
) -> str:
    """Create the CSR (or adopt ours from an earlier start) and return its uid."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + server_wait
    name = csr["metadata"]["name"]
    while True:
        try:
            try:
                created = await client.create(CERTIFICATE_SIGNING_REQUESTS.path(), csr)
            except ApiError as err:
                if not err.already_exists:
                    raise
                created = await client.get(CERTIFICATE_SIGNING_REQUESTS.path(name=name))
                ensure_compatible(csr, created, key_pem)
                log.info("certificate signing request %s already exists: waiting for it", name)
            return str(created["metadata"]["uid"])
        except TransportError as err:
            if loop.time() > deadline:
                raise BootstrapError(f"cannot reach the API server: {err.message}") from err
            log.info("waiting for the API server: %s", err.message)
            await asyncio.sleep(RETRY_INTERVAL)
        except ApiError as err:
            raise BootstrapError(
                f"cannot create certificate signing request {name}: {err.message or err}"
            ) from err


def issued_certificate(csr: Obj, uid: str) -> bytes | None:
    """The certificate once the CSR is approved and signed; ``None`` while pending; a denied
    or failed CSR (or another object of the same name) raises ``BootstrapError``."""
    meta = csr.get("metadata") or {}
    if meta.get("uid") != uid:
        raise BootstrapError(f"csr {meta.get('name')!r} changed UIDs")
    status = csr.get("status") or {}
    approved = False
    for condition in status.get("conditions") or []:
        kind = condition.get("type")
        if kind == "Denied":
            raise BootstrapError(
                "certificate signing request is denied, reason: "
                f"{condition.get('reason', '')}, message: {condition.get('message', '')}"
            )
        if kind == "Failed":
            raise BootstrapError(
                "certificate signing request failed, reason: "
                f"{condition.get('reason', '')}, message: {condition.get('message', '')}"
            )
        if kind == "Approved":
            approved = True
    certificate = status.get("certificate")
    if approved and certificate:
        return base64.b64decode(certificate)
    return None


async def wait_for_certificate(client: CSRClient, *, name: str, uid: str) -> bytes:
    """Watch CSR ``name`` until it is issued (upstream ``csr.WaitForCertificate``); the caller
    bounds the wait."""
    selector = f"metadata.name={name}"
    while True:
        try:
            listed = await client.list(
                CERTIFICATE_SIGNING_REQUESTS.path(), params={"fieldSelector": selector}
            )
            items = listed.get("items") or []
            if not items:
                raise BootstrapError(f"csr {name!r} was deleted")
            if (certificate := issued_certificate(items[0], uid)) is not None:
                return certificate
            log.info("certificate signing request %s is pending", name)
            params: Params = {
                "fieldSelector": selector,
                "resourceVersion": str(listed.get("metadata", {}).get("resourceVersion", "")),
                "timeoutSeconds": WATCH_TIMEOUT,
            }
            events = client.watch(CERTIFICATE_SIGNING_REQUESTS.path(), params=params)
            async with contextlib.aclosing(events):
                async for event in events:
                    if event.type == "DELETED":
                        raise BootstrapError(f"csr {name!r} was deleted")
                    if event.type not in ("ADDED", "MODIFIED"):
                        continue
                    if (certificate := issued_certificate(event.object, uid)) is not None:
                        return certificate
        except ApiError as err:
            if not _retriable(err):
                raise BootstrapError(
                    f"cannot watch certificate signing request {name}: {err.message or err}"
                ) from err
            log.info("watching certificate signing request %s: %s", name, err)
            await asyncio.sleep(RETRY_INTERVAL)


def _retriable(err: ApiError) -> bool:
    return isinstance(err, TransportError) or err.gone or err.status == 429 or err.status >= 500


# -- storing it --------------------------------------------------------------------------------
def store_certificate(cert_dir: Path, cert_pem: bytes, key_pem: bytes, *, now: datetime) -> Path:
    """Write ``kubelet-client-<time>.pem`` (certificate then key, 0600) and point
    ``kubelet-client-current.pem`` at it, as upstream's certificate file store does."""
    certs = x509.load_pem_x509_certificates(cert_pem)
    key = _private_key(key_pem)
    if key is None or _spki(certs[0].public_key()) != _spki(key.public_key()):
        raise BootstrapError("the issued certificate is not for this node's private key")
    name = f"kubelet-client-{now.strftime('%Y-%m-%d-%H-%M-%S')}.pem"
    write_private(cert_dir / name, cert_pem.rstrip(b"\n") + b"\n" + key_pem)
    current = cert_dir / CURRENT_PEM
    link = cert_dir / f".{CURRENT_PEM}.tmp"
    with contextlib.suppress(FileNotFoundError):
        link.unlink()
    link.symlink_to(name)
    os.replace(link, current)
    return current


def write_cert_kubeconfig(
    path: Path, *, server: str, ca_data: bytes | None, insecure: bool, pem_path: Path
) -> None:
    """K: the bootstrap kubeconfig's cluster with the issued certificate as the user."""
    cluster: dict[str, Any] = {"server": server}
    if ca_data:
        cluster["certificate-authority-data"] = base64.b64encode(ca_data).decode("ascii")
    if insecure:
        cluster["insecure-skip-tls-verify"] = True
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "default-cluster", "cluster": cluster}],
        "users": [
            {
                "name": "default-auth",
                "user": {"client-certificate": str(pem_path), "client-key": str(pem_path)},
            }
        ],
        "contexts": [
            {
                "name": "default-context",
                "context": {
                    "cluster": "default-cluster",
                    "user": "default-auth",
                    "namespace": "default",
                },
            }
        ],
        "current-context": "default-context",
    }
    write_private(path, yaml.safe_dump(config, sort_keys=False).encode())


# -- all of it ---------------------------------------------------------------------------------
def node_key(cert_dir: Path) -> bytes:
    """The key to ask with: the current pair's, else the one waiting in ``TMP_KEY`` (made now
    if there is none)."""
    cert_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return reusable_key(cert_dir) or load_or_generate_key(cert_dir / TMP_KEY)


def node_csr(key_pem: bytes, node_name: str) -> Obj:
    """The node's CertificateSigningRequest object, named by its digest."""
    key = _private_key(key_pem)
    if key is None:
        raise BootstrapError("invalid private key for certificate request")
    name = digested_name(
        _spki(key.public_key()), NODE_USER_PREFIX + node_name, [NODES_GROUP], NODE_CLIENT_USAGES
    )
    return csr_object(name, make_csr(key_pem, node_name))


def finish(
    *, cert_dir: Path, kubeconfig: Path, certificate: bytes, key_pem: bytes, bootstrap: ClientConfig
) -> Path:
    """Store the issued pair, drop the waiting key and write K."""
    pem_path = store_certificate(cert_dir, certificate, key_pem, now=datetime.now(UTC))
    with contextlib.suppress(FileNotFoundError):
        (cert_dir / TMP_KEY).unlink()
    write_cert_kubeconfig(
        kubeconfig,
        server=bootstrap.server,
        ca_data=bootstrap.ca_data,
        insecure=bootstrap.insecure_skip_tls_verify,
        pem_path=pem_path,
    )
    return pem_path


async def load_client_cert(
    *,
    kubeconfig: Path,
    bootstrap_kubeconfig: Path,
    cert_dir: Path,
    node_name: str,
    user_agent: str,
    certificate_wait: float = WAIT_TIMEOUT,
) -> None:
    """Make sure ``kubeconfig`` holds a valid client certificate for the node (upstream
    ``LoadClientCert``)."""
    if await asyncio.to_thread(client_config_still_valid, kubeconfig):
        log.info("kubeconfig %s exists and is valid, skipping bootstrap", kubeconfig)
        return
    log.info("using bootstrap kubeconfig %s to request a client certificate", bootstrap_kubeconfig)
    try:
        bootstrap = await asyncio.to_thread(
            load_kubeconfig, bootstrap_kubeconfig, user_agent=user_agent
        )
    except ConfigError as err:
        raise BootstrapError(f"unable to load bootstrap kubeconfig: {err}") from err
    key_pem = await asyncio.to_thread(node_key, cert_dir)
    csr = node_csr(key_pem, node_name)
    name = csr["metadata"]["name"]
    async with Client(config=bootstrap) as client:
        uid = await request_certificate(client, csr=csr, key_pem=key_pem)
        print(
            f"pocketkube kubelet: waiting for certificate signing request {name} "
            "to be approved and issued",
            flush=True,
        )
        try:
            async with asyncio.timeout(certificate_wait):
                certificate = await wait_for_certificate(client, name=name, uid=uid)
        except TimeoutError:
            raise BootstrapError(
                f"timed out after {certificate_wait:.0f} s waiting for certificate signing "
                f"request {name} to be approved and issued"
            ) from None
    pem_path = await asyncio.to_thread(
        finish,
        cert_dir=cert_dir,
        kubeconfig=kubeconfig,
        certificate=certificate,
        key_pem=key_pem,
        bootstrap=bootstrap,
    )
    log.info("client certificate of %s issued: %s, kubeconfig %s", name, pem_path, kubeconfig)
