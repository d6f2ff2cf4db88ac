"""Named network namespaces for pod sandboxes, made with iproute2's ``ip netns``.

A pod's network namespace must outlive every process in it (the sandbox exists before its
containers start and between their restarts) and must survive a restart of the kubelet, so it is
a *named* namespace: ``ip netns add`` bind-mounts it at ``/run/netns/<name>``, where the CNI
plugins, the shim (``setns``) and ``ip netns exec`` find it by path. The name is derived from the
sandbox id (``pk-<first 12 characters>``), so a restarted runtime finds it again without any
state of its own, and so does a teardown after a crash.

``/run`` is a tmpfs: after a reboot the namespaces are gone, which is why a teardown must work
without one (CNI's DEL then runs with an empty ``CNI_NETNS``, as the spec allows).

``IpNetns`` is the real implementation; ``NetnsManager`` is the protocol the network code uses
so that unit tests can run without root.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Protocol

from pocketkube.runtime import cri

NETNS_DIR = Path("/run/netns")  # iproute2's NETNS_RUN_DIR
PREFIX = "pk-"


def netns_name(sandbox_id: str) -> str:
    """The namespace name of a sandbox: short enough to read, unique enough (48 bits)."""
    return PREFIX + sandbox_id[:12]


class NetnsError(cri.RuntimeError_):
    """``ip netns`` failed; the message carries its stderr."""

    def __init__(self, message: str) -> None:
        super().__init__("Internal", message)


class NetnsManager(Protocol):
    def path(self, name: str) -> str: ...
    def exists(self, name: str) -> bool: ...
    async def create(self, name: str) -> str:
        """Create the namespace (its loopback is down until CNI's loopback plugin runs); return
        its path. Fails if it exists."""
        ...

    async def delete(self, name: str) -> None:
        """Delete the namespace; a missing one is not an error."""
        ...

    def available(self) -> str:
        """Why namespaces cannot be made here ("" when they can)."""
        ...


class IpNetns:
    """Network namespaces through the ``ip`` command (iproute2)."""

    def __init__(self, *, ip: str = "ip", netns_dir: Path = NETNS_DIR) -> None:
        self._ip = ip
        self._dir = netns_dir

    def path(self, name: str) -> str:
        return str(self._dir / name)

    def exists(self, name: str) -> bool:
        return (self._dir / name).exists()

    def available(self) -> str:
        if shutil.which(self._ip) is None:
            return f"{self._ip!r} (iproute2) not found in $PATH"
        return ""

    async def create(self, name: str) -> str:
        await self._run("netns", "add", name)
        return self.path(name)

    async def delete(self, name: str) -> None:
        if not self.exists(name):
            return
        try:
            await self._run("netns", "delete", name)
        except NetnsError:
            if self.exists(name):  # else someone else deleted it meanwhile: that is fine
                raise

    async def _run(self, *args: str) -> None:
        proc = await asyncio.create_subprocess_exec(
            self._ip,
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await proc.communicate()
        if proc.returncode != 0:
            text = err.decode(errors="replace").strip()
            raise NetnsError(f"ip {' '.join(args)}: {text or f'exit status {proc.returncode}'}")
