"""ClientVolumeSource against a real API server: ConfigMaps, Secrets and pod-bound tokens, and a
pod's volumes and environment built from them."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import pytest

from pocketkube.client import Client
from pocketkube.client.resources import CONFIGMAPS, PODS, SECRETS, SERVICE_ACCOUNTS
from pocketkube.kubelet.envvars import EnvError, make_environment
from pocketkube.kubelet.volumes.manager import VolumeError, VolumeManager
from pocketkube.kubelet.volumes.source import ClientVolumeSource, NotFoundError, SourceError
from tests.unit.kubelet.volumes.tree import visible

Obj = dict[str, Any]
NS = "default"
REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"


async def seed(client: Client) -> Obj:
    """A ConfigMap, a Secret, a service account and a pod running as it."""
    await client.create(
        CONFIGMAPS.path(namespace=NS),
        {"metadata": {"name": "config"}, "data": {"mode": "fast"}, "binaryData": {"bin": "AAE="}},
    )
    await client.create(
        SECRETS.path(namespace=NS),
        {"metadata": {"name": "creds"}, "data": {"user": base64.b64encode(b"admin").decode()}},
    )
    await client.create(SERVICE_ACCOUNTS.path(namespace=NS), {"metadata": {"name": "robot"}})
    pod = {
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "serviceAccountName": "robot",
            "containers": [{"name": "app", "image": "busybox", "command": ["true"]}],
        },
    }
    return await client.create(PODS.path(namespace=NS), pod)


async def review(client: Client, token: str, audiences: list[str] | None = None) -> Obj:
    body: Obj = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview"}
    body["spec"] = {"token": token, **({"audiences": audiences} if audiences else {})}
    status: Obj = (await client.create(REVIEWS, body))["status"]
    return status


async def test_configmaps_and_secrets(client: Client) -> None:
    await seed(client)
    source = ClientVolumeSource(client)
    assert (await source.get_configmap(NS, "config"))["data"] == {"mode": "fast"}
    assert (await source.get_secret(NS, "creds"))["data"] == {"user": "YWRtaW4="}
    with pytest.raises(NotFoundError) as missing:
        await source.get_configmap(NS, "nope")
    assert missing.value.message == 'configmap "nope" not found'
    with pytest.raises(NotFoundError) as missing:
        await source.get_secret(NS, "nope")
    assert missing.value.message == 'secret "nope" not found'


async def test_pod_bound_token(client: Client) -> None:
    pod = await seed(client)
    source = ClientVolumeSource(client)
    before = time.time()
    token = await source.request_token(NS, "robot", "vault", 7200, pod)
    assert before + 7200 - 5 <= token.expires_at <= time.time() + 7200 + 5
    status = await review(client, token.token, ["vault"])
    assert status["authenticated"] is True
    assert status["user"]["username"] == "system:serviceaccount:default:robot"
    # bound to the pod: deleting it revokes the token
    await client.delete(PODS.path(namespace=NS, name="web"), params={"gracePeriodSeconds": 0})
    assert not (await review(client, token.token, ["vault"])).get("authenticated")


async def test_token_errors(client: Client) -> None:
    pod = await seed(client)
    source = ClientVolumeSource(client)
    with pytest.raises(SourceError) as caught:
        await source.request_token(NS, "ghost", "", 3600, pod)
    assert caught.value.message == 'serviceaccounts "ghost" not found'
    with pytest.raises(SourceError, match="less than 10 minutes"):
        await source.request_token(NS, "robot", "", 60, pod)


async def test_a_pods_volumes_from_the_api(client: Client, tmp_path: Path) -> None:
    pod = await seed(client)
    pod["spec"]["volumes"] = [
        {
            "name": "kube-api-access",
            "projected": {
                "defaultMode": 420,
                "sources": [
                    {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
                    {"configMap": {"name": "config", "items": [{"key": "mode", "path": "mode"}]}},
                    {
                        "downwardAPI": {
                            "items": [
                                {
                                    "path": "namespace",
                                    "fieldRef": {"fieldPath": "metadata.namespace"},
                                }
                            ]
                        }
                    },
                ],
            },
        },
        {"name": "cfg", "configMap": {"name": "config"}},
        {"name": "sec", "secret": {"secretName": "creds", "defaultMode": 0o400}},
    ]
    manager = VolumeManager(root_dir=tmp_path, source=ClientVolumeSource(client))
    paths = await manager.mount_pod(pod)
    files = visible(paths["kube-api-access"])
    token = files.pop("token")
    assert files == {"mode": (b"fast", 0o644), "namespace": (b"default", 0o644)}
    assert (await review(client, token[0].decode()))["authenticated"] is True
    assert visible(paths["cfg"]) == {"mode": (b"fast", 0o644), "bin": (b"\x00\x01", 0o644)}
    assert visible(paths["sec"]) == {"user": (b"admin", 0o400)}

    # an update reaches the volume on the next mount
    configmap = await client.get(CONFIGMAPS.path(namespace=NS, name="config"))
    configmap["data"] = {"mode": "slow"}
    await client.update(CONFIGMAPS.path(namespace=NS, name="config"), configmap)
    await manager.mount_pod(pod)
    assert visible(paths["cfg"]) == {"mode": (b"slow", 0o644), "bin": (b"\x00\x01", 0o644)}

    pod["spec"]["volumes"].append({"name": "gone", "secret": {"secretName": "nope"}})
    with pytest.raises(VolumeError) as caught:
        await manager.mount_pod(pod)
    assert (
        caught.value.message
        == 'MountVolume.SetUp failed for volume "gone" : secret "nope" not found'
    )
    await manager.unmount_pod(pod["metadata"]["uid"])


async def test_an_environment_from_the_api(client: Client) -> None:
    pod = await seed(client)
    container: Obj = {
        "name": "app",
        "envFrom": [{"secretRef": {"name": "creds"}, "prefix": "DB_"}],
        "env": [
            {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "config", "key": "mode"}}},
            {"name": "URL", "value": "db://$(DB_user)@$(MODE)"},
        ],
    }
    kubernetes = await client.get("/api/v1/namespaces/default/services/kubernetes")
    env = await make_environment(
        pod,
        container,
        source=ClientVolumeSource(client),
        pod_ip="10.42.0.9",
        host_ip="127.0.0.1",
        node_name="node-1",
        services=[kubernetes],
        node_allocatable={},
    )
    assert env[:3] == [("DB_user", "admin"), ("MODE", "fast"), ("URL", "db://admin@fast")]
    assert dict(env)["KUBERNETES_SERVICE_HOST"] == kubernetes["spec"]["clusterIP"]
    container["env"][0]["valueFrom"]["configMapKeyRef"]["key"] = "nope"
    with pytest.raises(EnvError) as caught:
        await make_environment(
            pod,
            container,
            source=ClientVolumeSource(client),
            pod_ip="",
            host_ip="",
            node_name="",
            services=[],
            node_allocatable={},
        )
    assert caught.value.message == "couldn't find key nope in ConfigMap default/config"
