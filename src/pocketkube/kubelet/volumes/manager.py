"""The volume manager: a pod's volumes as directories before its containers start.

Upstream's volume manager reconciles a desired and an actual state of the world in the
background; pocketkube's volumes are all local (no attach/detach, no device mounts), so the pod
worker can simply ``await mount_pod(pod)`` on each sync, as upstream's ``WaitForAttachAndMount``
waits. Mounting again is how ConfigMap, Secret, downwardAPI and token contents are refreshed
(upstream remounts these every sync too); the atomic writer leaves unchanged volumes alone.

Layout (upstream's): ``<root>/pods/<uid>/volumes/<plugin>/<volume name>``, e.g.
``pods/<uid>/volumes/kubernetes.io~configmap/config``; hostPath volumes use the host path
itself. The pod, volumes and plugin directories are 0755 rather than upstream's 0750, because
the process runtime's containers reach their volumes through these paths (upstream's
containers see bind mounts) and may run as another user.

A failed volume raises ``VolumeError`` once every volume was tried: ``messages`` has one
FailedMount note per failed volume (``MountVolume.SetUp failed for volume "v" : ...``), as
upstream posts one event per volume. ``unmount_pod`` removes a pod's volumes (emptyDir data goes
with the pod), ``cleanup`` removes the directories of pods the kubelet no longer has.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

from pocketkube.kubelet.volumes import (
    configmap,
    downwardapi,
    emptydir,
    hostpath,
    projected,
    secret,
)
from pocketkube.kubelet.volumes.plugin import Plugin, PodContext, SetUpError
from pocketkube.kubelet.volumes.source import VolumeSource
from pocketkube.kubelet.volumes.tokens import TokenManager

log = logging.getLogger(__name__)
Obj = dict[str, Any]
PLUGINS: dict[str, Plugin] = {
    p.PLUGIN.source_field: p.PLUGIN
    for p in (emptydir, configmap, secret, downwardapi, projected, hostpath)
}
DIR_MODE = 0o755


class VolumeError(Exception):
    """Some of a pod's volumes could not be set up; ``message`` is the first FailedMount note."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__(messages[0])
        self.message = messages[0]
        self.messages = messages


def plugin_for(volume: Obj) -> Plugin | None:
    for field in volume:
        if field in PLUGINS and isinstance(volume[field], dict):
            return PLUGINS[field]
    return None


def unsupported(volume: Obj) -> str:
    kinds = sorted(k for k in volume if k != "name")
    return (
        f"no volume plugin matched: {', '.join(kinds) or 'no source'} volumes are not supported "
        "(pocketkube has emptyDir, configMap, secret, downwardAPI, projected and hostPath)"
    )


class VolumeManager:
    def __init__(
        self,
        *,
        root_dir: Path | str,
        source: VolumeSource,
        node_allocatable: Callable[[], Mapping[str, object]] = dict,
        tokens: TokenManager | None = None,
    ) -> None:
        self.root_dir = Path(root_dir)
        self._source = source
        self._node_allocatable = node_allocatable
        self.tokens = tokens if tokens is not None else TokenManager(source=source)
        self._locks: dict[str, asyncio.Lock] = {}
        # Plugin directories already made per pod, so a sync of a pod whose volumes are all
        # set up does no directory work (most syncs of most pods).
        self._made: dict[str, set[str]] = {}

    def pods_dir(self) -> Path:
        return self.root_dir / "pods"

    def pod_dir(self, uid: str) -> Path:
        return self.pods_dir() / uid

    def volume_dir(self, uid: str, plugin: str, name: str) -> Path:
        return self.pod_dir(uid) / "volumes" / plugin / name

    def _lock(self, uid: str) -> asyncio.Lock:
        return self._locks.setdefault(uid, asyncio.Lock())

    async def mount_pod(self, pod: Obj) -> dict[str, str]:
        """Set up (or refresh) every volume of ``pod``; volume name → host path."""
        uid = str(pod["metadata"]["uid"])
        volumes = list((pod.get("spec") or {}).get("volumes") or [])
        async with self._lock(uid):
            plugins = {p.name for p in map(plugin_for, volumes) if p is not None}
            plugins.discard(hostpath.PLUGIN.name)
            if uid not in self._made or not plugins <= self._made[uid]:
                await asyncio.to_thread(self._make_pod_dirs, uid, plugins)
                self._made.setdefault(uid, set()).update(plugins)
            if not volumes:
                return {}
            context = PodContext(
                pod=pod,
                source=self._source,
                tokens=self.tokens,
                node_allocatable=self._node_allocatable(),
            )
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._set_up(uid, v, context)) for v in volumes]
        paths: dict[str, str] = {}
        errors: list[str] = []
        for volume, task in zip(volumes, tasks, strict=True):
            path, error = task.result()
            if error is not None:
                errors.append(
                    f'MountVolume.SetUp failed for volume "{volume.get("name")}" : {error}'
                )
            else:
                paths[str(volume["name"])] = path
        if errors:
            raise VolumeError(errors)
        return paths

    async def _set_up(self, uid: str, volume: Obj, context: PodContext) -> tuple[str, str | None]:
        plugin = plugin_for(volume)
        if plugin is None:
            return "", unsupported(volume)
        directory = self.volume_dir(uid, plugin.name, str(volume["name"]))
        try:
            return await plugin.set_up(volume[plugin.source_field], directory, context), None
        except SetUpError as err:
            return "", err.message
        except Exception as err:  # a malformed volume must not take the other volumes down
            log.exception("setting up volume %s of pod %s", volume.get("name"), uid)
            return "", f"{type(err).__name__}: {err}"

    def _make_pod_dirs(self, uid: str, plugins: Collection[str]) -> None:
        volumes = self.pod_dir(uid) / "volumes"
        for directory in (
            self.pods_dir(),
            self.pod_dir(uid),
            volumes,
            *(volumes / p for p in plugins),
        ):
            if not directory.is_dir():
                directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
                os.chmod(directory, DIR_MODE)

    async def unmount_pod(self, pod_uid: str) -> None:
        """Remove the pod's volumes (never what a hostPath points at) and forget its tokens."""
        async with self._lock(pod_uid):
            await asyncio.to_thread(_remove_tree, self.pod_dir(pod_uid) / "volumes")
            self.tokens.forget_pod(pod_uid)
        self._locks.pop(pod_uid, None)
        self._made.pop(pod_uid, None)

    async def cleanup(self, active_uids: Collection[str]) -> list[str]:
        """Remove the directories of pods not in ``active_uids`` (deleted while the kubelet was
        down, or whose removal failed); returns their uids. Names with ``_`` are not pod
        directories (``<namespace>_<name>_<uid>`` log directories may share the parent)."""
        active = set(active_uids)
        try:
            names = await asyncio.to_thread(os.listdir, self.pods_dir())
        except FileNotFoundError:
            return []
        removed = []
        for uid in sorted(names):
            if uid in active or "_" in uid or not self.pod_dir(uid).is_dir():
                continue
            if self._lock(uid).locked():
                continue  # being mounted right now: it is not orphaned after all
            async with self._lock(uid):
                await asyncio.to_thread(_remove_tree, self.pod_dir(uid))
                self.tokens.forget_pod(uid)
            self._locks.pop(uid, None)
            self._made.pop(uid, None)
            removed.append(uid)
            log.info("removed the directory of orphaned pod %s", uid)
        return removed


def _remove_tree(path: Path) -> None:
    """``rm -rf`` that never follows symlinks out of the tree (shutil.rmtree does not)."""
    shutil.rmtree(path, ignore_errors=True)
