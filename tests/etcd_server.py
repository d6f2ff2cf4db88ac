"""A private, throwaway etcd for tests and benchmarks, listening on loopback only.

Each :class:`EtcdServer` runs its own ``/usr/bin/etcd`` (Debian's etcd-server) on free 127.0.0.1
ports with a temporary data directory, and removes it again afterwards. Tests share one per session
through the ``etcd_server`` fixture and keep out of each other's way with a unique key prefix.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import pytest

ETCD_BINARY = "/usr/bin/etcd"
NOT_INSTALLED = "etcd not installed: apt-get install etcd-server"


def etcd_binary() -> str | None:
    """The etcd executable to run, or None when it is not installed."""
    path = os.environ.get("POCKETKUBE_ETCD", ETCD_BINARY)
    return path if os.access(path, os.X_OK) else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class TLSFiles:
    """PEM files: a CA, and a certificate and key it signed for 127.0.0.1 (server and client)."""

    ca: Path
    cert: Path
    key: Path


def make_tls_files(directory: Path) -> TLSFiles:
    """A throwaway CA and one certificate valid for 127.0.0.1 as both server and client."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def build(subject: str, issuer: x509.Name | None, signer: ec.EllipticCurvePrivateKey | None):
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer or name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
        )
        if issuer is None:
            builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        else:
            san = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            usage = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            builder = builder.add_extension(x509.SubjectAlternativeName(san), False)
            builder = builder.add_extension(x509.ExtendedKeyUsage(usage), False)
        return key, builder.sign(signer or key, hashes.SHA256())

    ca_key, ca_cert = build("pocketkube-test-ca", None, None)
    key, cert = build("127.0.0.1", ca_cert.subject, ca_key)
    files = TLSFiles(directory / "ca.crt", directory / "etcd.crt", directory / "etcd.key")
    files.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


def _answers(port: int, tls: TLSFiles | None = None) -> bool:
    """Whether etcd's /health endpoint on ``port`` reports healthy (it needs a leader)."""
    request = b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as raw:
            sock = raw
            if tls is not None:
                context = ssl.create_default_context(cafile=str(tls.ca))
                context.load_cert_chain(str(tls.cert), str(tls.key))
                sock = context.wrap_socket(raw, server_hostname="127.0.0.1")
            sock.sendall(request)
            reply = b""
            while chunk := sock.recv(4096):
                reply += chunk
    except OSError:
        return False
    return b" 200 " in reply.split(b"\r\n", 1)[0] and b'"health":"true"' in reply


class EtcdServer:
    """One single-member etcd; use ``with EtcdServer() as server: server.endpoint``.

    ``stop()`` then ``start()`` again restarts it on the same ports and data, which is how tests
    take the datastore away and bring it back.
    """

    def __init__(
        self,
        *,
        binary: str | None = None,
        startup_timeout: float = 20.0,
        data_parent: str | None = None,
        tls: TLSFiles | None = None,
    ) -> None:
        found = binary or etcd_binary()
        if found is None:
            raise FileNotFoundError(NOT_INSTALLED)
        self.binary = found
        self.startup_timeout = startup_timeout
        self.data_parent = data_parent  # where the data directory goes (e.g. /dev/shm)
        self.tls = tls  # clients then need TLS and a certificate the CA signed
        self.client_port = free_port()
        self.peer_port = free_port()
        self.data_dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Path | None = None

    @property
    def endpoint(self) -> str:
        scheme = "etcds" if self.tls else "etcd"
        return f"{scheme}://127.0.0.1:{self.client_port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _command(self) -> list[str]:
        assert self.data_dir is not None
        scheme = "https" if self.tls else "http"
        client = f"{scheme}://127.0.0.1:{self.client_port}"
        peer = f"http://127.0.0.1:{self.peer_port}"
        tls = []
        if self.tls is not None:
            tls = [
                f"--cert-file={self.tls.cert}",
                f"--key-file={self.tls.key}",
                f"--trusted-ca-file={self.tls.ca}",
                "--client-cert-auth",
            ]
        return [
            self.binary,
            "--name=pocketkube-test",
            f"--data-dir={self.data_dir / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=pocketkube-test={peer}",
            "--initial-cluster-state=new",
            "--logger=zap",
            "--log-level=error",
            "--log-outputs=stderr",
            *tls,
        ]

    def start(self) -> None:
        if self.running:
            return
        if self.data_dir is None:
            self.data_dir = Path(tempfile.mkdtemp(prefix="pocketkube-etcd-", dir=self.data_parent))
            self._log = self.data_dir / "etcd.log"
        assert self._log is not None
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                self._command(), stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"etcd exited at start:\n{self.log_tail()}")
            if _answers(self.client_port, self.tls):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"etcd did not answer within {self.startup_timeout} s:\n{self.log_tail()}"
        )

    def stop(self, *, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def cleanup(self) -> None:
        self.stop()
        if self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir = None

    def log_tail(self, lines: int = 20) -> str:
        if self._log is None or not self._log.exists():
            return ""
        return "\n".join(self._log.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()


@contextlib.contextmanager
def running_etcd() -> Iterator[EtcdServer]:
    """A fresh private etcd, skipping the calling test when etcd is not installed."""
    if etcd_binary() is None:
        pytest.skip(NOT_INSTALLED)
    with EtcdServer() as server:
        yield server


@pytest.fixture(scope="session")
def etcd_server() -> Iterator[EtcdServer]:
    """One etcd for the whole session; tests isolate themselves with a unique key prefix."""
    with running_etcd() as server:
        yield server
