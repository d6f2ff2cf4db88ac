"""volumeMounts → CRI mounts: read-only rules, subPath and subPathExpr, upstream's errors."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from pocketkube.kubelet.envvars import EnvError
from pocketkube.kubelet.volumes.mounts import container_mounts
from pocketkube.runtime import cri

Obj = dict[str, Any]
VOLUMES = [
    {"name": "cfg", "configMap": {"name": "c"}},
    {"name": "sec", "secret": {"secretName": "s"}},
    {"name": "scratch", "emptyDir": {}},
    {"name": "host", "hostPath": {"path": "/tmp"}},
]


@pytest.fixture
def paths(tmp_path: Path) -> dict[str, str]:
    made = {}
    for volume in VOLUMES:
        directory = tmp_path / str(volume["name"])
        directory.mkdir()
        os.chmod(directory, 0o777)
        made[str(volume["name"])] = str(directory)
    (tmp_path / "cfg" / "..data").mkdir()
    (tmp_path / "cfg" / "..data" / "key").write_text("v")
    os.symlink("..data/key", tmp_path / "cfg" / "key")
    (tmp_path / "outside" / "ssl").mkdir(parents=True)
    os.symlink(tmp_path / "outside", tmp_path / "scratch" / "escape")
    return made


def mounts(
    paths: dict[str, str], *volume_mounts: Obj, env: list[tuple[str, str]] | None = None
) -> list[cri.Mount]:
    pod = {"metadata": {"name": "p"}, "spec": {"volumes": VOLUMES}}
    container = {"name": "app", "volumeMounts": list(volume_mounts)}
    return container_mounts(pod, container, paths, env=env or [])


@pytest.mark.parametrize(
    ("mount", "readonly"),
    [
        ({"name": "cfg", "mountPath": "/etc/config"}, True),
        ({"name": "sec", "mountPath": "/etc/config"}, True),
        ({"name": "scratch", "mountPath": "/etc/config"}, False),
        ({"name": "scratch", "mountPath": "/etc/config", "readOnly": True}, True),
        ({"name": "host", "mountPath": "/etc/config", "readOnly": False}, False),
    ],
)
def test_read_only(paths: dict[str, str], mount: Obj, readonly: bool) -> None:
    (got,) = mounts(paths, mount)
    assert got == cri.Mount(
        container_path="/etc/config", host_path=paths[mount["name"]], readonly=readonly
    )


def test_relative_mount_path_is_made_absolute(paths: dict[str, str]) -> None:
    (got,) = mounts(paths, {"name": "scratch", "mountPath": "data"})
    assert got.container_path == "/data"


def test_several_mounts_keep_their_order(paths: dict[str, str]) -> None:
    got = mounts(paths, {"name": "scratch", "mountPath": "/a"}, {"name": "cfg", "mountPath": "/b"})
    assert [m.container_path for m in got] == ["/a", "/b"]


def test_sub_path_is_created_with_the_volume_mode(paths: dict[str, str]) -> None:
    (got,) = mounts(paths, {"name": "scratch", "mountPath": "/data", "subPath": "one/two"})
    assert got.host_path == os.path.join(paths["scratch"], "one/two")
    assert got.sub_path == ""
    assert stat.S_IMODE(os.stat(got.host_path).st_mode) == 0o777


def test_sub_path_of_a_configmap_key(paths: dict[str, str]) -> None:
    (got,) = mounts(paths, {"name": "cfg", "mountPath": "/etc/app.conf", "subPath": "key"})
    assert Path(got.host_path).read_text() == "v"
    assert got.readonly


@pytest.mark.parametrize(
    ("expression", "env", "sub_path"),
    [
        ("$(POD_NAME)", [("POD_NAME", "web-0")], "web-0"),
        ("logs/$(POD_NAME)/$$(X)", [("POD_NAME", "web-0")], "logs/web-0/$(X)"),
    ],
)
def test_sub_path_expr(
    paths: dict[str, str], expression: str, env: list[tuple[str, str]], sub_path: str
) -> None:
    (got,) = mounts(
        paths, {"name": "scratch", "mountPath": "/d", "subPathExpr": expression}, env=env
    )
    assert got.host_path == os.path.join(paths["scratch"], sub_path)
    assert os.path.isdir(got.host_path)


@pytest.mark.parametrize(
    ("mount", "env", "message"),
    [
        (
            {"name": "nope", "mountPath": "/x"},
            [],
            'cannot find volume "nope" to mount into container "app"',
        ),
        (
            {"name": "scratch", "mountPath": "/x", "subPathExpr": "$(B)/$(A)/$(E)"},
            [("E", "")],
            "missing value for A, B, E",
        ),
        (
            {"name": "scratch", "mountPath": "/x", "subPath": "/abs"},
            [],
            "error SubPath `/abs` must not be an absolute path",
        ),
        (
            {"name": "scratch", "mountPath": "/x", "subPath": "a/../../b"},
            [],
            "unable to provision SubPath `a/../../b`: must not contain '..'",
        ),
        (
            {"name": "scratch", "mountPath": "/x", "subPath": "escape"},
            [],
            'failed to prepare subPath for volumeMount "scratch" of container "app"',
        ),
        (
            {"name": "scratch", "mountPath": "/x", "subPath": "escape/pocketkube-must-not-exist"},
            [],
            'failed to create subPath directory for volumeMount "scratch" of container "app"',
        ),
        (
            {"name": "scratch", "mountPath": "/x", "subPath": "escape/ssl"},
            [],
            'failed to prepare subPath for volumeMount "scratch" of container "app"',
        ),
    ],
)
def test_errors(
    paths: dict[str, str], mount: Obj, env: list[tuple[str, str]], message: str
) -> None:
    with pytest.raises(EnvError) as caught:
        mounts(paths, mount, env=env)
    assert caught.value.message == message
