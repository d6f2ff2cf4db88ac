"""CertificateSigningRequests and cluster-info against the real server: who created a request,
what each write path may change, the Table, and anonymous discovery of the cluster."""

from __future__ import annotations

import base64
from typing import Any

import yaml

from pocketkube.apiserver.app import APIServer
from tests.integration.apiserver.conftest import Client
from tests.integration.apiserver.test_tokens import _bootstrap_secret, bearer
from tests.unit.api.test_certificates import b64, cert_pem, csr_pem

GROUP = "/apis/certificates.k8s.io/v1"
CSRS = f"{GROUP}/certificatesigningrequests"
TABLE = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}
CLUSTER_INFO = "/api/v1/namespaces/kube-public/configmaps/cluster-info"
CERT = b64(cert_pem())


def new_csr(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": name},
        "spec": {
            "request": b64(csr_pem()),
            "signerName": "kubernetes.io/kube-apiserver-client-kubelet",
            "usages": ["digital signature", "client auth"],
            **spec,
        },
    }


def condition(kind: str) -> dict[str, Any]:
    return {"type": kind, "status": "True", "reason": "Test", "message": "by the test"}


async def test_discovery(admin: Client) -> None:
    code, resources = await admin.request("GET", GROUP)
    assert code == 200
    by_name = {r["name"]: r for r in resources["resources"]}
    assert by_name["certificatesigningrequests"]["shortNames"] == ["csr"]
    assert by_name["certificatesigningrequests"]["namespaced"] is False
    assert by_name["certificatesigningrequests/approval"]["verbs"] == ["get", "patch", "update"]
    assert by_name["certificatesigningrequests/status"]["verbs"] == ["get", "patch", "update"]


async def test_request_lifecycle(admin: Client, anonymous: Client) -> None:
    code, _ = await admin.request(
        "POST", "/api/v1/namespaces/kube-system/secrets", _bootstrap_secret("abcdef")
    )
    assert code == 201
    node = bearer("abcdef.0123456789abcdef")
    forged = new_csr("node-csr-Xy_1", username="admin", groups=["system:masters"])
    forged["status"] = {"conditions": [condition("Approved")]}
    code, csr = await anonymous.request("POST", CSRS, forged, headers=node)
    assert code == 201, csr
    assert csr["spec"]["username"] == "system:bootstrap:abcdef"
    assert csr["spec"]["groups"] == [
        "system:bootstrappers",
        "system:bootstrappers:kubeadm:default-node-token",
        "system:authenticated",
    ]
    assert csr["status"] == {}
    path = f"{CSRS}/node-csr-Xy_1"

    # the main resource keeps spec and status; /status may not approve
    changed = {**csr, "spec": {**csr["spec"], "usages": ["server auth"]}}
    changed["status"] = {"conditions": [condition("Approved")]}
    code, same = await admin.request("PUT", path, changed)
    assert code == 200, same
    assert same["spec"] == csr["spec"]
    assert same["status"] == {}
    code, refused = await admin.request("PUT", f"{path}/status", changed)
    assert code == 422
    assert 'updates may not add a condition of type "Approved"' in refused["message"]

    # /approval approves (stamping the times); Denied may not join it
    code, approved = await admin.request(
        "PUT", f"{path}/approval", {**same, "status": {"conditions": [condition("Approved")]}}
    )
    assert code == 200, approved
    (stamped,) = approved["status"]["conditions"]
    assert stamped["lastUpdateTime"]
    assert stamped["lastTransitionTime"]
    code, refused = await admin.request(
        "PATCH",
        f"{path}/approval",
        {"status": {"conditions": [*approved["status"]["conditions"], condition("Denied")]}},
        content_type="application/merge-patch+json",
    )
    assert code == 422
    assert "Approved and Denied conditions are mutually exclusive" in refused["message"]

    # /status issues the certificate once
    issued_body = {**approved, "status": {**approved["status"], "certificate": CERT}}
    code, issued = await admin.request("PUT", f"{path}/status", issued_body)
    assert code == 200, issued
    assert issued["status"]["certificate"] == CERT
    code, refused = await admin.request(
        "PUT",
        f"{path}/status",
        {**issued, "status": {**issued["status"], "certificate": b64(cert_pem())}},
    )
    assert code == 422
    assert "updates may not modify existing certificate content" in refused["message"]

    code, table = await admin.request("GET", CSRS, headers=TABLE)
    assert code == 200
    assert [c["name"] for c in table["columnDefinitions"]] == [
        "Name",
        "Age",
        "SignerName",
        "Requestor",
        "RequestedDuration",
        "Condition",
    ]
    (row,) = table["rows"]
    assert row["cells"][2:] == [
        "kubernetes.io/kube-apiserver-client-kubelet",
        "system:bootstrap:abcdef",
        "<none>",
        "Approved,Issued",
    ]


async def test_deny_and_bad_requests(admin: Client) -> None:
    code, csr = await admin.request("POST", CSRS, new_csr("denied", expirationSeconds=3600))
    assert code == 201, csr
    assert csr["spec"]["username"] == "pocketkube-admin"
    code, denied = await admin.request(
        "PATCH",
        f"{CSRS}/denied/approval",
        {"status": {"conditions": [condition("Denied")]}},
        content_type="application/merge-patch+json",
    )
    assert code == 200, denied
    code, table = await admin.request("GET", f"{CSRS}/denied", headers=TABLE)
    assert table["rows"][0]["cells"][4:] == ["60m", "Denied"]

    bad = new_csr("bad", request=b64(b"not a request"), usages=[])
    code, status = await admin.request("POST", CSRS, bad)
    assert code == 422
    assert status["reason"] == "Invalid"
    assert status["message"].startswith(
        'CertificateSigningRequest.certificates.k8s.io "bad" is invalid: [spec.request: '
        "Invalid value: []byte{"
    )
    assert [c["field"] for c in status["details"]["causes"]] == ["spec.request", "spec.usages"]
    assert "PEM block type must be CERTIFICATE REQUEST" in status["details"]["causes"][0]["message"]
    code, status = await admin.request(
        "POST", CSRS, new_csr("short", expirationSeconds=60, signerName="nope")
    )
    assert code == 422
    assert [c["field"] for c in status["details"]["causes"]] == [
        "spec.signerName",
        "spec.expirationSeconds",
    ]


async def test_anonymous_cluster_info(
    apiserver: APIServer, admin: Client, anonymous: Client
) -> None:
    code, info = await anonymous.request("GET", CLUSTER_INFO)
    assert code == 200, info
    kubeconfig = yaml.safe_load(info["data"]["kubeconfig"])
    (cluster,) = kubeconfig["clusters"]
    assert cluster["cluster"]["server"] == apiserver.url
    assert apiserver.pki is not None
    ca = base64.b64decode(cluster["cluster"]["certificate-authority-data"])
    assert ca == apiserver.pki.ca_cert.read_bytes()

    code, _ = await admin.request(
        "POST", "/api/v1/namespaces/kube-public/configmaps", {"metadata": {"name": "other"}}
    )
    assert code == 201
    for method, path in [
        ("GET", "/api/v1/namespaces/kube-public/configmaps/other"),
        ("GET", "/api/v1/namespaces/kube-public/configmaps"),
        ("GET", f"{CLUSTER_INFO}?watch=1"),
        ("PUT", CLUSTER_INFO),
        ("DELETE", CLUSTER_INFO),
        ("GET", "/api/v1/namespaces"),
        ("GET", CSRS),
    ]:
        code, reply = await anonymous.request(method, path, info if method == "PUT" else None)
        assert code == 401, (method, path, reply)
    # a bad credential is refused even there
    code, _ = await anonymous.request("GET", CLUSTER_INFO, headers=bearer("garbage"))
    assert code == 401
