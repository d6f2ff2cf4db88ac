"""A container's ``volumeMounts`` as CRI mounts: which host path appears where, read-only or not.

This is the volume half of upstream's ``makeMounts`` (pkg/kubelet/kubelet_pods.go), run when a
container is created: the volume must have been mounted for the pod; ``subPathExpr`` is expanded
with the container's environment (every referenced variable must have a non-empty value);
a sub path must be relative, without ``..``, and stay inside the volume after symlinks; a missing
sub path is created as a directory with the volume's mode, so that it exists before the
container starts. ConfigMap, Secret, downwardAPI and projected volumes are always read-only.

``Mount.host_path`` is the final host path (volume directory joined with the sub path, as
upstream's ``kubecontainer.Mount.HostPath``), so ``Mount.sub_path`` stays empty. Failures raise
``EnvError`` whose message the kubelet shows as CreateContainerConfigError.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping
from typing import Any

from pocketkube.kubelet.envvars import EnvError, expand
from pocketkube.runtime import cri

Obj = dict[str, Any]
READ_ONLY_SOURCES = frozenset({"configMap", "secret", "downwardAPI", "projected"})


def _sub_path(mount: Obj, env: Mapping[str, str]) -> str:
    expression = mount.get("subPathExpr")
    if not expression:
        return str(mount.get("subPath") or "")
    missing: set[str] = set()

    def lookup(name: str) -> str:
        value = env.get(name, "")
        if not value:
            missing.add(name)
        return value

    expanded = expand(str(expression), lookup)
    if missing:
        raise EnvError(f"missing value for {', '.join(sorted(missing))}")
    return expanded


def _inside(root: str, path: str) -> bool:
    real = os.path.realpath(path)
    return real == root or real.startswith(root.rstrip("/") + "/")


def _safe_make_dir(volume_path: str, sub_path: str, mode: int) -> None:
    """Create the sub path one component at a time, never through a symlink that leads out
    of the volume (a container may have planted one), as upstream's ``SafeMakeDir``."""
    root = os.path.realpath(volume_path)
    current = volume_path
    for part in [p for p in sub_path.split("/") if p not in ("", ".")]:
        current = os.path.join(current, part)
        if not _inside(root, current):
            raise OSError(f"{current} is outside the volume")
        if not os.path.lexists(current):
            os.mkdir(current, mode)
            os.chmod(current, mode)


def _prepare_sub_path(volume_path: str, sub_path: str, mount: Obj, container: str) -> str:
    if os.path.isabs(sub_path):
        raise EnvError(f"error SubPath `{sub_path}` must not be an absolute path")
    if ".." in sub_path.split("/"):
        raise EnvError(f"unable to provision SubPath `{sub_path}`: must not contain '..'")
    host_path = os.path.join(volume_path, sub_path)
    where = f'volumeMount "{mount["name"]}" of container "{container}"'
    if not os.path.lexists(host_path):
        try:
            _safe_make_dir(volume_path, sub_path, stat.S_IMODE(os.stat(volume_path).st_mode))
        except OSError:
            raise EnvError(f"failed to create subPath directory for {where}") from None
    if not _inside(os.path.realpath(volume_path), host_path):
        raise EnvError(f"failed to prepare subPath for {where}")
    return host_path


def container_mounts(
    pod: Obj,
    container: Obj,
    volume_paths: Mapping[str, str],
    *,
    env: Iterable[tuple[str, str]] = (),
) -> list[cri.Mount]:
    """The CRI mounts of ``container``; ``volume_paths`` is what ``mount_pod`` returned."""
    volumes = {v.get("name"): v for v in (pod.get("spec") or {}).get("volumes") or []}
    env_map = dict(env)
    name = str(container.get("name", ""))
    mounts = []
    for mount in container.get("volumeMounts") or []:
        volume_name = mount.get("name")
        if volume_name not in volume_paths:
            raise EnvError(f'cannot find volume "{volume_name}" to mount into container "{name}"')
        host_path = volume_paths[volume_name]
        sub_path = _sub_path(mount, env_map)
        if sub_path:
            host_path = _prepare_sub_path(host_path, sub_path, mount, name)
        forced = READ_ONLY_SOURCES.intersection(volumes.get(volume_name) or {})
        path = str(mount.get("mountPath", ""))
        mounts.append(
            cri.Mount(
                container_path=path if path.startswith("/") else "/" + path,
                host_path=host_path,
                readonly=bool(mount.get("readOnly")) or bool(forced),
            )
        )
    return mounts
