"""Bearer tokens against the real server: TokenRequest, service-account and bootstrap tokens,
and the review APIs."""

from __future__ import annotations

import base64
from typing import Any

from tests.integration.apiserver.conftest import Client

SA_PATH = "/api/v1/namespaces/default/serviceaccounts"
SSR_PATH = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
SSR = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _token(admin: Client, name: str = "bot", **spec: Any) -> tuple[int, Any]:
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
    return await admin.request("POST", f"{SA_PATH}/{name}/token", body)


async def test_service_account_token_lifecycle(admin: Client, anonymous: Client) -> None:
    code, _ = await admin.request("POST", SA_PATH, {"metadata": {"name": "bot"}})
    assert code == 201
    code, reply = await _token(admin)
    assert code == 201, reply
    assert reply["kind"] == "TokenRequest"
    assert reply["metadata"]["name"] == "bot"
    assert reply["spec"]["expirationSeconds"] == 3600
    assert reply["spec"]["audiences"] == ["https://kubernetes.default.svc.cluster.local"]
    assert reply["status"]["expirationTimestamp"].endswith("Z")
    token = reply["status"]["token"]

    code, listed = await anonymous.request(
        "GET", "/api/v1/namespaces/default/configmaps", headers=bearer(token)
    )
    assert code == 200, listed
    code, review = await anonymous.request("POST", SSR_PATH, SSR, headers=bearer(token))
    assert code == 201
    assert review["status"]["userInfo"] == {
        "username": "system:serviceaccount:default:bot",
        "groups": [
            "system:serviceaccounts",
            "system:serviceaccounts:default",
            "system:authenticated",
        ],
    }

    code, _ = await admin.request("DELETE", f"{SA_PATH}/bot")
    assert code == 200
    code, refused = await anonymous.request(
        "GET", "/api/v1/namespaces/default/configmaps", headers=bearer(token)
    )
    assert code == 401
    assert refused["reason"] == "Unauthorized"


async def test_token_request_errors(admin: Client) -> None:
    code, reply = await _token(admin, "ghost")
    assert code == 404
    assert reply["message"] == 'serviceaccounts "ghost" not found'
    await admin.request("POST", SA_PATH, {"metadata": {"name": "bot"}})
    code, reply = await _token(admin, expirationSeconds=60)
    assert code == 422
    assert "may not specify a duration less than 10 minutes" in reply["message"]
    ref = {"kind": "Pod", "apiVersion": "v1", "name": "missing"}
    code, reply = await _token(admin, boundObjectRef=ref)
    assert code == 404


async def test_pod_bound_token(admin: Client, anonymous: Client) -> None:
    await admin.request("POST", SA_PATH, {"metadata": {"name": "bot"}})
    pod = {
        "metadata": {"name": "web"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}], "serviceAccountName": "bot"},
    }
    code, created = await admin.request("POST", "/api/v1/namespaces/default/pods", pod)
    assert code == 201, created
    ref = {"kind": "Pod", "apiVersion": "v1", "name": "web", "uid": created["metadata"]["uid"]}
    code, reply = await _token(admin, boundObjectRef=ref, audiences=["vault"])
    assert code == 201, reply
    token = reply["status"]["token"]
    review = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "spec": {"token": token, "audiences": ["vault"]},
    }
    code, answer = await admin.request(
        "POST", "/apis/authentication.k8s.io/v1/tokenreviews", review
    )
    assert code == 201
    assert answer["status"]["authenticated"] is True
    assert answer["status"]["audiences"] == ["vault"]
    assert answer["status"]["user"]["username"] == "system:serviceaccount:default:bot"
    # Not for the API server's audience.
    code, _ = await anonymous.request("GET", "/api/v1/namespaces", headers=bearer(token))
    assert code == 401
    await admin.request("DELETE", "/api/v1/namespaces/default/pods/web", {"gracePeriodSeconds": 0})
    code, answer = await admin.request(
        "POST", "/apis/authentication.k8s.io/v1/tokenreviews", review
    )
    assert code == 201
    assert "authenticated" not in answer["status"]
    assert answer["status"]["error"] == "pod default/web has been deleted"


async def test_garbage_token(anonymous: Client) -> None:
    for token in ("garbage", "a.b.c", "abcdef.0123456789abcdef"):
        code, reply = await anonymous.request("GET", "/api/v1/namespaces", headers=bearer(token))
        assert code == 401, reply
    code, _ = await anonymous.request("GET", "/version", headers=bearer("garbage"))
    assert code == 401


def _bootstrap_secret(token_id: str, expiration: str = "") -> dict[str, Any]:
    data = {
        "token-id": token_id,
        "token-secret": "0123456789abcdef",
        "usage-bootstrap-authentication": "true",
        "auth-extra-groups": "system:bootstrappers:kubeadm:default-node-token",
        **({"expiration": expiration} if expiration else {}),
    }
    return {
        "metadata": {"name": f"bootstrap-token-{token_id}"},
        "type": "bootstrap.kubernetes.io/token",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


async def test_bootstrap_tokens(admin: Client, anonymous: Client) -> None:
    secrets = "/api/v1/namespaces/kube-system/secrets"
    code, _ = await admin.request("POST", secrets, _bootstrap_secret("abcdef"))
    assert code == 201
    code, review = await anonymous.request(
        "POST", SSR_PATH, SSR, headers=bearer("abcdef.0123456789abcdef")
    )
    assert code == 201, review
    assert review["status"]["userInfo"] == {
        "username": "system:bootstrap:abcdef",
        "groups": [
            "system:bootstrappers",
            "system:bootstrappers:kubeadm:default-node-token",
            "system:authenticated",
        ],
    }
    code, _ = await admin.request(
        "POST", secrets, _bootstrap_secret("expire", expiration="2020-01-01T00:00:00Z")
    )
    assert code == 201
    code, _ = await anonymous.request(
        "POST", SSR_PATH, SSR, headers=bearer("expire.0123456789abcdef")
    )
    assert code == 401


async def test_reviews(admin: Client) -> None:
    code, review = await admin.request("POST", SSR_PATH, SSR)
    assert code == 201
    assert review["status"]["userInfo"]["username"] == "pocketkube-admin"
    assert review["status"]["userInfo"]["groups"] == ["system:masters", "system:authenticated"]

    authz = "/apis/authorization.k8s.io/v1"
    access = {"resourceAttributes": {"verb": "create", "resource": "pods", "namespace": "x"}}
    code, answer = await admin.request(
        "POST", f"{authz}/selfsubjectaccessreviews", {"spec": access}
    )
    assert code == 201
    assert answer["status"] == {"allowed": True}
    assert answer["spec"] == access
    code, answer = await admin.request("POST", f"{authz}/selfsubjectaccessreviews", {"spec": {}})
    assert code == 422
    code, answer = await admin.request(
        "POST", f"{authz}/selfsubjectrulesreviews", {"spec": {"namespace": "default"}}
    )
    assert code == 201
    assert answer["status"]["resourceRules"] == [
        {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}
    ]
    assert answer["status"]["incomplete"] is False
    code, answer = await admin.request(
        "POST", f"{authz}/subjectaccessreviews", {"spec": {"user": "jane", **access}}
    )
    assert code == 201
    assert answer["status"]["allowed"] is True
    code, _ = await admin.request("POST", f"{authz}/subjectaccessreviews", {"spec": access})
    assert code == 422
    local = {"user": "jane", **access}
    code, answer = await admin.request(
        "POST", f"{authz}/namespaces/x/localsubjectaccessreviews", {"spec": local}
    )
    assert code == 201, answer
    code, answer = await admin.request(
        "POST", f"{authz}/namespaces/y/localsubjectaccessreviews", {"spec": local}
    )
    assert code == 400
