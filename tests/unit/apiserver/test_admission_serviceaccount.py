from __future__ import annotations

from typing import Any

import pytest

from pocketkube.api.status import StatusError
from pocketkube.apiserver.admission import Attributes, MemoryReader, serviceaccount
from pocketkube.apiserver.admission.interface import SERVICE_ACCOUNTS
from tests.unit.apiserver.admission_helpers import CONFIGMAPS, pod, pod_create, pod_update

MIRROR = {"kubernetes.io/config.mirror": "abc"}


def account(name: str, *, enforce: bool = False, **fields: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default"}
    if enforce:
        meta["annotations"] = {"kubernetes.io/enforce-mountable-secrets": "true"}
    return {"metadata": meta, **fields}


async def admitted(obj: dict[str, Any], *accounts: dict[str, Any]) -> dict[str, Any]:
    plugin = serviceaccount.new(MemoryReader({SERVICE_ACCOUNTS: list(accounts)}))
    attrs = pod_create(obj)
    await plugin.admit(attrs)
    await plugin.validate(attrs)
    return obj["spec"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({}, "default"),
        ({"serviceAccountName": "bot"}, "bot"),
        ({"serviceAccount": "legacy"}, "legacy"),  # the deprecated alias, as v1 conversion reads it
        ({"serviceAccountName": "bot", "serviceAccount": "legacy"}, "bot"),
    ],
)
async def test_service_account_name(given: dict[str, str], expected: str) -> None:
    spec = await admitted(pod(**given))
    assert spec["serviceAccountName"] == expected
    assert "volumes" not in spec  # no token is mounted (the kubelet will project it)


async def test_reads_only_the_cache_for_the_account() -> None:
    fake = MemoryReader()
    await serviceaccount.new(fake).admit(pod_create(pod()))
    assert [(r[2], r[3]) for r in fake.reads] == [("default", False)]


async def test_image_pull_secrets_come_from_the_account() -> None:
    bot = account("default", imagePullSecrets=[{"name": "registry"}])
    assert (await admitted(pod(), bot))["imagePullSecrets"] == [{"name": "registry"}]
    own = pod(imagePullSecrets=[{"name": "mine"}])
    assert (await admitted(own, bot))["imagePullSecrets"] == [{"name": "mine"}]
    assert "imagePullSecrets" not in await admitted(pod(), account("default"))


async def test_mirror_pods_are_not_changed() -> None:
    obj = pod()
    obj["metadata"]["annotations"] = MIRROR
    assert "serviceAccountName" not in await admitted(obj)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"serviceAccountName": "bot"}, "a mirror pod may not reference service accounts"),
        ({"imagePullSecrets": [{"name": "s"}]}, "a mirror pod may not reference secrets"),
        ({"volumes": [{"name": "v", "secret": {"secretName": "s"}}]}, "secrets"),
        ({"volumes": [{"name": "v", "csi": {"nodePublishSecretRef": {"name": "s"}}}]}, "secrets"),
        (
            {"volumes": [{"name": "v", "projected": {"sources": [{"secret": {"name": "s"}}]}}]},
            "secrets",
        ),
    ],
)
async def test_mirror_pods_may_not_reference_accounts_or_secrets(
    spec: dict[str, Any], message: str
) -> None:
    obj = pod(**spec)
    obj["metadata"]["annotations"] = MIRROR
    with pytest.raises(StatusError) as err:
        await admitted(obj)
    assert err.value.code == 403
    assert err.value.status["message"].startswith('pods "p" is forbidden: a mirror pod may not')
    assert message in err.value.status["message"]


ENV_SECRET = {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "other", "key": "k"}}}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"volumes": [{"name": "v", "secret": {"secretName": "other"}}]},
            'volume with secret.secretName="other" is not allowed because service account '
            "default does not reference that secret",
        ),
        (
            {"containers": [{"name": "c", "image": "i", "env": [ENV_SECRET]}]},
            'container c with envVar TOKEN referencing secret.secretName="other" is not allowed '
            "because service account default does not reference that secret",
        ),
        (
            {
                "initContainers": [
                    {"name": "i", "image": "i", "envFrom": [{"secretRef": {"name": "x"}}]}
                ]
            },
            'init container i with envFrom referencing secret.secretName="x" is not allowed '
            "because service account default does not reference that secret",
        ),
        (
            {"imagePullSecrets": [{"name": "ok"}, {"name": "pull"}]},
            'imagePullSecrets[1].name="pull" is not allowed because service account default '
            "does not reference that imagePullSecret",
        ),
    ],
)
async def test_enforced_mountable_secrets(spec: dict[str, Any], message: str) -> None:
    strict = account(
        "default", enforce=True, secrets=[{"name": "mine"}], imagePullSecrets=[{"name": "ok"}]
    )
    with pytest.raises(StatusError) as err:
        await admitted(pod(**spec), strict)
    assert err.value.status["message"] == f'pods "p" is forbidden: {message}'
    # without the annotation anything goes
    await admitted(pod(**spec), account("default", secrets=[{"name": "mine"}]))


async def test_allowed_secrets_pass() -> None:
    strict = account("default", enforce=True, secrets=[{"name": "mine"}])
    await admitted(pod(volumes=[{"name": "v", "secret": {"secretName": "mine"}}]), strict)


@pytest.mark.parametrize(
    "attrs",
    [
        pod_update(pod(), pod(serviceAccountName="default")),
        Attributes(resource=CONFIGMAPS, namespace="default", obj={"spec": {}}),
    ],
)
async def test_only_pod_creates(attrs: Attributes) -> None:
    fake = MemoryReader()
    plugin = serviceaccount.new(fake)
    await plugin.admit(attrs)
    await plugin.validate(attrs)
    assert "serviceAccountName" not in attrs.obj["spec"]
    assert fake.reads == []
