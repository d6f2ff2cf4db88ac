"""The controller manager against a real API server: a bootstrap token signs cluster-info, a
node's CSR made with that token is approved and issued by the cluster CA, a request that breaks
its signer's rules fails, and an expired token is deleted."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime as dt
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from cryptography import x509

from pocketkube.api import bootstraptoken as bt
from pocketkube.apiserver.app import APIServer
from pocketkube.client import ApiError, Client
from pocketkube.controllers import manager
from pocketkube.controllers.informers import SharedInformers
from tests.unit.controllers.fakes import csr_pem

CSRS = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
SECRETS = "/api/v1/namespaces/kube-system/secrets"
CLUSTER_INFO = "/api/v1/namespaces/kube-public/configmaps/cluster-info"
TOKEN_ID, TOKEN_SECRET = "abcdef", "0123456789abcdef"


def b64(data: str | bytes) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def token_secret(token_id: str, secret: str, **extra: str) -> dict[str, Any]:
    data = {
        bt.TOKEN_ID_KEY: token_id,
        bt.TOKEN_SECRET_KEY: secret,
        bt.USAGE_AUTHENTICATION_KEY: "true",
        bt.USAGE_SIGNING_KEY: "true",
        bt.EXTRA_GROUPS_KEY: "system:bootstrappers:pocketkube:default-node-token",
        **extra,
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": bt.secret_name(token_id), "namespace": "kube-system"},
        "type": bt.SECRET_TYPE,
        "data": {k: b64(v) for k, v in data.items()},
    }


async def eventually(check: Callable[[], Awaitable[Any]], within: float = 10.0) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if result := await check():
            return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {check}")


@pytest.fixture
async def controllers(apiserver: APIServer, client: Client) -> AsyncIterator[None]:
    assert apiserver.pki is not None
    options = manager.Options(
        controllers=("*", "bootstrapsigner", "tokencleaner"),
        cluster_signing_cert_file=apiserver.pki.ca_cert,
        cluster_signing_key_file=apiserver.pki.ca_key,
        root_ca_file=apiserver.pki.ca_cert,  # root-ca-cert-publisher declines without it
        allocate_node_cidrs=True,  # nodeipam declines without it
        cluster_cidr="10.244.0.0/16",
    )
    ctx = manager.Context(client=client, informers=SharedInformers(client=client), options=options)
    built = manager.build(ctx)
    assert [c.name for c in built] == list(manager.REGISTRY)
    task = asyncio.create_task(manager.run(ctx, built))
    try:
        yield
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


@pytest.fixture
async def bootstrap_client(apiserver: APIServer, client: Client) -> AsyncIterator[Client]:
    await client.create(SECRETS, token_secret(TOKEN_ID, TOKEN_SECRET))
    config = dataclasses.replace(
        client.config, cert_data=None, key_data=None, token=f"{TOKEN_ID}.{TOKEN_SECRET}"
    )
    async with Client(config=config) as bootstrap:
        yield bootstrap


async def test_bootstrap_signer_signs_cluster_info(
    controllers: None, bootstrap_client: Client, client: Client
) -> None:
    async def signed() -> dict[str, str] | None:
        data = (await client.get(CLUSTER_INFO)).get("data") or {}
        return data if f"jws-kubeconfig-{TOKEN_ID}" in data else None

    data = await eventually(signed)
    assert bt.verify_detached_signature(
        data[f"jws-kubeconfig-{TOKEN_ID}"], data["kubeconfig"], TOKEN_ID, TOKEN_SECRET
    )
    # the token goes, and so does its signature
    await client.delete(f"{SECRETS}/{bt.secret_name(TOKEN_ID)}")

    async def unsigned() -> bool:
        data = (await client.get(CLUSTER_INFO)).get("data") or {}
        return f"jws-kubeconfig-{TOKEN_ID}" not in data and "kubeconfig" in data

    await eventually(unsigned)


async def test_node_csr_is_approved_and_issued(
    controllers: None, bootstrap_client: Client, apiserver: APIServer, client: Client
) -> None:
    csr = {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": "node-csr-n1"},
        "spec": {
            "request": b64(csr_pem(cn="system:node:n1")),
            "signerName": "kubernetes.io/kube-apiserver-client-kubelet",
            "usages": ["digital signature", "client auth"],
        },
    }
    created = await bootstrap_client.create(CSRS, csr)
    assert created["spec"]["username"] == f"system:bootstrap:{TOKEN_ID}"

    async def issued() -> dict[str, Any] | None:
        found = await client.get(f"{CSRS}/node-csr-n1")
        return found if found.get("status", {}).get("certificate") else None

    done = await eventually(issued)
    (approval,) = done["status"]["conditions"]
    assert approval["type"] == "Approved"
    assert approval["reason"] == "AutoApproved"
    assert approval["message"] == (
        "Auto approving kubelet client certificate after SubjectAccessReview."
    )
    cert = x509.load_pem_x509_certificate(base64.b64decode(done["status"]["certificate"]))
    assert apiserver.pki is not None
    ca = x509.load_pem_x509_certificate(apiserver.pki.ca_cert.read_bytes())
    cert.verify_directly_issued_by(ca)
    assert cert.subject.rfc4514_string() == "CN=system:node:n1,O=system:nodes"
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lifetime == min(
        dt.timedelta(hours=8760), ca.not_valid_after_utc - cert.not_valid_before_utc
    )


async def test_approved_request_breaking_the_signer_rules_fails(
    controllers: None, client: Client
) -> None:
    csr = {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": "jane"},
        "spec": {
            "request": b64(csr_pem(cn="jane", orgs=("devs",))),
            "signerName": "kubernetes.io/kube-apiserver-client",
            "usages": ["client auth", "server auth"],
        },
    }
    created = await client.create(CSRS, csr)
    created.setdefault("status", {})["conditions"] = [
        {"type": "Approved", "status": "True", "reason": "Test", "message": "by the test"}
    ]
    await client.update(f"{CSRS}/jane/approval", created)

    async def failed() -> dict[str, Any] | None:
        found = await client.get(f"{CSRS}/jane")
        conds = {c["type"]: c for c in found.get("status", {}).get("conditions", [])}
        return conds.get("Failed")

    condition = await eventually(failed)
    assert condition["reason"] == "SignerValidationFailure"
    assert condition["message"] == "invalid usage for client certificate: server auth"
    assert not (await client.get(f"{CSRS}/jane")).get("status", {}).get("certificate")


async def test_token_cleaner_deletes_expired_tokens(controllers: None, client: Client) -> None:
    await client.create(
        SECRETS, token_secret("old000", "0123456789abcdef", expiration="2000-01-01T00:00:00Z")
    )
    soon = bt.format_expiration(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2))
    await client.create(SECRETS, token_secret("soon00", "0123456789abcdef", expiration=soon))
    await client.create(SECRETS, token_secret("keep00", "0123456789abcdef"))

    async def gone(name: str) -> bool:
        try:
            await client.get(f"{SECRETS}/{name}")
        except ApiError as err:
            return err.not_found
        return False

    await eventually(lambda: gone("bootstrap-token-old000"))
    await eventually(lambda: gone("bootstrap-token-soon00"), within=15)
    await client.get(f"{SECRETS}/bootstrap-token-keep00")
