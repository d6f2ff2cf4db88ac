"""Request attributes, the authorizers and their cache."""

from __future__ import annotations

from typing import Any

import pytest

from pocketkube.kubelet.server.auth import (
    AlwaysAllow,
    Attributes,
    User,
    WebhookAuthorizer,
    attributes_for,
    authorizer_for,
    user_of,
)


@pytest.mark.parametrize(
    ("method", "path", "verb", "sub"),
    [
        ("GET", "/stats/summary", "get", "stats"),
        ("GET", "/metrics", "get", "metrics"),
        ("GET", "/metrics/cadvisor", "get", "metrics"),
        ("GET", "/logs/", "get", "log"),
        ("GET", "/spec/", "get", "spec"),
        ("GET", "/containerLogs/ns/p/c", "get", "proxy"),
        ("POST", "/exec/ns/p/c", "create", "proxy"),
        ("GET", "/pods", "get", "proxy"),
        ("DELETE", "/x", "delete", "proxy"),
    ],
)
def test_attributes(method: str, path: str, verb: str, sub: str) -> None:
    assert attributes_for(method, path, "n1") == Attributes(verb, sub, "n1")


def test_user_of_a_certificate() -> None:
    cert = {
        "subject": (
            (("organizationName", "system:masters"),),
            (("organizationName", "other"),),
            (("commonName", "kube-apiserver-kubelet-client"),),
        )
    }
    assert user_of(cert) == User("kube-apiserver-kubelet-client", ("system:masters", "other"))
    assert user_of(None) is None
    assert user_of({"subject": ((("organizationName", "x"),),)}) is None


async def test_webhook_cache_expires() -> None:
    now = [0.0]
    answers = [False, True]
    calls: list[dict[str, Any]] = []

    async def send(review: dict[str, Any]) -> dict[str, Any]:
        calls.append(review)
        return {"status": {"allowed": answers[len(calls) - 1], "reason": "because"}}

    authorizer = WebhookAuthorizer(send, clock=lambda: now[0])
    user, attributes = User("u", ()), Attributes("get", "log", "n1")
    assert await authorizer.allowed(user, attributes) == (False, "because")
    now[0] = 29.0
    assert await authorizer.allowed(user, attributes) == (False, "because")
    now[0] = 31.0  # denials are kept 30 s
    assert await authorizer.allowed(user, attributes) == (True, "because")
    assert len(calls) == 2


async def test_modes() -> None:
    class Client:
        async def create(self, path: str, obj: dict[str, Any]) -> dict[str, Any]:
            assert path == "/apis/authorization.k8s.io/v1/subjectaccessreviews"
            return {"status": {"allowed": True}}

    assert isinstance(authorizer_for("AlwaysAllow", Client()), AlwaysAllow)
    webhook = authorizer_for("Webhook", Client())
    assert await webhook.allowed(User("u", ()), Attributes("get", "proxy", "n")) == (True, "")
    with pytest.raises(ValueError, match="unknown authorization mode"):
        authorizer_for("RBAC", Client())
