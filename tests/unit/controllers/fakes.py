"""Fakes for controller tests: an API client that records writes, informers filled by hand, and
certificates made on the spot."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from pocketkube.client.informer import Informer
from pocketkube.client.resources import Resource
from pocketkube.client.rest import ApiError, Obj, Params, PatchType, WatchEvent

NOW = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)


@dataclass
class Call:
    verb: str
    path: str
    body: Any = None


@dataclass
class FakeClient:
    """Records every request; ``answers`` maps (verb, path) to a reply or an exception."""

    lists: dict[str, list[Obj]] = field(default_factory=dict)
    answers: dict[tuple[str, str], Obj | ApiError | Callable[[Obj], Obj]] = field(
        default_factory=dict
    )
    calls: list[Call] = field(default_factory=list)

    def _answer(self, verb: str, path: str, body: Any) -> Obj:
        self.calls.append(Call(verb, path, body))
        answer = self.answers.get((verb, path))
        if isinstance(answer, ApiError):
            raise answer
        if callable(answer):
            return answer(body)
        if answer is not None:
            return answer
        return body if isinstance(body, dict) else {}

    def writes(self) -> list[Call]:
        return [c for c in self.calls if c.verb != "GET"]

    async def get(self, path: str, *, params: Params | None = None) -> Obj:
        return self._answer("GET", path, None)

    async def create(self, path: str, obj: Obj, *, params: Params | None = None) -> Obj:
        return self._answer("POST", path, obj)

    async def update(self, path: str, obj: Obj, *, params: Params | None = None) -> Obj:
        return self._answer("PUT", path, obj)

    async def patch(
        self,
        path: str,
        patch: Obj,
        *,
        patch_type: PatchType = "merge",
        params: Params | None = None,
    ) -> Obj:
        return self._answer("PATCH", path, patch)

    async def delete(
        self, path: str, *, body: Obj | None = None, params: Params | None = None
    ) -> Obj:
        return self._answer("DELETE", path, body)

    async def list(self, path: str, *, params: Params | None = None) -> Obj:
        items = self.lists.get(path, [])
        return {"metadata": {"resourceVersion": "1"}, "items": [dict(i) for i in items]}

    async def watch(
        self, path: str, *, params: Params | None = None
    ) -> AsyncGenerator[WatchEvent, None]:
        await asyncio.Event().wait()  # a quiet watch
        yield WatchEvent("BOOKMARK", {})  # pragma: no cover


def informer(client: FakeClient, resource: Resource, *objs: Obj, **kwargs: Any) -> Informer:
    """An informer whose store already holds ``objs`` (as after its first list)."""
    inf = Informer(client=client, resource=resource, **kwargs)
    for obj in objs:
        inf.store.put(obj)
    return inf


# -- certificates ------------------------------------------------------------------------------
_EC_KEY = ec.generate_private_key(ec.SECP256R1())
_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def csr_pem(
    *,
    cn: str = "system:node:n1",
    orgs: tuple[str, ...] = ("system:nodes",),
    sans: list[x509.GeneralName] | None = None,
    rsa_key: bool = False,
) -> bytes:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    if cn:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    key = _RSA_KEY if rsa_key else _EC_KEY
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def csr_request(**kwargs: Any) -> x509.CertificateSigningRequest:
    return x509.load_pem_x509_csr(csr_pem(**kwargs))


KUBELET_CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"


def csr_obj(
    name: str = "node-csr-1",
    *,
    pem: bytes | None = None,
    signer: str = KUBELET_CLIENT_SIGNER,
    usages: tuple[str, ...] = ("digital signature", "client auth"),
    username: str = "system:bootstrap:abcdef",
    conditions: list[dict[str, Any]] | None = None,
    certificate: bytes = b"",
    expiration_seconds: int | None = None,
) -> Obj:
    spec: dict[str, Any] = {
        "request": base64.b64encode(pem if pem is not None else csr_pem()).decode(),
        "signerName": signer,
        "usages": list(usages),
        "username": username,
        "uid": "u-1",
        "groups": ["system:bootstrappers", "system:authenticated"],
    }
    if expiration_seconds is not None:
        spec["expirationSeconds"] = expiration_seconds
    status: dict[str, Any] = {}
    if conditions:
        status["conditions"] = conditions
    if certificate:
        status["certificate"] = base64.b64encode(certificate).decode()
    return {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": name, "resourceVersion": "5", "uid": f"uid-{name}"},
        "spec": spec,
        "status": status,
    }


def approved(reason: str = "AutoApproved") -> dict[str, Any]:
    return {"type": "Approved", "status": "True", "reason": reason, "message": "ok"}


def make_ca(
    tmp: Any, *, not_after: dt.datetime | None = None, not_before: dt.datetime | None = None
) -> tuple[Any, Any]:
    """A CA cert/key pair written to ``tmp``; returns their paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pocketkube-ca")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(not_before or NOW - dt.timedelta(days=1))
        .not_valid_after(not_after or NOW + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "ca.crt", tmp / "ca.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path
