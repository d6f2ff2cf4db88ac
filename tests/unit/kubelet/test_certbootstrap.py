"""Kubelet TLS bootstrap against a fake API: the CSR asked for, the wait, the stored pair."""

from __future__ import annotations

import asyncio
import base64
import copy
import os
import stat
from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pocketkube.client import ApiError, TransportError, load_kubeconfig
from pocketkube.client.rest import Obj, Params, WatchEvent
from pocketkube.kubelet import certbootstrap as cb

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


# -- a CA that signs what the fake API approves ------------------------------------------------
class CA:
    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-ca")])
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(1)
            .not_valid_before(NOW - timedelta(days=1))
            .not_valid_after(NOW + timedelta(days=3650))
            .sign(self.key, hashes.SHA256())
        )

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def sign(self, request_pem: bytes, *, not_after: datetime | None = None) -> bytes:
        request = x509.load_pem_x509_csr(request_pem)
        cert = (
            x509.CertificateBuilder()
            .subject_name(request.subject)
            .issuer_name(self.name)
            .public_key(request.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - timedelta(days=1))
            .not_valid_after(not_after or datetime.now(UTC) + timedelta(days=365))
            .sign(self.key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM)


def approve(csr: Obj, certificate: bytes | None) -> Obj:
    out = copy.deepcopy(csr)
    status = out.setdefault("status", {})
    status["conditions"] = [{"type": "Approved", "status": "True", "reason": "AutoApproved"}]
    if certificate is not None:
        status["certificate"] = base64.b64encode(certificate).decode()
    return out


class FakeAPI:
    """The CSR collection of an API server; ``events`` feeds the next watch."""

    def __init__(self) -> None:
        self.csrs: dict[str, Obj] = {}
        self.events: asyncio.Queue[WatchEvent | ApiError] = asyncio.Queue()
        self.created = 0
        self.create_errors: list[ApiError] = []
        self.on_create: Any = None
        self.lists = 0

    async def create(self, path: str, obj: Obj, *, params: Params | None = None) -> Obj:
        assert path == "/apis/certificates.k8s.io/v1/certificatesigningrequests"
        if self.create_errors:
            raise self.create_errors.pop(0)
        name = obj["metadata"]["name"]
        if name in self.csrs:
            raise ApiError(409, "AlreadyExists", f'"{name}" already exists')
        stored = copy.deepcopy(obj)
        stored["metadata"].update(uid=f"uid-{len(self.csrs)}", resourceVersion="10")
        self.csrs[name] = stored
        self.created += 1
        if self.on_create is not None:
            self.on_create(stored)
        return stored

    async def get(self, path: str, *, params: Params | None = None) -> Obj:
        name = path.rsplit("/", 1)[1]
        if name not in self.csrs:
            raise ApiError(404, "NotFound", "not found")
        return copy.deepcopy(self.csrs[name])

    async def list(self, path: str, *, params: Params | None = None) -> Obj:
        self.lists += 1
        assert params is not None
        name = str(params["fieldSelector"]).removeprefix("metadata.name=")
        items = [copy.deepcopy(self.csrs[name])] if name in self.csrs else []
        return {"metadata": {"resourceVersion": "11"}, "items": items}

    async def watch(
        self, path: str, *, params: Params | None = None
    ) -> AsyncGenerator[WatchEvent, None]:
        assert params is not None
        assert params["resourceVersion"] == "11"
        while True:
            event = await self.events.get()
            if isinstance(event, ApiError):
                raise event
            yield event

    def update(self, obj: Obj) -> None:
        self.csrs[obj["metadata"]["name"]] = obj
        self.events.put_nowait(WatchEvent("MODIFIED", obj))


# -- the request -------------------------------------------------------------------------------
def test_the_request_is_for_the_nodes_client_identity() -> None:
    key_pem = cb.generate_key()
    csr = cb.node_csr(key_pem, "n1")
    request = x509.load_pem_x509_csr(base64.b64decode(csr["spec"]["request"]))
    assert request.is_signature_valid
    assert request.subject.rfc4514_string() == "CN=system:node:n1,O=system:nodes"
    assert isinstance(request.public_key(), ec.EllipticCurvePublicKey)
    assert request.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
    assert csr["spec"]["signerName"] == "kubernetes.io/kube-apiserver-client-kubelet"
    assert csr["spec"]["usages"] == ["digital signature", "client auth"]
    assert csr["metadata"]["name"].startswith("node-csr-")
    assert cb.node_csr(key_pem, "n1")["metadata"]["name"] == csr["metadata"]["name"]


@pytest.mark.parametrize(
    ("change", "same"),
    [
        ({}, True),
        ({"common_name": "system:node:n2"}, False),
        ({"organizations": ["system:nodez"]}, False),
        ({"usages": ["client auth"]}, False),
        ({"public_key_der": b"other"}, False),
        # the delimiter keeps parts from running together
        ({"common_name": "system:node:n1system:nodes", "organizations": []}, False),
    ],
)
def test_the_name_is_a_digest_of_key_subject_and_usages(change: dict[str, Any], same: bool) -> None:
    base: dict[str, Any] = {
        "public_key_der": b"key",
        "common_name": "system:node:n1",
        "organizations": ["system:nodes"],
        "usages": ["digital signature", "client auth"],
    }
    name = cb.digested_name(**base)
    assert (cb.digested_name(**{**base, **change}) == name) is same
    assert len(name) == len("node-csr-") + 43  # sha512/256, base64url without padding


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({}, None),
        ({"conditions": [{"type": "Approved", "status": "True"}]}, None),
        ({"certificate": base64.b64encode(b"CERT").decode()}, None),  # not approved
        (
            {
                "conditions": [{"type": "Approved", "status": "True"}],
                "certificate": base64.b64encode(b"CERT").decode(),
            },
            b"CERT",
        ),
        (
            {"conditions": [{"type": "Denied", "reason": "No", "message": "not you"}]},
            "certificate signing request is denied, reason: No, message: not you",
        ),
        (
            {
                "conditions": [
                    {"type": "Approved", "status": "True"},
                    {"type": "Failed", "reason": "SignerValidationFailure", "message": "bad"},
                ]
            },
            "certificate signing request failed, reason: SignerValidationFailure, message: bad",
        ),
    ],
)
def test_issued_certificate(status: Obj, expected: bytes | str | None) -> None:
    csr = {"metadata": {"name": "c", "uid": "u"}, "status": status}
    if isinstance(expected, str):
        with pytest.raises(cb.BootstrapError, match=expected):
            cb.issued_certificate(csr, "u")
    else:
        assert cb.issued_certificate(csr, "u") == expected


def test_another_object_of_the_same_name_is_refused() -> None:
    with pytest.raises(cb.BootstrapError, match="changed UIDs"):
        cb.issued_certificate({"metadata": {"name": "c", "uid": "other"}}, "u")


async def test_an_existing_request_for_the_same_key_is_adopted() -> None:
    api = FakeAPI()
    key_pem = cb.generate_key()
    csr = cb.node_csr(key_pem, "n1")
    first = await cb.request_certificate(api, csr=csr, key_pem=key_pem)
    again = await cb.request_certificate(api, csr=cb.node_csr(key_pem, "n1"), key_pem=key_pem)
    assert first == again == "uid-0"
    assert api.created == 1


async def test_an_existing_request_for_another_key_is_refused() -> None:
    api = FakeAPI()
    key_pem = cb.generate_key()
    csr = cb.node_csr(key_pem, "n1")
    other = cb.node_csr(cb.generate_key(), "n1")
    api.csrs[csr["metadata"]["name"]] = {**other, "metadata": csr["metadata"]}
    with pytest.raises(cb.BootstrapError, match="retrieved csr is not compatible"):
        await cb.request_certificate(api, csr=csr, key_pem=key_pem)


async def test_an_unreachable_server_is_retried_and_a_refusal_is_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cb, "RETRY_INTERVAL", 0)
    api = FakeAPI()
    key_pem = cb.generate_key()
    api.create_errors = [TransportError("refused"), TransportError("refused")]
    assert await cb.request_certificate(api, csr=cb.node_csr(key_pem, "n"), key_pem=key_pem)
    api.create_errors = [ApiError(401, "Unauthorized", "Unauthorized")]
    with pytest.raises(cb.BootstrapError, match="cannot create certificate signing request"):
        await cb.request_certificate(api, csr=cb.node_csr(key_pem, "m"), key_pem=key_pem)
    api.create_errors = [TransportError("refused")]
    with pytest.raises(cb.BootstrapError, match="cannot reach the API server"):
        await cb.request_certificate(
            api, csr=cb.node_csr(key_pem, "o"), key_pem=key_pem, server_wait=-1
        )


# -- the wait ----------------------------------------------------------------------------------
async def test_the_wait_ends_when_the_certificate_is_issued(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cb, "RETRY_INTERVAL", 0)
    api = FakeAPI()
    ca = CA()
    key_pem = cb.generate_key()
    csr = cb.node_csr(key_pem, "n1")
    uid = await cb.request_certificate(api, csr=csr, key_pem=key_pem)
    stored = api.csrs[csr["metadata"]["name"]]
    request = base64.b64decode(csr["spec"]["request"])
    api.events.put_nowait(ApiError(410, "Expired", "too old"))  # relist, then watch again
    api.events.put_nowait(WatchEvent("BOOKMARK", {"metadata": {"resourceVersion": "12"}}))
    api.events.put_nowait(WatchEvent("MODIFIED", approve(stored, None)))  # not yet signed
    api.events.put_nowait(WatchEvent("MODIFIED", approve(stored, ca.sign(request))))
    certificate = await asyncio.wait_for(
        cb.wait_for_certificate(api, name=csr["metadata"]["name"], uid=uid), 5
    )
    assert (
        x509.load_pem_x509_certificate(certificate).subject
        == x509.load_pem_x509_csr(request).subject
    )
    assert api.lists == 2


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (WatchEvent("DELETED", {}), "was deleted"),
        (
            WatchEvent(
                "MODIFIED",
                {
                    "metadata": {"name": "x", "uid": "uid-0"},
                    "status": {"conditions": [{"type": "Denied", "reason": "R", "message": "M"}]},
                },
            ),
            "denied, reason: R, message: M",
        ),
        (ApiError(403, "Forbidden", "no watching"), "cannot watch .*no watching"),
    ],
)
async def test_the_wait_ends_with_a_clear_error(event: WatchEvent | ApiError, message: str) -> None:
    api = FakeAPI()
    key_pem = cb.generate_key()
    csr = cb.node_csr(key_pem, "n1")
    uid = await cb.request_certificate(api, csr=csr, key_pem=key_pem)
    api.events.put_nowait(event)
    with pytest.raises(cb.BootstrapError, match=message):
        await asyncio.wait_for(
            cb.wait_for_certificate(api, name=csr["metadata"]["name"], uid=uid), 5
        )


# -- storing it, and all of it -----------------------------------------------------------------
def bootstrap_kubeconfig(path: Path, ca: CA) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "c",
                        "cluster": {
                            "server": "https://127.0.0.1:6443",
                            "certificate-authority-data": base64.b64encode(ca.pem).decode(),
                        },
                    }
                ],
                "users": [{"name": "u", "user": {"token": "abcdef.0123456789abcdef"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    return path


class _Opened:
    def __init__(self, api: FakeAPI) -> None:
        self.api = api

    async def __aenter__(self) -> FakeAPI:
        return self.api

    async def __aexit__(self, *exc: object) -> None:
        return None


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeAPI:
    fake = FakeAPI()
    seen: list[Any] = []

    def client(*, config: Any) -> _Opened:
        seen.append(config)
        assert config.token == "abcdef.0123456789abcdef"
        return _Opened(fake)

    monkeypatch.setattr(cb, "Client", client)
    return fake


async def test_bootstrap_writes_the_pair_and_a_kubeconfig_then_reuses_them(
    tmp_path: Path, api: FakeAPI
) -> None:
    ca = CA()
    api.on_create = lambda csr: api.update(
        approve(csr, ca.sign(base64.b64decode(csr["spec"]["request"])))
    )
    kubeconfig = tmp_path / "kubelet.kubeconfig"
    cert_dir = tmp_path / "pki"
    args: dict[str, Any] = {
        "kubeconfig": kubeconfig,
        "bootstrap_kubeconfig": bootstrap_kubeconfig(tmp_path / "bootstrap", ca),
        "cert_dir": cert_dir,
        "node_name": "n1",
        "user_agent": "kubelet/test",
    }
    await asyncio.wait_for(cb.load_client_cert(**args), 10)
    current = cert_dir / "kubelet-client-current.pem"
    assert current.is_symlink()
    assert stat.S_IMODE(os.stat(current).st_mode) == 0o600
    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
    assert not (cert_dir / "kubelet-client.key.tmp").exists()
    config = load_kubeconfig(kubeconfig)
    assert config.server == "https://127.0.0.1:6443"
    assert config.ca_data == ca.pem
    assert config.token is None
    cert = x509.load_pem_x509_certificate(current.read_bytes())
    assert cert.subject.rfc4514_string() == "CN=system:node:n1,O=system:nodes"
    assert config.ssl_context() is not None  # the combined file serves as certificate and key
    assert cb.client_config_still_valid(kubeconfig)

    await asyncio.wait_for(cb.load_client_cert(**args), 10)  # a restart: no new request
    assert api.created == 1


async def test_an_expired_certificate_is_renewed_with_the_same_key(
    tmp_path: Path, api: FakeAPI
) -> None:
    ca = CA()
    key_pem = cb.generate_key()
    cert_dir = tmp_path / "pki"
    csr = cb.node_csr(key_pem, "n1")
    expired = ca.sign(base64.b64decode(csr["spec"]["request"]), not_after=NOW)
    pem = cb.store_certificate(cert_dir, expired, key_pem, now=NOW)
    kubeconfig = tmp_path / "kubelet.kubeconfig"
    cb.write_cert_kubeconfig(
        kubeconfig, server="https://127.0.0.1:6443", ca_data=ca.pem, insecure=False, pem_path=pem
    )
    assert not cb.client_config_still_valid(kubeconfig)
    api.on_create = lambda obj: api.update(
        approve(obj, ca.sign(base64.b64decode(obj["spec"]["request"])))
    )
    await asyncio.wait_for(
        cb.load_client_cert(
            kubeconfig=kubeconfig,
            bootstrap_kubeconfig=bootstrap_kubeconfig(tmp_path / "bootstrap", ca),
            cert_dir=cert_dir,
            node_name="n1",
            user_agent="kubelet/test",
        ),
        10,
    )
    assert list(api.csrs) == [csr["metadata"]["name"]]  # the same key, so the same name
    assert cb.client_config_still_valid(kubeconfig)
    assert len(list(cert_dir.glob("kubelet-client-2*.pem"))) == 2


async def test_a_restart_while_waiting_asks_with_the_waiting_key(
    tmp_path: Path, api: FakeAPI
) -> None:
    ca = CA()
    args: dict[str, Any] = {
        "kubeconfig": tmp_path / "kubelet.kubeconfig",
        "bootstrap_kubeconfig": bootstrap_kubeconfig(tmp_path / "bootstrap", ca),
        "cert_dir": tmp_path / "pki",
        "node_name": "n1",
        "user_agent": "kubelet/test",
        "certificate_wait": 0.2,
    }
    with pytest.raises(cb.BootstrapError, match="timed out after 0 s waiting"):
        await cb.load_client_cert(**args)
    key = (tmp_path / "pki" / "kubelet-client.key.tmp").read_bytes()
    assert stat.S_IMODE((tmp_path / "pki" / "kubelet-client.key.tmp").stat().st_mode) == 0o600
    (name,) = api.csrs
    api.update(
        approve(api.csrs[name], ca.sign(base64.b64decode(api.csrs[name]["spec"]["request"])))
    )
    await asyncio.wait_for(cb.load_client_cert(**{**args, "certificate_wait": 5}), 10)
    assert api.created == 1
    assert key in (tmp_path / "pki" / "kubelet-client-current.pem").read_bytes()


def test_a_certificate_for_another_key_is_not_stored(tmp_path: Path) -> None:
    ca = CA()
    csr = cb.node_csr(cb.generate_key(), "n1")
    certificate = ca.sign(base64.b64decode(csr["spec"]["request"]))
    with pytest.raises(cb.BootstrapError, match="not for this node's private key"):
        cb.store_certificate(tmp_path, certificate, cb.generate_key(), now=NOW)


@pytest.mark.parametrize("content", [None, "", "not: [a kubeconfig", "apiVersion: v1\n"])
def test_a_missing_or_broken_kubeconfig_means_bootstrap(
    tmp_path: Path, content: str | None
) -> None:
    path = tmp_path / "k"
    if content is not None:
        path.write_text(content)
    assert not cb.client_config_still_valid(path)
