"""What the host is: CPUs, memory, disk, hugepages and the identity strings of ``nodeInfo``.

Upstream's kubelet asks cAdvisor once at start-up (``GetCachedMachineInfo``) and reports the
answer in every status: the machine does not change under a running kubelet, and a changed boot
id is exactly how it notices that the machine was rebooted (the ``NodeRebooted`` event). We read
the same sources cAdvisor reads — ``/proc/meminfo``, ``statvfs`` of the kubelet's root dir,
``/sys/kernel/mm/hugepages``, ``/etc/machine-id``, the DMI product uuid, the kernel's boot id
and release, ``/etc/os-release`` — through a ``HostPaths`` so that tests point them at a fake
tree instead of the machine they run on.
"""

from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass, field
from pathlib import Path

# Go's GOARCH names, which the kubernetes.io/arch label and nodeInfo.architecture carry.
_GOARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm",
    "armv6l": "arm",
    "i386": "386",
    "i686": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}
_HUGEPAGES_DIR = re.compile(r"^hugepages-(\d+)kB$")


@dataclass(frozen=True, kw_only=True)
class HostPaths:
    """Where the host's facts are read from; tests give a temporary tree."""

    proc: Path = Path("/proc")
    sys: Path = Path("/sys")
    etc: Path = Path("/etc")
    var_lib: Path = Path("/var/lib")


@dataclass(frozen=True, kw_only=True)
class MachineInfo:
    """The host as the node's capacity and ``nodeInfo`` describe it."""

    num_cores: int
    memory_capacity: int  # bytes
    ephemeral_storage: int  # bytes of the filesystem holding the kubelet's root dir
    hugepages: dict[int, int] = field(default_factory=dict)  # page size in bytes -> pages
    machine_id: str = ""
    system_uuid: str = ""
    boot_id: str = ""
    kernel_version: str = ""
    os_image: str = "Linux"
    operating_system: str = "linux"
    architecture: str = "amd64"


def goarch(machine: str) -> str:
    """``uname -m`` as Go names it (x86_64 → amd64); unknown names pass through."""
    return _GOARCH.get(machine, machine)


def host_machine_info(
    root_dir: Path | str, *, paths: HostPaths | None = None, machine: str | None = None
) -> MachineInfo:
    """Read the host once; ``root_dir`` decides which filesystem is the node's ephemeral
    storage (upstream: the filesystem of ``--root-dir``)."""
    paths = paths or HostPaths()
    stat = os.statvfs(root_dir)
    return MachineInfo(
        num_cores=os.cpu_count() or 1,
        memory_capacity=meminfo(paths.proc).get("MemTotal", 0),
        ephemeral_storage=stat.f_blocks * stat.f_frsize,
        hugepages=_hugepages(paths.sys),
        machine_id=_first_line(paths.etc / "machine-id")
        or _first_line(paths.var_lib / "dbus" / "machine-id"),
        system_uuid=_first_line(paths.sys / "class" / "dmi" / "id" / "product_uuid"),
        boot_id=_first_line(paths.proc / "sys" / "kernel" / "random" / "boot_id"),
        kernel_version=_first_line(paths.proc / "sys" / "kernel" / "osrelease"),
        os_image=_os_image(paths.etc / "os-release"),
        operating_system="linux",
        architecture=goarch(machine if machine is not None else platform.machine()),
    )


def meminfo(proc: Path) -> dict[str, int]:
    """``/proc/meminfo`` in bytes (its ``kB`` are KiB)."""
    values: dict[str, int] = {}
    try:
        text = (proc / "meminfo").read_text()
    except OSError:
        return values
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            scale = 1024 if len(parts) > 1 and parts[1] == "kB" else 1
            values[name.strip()] = int(parts[0]) * scale
    return values


def _hugepages(sys: Path) -> dict[int, int]:
    pages: dict[int, int] = {}
    base = sys / "kernel" / "mm" / "hugepages"
    try:
        entries = sorted(base.iterdir())
    except OSError:
        return pages
    for entry in entries:
        match = _HUGEPAGES_DIR.match(entry.name)
        if match is None:
            continue
        count = _first_line(entry / "nr_hugepages")
        pages[int(match.group(1)) * 1024] = int(count) if count.isdigit() else 0
    return pages


def _first_line(path: Path) -> str:
    try:
        return path.read_text().strip().splitlines()[0].strip()
    except (OSError, IndexError, UnicodeDecodeError):
        return ""


def _os_image(path: Path) -> str:
    """``PRETTY_NAME`` of os-release, "Linux" when there is none (cAdvisor's fallback)."""
    try:
        text = path.read_text()
    except OSError:
        return "Linux"
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "PRETTY_NAME":
            return value.strip().strip('"').strip("'") or "Linux"
    return "Linux"
