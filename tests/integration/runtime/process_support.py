"""Helpers of the process runtime's integration tests: configs, a runtime that cleans up after
itself (every process it started is killed, even when the test fails), waiting for states."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from pocketkube.runtime import cri
from pocketkube.runtime.process import kill_everything
from pocketkube.runtime.process.cgroups import Cgroups, NoCgroups
from pocketkube.runtime.process.network import HostNetwork, PodNetwork
from pocketkube.runtime.process.runtime import ProcessRuntime


def sandbox_config(name: str = "pod", **kwargs: Any) -> cri.PodSandboxConfig:
    meta = cri.PodSandboxMetadata(name=name, uid=f"uid-{name}", namespace="default")
    return cri.PodSandboxConfig(metadata=meta, **kwargs)


def container_config(name: str, *command: str, **kwargs: Any) -> cri.ContainerConfig:
    return cri.ContainerConfig(
        metadata=cri.ContainerMetadata(name=name),
        image=cri.ImageSpec("busybox"),
        command=command,
        log_path=f"{name}/0.log",
        **kwargs,
    )


@asynccontextmanager
async def process_runtime(
    root: Path, *, network: PodNetwork | None = None, cgroups: Cgroups | None = None, **kwargs: Any
) -> AsyncIterator[ProcessRuntime]:
    cg = cgroups or NoCgroups()
    rt = ProcessRuntime(
        root_dir=root,
        network=network or HostNetwork(node_ip="127.0.0.1"),
        cgroups=cg,
        node_ip="127.0.0.1",
        **kwargs,
    )
    try:
        yield rt
    finally:
        rt.close()
        kill_everything(root, cgroups=cg)


async def run_container(rt: ProcessRuntime, sandbox_id: str, config: cri.ContainerConfig) -> str:
    sandbox = await rt.pod_sandbox_status(sandbox_id)
    cid = await rt.create_container(sandbox_id, config, sandbox_config(sandbox.metadata.name))
    await rt.start_container(cid)
    return cid


async def wait_for(
    check: Callable[[], Any], *, within: float = 20.0, what: str = "condition"
) -> Any:
    deadline = time.monotonic() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def wait_exited(rt: ProcessRuntime, cid: str, within: float = 20.0) -> cri.ContainerStatus:
    async def exited() -> cri.ContainerStatus | None:
        status = await rt.container_status(cid)
        return status if status.state == cri.ContainerState.EXITED else None

    result: cri.ContainerStatus = await wait_for(exited, within=within, what=f"{cid} to exit")
    return result
