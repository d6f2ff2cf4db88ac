"""Small helpers the client's integration tests share."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from pocketkube.client import Client
from pocketkube.client.resources import CONFIGMAPS

NS = "default"
CMS = CONFIGMAPS.path(namespace=NS)


def configmap(name: str, *, labels: dict[str, str] | None = None, **data: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def cm(name: str) -> str:
    return CONFIGMAPS.path(namespace=NS, name=name)


async def churn(client: Client, n: int, prefix: str = "churn") -> None:
    """Create ``n`` ConfigMaps, 50 at a time: enough writes push old versions out of the
    API server's watch window."""
    for start in range(0, n, 50):
        batch = range(start, min(n, start + 50))
        await asyncio.gather(*(client.create(CMS, configmap(f"{prefix}-{i}")) for i in batch))


async def eventually(condition: Callable[[], bool], *, within: float = 10.0) -> None:
    """Poll ``condition`` until it holds; fail after ``within`` seconds."""
    for _ in range(int(within / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"condition not met within {within} s")
