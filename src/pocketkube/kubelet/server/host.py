"""What the kubelet server reads of the kubelet: its pods, the runtime and the log directory."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web

from pocketkube.client.rest import Obj
from pocketkube.runtime import cri


class StreamingRuntime(Protocol):
    async def list_containers(
        self, filter: cri.ContainerFilter | None = None
    ) -> list[cri.Container]: ...

    async def container_status(self, container_id: str) -> cri.ContainerStatus: ...

    async def list_pod_sandbox(
        self, filter: cri.PodSandboxFilter | None = None
    ) -> list[cri.PodSandbox]: ...

    async def exec(self, request: cri.StreamRequest) -> cri.StreamResponse: ...

    async def attach(self, request: cri.StreamRequest) -> cri.StreamResponse: ...

    async def port_forward(self, request: cri.StreamRequest) -> cri.StreamResponse: ...


# Proxies a client's (upgrade) request to the runtime's streaming URL.
Proxy = Callable[[web.Request, str], Awaitable[web.StreamResponse]]
PodLister = Callable[[], list[Obj]]
