"""What every volume plugin is: a pod volume's source field, its directory name, and ``set_up``.

Upstream's volume plugins (pkg/volume/...) each own one kind of ``volumes[].<source>`` and
materialise it under ``<root>/pods/<uid>/volumes/<plugin>/<name>``, the plugin name escaped for
disk (``kubernetes.io/configmap`` → ``kubernetes.io~configmap``). Ours are small modules with a
``PLUGIN`` constant; the manager picks the plugin by the source field a volume sets. ``set_up``
is called on every sync (upstream remounts ConfigMaps, Secrets and tokens periodically) and must
be idempotent; it returns the host path the containers use, and raises ``SetUpError`` with the
text upstream puts after ``MountVolume.SetUp failed for volume "v" : ``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pocketkube.kubelet.volumes import atomicwriter
from pocketkube.kubelet.volumes.atomicwriter import FileProjection
from pocketkube.kubelet.volumes.source import NotFoundError, SourceError, VolumeSource
from pocketkube.kubelet.volumes.tokens import TokenManager

Obj = dict[str, Any]
DEFAULT_MODE = 0o644  # the API's default for defaultMode (420)
Payload = dict[str, FileProjection]


class SetUpError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class PodContext:
    """What a plugin may use besides the volume itself."""

    pod: Obj
    source: VolumeSource
    tokens: TokenManager
    node_allocatable: Mapping[str, object]

    @property
    def namespace(self) -> str:
        return str(self.pod["metadata"].get("namespace") or "default")


SetUp = Callable[[Obj, Path, PodContext], Awaitable[str]]


@dataclass(frozen=True)
class Plugin:
    name: str  # the directory under volumes/: "kubernetes.io~configmap"
    source_field: str  # the volume's source key: "configMap"
    read_only: bool  # containers always get it read-only (upstream's GetAttributes)
    set_up: SetUp  # (volume source dict, its directory, context) -> host path


def aggregate(messages: Sequence[str]) -> str:
    """Several errors as upstream's ``utilerrors.NewAggregate`` prints them."""
    unique = list(dict.fromkeys(messages))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


def key_payload(
    files: Mapping[str, bytes],
    items: Sequence[Obj] | None,
    *,
    default_mode: int,
    optional: bool,
    missing: str,
) -> Payload:
    """ConfigMap/Secret keys as files: all keys, or only ``items`` (key → path, mode).

    ``missing`` is upstream's message prefix for an item whose key is absent."""
    if not items:
        return {key: FileProjection(data, default_mode) for key, data in files.items()}
    payload: Payload = {}
    for item in items:
        key = str(item.get("key", ""))
        if key not in files:
            if optional:
                continue
            raise SetUpError(f"{missing}: {key}")
        mode = item.get("mode")
        payload[str(item.get("path") or key)] = FileProjection(
            files[key], default_mode if mode is None else int(mode)
        )
    return payload


async def read_keys(
    fetch: Awaitable[Obj], decode: Callable[[Obj], dict[str, bytes]], *, optional: bool
) -> dict[str, bytes]:
    """A ConfigMap's or Secret's keys; a missing one is empty when ``optional``, and any other
    failure is the mount's error (``configmap "x" not found``)."""
    try:
        return decode(await fetch)
    except NotFoundError as err:
        if not optional:
            raise SetUpError(err.message) from None
        return {}
    except SourceError as err:
        raise SetUpError(err.message) from None


def mode_of(source: Obj) -> int:
    mode = source.get("defaultMode")
    return DEFAULT_MODE if mode is None else int(mode)


def _write(directory: Path, payload: Payload, dir_mode: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, dir_mode)
    atomicwriter.write(directory, payload)


async def write_payload(directory: Path, payload: Payload, *, dir_mode: int = 0o777) -> str:
    """Write a payload with the atomic writer, off the event loop; the volume's root is as
    upstream's wrapped emptyDir makes it (0777; tmpfs-backed ones also sticky, 01777)."""
    try:
        await asyncio.to_thread(_write, directory, payload, dir_mode)
    except atomicwriter.WriteError as err:
        raise SetUpError(err.message) from None
    except OSError as err:
        raise SetUpError(str(err)) from None
    return str(directory)
