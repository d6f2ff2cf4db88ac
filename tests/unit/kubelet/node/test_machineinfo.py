from __future__ import annotations

from pathlib import Path

import pytest

from pocketkube.kubelet.node.machineinfo import (
    HostPaths,
    goarch,
    host_machine_info,
    meminfo,
)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def host(tmp_path: Path) -> HostPaths:
    paths = HostPaths(
        proc=tmp_path / "proc", sys=tmp_path / "sys", etc=tmp_path / "etc", var_lib=tmp_path / "var"
    )
    write(paths.proc / "meminfo", "MemTotal:       16318708 kB\nMemAvailable:    9000000 kB\n")
    write(paths.proc / "sys/kernel/random/boot_id", "b00t-1\n")
    write(paths.proc / "sys/kernel/osrelease", "6.1.0-18-amd64\n")
    write(paths.sys / "kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "4\n")
    write(paths.sys / "kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages", "0\n")
    write(paths.sys / "class/dmi/id/product_uuid", "EC2-UUID\n")
    write(paths.etc / "machine-id", "abc123\n")
    write(paths.etc / "os-release", 'NAME="Debian"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n')
    return paths


def test_reads_the_host_tree(host: HostPaths, tmp_path: Path) -> None:
    info = host_machine_info(tmp_path, paths=host, machine="aarch64")
    assert info.memory_capacity == 16318708 * 1024
    assert info.ephemeral_storage > 0
    assert info.num_cores >= 1
    assert info.hugepages == {2 * 1024 * 1024: 4, 1024 * 1024 * 1024: 0}
    assert (info.machine_id, info.system_uuid, info.boot_id) == ("abc123", "EC2-UUID", "b00t-1")
    assert info.kernel_version == "6.1.0-18-amd64"
    assert info.os_image == "Debian GNU/Linux 12 (bookworm)"
    assert (info.operating_system, info.architecture) == ("linux", "arm64")


def test_missing_files_give_empty_ids_and_cadvisor_fallbacks(tmp_path: Path) -> None:
    paths = HostPaths(
        proc=tmp_path / "p", sys=tmp_path / "s", etc=tmp_path / "e", var_lib=tmp_path / "v"
    )
    write(paths.var_lib / "dbus/machine-id", "from-dbus\n")
    info = host_machine_info(tmp_path, paths=paths, machine="x86_64")
    assert info.memory_capacity == 0
    assert info.hugepages == {}
    assert info.machine_id == "from-dbus"
    assert (info.system_uuid, info.boot_id, info.kernel_version) == ("", "", "")
    assert info.os_image == "Linux"
    assert info.architecture == "amd64"


def test_reads_this_machine(tmp_path: Path) -> None:
    info = host_machine_info(tmp_path)
    assert info.memory_capacity > 0
    assert info.ephemeral_storage > 0
    assert info.kernel_version


@pytest.mark.parametrize(
    ("machine", "arch"),
    [
        ("x86_64", "amd64"),
        ("aarch64", "arm64"),
        ("armv7l", "arm"),
        ("ppc64le", "ppc64le"),
        ("s390x", "s390x"),
        ("riscv64", "riscv64"),
        ("mips", "mips"),
    ],
)
def test_goarch(machine: str, arch: str) -> None:
    assert goarch(machine) == arch


def test_meminfo_units(tmp_path: Path) -> None:
    write(tmp_path / "meminfo", "MemTotal: 2 kB\nHugePages_Total: 3\nbogus line\n")
    assert meminfo(tmp_path) == {"MemTotal": 2048, "HugePages_Total": 3}
