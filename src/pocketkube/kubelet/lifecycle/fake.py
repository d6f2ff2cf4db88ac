"""A hook runner for kubelet tests: records each hook it is asked to run and answers from a
script, so that a test can make postStart fail or preStop hang without a runtime or a server."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]


@dataclass
class HookCall:
    handler: Obj
    pod_uid: str
    container_name: str
    container_id: str
    pod_ip: str


@dataclass
class FakeHookRunner:
    """``failures`` maps a container name to the message its hooks fail with; ``delay`` seconds
    pass before a hook returns (cancellation ends it early, as the kubelet's grace period does)."""

    failures: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    calls: list[HookCall] = field(default_factory=list)

    async def run(
        self, handler: Obj, *, pod: Obj, container: Obj, container_id: str, pod_ip: str
    ) -> str | None:
        name = str(container.get("name", ""))
        self.calls.append(HookCall(handler, pod["metadata"]["uid"], name, container_id, pod_ip))
        if self.delay:
            await asyncio.sleep(self.delay)
        return self.failures.get(name)
