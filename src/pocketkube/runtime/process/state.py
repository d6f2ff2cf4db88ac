"""The process runtime's state on disk: what a runtime started after a crash re-adopts.

Upstream containerd keeps its sandboxes and containers in a database under /var/lib/containerd,
so a restarted kubelet (or containerd) finds running containers again instead of starting them
twice. Here the same lives in the runtime's root dir, one directory per object::

    sandboxes/<id>/sandbox.json      SandboxRecord (written by the runtime)
    containers/<id>/container.json   ContainerRecord (the runtime, at CreateContainer)
    containers/<id>/spec.bin         what the shim needs to start it (marshal, see shim.py)
    containers/<id>/started.json     Started (the shim, once ``execve`` succeeded)
    containers/<id>/exit.json        Exited (the shim, when the container is gone; the runtime
                                     adds the reason it derived, e.g. OOMKilled)
    containers/<id>/root/            the container's view of its mounts (see rootfs.py)

Every file is replaced atomically (written aside, then renamed), so a crash leaves the old
version or the new one, never half of one. Records other than the sandbox's readiness never
change once written, so the ``Store`` caches them; ``started``/``exited`` are cached once seen.
"""

from __future__ import annotations

import json
import marshal
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pocketkube.runtime import cri
from pocketkube.runtime.process import shim
from pocketkube.runtime.process.codec import from_json, to_json


@dataclass(frozen=True)
class SandboxRecord:
    id: str
    config: cri.PodSandboxConfig
    created_at: int
    ready: bool
    ip: str = ""
    netns_path: str = ""
    cgroup_path: str = ""


@dataclass(frozen=True)
class ContainerRecord:
    id: str
    sandbox_id: str
    config: cri.ContainerConfig
    created_at: int
    image_ref: str
    log_path: str  # absolute
    cgroup_path: str
    root: str  # the container's root dir (mount symlinks)
    cwd: str
    env: dict[str, str]
    netns_path: str = ""
    uid: int | None = None
    gid: int | None = None
    procs_files: tuple[str, ...] = ()


@dataclass(frozen=True)
class Started:
    pid: int
    start_ticks: int
    started_at: int
    shim_pid: int
    shim_start_ticks: int


@dataclass(frozen=True)
class Exited:
    exit_code: int
    finished_at: int
    signal: int = 0
    start_error: str = ""  # why it could not start
    reason: str = ""  # set by the runtime: Completed, Error, OOMKilled, StartError
    message: str = ""


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f"{path.name}.tmp.{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def write_json(path: Path, value: Any) -> None:
    # compact: the indenting encoder is Python's slow one, and each pod start writes several
    write_atomic(path, json.dumps(to_json(value)).encode() + b"\n")


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        return None


class Store:
    """The records under one root dir."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.sandboxes_dir = root / "sandboxes"
        self.containers_dir = root / "containers"
        self.sandboxes_dir.mkdir(parents=True, exist_ok=True)
        self.containers_dir.mkdir(parents=True, exist_ok=True)
        self._sandboxes: dict[str, SandboxRecord] = {}
        self._containers: dict[str, ContainerRecord] = {}
        self._started: dict[str, Started] = {}
        self._exited: dict[str, Exited] = {}
        for entry in self.sandboxes_dir.iterdir():
            data = read_json(entry / "sandbox.json")
            if data is not None:
                self._sandboxes[entry.name] = from_json(SandboxRecord, data)
        for entry in self.containers_dir.iterdir():
            data = read_json(entry / "container.json")
            if data is not None:
                self._containers[entry.name] = from_json(ContainerRecord, data)

    # sandboxes

    def sandbox_dir(self, sandbox_id: str) -> Path:
        return self.sandboxes_dir / sandbox_id

    def sandboxes(self) -> list[SandboxRecord]:
        return list(self._sandboxes.values())

    def sandbox(self, sandbox_id: str) -> SandboxRecord | None:
        return self._sandboxes.get(sandbox_id)

    def save_sandbox(self, record: SandboxRecord) -> None:
        directory = self.sandbox_dir(record.id)
        directory.mkdir(exist_ok=True)
        write_json(directory / "sandbox.json", record)
        self._sandboxes[record.id] = record

    def delete_sandbox(self, sandbox_id: str) -> None:
        self._sandboxes.pop(sandbox_id, None)
        shutil.rmtree(self.sandbox_dir(sandbox_id), ignore_errors=True)

    # containers

    def container_dir(self, container_id: str) -> Path:
        return self.containers_dir / container_id

    def containers(self) -> list[ContainerRecord]:
        return list(self._containers.values())

    def container(self, container_id: str) -> ContainerRecord | None:
        return self._containers.get(container_id)

    def save_container(self, record: ContainerRecord, spec: dict[str, Any]) -> None:
        directory = self.container_dir(record.id)
        directory.mkdir(exist_ok=True)
        write_atomic(directory / shim.SPEC, marshal.dumps(spec))
        write_json(directory / "container.json", record)
        self._containers[record.id] = record

    def delete_container(self, container_id: str) -> None:
        self._containers.pop(container_id, None)
        self._started.pop(container_id, None)
        self._exited.pop(container_id, None)
        shutil.rmtree(self.container_dir(container_id), ignore_errors=True)

    def started(self, container_id: str) -> Started | None:
        if container_id not in self._started:
            data = read_json(self.container_dir(container_id) / shim.STARTED)
            if data is None:
                return None
            self._started[container_id] = from_json(Started, data)
        return self._started[container_id]

    def exited(self, container_id: str) -> Exited | None:
        """The exit record, as the shim wrote it (``reason`` empty) or as the runtime
        completed it."""
        if container_id not in self._exited:
            data = read_json(self.container_dir(container_id) / shim.EXITED)
            if data is None:
                return None
            record = from_json(Exited, data)
            if not record.reason:
                return record  # cached once the runtime has completed it
            self._exited[container_id] = record
        return self._exited[container_id]

    def save_exited(self, container_id: str, record: Exited) -> None:
        write_json(self.container_dir(container_id) / shim.EXITED, record)
        self._exited[container_id] = record
