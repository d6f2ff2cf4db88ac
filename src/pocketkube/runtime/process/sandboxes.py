"""Pod sandboxes of the process runtime: a pod's network and cgroup, nothing else.

Upstream a sandbox is a pause container holding the pod's namespaces. Here the network
namespace is a named one (``ip netns``, made by ``PodNetwork``) that needs no process, and the
pod's cgroup (``cgroup_parent``, or ``pocketkube/pod<uid>``) holds one cgroup per container. So
running a sandbox is: record it (first, so that a crash halfway leaves something to clean up),
create the cgroup, set up the network, mark it ready. Stopping kills its containers and releases
the network; removing removes its containers, their log files (which upstream outlive a removed
container until the pod goes) and the cgroup.

After a restart, a sandbox recorded ready whose network is gone (a reboot empties /run/netns)
is reported NOTREADY, so the kubelet makes a new one, as it does when containerd loses a pause
container.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
from dataclasses import replace
from typing import Protocol

from pocketkube.runtime import cri
from pocketkube.runtime.process.cgroups import Cgroups
from pocketkube.runtime.process.network import PodNetwork, PodNetworkStatus
from pocketkube.runtime.process.shimlog import rotated_files
from pocketkube.runtime.process.state import SandboxRecord, Store

LOGS = "logs"  # in the sandbox's dir: the log files of its containers, one per line


class ContainerOps(Protocol):
    async def stop_container(self, container_id: str, timeout: float) -> None: ...
    async def remove_container(self, container_id: str) -> None: ...


class Sandboxes:
    def __init__(
        self,
        *,
        store: Store,
        network: PodNetwork,
        cgroups: Cgroups,
        node_ip: str,
        containers: ContainerOps,
    ) -> None:
        self.store = store
        self.network = network
        self.cgroups = cgroups
        self.node_ip = node_ip
        self.containers = containers
        self._reconciled = False

    def get(self, sandbox_id: str) -> SandboxRecord:
        record = self.store.sandbox(sandbox_id)
        if record is None:
            raise cri.not_found(f"pod sandbox {sandbox_id!r}")
        return record

    async def run(self, config: cri.PodSandboxConfig) -> str:
        record = SandboxRecord(
            id=secrets.token_hex(32),
            config=config,
            created_at=time.time_ns(),
            ready=False,
            cgroup_path=config.cgroup_parent or f"pocketkube/pod{config.metadata.uid}",
        )
        self.store.save_sandbox(record)
        try:
            try:
                self.cgroups.create(record.cgroup_path, config.resources)
            except OSError as err:
                raise cri.RuntimeError_(
                    "Internal", f"failed to create the pod's cgroup: {err}"
                ) from err
            if config.host_network:
                net = PodNetworkStatus(ip=self.node_ip, netns_path="")
            else:
                net = await self.network.setup(sandbox_id=record.id, config=config)
        except BaseException:
            await self._release(record)
            self.store.delete_sandbox(record.id)
            raise
        self.store.save_sandbox(replace(record, ready=True, ip=net.ip, netns_path=net.netns_path))
        return record.id

    async def stop(self, sandbox_id: str) -> None:
        record = self.store.sandbox(sandbox_id)
        if record is None:
            return
        async with asyncio.TaskGroup() as tg:
            for container in self.store.containers():
                if container.sandbox_id == sandbox_id:
                    tg.create_task(self.containers.stop_container(container.id, 0))
        if not record.config.host_network:
            await self.network.teardown(sandbox_id=sandbox_id)
        if record.ready:
            self.store.save_sandbox(replace(record, ready=False))

    async def remove(self, sandbox_id: str) -> None:
        record = self.store.sandbox(sandbox_id)
        if record is None:
            return
        await self.stop(sandbox_id)
        for container in self.store.containers():
            if container.sandbox_id == sandbox_id:
                await self.containers.remove_container(container.id)
        for path in self._logs(sandbox_id):
            for name in [path, *rotated_files(path)]:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name)
        await self._release(record)
        self.store.delete_sandbox(sandbox_id)

    async def _release(self, record: SandboxRecord) -> None:
        if not record.config.host_network:
            await self.network.teardown(sandbox_id=record.id)
        shared = any(
            s.cgroup_path == record.cgroup_path and s.id != record.id
            for s in self.store.sandboxes()
        )
        if not shared:
            await asyncio.to_thread(self.cgroups.remove, record.cgroup_path)

    def remember_log(self, sandbox_id: str, path: str) -> None:
        with open(self.store.sandbox_dir(sandbox_id) / LOGS, "a") as f:
            f.write(path + "\n")

    def _logs(self, sandbox_id: str) -> list[str]:
        try:
            text = (self.store.sandbox_dir(sandbox_id) / LOGS).read_text()
        except FileNotFoundError:
            return []
        return [line for line in text.splitlines() if line]

    async def _reconcile(self) -> None:
        """Once per runtime: sandboxes whose network vanished (a reboot) are not ready."""
        if self._reconciled:
            return
        self._reconciled = True
        for record in self.store.sandboxes():
            if record.config.host_network or not record.ready:
                continue
            if await self.network.status(sandbox_id=record.id) is None:
                self.store.save_sandbox(replace(record, ready=False))

    async def status(self, sandbox_id: str) -> cri.PodSandboxStatus:
        await self._reconcile()
        record = self.get(sandbox_id)
        return cri.PodSandboxStatus(
            id=record.id,
            metadata=record.config.metadata,
            state=_state(record),
            created_at=record.created_at,
            ip=record.ip,
            host_network=record.config.host_network,
            netns_path=record.netns_path,
            labels=record.config.labels,
            annotations=record.config.annotations,
        )

    async def list(self, filter: cri.PodSandboxFilter | None) -> list[cri.PodSandbox]:
        await self._reconcile()
        f = filter or cri.PodSandboxFilter()
        found = []
        for record in self.store.sandboxes():
            labels = record.config.labels
            if (
                (f.id and not record.id.startswith(f.id))
                or (f.state is not None and _state(record) != f.state)
                or any(labels.get(k) != v for k, v in f.label_selector.items())
            ):
                continue
            found.append(
                cri.PodSandbox(
                    id=record.id,
                    metadata=record.config.metadata,
                    state=_state(record),
                    created_at=record.created_at,
                    labels=labels,
                    annotations=record.config.annotations,
                )
            )
        return found


def _state(record: SandboxRecord) -> cri.SandboxState:
    return cri.SandboxState.READY if record.ready else cri.SandboxState.NOTREADY
