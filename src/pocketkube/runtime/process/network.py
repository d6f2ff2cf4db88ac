"""Pod networking of the process runtime: what the runtime asks of it, and the host network.

Kubernetes' network model gives every pod its own IP, reachable from the node and from every
other pod without NAT. Upstream the kubelet leaves this to the CRI runtime, which creates a
network namespace per sandbox and runs the node's CNI plugins in it; ``PodNetwork`` is that duty
as the process runtime sees it: set up a sandbox's network, tear it down (idempotently, even
after a restart or a reboot), find it again after a restart, and report CRI's NetworkReady.

``CNINetwork`` (``cni_network.py``) does it as upstream runtimes do, as root. Without root there
is no namespace to make: ``HostNetwork`` gives every pod the node's IP, as a ``hostNetwork: true``
pod has. ``default_network`` picks one; the ``note`` attribute of both classes says why pods share
the host's network when they do (for the runtime's status notes, shown in the node's status).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pocketkube.runtime import cri

log = logging.getLogger(__name__)

DEFAULT_BRIDGE = "pk0"  # the Linux bridge of a node's pod network


@dataclass(frozen=True)
class PodNetworkStatus:
    ip: str
    netns_path: str  # "" = the host's network


class PodNetwork(Protocol):
    async def setup(self, *, sandbox_id: str, config: cri.PodSandboxConfig) -> PodNetworkStatus:
        """Give the sandbox its network; raises ``cri.RuntimeError_`` when that fails (and then
        leaves nothing behind)."""
        ...

    async def teardown(self, *, sandbox_id: str) -> None:
        """Release the sandbox's network. Idempotent; works after a restart or reboot."""
        ...

    async def status(self, *, sandbox_id: str) -> PodNetworkStatus | None:
        """The sandbox's network as set up before (e.g. by a previous runtime process); None when
        it has none (never set up, torn down, or its namespace is gone)."""
        ...

    def condition(self) -> cri.RuntimeCondition:
        """The CRI NetworkReady condition."""
        ...


class HostNetwork:
    """Every pod on the host's network, with the node's IP: nothing to set up or release, and
    nothing to remember (``status`` answers the node's IP for any sandbox)."""

    def __init__(self, *, node_ip: str, note: str = "") -> None:
        self.node_ip = node_ip
        self.note = note

    async def setup(self, *, sandbox_id: str, config: cri.PodSandboxConfig) -> PodNetworkStatus:
        return PodNetworkStatus(ip=self.node_ip, netns_path="")

    async def teardown(self, *, sandbox_id: str) -> None:
        return None

    async def status(self, *, sandbox_id: str) -> PodNetworkStatus | None:
        return PodNetworkStatus(ip=self.node_ip, netns_path="")

    def condition(self) -> cri.RuntimeCondition:
        return cri.RuntimeCondition(type="NetworkReady", status=True)


def default_network(
    *, pod_cidr: str, node_ip: str, state_dir: Path, bridge: str = ""
) -> PodNetwork:
    """CNI as root when the plugins and iproute2 are installed, else the host's network.
    ``bridge`` names the Linux bridge of the pod network (``DEFAULT_BRIDGE`` when empty)."""
    if os.geteuid() != 0:
        return HostNetwork(node_ip=node_ip, note="not root: pods share the host's network")
    from pocketkube.runtime.process.cni_network import CNINetwork  # it builds on this module

    net = CNINetwork(
        pod_cidr=pod_cidr, node_ip=node_ip, state_dir=state_dir, bridge=bridge or DEFAULT_BRIDGE
    )
    why = net.unavailable()
    if why:
        log.warning("pods will share the host's network: %s", why)
        return HostNetwork(node_ip=node_ip, note=f"{why}: pods share the host's network")
    return net
