"""bootstrapsigner and tokencleaner against token Secrets and the cluster-info ConfigMap."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import pytest

from pocketkube.api import bootstraptoken as bt
from pocketkube.client import resources
from pocketkube.client.clock import FakeClock
from pocketkube.client.rest import ApiError
from pocketkube.controllers.bootstrap.signer import KEY, BootstrapSigner, signing_token
from pocketkube.controllers.bootstrap.tokencleaner import TokenCleaner
from tests.unit.controllers.fakes import NOW, FakeClient, informer

CM_PATH = "/api/v1/namespaces/kube-public/configmaps/cluster-info"
KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters: []\n"
H = dt.timedelta(hours=1)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def token_secret(
    token_id: str = "abcdef",
    secret: str = "0123456789abcdef",
    *,
    name: str | None = None,
    signing: str | None = "true",
    expiration: str | None = None,
    type_: str = bt.SECRET_TYPE,
    namespace: str = "kube-system",
    data_id: str | None = None,
) -> dict[str, Any]:
    data = {bt.TOKEN_ID_KEY: data_id if data_id is not None else token_id}
    if secret:
        data[bt.TOKEN_SECRET_KEY] = secret
    if signing is not None:
        data[bt.USAGE_SIGNING_KEY] = signing
    if expiration is not None:
        data[bt.EXPIRATION_KEY] = expiration
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name or f"bootstrap-token-{token_id}",
            "namespace": namespace,
            "uid": f"uid-{token_id}",
        },
        "type": type_,
        "data": {k: b64(v) for k, v in data.items()},
    }


def cluster_info(**extra: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cluster-info", "namespace": "kube-public", "resourceVersion": "3"},
        "data": {"kubeconfig": KUBECONFIG, **extra},
    }


FUTURE = "2024-05-01T13:00:00Z"
PAST = "2024-05-01T11:00:00Z"


@pytest.mark.parametrize(
    ("secret", "expected"),
    [
        (token_secret(), ("abcdef", "0123456789abcdef")),
        (token_secret(expiration=FUTURE), ("abcdef", "0123456789abcdef")),
        (token_secret(expiration=PAST), None),
        (token_secret(expiration="soon"), None),
        (token_secret(signing=None), None),
        (token_secret(signing="false"), None),
        (token_secret(data_id="zzzzzz"), None),  # id and name disagree
        (token_secret(name="other-name"), None),
        (token_secret(secret=""), None),
    ],
)
def test_signing_token(secret: dict[str, Any], expected: tuple[str, str] | None) -> None:
    assert signing_token(secret, NOW) == expected


def signer(
    client: FakeClient, *objs: dict[str, Any], clock: FakeClock | None = None
) -> BootstrapSigner:
    cms = [o for o in objs if o["kind"] == "ConfigMap"]
    secrets = [o for o in objs if o["kind"] == "Secret"]
    return BootstrapSigner(
        client=client,
        configmap_informer=informer(client, resources.CONFIGMAPS, *cms, namespace="kube-public"),
        secret_informer=informer(client, resources.SECRETS, *secrets, namespace="kube-system"),
        clock=clock,
        now=lambda: NOW,
    )


async def test_signs_cluster_info_with_each_signing_token() -> None:
    client = FakeClient()
    ctrl = signer(
        client,
        cluster_info(),
        token_secret(),
        token_secret("ghijkl", "fedcba9876543210"),
        token_secret("nosign", "fedcba9876543210", signing="false"),
    )
    await ctrl.sync(KEY)
    (update,) = client.writes()
    assert update.path == CM_PATH
    data = update.body["data"]
    assert set(data) == {"kubeconfig", "jws-kubeconfig-abcdef", "jws-kubeconfig-ghijkl"}
    assert bt.verify_detached_signature(
        data["jws-kubeconfig-abcdef"], KUBECONFIG, "abcdef", "0123456789abcdef"
    )
    assert update.body["metadata"]["resourceVersion"] == "3"  # optimistic concurrency


async def test_removes_stale_signatures_and_keeps_other_keys() -> None:
    client = FakeClient()
    ctrl = signer(
        client, cluster_info(**{"jws-kubeconfig-gone00": "x..y", "other": "kept"}), token_secret()
    )
    await ctrl.sync(KEY)
    (update,) = client.writes()
    assert set(update.body["data"]) == {"kubeconfig", "other", "jws-kubeconfig-abcdef"}


async def test_writes_nothing_when_signatures_are_current() -> None:
    sig = bt.detached_signature(KUBECONFIG, "abcdef", "0123456789abcdef")
    client = FakeClient()
    await signer(client, cluster_info(**{"jws-kubeconfig-abcdef": sig}), token_secret()).sync(KEY)
    assert client.calls == []


@pytest.mark.parametrize(
    "objs",
    [
        [token_secret()],  # no cluster-info yet
        [
            {**cluster_info(), "data": {"other": "x"}},  # no kubeconfig in it
            token_secret(),
        ],
    ],
)
async def test_nothing_to_sign(objs: list[dict[str, Any]]) -> None:
    client = FakeClient()
    await signer(client, *objs).sync(KEY)
    assert client.calls == []


async def test_events_collapse_into_one_key_and_expiry_schedules_a_resync() -> None:
    clock = FakeClock()
    client = FakeClient()
    ctrl = signer(client, cluster_info(), token_secret(expiration=FUTURE), clock=clock)
    ctrl._poke_secret(token_secret())
    ctrl._poke_secret(token_secret(type_="Opaque"))
    ctrl._poke_configmap(cluster_info())
    assert len(ctrl.queue) == 1
    await ctrl.process(ctrl.queue.get_nowait())
    assert ctrl.queue.waiting == 1  # again when the token expires, to drop its signature
    clock.advance(3600)
    assert ctrl.queue.get_nowait() == KEY


def cleaner(
    client: FakeClient, *secrets: dict[str, Any], clock: FakeClock | None = None
) -> TokenCleaner:
    return TokenCleaner(
        client=client,
        secret_informer=informer(client, resources.SECRETS, *secrets, namespace="kube-system"),
        clock=clock,
        now=lambda: NOW,
    )


SECRET_PATH = "/api/v1/namespaces/kube-system/secrets/bootstrap-token-abcdef"


@pytest.mark.parametrize("expiration", [PAST, "not-a-time", "2024-05-01T12:00:00"])
async def test_cleaner_deletes_expired_tokens_with_a_uid_precondition(expiration: str) -> None:
    client = FakeClient()
    await cleaner(client, token_secret(expiration=expiration)).sync(
        "kube-system/bootstrap-token-abcdef"
    )
    (delete,) = client.writes()
    assert delete.verb == "DELETE"
    assert delete.path == SECRET_PATH
    assert delete.body["preconditions"] == {"uid": "uid-abcdef"}


@pytest.mark.parametrize(
    "error", [ApiError(404, "NotFound", "gone"), ApiError(409, "Conflict", "uid precondition")]
)
async def test_cleaner_is_done_when_the_secret_is_gone_or_replaced(error: ApiError) -> None:
    client = FakeClient(answers={("DELETE", SECRET_PATH): error})
    await cleaner(client, token_secret(expiration=PAST)).sync("kube-system/bootstrap-token-abcdef")


async def test_cleaner_other_errors_are_retried() -> None:
    client = FakeClient(answers={("DELETE", SECRET_PATH): ApiError(500, "InternalError", "x")})
    with pytest.raises(ApiError):
        await cleaner(client, token_secret(expiration=PAST)).sync(
            "kube-system/bootstrap-token-abcdef"
        )


async def test_cleaner_waits_for_tokens_that_expire_later() -> None:
    clock = FakeClock()
    client = FakeClient()
    ctrl = cleaner(client, token_secret(expiration=FUTURE), clock=clock)
    await ctrl.process(ctrl.queue.get_nowait())  # enqueued when the informer handed it over
    assert client.calls == []
    assert ctrl.queue.waiting == 1
    clock.advance(3599)
    assert len(ctrl.queue) == 0
    clock.advance(1)
    assert ctrl.queue.get_nowait() == "kube-system/bootstrap-token-abcdef"


@pytest.mark.parametrize(
    "secret",
    [token_secret(), token_secret(type_="Opaque", expiration=PAST)],
    ids=["no-expiration", "not-a-token"],
)
async def test_cleaner_leaves_other_secrets(secret: dict[str, Any]) -> None:
    client = FakeClient()
    ctrl = cleaner(client, secret)
    await ctrl.sync("kube-system/bootstrap-token-abcdef")
    assert client.calls == []
    assert ctrl.queue.waiting == 0
