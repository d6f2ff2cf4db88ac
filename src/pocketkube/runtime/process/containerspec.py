"""CreateContainer's work: turn a CRI ContainerConfig into a record and the shim's spec.

Everything a start needs is decided here, once, and written down (``state.py``): the command
line, the environment, the working directory, the container's root dir with its mounts, its
cgroup (created now, with its limits, as runc creates it at create time), the files its process
writes its pid into to join that cgroup, the sandbox's network namespace, the user, the log
file. The shim then only has to carry it out, and a restarted runtime knows all of it.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pocketkube.runtime import cri
from pocketkube.runtime.process import rootfs
from pocketkube.runtime.process.cgroups import Cgroups
from pocketkube.runtime.process.images import image_id
from pocketkube.runtime.process.state import ContainerRecord, SandboxRecord

NO_COMMAND = (
    "container has no command: the process runtime runs the host's binaries and cannot take an "
    "image's entrypoint"
)
DEFAULT_LOG = "container.log"  # in the container's dir, when the kubelet names no log file


def user_and_group(config: cri.ContainerConfig) -> tuple[int | None, int | None]:
    """The uid and gid to switch to; (None, None) when not root, where nobody can switch."""
    if os.geteuid() != 0:
        return None, None
    uid = config.run_as_user
    gid = config.run_as_group
    if gid is None and uid is not None:
        gid = rootfs.primary_gid(uid)
    return uid, gid


def log_path(sandbox: SandboxRecord, config: cri.ContainerConfig, directory: Path) -> Path:
    if sandbox.config.log_directory and config.log_path:
        return Path(sandbox.config.log_directory) / config.log_path
    return directory / DEFAULT_LOG


def make(
    *,
    sandbox: SandboxRecord,
    config: cri.ContainerConfig,
    directory_of: Callable[[str], Path],
    cgroups: Cgroups,
    log_max_size: int,
    log_max_files: int,
) -> tuple[ContainerRecord, dict[str, Any]]:
    """The record and the shim's spec of a new container of ``sandbox``; creates its root dir
    and cgroup. ``directory_of(id)`` is where the container's files go."""
    if not config.command:
        raise cri.RuntimeError_("InvalidArgument", NO_COMMAND)
    container_id = secrets.token_hex(32)
    directory = directory_of(container_id)
    root = directory / "root"
    rootfs.build_root(root, config.mounts)
    cwd = rootfs.working_dir(root, config.working_dir)
    uid, gid = user_and_group(config)
    hostname = sandbox.config.hostname or sandbox.config.metadata.name
    env = rootfs.environment(config, root=root, hostname=hostname, uid=uid)
    if config.tty and "TERM" not in env:
        env["TERM"] = "xterm"  # containerd's, for a container with a terminal
    cgroup_path = f"{sandbox.cgroup_path}/{container_id}"
    cgroups.create(cgroup_path, config.resources)
    procs_files = tuple(cgroups.procs_files(cgroup_path))
    log = log_path(sandbox, config, directory)
    record = ContainerRecord(
        id=container_id,
        sandbox_id=sandbox.id,
        config=config,
        created_at=time.time_ns(),
        image_ref=image_id(config.image.image),
        log_path=str(log),
        cgroup_path=cgroup_path,
        root=str(root),
        cwd=cwd,
        env=env,
        netns_path=sandbox.netns_path,
        uid=uid,
        gid=gid,
        procs_files=procs_files,
    )
    spec = {
        "argv": [*config.command, *config.args],
        "env": env,
        "cwd": cwd,
        "procs_files": list(procs_files),
        "netns": sandbox.netns_path,
        "uid": uid,
        "gid": gid,
        "log_path": str(log),
        "log_max_size": log_max_size,
        "log_max_files": log_max_files,
        "stdin": config.stdin,
        "stdin_once": config.stdin_once,
        "tty": config.tty,
    }
    return record, spec
