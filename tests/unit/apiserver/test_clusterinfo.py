"""The cluster-info ConfigMap: its kubeconfig, who may read it, and how a restart updates it."""

from __future__ import annotations

import base64

import pytest
import yaml

from pocketkube.apiserver import clusterinfo
from pocketkube.apiserver.registry import ResourceInfo, ResourceRegistry
from pocketkube.storage.memory import MemoryBackend
from pocketkube.storage.store import KVStorage

CONFIGMAPS = ResourceInfo(
    group="",
    version="v1",
    kind="ConfigMap",
    plural="configmaps",
    namespaced=True,
    storage_prefix="/configmaps/",
)
CA = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_kubeconfig_in_kubeadm_shape() -> None:
    text = clusterinfo.discovery_kubeconfig(server_url="https://10.0.0.1:6443", ca_pem=CA)
    assert yaml.safe_load(text) == {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "",
                "cluster": {
                    "server": "https://10.0.0.1:6443",
                    "certificate-authority-data": base64.b64encode(CA).decode(),
                },
            }
        ],
        "contexts": None,
        "current-context": "",
        "preferences": {},
        "users": None,
    }
    assert text.startswith("apiVersion: v1\nclusters:\n- cluster:\n")
    assert text.endswith(
        '  name: ""\ncontexts: null\ncurrent-context: ""\nkind: Config\n'
        "preferences: {}\nusers: null\n"
    )


@pytest.mark.parametrize(
    ("method", "path", "query", "allowed"),
    [
        ("GET", "/api/v1/namespaces/kube-public/configmaps/cluster-info", {}, True),
        ("GET", "/api/v1/namespaces/kube-public/configmaps/cluster-info", {"pretty": "1"}, True),
        ("HEAD", "/api/v1/namespaces/kube-public/configmaps/cluster-info", {}, True),
        ("GET", "/api/v1/namespaces/kube-public/configmaps/cluster-info", {"watch": "1"}, False),
        ("PUT", "/api/v1/namespaces/kube-public/configmaps/cluster-info", {}, False),
        ("DELETE", "/api/v1/namespaces/kube-public/configmaps/cluster-info", {}, False),
        ("GET", "/api/v1/namespaces/kube-public/configmaps", {}, False),
        ("GET", "/api/v1/namespaces/kube-public/configmaps/other", {}, False),
        ("GET", "/api/v1/namespaces/default/configmaps/cluster-info", {}, False),
        ("GET", "/api/v1/namespaces/kube-public/secrets/cluster-info", {}, False),
        ("GET", "/api/v1/namespaces/kube-public/configmaps/cluster-info/", {}, False),
    ],
)
def test_anonymous_may_only_get_cluster_info(
    method: str, path: str, query: dict[str, str], allowed: bool
) -> None:
    assert clusterinfo.anonymous_may(method, path, query) is allowed


@pytest.fixture
async def configmaps() -> ResourceRegistry:
    backend = MemoryBackend()
    await backend.start()
    return ResourceRegistry(info=CONFIGMAPS, storage=KVStorage(backend))


async def test_publish_creates_then_updates_only_the_kubeconfig(
    configmaps: ResourceRegistry,
) -> None:
    await clusterinfo.publish(configmaps, server_url="https://a:6443", ca_pem=CA)
    first = await configmaps.get("kube-public", "cluster-info")
    assert list(first["data"]) == ["kubeconfig"]
    assert "server: https://a:6443" in first["data"]["kubeconfig"]

    async def sign(obj: dict[str, object]) -> dict[str, object]:
        data = obj["data"]
        assert isinstance(data, dict)
        data["jws-kubeconfig-abcdef"] = "header..signature"
        return obj

    signed = await configmaps.update("kube-public", "cluster-info", sign, dry_run=False)

    # a restart with nothing new writes nothing
    await clusterinfo.publish(configmaps, server_url="https://a:6443", ca_pem=CA)
    again = await configmaps.get("kube-public", "cluster-info")
    assert again["metadata"]["resourceVersion"] == signed["metadata"]["resourceVersion"]

    # a new address replaces the kubeconfig and keeps the signatures
    await clusterinfo.publish(configmaps, server_url="https://b:6443", ca_pem=CA)
    moved = await configmaps.get("kube-public", "cluster-info")
    assert "server: https://b:6443" in moved["data"]["kubeconfig"]
    assert moved["data"]["jws-kubeconfig-abcdef"] == "header..signature"
