"""The volume manager and its plugins, with the fake source: files, modes, errors, refreshes."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from pocketkube.kubelet.volumes.fake import FakeVolumeSource
from pocketkube.kubelet.volumes.manager import VolumeError, VolumeManager
from pocketkube.kubelet.volumes.tokens import TokenManager
from tests.unit.kubelet.volumes.tree import read_text, visible, write_text

Obj = dict[str, Any]
NOW = 1_700_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def source(clock: Clock) -> FakeVolumeSource:
    fake = FakeVolumeSource(now=clock)
    fake.add_configmap("shop", "config", {"a": "A", "b": "B"}, {"bin": b"\x00\x01"})
    fake.add_secret("shop", "creds", {"user": "admin", "pass": b"\xffpw"})
    fake.service_accounts |= {("shop", "default"), ("shop", "robot")}
    return fake


@pytest.fixture
def manager(tmp_path: Path, source: FakeVolumeSource, clock: Clock) -> VolumeManager:
    return VolumeManager(
        root_dir=tmp_path / "kubelet",
        source=source,
        node_allocatable=lambda: {"cpu": "4", "memory": "8Gi"},
        tokens=TokenManager(source=source, now=clock, jitter=lambda: 0.0),
    )


def pod(*volumes: Obj, uid: str = "uid-1", **spec: Any) -> Obj:
    return {
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "uid": uid,
            "labels": {"app": "web"},
            "annotations": {"team": "blue"},
        },
        "spec": {
            "containers": [{"name": "app", "resources": {"limits": {"memory": "64Mi"}}}],
            "volumes": list(volumes),
            **spec,
        },
    }


A, B, BIN = (b"A", 0o644), (b"B", 0o644), (b"\x00\x01", 0o644)


@pytest.mark.parametrize(
    ("volume", "files"),
    [
        ({"configMap": {"name": "config"}}, {"a": A, "b": B, "bin": BIN}),
        (
            {"configMap": {"name": "config", "defaultMode": 0o400}},
            {"a": (b"A", 0o400), "b": (b"B", 0o400), "bin": (b"\x00\x01", 0o400)},
        ),
        (
            {
                "configMap": {
                    "name": "config",
                    "items": [
                        {"key": "a", "path": "x/y.txt", "mode": 0o600},
                        {"key": "bin", "path": "bin"},
                    ],
                }
            },
            {"x/y.txt": (b"A", 0o600), "bin": BIN},
        ),
        ({"configMap": {"name": "nope", "optional": True}}, {}),
        (
            {
                "configMap": {
                    "name": "config",
                    "optional": True,
                    "items": [{"key": "zz", "path": "zz"}, {"key": "a", "path": "a"}],
                }
            },
            {"a": A},
        ),
        (
            {"secret": {"secretName": "creds"}},
            {"user": (b"admin", 0o644), "pass": (b"\xffpw", 0o644)},
        ),
        (
            {
                "secret": {
                    "secretName": "creds",
                    "defaultMode": 0o440,
                    "items": [{"key": "user", "path": "u"}],
                }
            },
            {"u": (b"admin", 0o440)},
        ),
        ({"secret": {"secretName": "nope", "optional": True}}, {}),
        (
            {
                "downwardAPI": {
                    "items": [
                        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
                        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                        {
                            "path": "meta/team",
                            "fieldRef": {"fieldPath": "metadata.annotations['team']"},
                            "mode": 0o400,
                        },
                        {
                            "path": "mem",
                            "resourceFieldRef": {
                                "containerName": "app",
                                "resource": "limits.memory",
                                "divisor": "1Mi",
                            },
                        },
                        {
                            "path": "cpu",
                            "resourceFieldRef": {
                                "containerName": "app",
                                "resource": "limits.cpu",
                                "divisor": "1m",
                            },
                        },
                    ]
                }
            },
            {
                "name": (b"web", 0o644),
                "labels": (b'app="web"', 0o644),
                "meta/team": (b"blue", 0o400),
                "mem": (b"64", 0o644),
                "cpu": (b"4000", 0o644),
            },
        ),
        (
            {
                "projected": {
                    "defaultMode": 0o444,
                    "sources": [
                        {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
                        {
                            "configMap": {
                                "name": "config",
                                "items": [{"key": "a", "path": "ca.crt"}],
                            }
                        },
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
                        {
                            "secret": {
                                "name": "creds",
                                "items": [{"key": "user", "path": "user", "mode": 0o400}],
                            }
                        },
                    ],
                }
            },
            {
                "token": (b"token-1-default-uid-1", 0o444),
                "ca.crt": (b"A", 0o444),
                "namespace": (b"shop", 0o444),
                "user": (b"admin", 0o400),
            },
        ),
        (
            {
                "projected": {
                    "sources": [{"serviceAccountToken": {"path": "t", "audience": "vault"}}]
                }
            },
            {"t": (b"token-1-default-uid-1-vault", 0o644)},
        ),
        ({"emptyDir": {}}, {}),
        ({"emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}}, {}),
    ],
)
async def test_volume_contents(
    manager: VolumeManager, volume: Obj, files: dict[str, tuple[bytes, int]]
) -> None:
    paths = await manager.mount_pod(pod({"name": "v", **volume}))
    assert list(paths) == ["v"]
    assert Path(paths["v"]).parent.parent == manager.pod_dir("uid-1") / "volumes"
    assert visible(paths["v"]) == files


@pytest.mark.parametrize(
    ("volume", "plugin", "mode"),
    [
        ({"emptyDir": {}}, "kubernetes.io~empty-dir", 0o777),
        ({"configMap": {"name": "config"}}, "kubernetes.io~configmap", 0o777),
        ({"secret": {"secretName": "creds"}}, "kubernetes.io~secret", 0o1777),
        ({"downwardAPI": {"items": []}}, "kubernetes.io~downward-api", 0o1777),
        ({"projected": {"sources": []}}, "kubernetes.io~projected", 0o1777),
    ],
)
async def test_volume_directories(
    manager: VolumeManager, volume: Obj, plugin: str, mode: int
) -> None:
    paths = await manager.mount_pod(pod({"name": "v", **volume}))
    assert paths["v"] == str(manager.root_dir / "pods" / "uid-1" / "volumes" / plugin / "v")
    assert stat.S_IMODE(os.stat(paths["v"]).st_mode) == mode
    for parent in (
        manager.pod_dir("uid-1"),
        manager.pod_dir("uid-1") / "volumes",
        Path(paths["v"]).parent,
    ):
        assert stat.S_IMODE(parent.stat().st_mode) == 0o755


@pytest.mark.parametrize(
    ("volume", "message"),
    [
        ({"configMap": {"name": "nope"}}, 'configmap "nope" not found'),
        (
            {"configMap": {"name": "config", "items": [{"key": "zz", "path": "zz"}]}},
            "configmap references non-existent config key: zz",
        ),
        (
            {"configMap": {"name": "config", "items": [{"key": "a", "path": "../a"}]}},
            "invalid path: must not contain '..': ../a",
        ),
        ({"secret": {"secretName": "nope"}}, 'secret "nope" not found'),
        (
            {"secret": {"secretName": "creds", "items": [{"key": "zz", "path": "zz"}]}},
            "references non-existent secret key: zz",
        ),
        (
            {"downwardAPI": {"items": [{"path": "n", "fieldRef": {"fieldPath": "spec.nodeName"}}]}},
            "unsupported fieldPath: spec.nodeName",
        ),
        (
            {
                "projected": {
                    "sources": [
                        {"configMap": {"name": "x"}},
                        {"secret": {"name": "y"}},
                        {"configMap": {"name": "x"}},
                    ]
                }
            },
            '[configmap "x" not found, secret "y" not found]',
        ),
        (
            {"persistentVolumeClaim": {"claimName": "data"}},
            "no volume plugin matched: persistentVolumeClaim volumes are not supported (pocketkube "
            "has emptyDir, configMap, secret, downwardAPI, projected and hostPath)",
        ),
    ],
)
async def test_failed_mount_messages(manager: VolumeManager, volume: Obj, message: str) -> None:
    with pytest.raises(VolumeError) as caught:
        await manager.mount_pod(pod({"name": "v", **volume}))
    assert caught.value.message == f'MountVolume.SetUp failed for volume "v" : {message}'


async def test_token_failure(manager: VolumeManager) -> None:
    volume = {
        "name": "kube-api-access",
        "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]},
    }
    with pytest.raises(VolumeError) as caught:
        await manager.mount_pod(pod(volume, serviceAccountName="ghost"))
    assert caught.value.message == (
        'MountVolume.SetUp failed for volume "kube-api-access" : '
        'failed to fetch token: serviceaccounts "ghost" not found'
    )


async def test_api_errors_are_not_optional(
    manager: VolumeManager, source: FakeVolumeSource
) -> None:
    source.fail("configmap", "config", "Get https://api: connection refused")
    with pytest.raises(VolumeError, match="connection refused"):
        await manager.mount_pod(
            pod({"name": "v", "configMap": {"name": "config", "optional": True}})
        )


async def test_every_failed_volume_is_reported(manager: VolumeManager) -> None:
    volumes = [
        {"name": "good", "emptyDir": {}},
        {"name": "bad1", "configMap": {"name": "nope"}},
        {"name": "bad2", "secret": {"secretName": "nope"}},
    ]
    with pytest.raises(VolumeError) as caught:
        await manager.mount_pod(pod(*volumes))
    assert caught.value.messages == [
        'MountVolume.SetUp failed for volume "bad1" : configmap "nope" not found',
        'MountVolume.SetUp failed for volume "bad2" : secret "nope" not found',
    ]
    assert (manager.pod_dir("uid-1") / "volumes" / "kubernetes.io~empty-dir" / "good").is_dir()


async def test_remount_refreshes_contents_and_keeps_empty_dir_data(
    manager: VolumeManager, source: FakeVolumeSource
) -> None:
    spec = pod(
        {"name": "cfg", "configMap": {"name": "config"}}, {"name": "scratch", "emptyDir": {}}
    )
    paths = await manager.mount_pod(spec)
    write_text(Path(paths["scratch"], "data"), "kept")
    source.add_configmap("shop", "config", {"a": "A2", "c": "C"})
    assert await manager.mount_pod(spec) == paths
    assert visible(paths["cfg"]) == {"a": (b"A2", 0o644), "c": (b"C", 0o644)}
    assert read_text(Path(paths["scratch"], "data")) == "kept"


async def test_a_pod_without_volumes(manager: VolumeManager) -> None:
    assert await manager.mount_pod(pod()) == {}
    assert manager.pod_dir("uid-1").is_dir()


async def test_tokens_are_reused_until_most_of_their_life_is_gone(
    manager: VolumeManager, source: FakeVolumeSource, clock: Clock
) -> None:
    spec = pod(
        {
            "name": "t",
            "projected": {
                "sources": [{"serviceAccountToken": {"path": "token", "expirationSeconds": 1000}}]
            },
        }
    )
    paths = await manager.mount_pod(spec)
    clock.now += 799  # 80% of its 1000 s
    await manager.mount_pod(spec)
    assert source.tokens_issued == 1
    clock.now += 2
    await manager.mount_pod(spec)
    assert source.tokens_issued == 2
    assert visible(paths["t"]) == {"token": (b"token-2-default-uid-1", 0o644)}


async def test_a_failed_renewal_keeps_a_valid_token(
    manager: VolumeManager, source: FakeVolumeSource, clock: Clock
) -> None:
    spec = pod(
        {
            "name": "t",
            "projected": {
                "sources": [{"serviceAccountToken": {"path": "token", "expirationSeconds": 1000}}]
            },
        }
    )
    await manager.mount_pod(spec)
    source.fail("token", "default", "the API server is down")
    clock.now += 900
    await manager.mount_pod(spec)  # still valid for 100 s
    clock.now += 100
    with pytest.raises(VolumeError) as caught:
        await manager.mount_pod(spec)
    assert caught.value.message.endswith(
        'token "default"/"shop" expired and refresh failed: the API server is down'
    )


async def test_unmount_removes_volumes_but_never_host_paths(
    manager: VolumeManager, tmp_path: Path
) -> None:
    host = tmp_path / "host"
    host.mkdir()
    (host / "precious").write_text("x")
    spec = pod({"name": "h", "hostPath": {"path": str(host)}}, {"name": "e", "emptyDir": {}})
    paths = await manager.mount_pod(spec)
    assert paths["h"] == str(host)
    os.symlink(host, Path(paths["e"]) / "link")  # a container's symlink out of its volume
    await manager.unmount_pod("uid-1")
    assert not (manager.pod_dir("uid-1") / "volumes").exists()
    assert (host / "precious").read_text() == "x"
    await manager.unmount_pod("uid-1")  # idempotent


async def test_cleanup_removes_orphaned_pod_directories(
    manager: VolumeManager, source: FakeVolumeSource
) -> None:
    for uid in ("keep", "gone-1", "gone-2"):
        await manager.mount_pod(pod({"name": "e", "emptyDir": {}}, uid=uid))
    logs = manager.pods_dir() / "shop_web_keep"  # not a pod directory: left alone
    logs.mkdir()
    assert await manager.cleanup({"keep"}) == ["gone-1", "gone-2"]
    assert sorted(os.listdir(manager.pods_dir())) == ["keep", "shop_web_keep"]
    assert await manager.cleanup({"keep"}) == []


async def test_cleanup_without_any_pod(manager: VolumeManager) -> None:
    assert await manager.cleanup(set()) == []


async def test_directories_are_made_again_after_an_unmount(manager: VolumeManager) -> None:
    spec = pod({"name": "e", "emptyDir": {}})
    await manager.mount_pod(pod())
    await manager.mount_pod(spec)
    await manager.unmount_pod("uid-1")
    paths = await manager.mount_pod(spec)
    assert visible(paths["e"]) == {}


async def test_a_malformed_volume_fails_alone(manager: VolumeManager) -> None:
    volumes = [{"name": "bad", "configMap": {}}, {"name": "good", "emptyDir": {}}]
    with pytest.raises(VolumeError) as caught:
        await manager.mount_pod(pod(*volumes))
    assert caught.value.messages == [
        "MountVolume.SetUp failed for volume \"bad\" : KeyError: 'name'"
    ]
