"""The kubelet's serving certificate: self-signed fallback, the kubelet-serving CSR flow."""

from __future__ import annotations

import base64
import datetime
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pocketkube.client.rest import Obj, Params, WatchEvent
from pocketkube.kubelet.servingcert import (
    SERVER_CURRENT_PEM,
    current_pair,
    request_serving_cert,
    self_signed,
)


def test_self_signed_is_reused_while_it_fits(tmp_path: Path) -> None:
    first = self_signed(tmp_path, "n1", ["10.0.0.5"], ["host-a"])
    data = first.cert_file.read_bytes()
    assert current_pair(first.cert_file, ["10.0.0.5"], ["host-a"], first.key_file)
    again = self_signed(tmp_path, "n1", ["10.0.0.5"], ["host-a"])
    assert again.cert_file.read_bytes() == data
    other = self_signed(tmp_path, "n1", ["10.0.0.6"], ["host-a"])
    assert other.cert_file.read_bytes() != data


class Signer:
    """A fake API server that signs the CSR as soon as it is created."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.created: list[Obj] = []

    def _sign(self, obj: Obj) -> Obj:
        request = x509.load_pem_x509_csr(base64.b64decode(obj["spec"]["request"]))
        now = datetime.datetime.now(datetime.UTC)
        issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ca")])
        sans = request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        cert = (
            x509.CertificateBuilder()
            .subject_name(request.subject)
            .issuer_name(issuer)
            .public_key(request.public_key())
            .serial_number(1)
            .not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(sans, critical=False)
            .sign(self.key, hashes.SHA256())
        )
        pem = cert.public_bytes(serialization.Encoding.PEM)
        return {
            **obj,
            "metadata": {**obj["metadata"], "uid": "u1"},
            "status": {
                "conditions": [{"type": "Approved", "status": "True"}],
                "certificate": base64.b64encode(pem).decode(),
            },
        }

    async def create(self, path: str, obj: Obj, *, params: Params | None = None) -> Obj:
        self.created.append(obj)
        return self._sign(obj)

    async def get(self, path: str, *, params: Params | None = None) -> Obj:
        raise AssertionError("not asked")

    async def list(self, path: str, *, params: Params | None = None) -> Obj:
        return {"metadata": {"resourceVersion": "1"}, "items": [self._sign(self.created[-1])]}

    async def watch(
        self, path: str, *, params: Params | None = None
    ) -> AsyncGenerator[WatchEvent, None]:
        raise AssertionError("not watched")
        yield  # pragma: no cover


async def test_csr_flow_stores_and_reuses(tmp_path: Path) -> None:
    signer = Signer()
    kwargs: dict[str, Any] = {
        "cert_dir": tmp_path,
        "node_name": "n1",
        "ips": ["10.0.0.5"],
        "names": ["host-a", "n1"],
    }
    files = await request_serving_cert(signer, **kwargs)
    assert files.cert_file == tmp_path / SERVER_CURRENT_PEM
    (created,) = signer.created
    assert created["spec"]["signerName"] == "kubernetes.io/kubelet-serving"
    assert created["spec"]["usages"] == ["digital signature", "server auth"]
    request = x509.load_pem_x509_csr(base64.b64decode(created["spec"]["request"]))
    assert request.subject.rfc4514_string() == "CN=system:node:n1,O=system:nodes"
    assert current_pair(files.cert_file, ["10.0.0.5"], ["host-a", "n1"])
    again = await request_serving_cert(signer, **kwargs)
    assert again == files
    assert len(signer.created) == 1
