"""DefaultBinder: bind through the API, ``POST pods/<name>/binding`` (upstream's Bind plugin)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pocketkube.scheduler.framework.cyclestate import CycleState
from pocketkube.scheduler.framework.interface import Handle
from pocketkube.scheduler.framework.status import Status, error
from pocketkube.scheduler.framework.types import PodInfo

NAME = "DefaultBinder"


class DefaultBinder:
    name = NAME

    def __init__(self, args: Mapping[str, Any], handle: Handle) -> None:
        self._handle = handle

    async def bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        meta = pod.pod.get("metadata") or {}
        namespace, name = meta.get("namespace", ""), meta.get("name", "")
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": name, "namespace": namespace, "uid": meta.get("uid")},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node_name},
        }
        try:
            await self._handle.client.create(
                f"/api/v1/namespaces/{namespace}/pods/{name}/binding", binding
            )
        except Exception as err:  # an API or connection error fails this bind only
            return error(str(err))
        return None


def new(args: Mapping[str, Any], handle: Handle) -> DefaultBinder:
    return DefaultBinder(args, handle)
