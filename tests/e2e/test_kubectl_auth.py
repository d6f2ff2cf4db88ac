"""Real kubectl: `create token` (protobuf), bearer tokens, `auth whoami` and `auth can-i`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import orjson

from pocketkube.apiserver.authn import jwt
from tests.e2e.conftest import Cluster


def kubectl_with_token(
    cluster: Cluster, token: str, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """kubectl holding only the token (no client certificate), which would win otherwise."""
    empty = cluster.data_dir / "empty.kubeconfig"
    empty.write_text("apiVersion: v1\nkind: Config\n")
    ca = cluster.data_dir / "tls" / "ca.crt"
    result = subprocess.run(
        [
            "kubectl",
            "--kubeconfig",
            str(empty),
            "--cache-dir",
            str(cluster.cache_dir.with_name("token-cache")),
            "--server",
            f"https://127.0.0.1:{cluster.port}",
            "--certificate-authority",
            str(ca),
            "--token",
            token,
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_service_account_token(cluster: Cluster) -> None:
    cluster.kubectl("create", "serviceaccount", "bot")
    token = cluster.kubectl("create", "token", "bot").stdout.strip()
    assert token.count(".") == 2
    claims = orjson.loads(jwt.b64url_decode(token.split(".")[1]))
    assert claims["sub"] == "system:serviceaccount:default:bot"
    assert claims["aud"] == ["https://kubernetes.default.svc.cluster.local"]

    listed = kubectl_with_token(cluster, token, "get", "configmaps", "-o", "name")
    # nothing but (once the root CA publisher has run) kube-root-ca.crt
    assert set(listed.stdout.split()) <= {"configmap/kube-root-ca.crt"}
    raw = kubectl_with_token(
        cluster, token, "get", "--raw", "/api/v1/namespaces/default/configmaps"
    )
    assert orjson.loads(raw.stdout)["kind"] == "ConfigMapList"
    whoami = kubectl_with_token(cluster, token, "auth", "whoami")
    assert "system:serviceaccount:default:bot" in whoami.stdout
    assert "system:serviceaccounts:default" in whoami.stdout

    cluster.kubectl("delete", "serviceaccount", "bot")
    refused = kubectl_with_token(cluster, token, "get", "configmaps", check=False)
    assert refused.returncode != 0
    assert "Unauthorized" in refused.stderr


def test_token_options(cluster: Cluster) -> None:
    cluster.kubectl("create", "serviceaccount", "bot")
    shown = cluster.kubectl(
        "create", "token", "bot", "--audience", "vault", "--duration", "20m", "-o", "json"
    )
    request = orjson.loads(shown.stdout)
    assert request["spec"]["audiences"] == ["vault"]
    assert request["spec"]["expirationSeconds"] == 1200
    too_short = cluster.kubectl("create", "token", "bot", "--duration", "1m", check=False)
    assert too_short.returncode != 0
    assert "may not specify a duration less than 10 minutes" in too_short.stderr
    missing = cluster.kubectl("create", "token", "ghost", check=False)
    assert 'serviceaccounts "ghost" not found' in missing.stderr


def test_garbage_token(cluster: Cluster) -> None:
    refused = kubectl_with_token(cluster, "garbage", "get", "configmaps", check=False)
    assert refused.returncode != 0
    assert "You must be logged in to the server" in refused.stderr


def test_auth_whoami_and_can_i(cluster: Cluster, tmp_path: Path) -> None:
    whoami = cluster.kubectl("auth", "whoami").stdout
    assert "pocketkube-admin" in whoami
    assert "system:masters" in whoami
    assert cluster.kubectl("auth", "can-i", "create", "pods").stdout.strip() == "yes"
    listed = cluster.kubectl("auth", "can-i", "--list").stdout.splitlines()
    assert listed[0].split() == ["Resources", "Non-Resource", "URLs", "Resource", "Names", "Verbs"]
    assert any(line.startswith("*.*") for line in listed)
