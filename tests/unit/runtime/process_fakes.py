"""Fakes of what the process runtime asks of the network and cgroups, for unit tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from pocketkube.runtime import cri
from pocketkube.runtime.process.network import PodNetworkStatus


@dataclass
class FakeNetwork:
    """Hands out 10.0.0.<n>; ``fail`` makes setup fail; ``lost`` sandboxes have no network."""

    fail: bool = False
    active: dict[str, PodNetworkStatus] = field(default_factory=dict)
    torn_down: list[str] = field(default_factory=list)
    note: str = ""

    async def setup(self, *, sandbox_id: str, config: cri.PodSandboxConfig) -> PodNetworkStatus:
        if self.fail:
            raise cri.RuntimeError_("Unknown", "failed to setup network: no luck")
        status = PodNetworkStatus(
            ip=f"10.0.0.{len(self.active) + 2}", netns_path=f"/ns/{sandbox_id}"
        )
        self.active[sandbox_id] = status
        return status

    async def teardown(self, *, sandbox_id: str) -> None:
        self.active.pop(sandbox_id, None)
        self.torn_down.append(sandbox_id)

    async def status(self, *, sandbox_id: str) -> PodNetworkStatus | None:
        return self.active.get(sandbox_id)

    def condition(self) -> cri.RuntimeCondition:
        return cri.RuntimeCondition(type="NetworkReady", status=True)


@dataclass
class FakeCgroups:
    """Remembers what was made; ``oom`` lists cgroups whose processes the OOM killer hit."""

    created: dict[str, cri.LinuxContainerResources | None] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    oom: set[str] = field(default_factory=set)
    note: str = ""

    def create(self, path: str, resources: cri.LinuxContainerResources | None) -> None:
        self.created[path] = resources

    def procs_files(self, path: str) -> list[str]:
        return []

    def pids(self, path: str) -> list[int]:
        return []

    def kill_all(self, path: str) -> None:
        return None

    def oom_killed(self, path: str) -> bool:
        return path in self.oom

    def remove(self, path: str) -> None:
        self.created.pop(path, None)
        self.removed.append(path)
