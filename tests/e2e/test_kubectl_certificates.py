"""CertificateSigningRequests with real kubectl: create, `get csr` columns, `certificate
approve|deny` (a protobuf PUT to /approval), a bad request's message; and the cluster-info
ConfigMap a node reads without credentials.

The controller manager is off, so nothing but kubectl approves or signs.
"""

from __future__ import annotations

import base64
import json
import shutil
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.e2e.conftest import Cluster, free_port, start_server, stop_server

SIGNER = "example.com/test-signer"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    port = free_port()
    data_dir = tmp_path / "cluster"
    proc = start_server(data_dir, port, "--disable-controller-manager")
    try:
        yield Cluster(proc, data_dir, port, tmp_path / "kubectl-cache")
    finally:
        stop_server(proc)


def request_pem(cn: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


def manifest(name: str, request: bytes, **spec: object) -> str:
    body = {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": name},
        "spec": {
            "request": base64.b64encode(request).decode(),
            "signerName": SIGNER,
            "usages": ["digital signature", "client auth"],
            **spec,
        },
    }
    return yaml.safe_dump(body)


def test_create_get_approve_deny(cluster: Cluster) -> None:
    for name in ("alice", "bob"):
        cluster.kubectl(
            "create", "-f", "-", stdin=manifest(name, request_pem(name), expirationSeconds=7200)
        )
    out = cluster.kubectl("get", "csr").stdout.splitlines()
    assert out[0].split() == [
        "NAME",
        "AGE",
        "SIGNERNAME",
        "REQUESTOR",
        "REQUESTEDDURATION",
        "CONDITION",
    ]
    rows = {line.split()[0]: line.split() for line in out[1:]}
    assert rows["alice"][2:] == [SIGNER, "pocketkube-admin", "120m", "Pending"]

    result = cluster.kubectl("certificate", "approve", "alice")
    assert "certificatesigningrequest.certificates.k8s.io/alice approved" in result.stdout
    result = cluster.kubectl("certificate", "deny", "bob")
    assert "certificatesigningrequest.certificates.k8s.io/bob denied" in result.stdout

    rows = {
        line.split()[0]: line.split()
        for line in cluster.kubectl("get", "csr", "--no-headers").stdout.splitlines()
    }
    assert rows["alice"][-1] == "Approved"
    assert rows["bob"][-1] == "Denied"
    alice = json.loads(cluster.kubectl("get", "csr", "alice", "-o", "json").stdout)
    (approved,) = alice["status"]["conditions"]
    assert approved["type"] == "Approved"
    assert approved["reason"] == "KubectlApprove"
    assert approved["lastUpdateTime"]

    # kubectl itself refuses to approve a denied request (the API would too: see integration)
    result = cluster.kubectl("certificate", "approve", "bob", "--force", check=False)
    assert 'certificate signing request "bob" is already Denied' in result.stderr


def test_bad_request_is_refused(cluster: Cluster) -> None:
    result = cluster.kubectl(
        "create", "-f", "-", stdin=manifest("bad", b"not a request"), check=False
    )
    assert result.returncode != 0
    assert 'The CertificateSigningRequest "bad" is invalid' in result.stderr
    assert "PEM block type must be CERTIFICATE REQUEST" in result.stderr
    result = cluster.kubectl(
        "create",
        "-f",
        "-",
        stdin=manifest("short", request_pem("short"), expirationSeconds=60),
        check=False,
    )
    assert "may not specify a duration less than 600 seconds (10 minutes)" in result.stderr


def test_cluster_info_is_public(cluster: Cluster) -> None:
    context = ssl.create_default_context(cafile=str(cluster.data_dir / "tls" / "ca.crt"))
    base = f"https://127.0.0.1:{cluster.port}"
    path = "/api/v1/namespaces/kube-public/configmaps/cluster-info"
    with urllib.request.urlopen(base + path, context=context, timeout=10) as response:
        info = json.loads(response.read())
    kubeconfig = yaml.safe_load(info["data"]["kubeconfig"])
    assert kubeconfig["clusters"][0]["cluster"]["server"].endswith(f":{cluster.port}")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(base + "/api/v1/namespaces", context=context, timeout=10)
    assert caught.value.code == 401
