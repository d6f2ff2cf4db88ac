"""A container's root dir of mount symlinks, its working directory and environment."""

from __future__ import annotations

import os
from pathlib import Path

from pocketkube.runtime import cri
from pocketkube.runtime.process import rootfs


def test_mounts_become_symlinks(tmp_path: Path) -> None:
    config_vol = tmp_path / "vol" / "config"
    config_vol.mkdir(parents=True)
    (config_vol / "key").write_text("value")
    (tmp_path / "vol" / "data" / "sub").mkdir(parents=True)
    root = tmp_path / "root"
    rootfs.build_root(
        root,
        (
            cri.Mount("/etc/config", str(config_vol)),
            cri.Mount("/data", str(tmp_path / "vol" / "data"), sub_path="sub"),
            cri.Mount("/etc/config/nested", str(tmp_path)),  # inside another mount: skipped
            cri.Mount("/", str(tmp_path)),  # the root itself: skipped
        ),
    )
    assert (root / "etc" / "config" / "key").read_text() == "value"
    assert os.readlink(root / "data") == str(tmp_path / "vol" / "data" / "sub")
    assert not (config_vol / "nested").exists()  # the volume was not written to


def test_working_dir(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    assert rootfs.working_dir(root, "") == str(root)
    assert rootfs.working_dir(root, str(tmp_path)) == str(tmp_path)  # exists on the host
    made = rootfs.working_dir(root, "/no/such/dir/on/host")
    assert made == str(root / "no" / "such" / "dir" / "on" / "host")
    assert os.path.isdir(made)


def test_environment_defaults_and_overrides(tmp_path: Path) -> None:
    config = cri.ContainerConfig(
        metadata=cri.ContainerMetadata("c"),
        image=cri.ImageSpec("i"),
        envs=(cri.KeyValue("PATH", "/opt/bin"), cri.KeyValue("A", "b")),
    )
    env = rootfs.environment(config, root=tmp_path, hostname="pod-1", uid=None)
    assert env["PATH"] == "/opt/bin"
    assert env["A"] == "b"
    assert env["HOSTNAME"] == "pod-1"
    assert env[rootfs.ROOT_ENV] == str(tmp_path)
    assert "HOME" in env
    bare = cri.ContainerConfig(metadata=cri.ContainerMetadata("c"), image=cri.ImageSpec("i"))
    assert rootfs.environment(bare, root=tmp_path, hostname="h", uid=0)["PATH"].startswith(
        "/usr/local/sbin"
    )
