"""Named network namespaces: through iproute2, and made by a thread of ours as it does (root)."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import AsyncIterator

import pytest

from pocketkube.runtime.process.netns import IpNetns, KernelNetns, NetnsError, netns_name

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="no iproute2"),
]


def links(name: str) -> str:
    return subprocess.run(
        ["ip", "netns", "exec", name, "ip", "-br", "link"], capture_output=True, text=True
    ).stdout


@pytest.fixture
async def name() -> AsyncIterator[str]:
    name = netns_name(secrets.token_hex(32))
    try:
        yield name
    finally:
        await IpNetns().delete(name)


def test_netns_name() -> None:
    assert netns_name("0123456789abcdef" * 4) == "pk-0123456789ab"


async def test_create_and_delete(name: str) -> None:
    ns = IpNetns()
    assert ns.available() == ""
    assert not ns.exists(name)
    path = await ns.create(name)
    assert path == f"/run/netns/{name}"
    assert ns.exists(name)
    assert links(name).split()[:2] == ["lo", "DOWN"]  # a fresh namespace, nothing else in it
    with pytest.raises(NetnsError, match=f"ip netns add {name}: .*File exists"):
        await ns.create(name)
    await ns.delete(name)
    assert not ns.exists(name)
    await ns.delete(name)  # idempotent


def test_unavailable_without_ip() -> None:
    assert "not found" in IpNetns(ip="/nonexistent/ip").available()


async def test_kernel_netns_is_what_ip_netns_would_make(name: str) -> None:
    ns = KernelNetns()
    assert ns.available() == ""
    own = os.stat("/proc/self/ns/net").st_ino
    path = await ns.create(name)
    assert path == f"/run/netns/{name}"
    assert ns.exists(name)
    assert os.stat(path).st_ino != own  # a namespace of its own...
    assert os.stat("/proc/self/ns/net").st_ino == own  # ...and the kubelet stays where it was
    assert os.stat("/proc/thread-self/ns/net").st_ino == own
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)  # noqa: ASYNC221
    assert name in listed.stdout
    assert links(name).split()[:2] == ["lo", "DOWN"]  # iproute2 enters it like its own
    with pytest.raises(NetnsError, match="File exists"):
        await ns.create(name)
    await ns.delete(name)
    assert not ns.exists(name)
    await ns.delete(name)  # idempotent
