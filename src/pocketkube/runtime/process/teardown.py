"""Stop everything a kubelet's process runtime left on this machine (tests, benchmarks).

Pods' processes outlive the kubelet by design. Given the kubelet's root directory, this stops
and removes every sandbox the runtime recorded — containers, their network namespaces and
addresses — then kills any shim or container left, from the records alone (``cleanup.py``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from pocketkube.runtime.process.cgroups import default_cgroups
from pocketkube.runtime.process.cleanup import kill_everything
from pocketkube.runtime.process.network import default_network
from pocketkube.runtime.process.runtime import ProcessRuntime


def teardown_node(
    root: Path, *, pod_cidr: str = "10.42.0.0/24", node_ip: str = "127.0.0.1"
) -> None:
    if not (root / "runtime").exists():
        return

    async def stop_all() -> None:
        runtime = ProcessRuntime(
            root_dir=root / "runtime",
            network=default_network(pod_cidr=pod_cidr, node_ip=node_ip, state_dir=root / "network"),
            cgroups=default_cgroups(),
            node_ip=node_ip,
        )
        for sandbox in await runtime.list_pod_sandbox():
            await runtime.stop_pod_sandbox(sandbox.id)
            await runtime.remove_pod_sandbox(sandbox.id)

    try:
        asyncio.run(stop_all())
    finally:
        kill_everything(root / "runtime", cgroups=default_cgroups())
