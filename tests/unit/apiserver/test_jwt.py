"""RS256 JWTs and the service-account token authenticator over a fake lookup and clock."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from pocketkube.apiserver.authn import Unauthenticated, jwt
from pocketkube.apiserver.authn.bootstrap import BootstrapTokens
from pocketkube.apiserver.authn.serviceaccounts import BoundObject, ServiceAccountTokens
from pocketkube.storage.interface import Obj

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
NOW = 1_700_000_000.0


def _segment(token: str, index: int) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(jwt.b64url_decode(token.split(".")[index]))
    return data


def test_sign_verify_round_trip() -> None:
    token = jwt.sign({"sub": "x", "exp": NOW + 10}, KEY)
    assert jwt.verify(token, KEY.public_key(), clock=lambda: NOW) == {"sub": "x", "exp": NOW + 10}
    header = _segment(token, 0)
    der = KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    kid = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
    assert header == {"alg": "RS256", "kid": kid}


def _tampered_claims(token: str) -> str:
    head, _, signature = token.split(".")
    forged = jwt.b64url(orjson.dumps({"sub": "admin", "exp": NOW + 10}))
    return f"{head}.{forged}.{signature}"


def _tampered_signature(token: str) -> str:
    head, body, signature = token.split(".")
    raw = bytearray(jwt.b64url_decode(signature))
    raw[0] ^= 1
    return f"{head}.{body}.{jwt.b64url(bytes(raw))}"


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda t: _tampered_claims(t), "invalid token signature"),
        (lambda t: _tampered_signature(t), "invalid token signature"),
        (lambda t: jwt.sign({"sub": "x"}, OTHER_KEY), "invalid token signature"),
        (lambda t: t.rsplit(".", 1)[0], "three dot-separated parts"),
        (lambda t: "a.b.c", "malformed"),
        (lambda t: jwt.sign({"exp": NOW - 61}, KEY), "expired"),
        (lambda t: jwt.sign({"nbf": NOW + 61}, KEY), "not valid yet"),
    ],
)
def test_verify_refuses(make: Any, error: str) -> None:
    token = make(jwt.sign({"sub": "x", "exp": NOW + 10}, KEY))
    with pytest.raises(jwt.InvalidToken, match=error):
        jwt.verify(token, KEY.public_key(), clock=lambda: NOW)


def test_leeway_of_a_minute() -> None:
    token = jwt.sign({"exp": NOW - 59}, KEY)
    assert jwt.verify(token, KEY.public_key(), clock=lambda: NOW)["exp"] == NOW - 59


class FakeObjects:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], Obj] = {}

    def add(self, plural: str, namespace: str, name: str, uid: str, **extra: Any) -> None:
        meta = {"name": name, "namespace": namespace, "uid": uid}
        self.objects[(plural, namespace, name)] = {"metadata": meta, **extra}

    async def lookup(self, plural: str, namespace: str, name: str) -> Obj | None:
        return self.objects.get((plural, namespace, name))


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def objects() -> FakeObjects:
    found = FakeObjects()
    found.add("serviceaccounts", "ns", "bot", "sa-uid")
    found.add("pods", "ns", "web", "pod-uid")
    return found


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tokens(objects: FakeObjects, clock: Clock) -> ServiceAccountTokens:
    return ServiceAccountTokens(signing_key=lambda: KEY, lookup=objects.lookup, clock=clock)


def test_issued_claims(tokens: ServiceAccountTokens) -> None:
    bound = BoundObject(kind="Pod", name="web", uid="pod-uid")
    token, exp = tokens.issue(
        namespace="ns", name="bot", uid="sa-uid", expiration_seconds=600, bound=bound
    )
    claims = _segment(token, 1)
    assert exp == NOW + 600
    assert claims["iss"] == "https://kubernetes.default.svc.cluster.local"
    assert claims["aud"] == ["https://kubernetes.default.svc.cluster.local"]
    assert claims["sub"] == "system:serviceaccount:ns:bot"
    assert (claims["iat"], claims["nbf"], claims["exp"]) == (NOW, NOW, NOW + 600)
    assert claims["kubernetes.io"] == {
        "namespace": "ns",
        "serviceaccount": {"name": "bot", "uid": "sa-uid"},
        "pod": {"name": "web", "uid": "pod-uid"},
    }


async def test_authenticates_service_account(tokens: ServiceAccountTokens) -> None:
    token, _ = tokens.issue(namespace="ns", name="bot", uid="sa-uid")
    result = await tokens.authenticate_token(token)
    assert result is not None
    assert result.identity.user == "system:serviceaccount:ns:bot"
    assert result.identity.groups == (
        "system:serviceaccounts",
        "system:serviceaccounts:ns",
        "system:authenticated",
    )
    assert result.audiences == ("https://kubernetes.default.svc.cluster.local",)


async def test_not_a_service_account_token(tokens: ServiceAccountTokens) -> None:
    assert await tokens.authenticate_token("abcdef.0123456789abcdef") is None
    assert await tokens.authenticate_token(jwt.sign({"iss": "someone-else"}, KEY)) is None


async def test_expired(tokens: ServiceAccountTokens, clock: Clock) -> None:
    token, _ = tokens.issue(namespace="ns", name="bot", uid="sa-uid", expiration_seconds=600)
    clock.now += 600 + 61
    with pytest.raises(Unauthenticated, match="expired"):
        await tokens.authenticate_token(token)


async def test_audience(tokens: ServiceAccountTokens) -> None:
    token, _ = tokens.issue(namespace="ns", name="bot", uid="sa-uid", audiences=["vault"])
    with pytest.raises(Unauthenticated, match=r'token audiences \["vault"\] is invalid'):
        await tokens.authenticate_token(token)
    result = await tokens.authenticate_token(token, audiences=["vault", "other"])
    assert result is not None
    assert result.audiences == ("vault",)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda o: o.objects.pop(("serviceaccounts", "ns", "bot")), "not found"),
        (lambda o: o.add("serviceaccounts", "ns", "bot", "new"), r"UID \(new\) does not match"),
        (lambda o: o.objects.pop(("pods", "ns", "web")), "pod ns/web has been deleted"),
        (lambda o: o.add("pods", "ns", "web", "p2"), r"pod UID \(p2\) does not match"),
    ],
)
async def test_revoked_with_its_objects(
    tokens: ServiceAccountTokens, objects: FakeObjects, change: Any, error: str
) -> None:
    bound = BoundObject(kind="Pod", name="web", uid="pod-uid")
    token, _ = tokens.issue(namespace="ns", name="bot", uid="sa-uid", bound=bound)
    assert await tokens.authenticate_token(token) is not None
    change(objects)
    with pytest.raises(Unauthenticated, match=error):
        await tokens.authenticate_token(token)


def _bootstrap_secret(objects: FakeObjects, **data: str) -> None:
    encoded = {k.replace("_", "-"): base64.b64encode(v.encode()).decode() for k, v in data.items()}
    objects.add(
        "secrets",
        "kube-system",
        "bootstrap-token-abcdef",
        "s-uid",
        type="bootstrap.kubernetes.io/token",
        data=encoded,
    )


@pytest.mark.parametrize(
    ("data", "token", "groups"),
    [
        ({}, "abcdef.0123456789abcdef", ("system:bootstrappers", "system:authenticated")),
        (
            {"auth_extra_groups": "system:bootstrappers:kubeadm:default-node-token"},
            "abcdef.0123456789abcdef",
            (
                "system:bootstrappers",
                "system:bootstrappers:kubeadm:default-node-token",
                "system:authenticated",
            ),
        ),
        ({"expiration": "2023-11-14T22:13:19Z"}, "abcdef.0123456789abcdef", None),  # NOW - 1
        ({"expiration": "2023-11-14T22:13:30Z"}, "abcdef.0123456789abcdef", ("*",)),
        ({"usage_bootstrap_authentication": "false"}, "abcdef.0123456789abcdef", None),
        ({"auth_extra_groups": "system:masters"}, "abcdef.0123456789abcdef", None),
        ({}, "abcdef.0123456789abcdeX", None),
        ({}, "abcdef.0000000000000000", None),
        ({}, "zzzzzz.0123456789abcdef", None),
    ],
)
async def test_bootstrap_tokens(
    objects: FakeObjects, clock: Clock, data: dict[str, str], token: str, groups: Any
) -> None:
    fields = {
        "token_id": "abcdef",
        "token_secret": "0123456789abcdef",
        "usage_bootstrap_authentication": "true",
        **data,
    }
    _bootstrap_secret(objects, **fields)
    result = await BootstrapTokens(lookup=objects.lookup, clock=clock).authenticate_token(token)
    if groups is None:
        assert result is None
        return
    assert result is not None
    assert result.identity.user == "system:bootstrap:abcdef"
    if groups != ("*",):
        assert result.identity.groups == groups
