"""A container's view of its volumes, working directory and environment, without a mount namespace.

A real runtime bind-mounts each volume at its ``mountPath`` inside the container's root
filesystem. A host process keeps the host's filesystem, so the process runtime gives every
container a directory, ``<container dir>/root``, where each mount's ``container_path`` is a
symlink to its host directory (``sub_path`` joined, as the kubelet resolved it), and passes that
directory in the environment as ``POCKETKUBE_ROOT``: a program finds the file a pod mounts at
``/etc/config/key`` at ``$POCKETKUBE_ROOT/etc/config/key``. A mount nested inside another
mount's path would have to be created inside the outer volume's host directory, which must not
be touched, so it is left out (with a warning).

``workingDir`` is used as it is when that directory exists on the host (``/tmp``, ``/``), and is
otherwise created under the root dir (or found there, through a mount's symlink). Without a
``workingDir`` the process starts in the root dir. The environment gets what an image would
usually provide and runc adds: ``PATH`` (containerd's default) when the pod sets none,
``HOSTNAME`` and ``HOME``.
"""

from __future__ import annotations

import logging
import os
import pwd
from pathlib import Path

from pocketkube.runtime import cri
from pocketkube.runtime.process.shimchild import DEFAULT_PATH

log = logging.getLogger(__name__)

ROOT_ENV = "POCKETKUBE_ROOT"


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def build_root(root: Path, mounts: tuple[cri.Mount, ...]) -> None:
    """Create ``root`` with a symlink per mount, shortest paths first."""
    root.mkdir(parents=True, exist_ok=True)
    real_root = root.resolve()
    for mount in sorted(mounts, key=lambda m: m.container_path.count("/")):
        relative = os.path.normpath(mount.container_path).lstrip("/")
        if not relative or relative == "." or relative.startswith(".."):
            log.warning("mount at %r cannot be given to a process; skipped", mount.container_path)
            continue
        link = root / relative
        if not _inside(link.parent.resolve(), real_root) or link.is_symlink():
            log.warning(
                "mount at %r is inside another mount or repeated: not visible in %s",
                mount.container_path,
                ROOT_ENV,
            )
            continue
        source = Path(mount.host_path)
        if mount.sub_path:
            source = source / mount.sub_path
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(source)


def working_dir(root: Path, requested: str) -> str:
    """The directory the container starts in."""
    if not requested:
        return str(root)
    if os.path.isdir(requested):
        return requested
    inside = root / os.path.normpath(requested).lstrip("/")
    inside.mkdir(parents=True, exist_ok=True)
    return str(inside)


def home_of(uid: int | None) -> str:
    try:
        return pwd.getpwuid(os.geteuid() if uid is None else uid).pw_dir
    except KeyError:
        return "/"


def primary_gid(uid: int) -> int:
    """The group a user runs with when the pod names no runAsGroup (0 for an unknown user, as
    runc does)."""
    try:
        return pwd.getpwuid(uid).pw_gid
    except KeyError:
        return 0


def environment(
    config: cri.ContainerConfig, *, root: Path, hostname: str, uid: int | None
) -> dict[str, str]:
    env = {"PATH": DEFAULT_PATH, "HOSTNAME": hostname, "HOME": home_of(uid)}
    env.update((kv.key, kv.value) for kv in config.envs)
    env[ROOT_ENV] = str(root)
    return env
