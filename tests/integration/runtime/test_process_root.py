"""The process runtime with real pod networks and cgroups (root, CNI plugins, iproute2).

Each test uses its own bridge, CNI network name, pod CIDR (a /24 of 10.197.0.0/16, apart from a
running cluster's 10.42.0.0/16 and the CNI tests' 10.199.0.0/16) and cgroup parent, and removes
them all (namespaces through the runtime, then the bridge, the cgroups, and ip_forward as it
was). Traffic goes only between the host and the namespaces the test made.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from pocketkube.runtime import cri
from pocketkube.runtime.process import read_log
from pocketkube.runtime.process.cgroups import Cgroups, NoCgroups, default_cgroups
from pocketkube.runtime.process.cni_network import CNINetwork
from pocketkube.runtime.process.runtime import ProcessRuntime
from tests.integration.runtime.process_support import (
    container_config,
    process_runtime,
    run_container,
    sandbox_config,
    wait_exited,
    wait_for,
)

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not Path("/usr/lib/cni/bridge").exists(), reason="no CNI plugins"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="no iproute2"),
]

FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
SERVER = """
import socket
s = socket.socket()
s.bind(("0.0.0.0", 8080))
s.listen()
print("listening", flush=True)
while True:
    c, peer = s.accept()
    c.sendall(("hello " + peer[0]).encode())
    c.close()
"""


@dataclass
class Node:
    rt: ProcessRuntime
    cgroups: Cgroups
    parent: str  # the tests' cgroup parent
    prefix: str  # of the pod IPs
    network: Callable[[], CNINetwork]

    def restart(self) -> ProcessRuntime:
        """A new runtime on the same root dir, as after a crash of the kubelet."""
        return ProcessRuntime(
            root_dir=self.rt.root_dir,
            network=self.network(),
            cgroups=self.cgroups,
            node_ip="127.0.0.1",
        )

    async def sandbox(self, name: str, **kwargs: object) -> str:
        config = sandbox_config(name, cgroup_parent=f"{self.parent}/pod{name}", **kwargs)
        return await self.rt.run_pod_sandbox(config)


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    cgroups = default_cgroups()
    if isinstance(cgroups, NoCgroups):
        pytest.skip(f"no usable cgroups: {cgroups.note}")
    tag, octet = secrets.token_hex(3), random.randint(1, 254)

    def network() -> CNINetwork:
        return CNINetwork(
            pod_cidr=f"10.197.{octet}.0/24",
            node_ip="127.0.0.1",
            state_dir=tmp_path / "net",
            cluster_cidr="10.197.0.0/16",
            service_cidr="10.196.0.0/16",
            bridge=f"pkr{tag}",
            network_name=f"pkr-{tag}",
        )

    forward = read_forward()
    parent = f"pocketkube-test-{tag}"
    try:
        async with process_runtime(tmp_path / "root", network=network(), cgroups=cgroups) as rt:
            try:
                prefix = f"10.197.{octet}."
                yield Node(rt=rt, cgroups=cgroups, parent=parent, prefix=prefix, network=network)
            finally:
                for sandbox in await rt.list_pod_sandbox():
                    await rt.remove_pod_sandbox(sandbox.id)
    finally:
        restore_host(bridge=f"pkr{tag}", cgroups=cgroups, parent=parent, forward=forward)


def read_forward() -> str:
    return FORWARD.read_text()


def restore_host(*, bridge: str, cgroups: Cgroups, parent: str, forward: str) -> None:
    """Remove what the test made besides its sandboxes; ip_forward as it was (the bridge
    plugin turns it on for the gateway)."""
    subprocess.run(["ip", "link", "delete", bridge], capture_output=True)
    cgroups.remove(parent)
    FORWARD.write_text(forward)


def netns_exists(sandbox_id: str) -> bool:
    return Path(f"/run/netns/pk-{sandbox_id[:12]}").exists()


async def fetch(ip: str, port: int) -> str:
    reader, writer = await asyncio.open_connection(ip, port)
    try:
        return (await reader.read(100)).decode()
    finally:
        writer.close()


async def test_a_pod_has_its_own_ip_and_network_namespace(node: Node) -> None:
    sandbox = await node.sandbox("web")
    ip = (await node.rt.pod_sandbox_status(sandbox)).ip
    assert ip.startswith(node.prefix)
    config = container_config("srv", sys.executable, "-I", "-S", "-c", SERVER)
    cid = await run_container(node.rt, sandbox, config)
    log = (await node.rt.container_status(cid)).log_path
    await wait_for(lambda: ("stdout", "listening") in read_log(log), what="the server")

    # the host reaches the pod at the pod's IP (as probes do)
    assert (await fetch(ip, 8080)).startswith("hello ")
    # exec runs in the pod's namespace: eth0 has the pod's IP, and the port is local there
    out = await node.rt.exec_sync(cid, ("ip", "-4", "-o", "addr", "show", "eth0"), 10)
    assert f" {ip}/24 " in out.stdout.decode()
    probe = "import socket; socket.create_connection(('127.0.0.1', 8080), 5); print('ok')"
    out = await node.rt.exec_sync(cid, (sys.executable, "-I", "-S", "-c", probe), 10)
    assert out.stdout == b"ok\n", out.stderr
    # and the exec joined the container's cgroup
    out = await node.rt.exec_sync(cid, ("cat", "/proc/self/cgroup"), 10)
    assert f"/{node.parent}/podweb/{cid}" in out.stdout.decode()

    await node.rt.stop_pod_sandbox(sandbox)
    assert (await node.rt.container_status(cid)).state == cri.ContainerState.EXITED
    assert not netns_exists(sandbox)


async def test_two_pods_reach_each_other(node: Node) -> None:
    a, b = await node.sandbox("a"), await node.sandbox("b")
    ip_a = (await node.rt.pod_sandbox_status(a)).ip
    ip_b = (await node.rt.pod_sandbox_status(b)).ip
    assert ip_a != ip_b
    srv = await run_container(node.rt, b, container_config("srv", sys.executable, "-c", SERVER))
    log = (await node.rt.container_status(srv)).log_path
    await wait_for(lambda: ("stdout", "listening") in read_log(log), what="the server")
    client = (
        f"import socket; print(socket.create_connection(('{ip_b}', 8080), 5).recv(100).decode())"
    )
    cid = await run_container(node.rt, a, container_config("cli", sys.executable, "-c", client))
    status = await wait_exited(node.rt, cid)
    assert read_log(status.log_path) == [("stdout", f"hello {ip_a}")]  # no NAT between pods


async def test_memory_limit_kills_with_oomkilled(node: Node) -> None:
    sandbox = await node.sandbox("hog")
    hog = "b = []\nwhile True: b.append(b'x' * (1 << 20))"
    config = container_config(
        "hog",
        sys.executable,
        "-I",
        "-S",
        "-c",
        hog,
        resources=cri.LinuxContainerResources(memory_limit_in_bytes=64 << 20),
    )
    cid = await run_container(node.rt, sandbox, config)
    status = await wait_exited(node.rt, cid, within=60)
    assert (status.exit_code, status.reason) == (128 + signal.SIGKILL, "OOMKilled")


async def test_stop_kills_the_whole_cgroup(node: Node, tmp_path: Path) -> None:
    sandbox = await node.sandbox("tree")
    pid_file = tmp_path / "pid"
    # a grandchild that escapes the process group and ignores SIGTERM
    script = f"(setsid sh -c 'trap \"\" TERM; sleep 300' & echo $! > {pid_file}); sleep 300"
    cid = await run_container(node.rt, sandbox, container_config("c", "sh", "-c", script))
    await wait_for(lambda: pid_file.is_file(), what="the grandchild")
    record = node.rt.store.container(cid)
    assert record is not None
    await wait_for(lambda: len(node.cgroups.pids(record.cgroup_path)) >= 3, what="the tree")
    await node.rt.stop_container(cid, 2)
    assert node.cgroups.pids(record.cgroup_path) == []
    assert (await node.rt.container_status(cid)).exit_code == 128 + signal.SIGTERM


async def test_a_restarted_runtime_re_adopts_pods_in_their_namespaces(node: Node) -> None:
    sandbox = await node.sandbox("web")
    ip = (await node.rt.pod_sandbox_status(sandbox)).ip
    config = container_config("srv", sys.executable, "-I", "-S", "-c", SERVER)
    cid = await run_container(node.rt, sandbox, config)
    log = (await node.rt.container_status(cid)).log_path
    await wait_for(lambda: ("stdout", "listening") in read_log(log), what="the server")
    pid = (await node.rt.container_status(cid)).pid

    second = node.restart()  # the first is left as it was, as after kill -9
    try:
        status = await second.pod_sandbox_status(sandbox)
        assert (status.state, status.ip) == (cri.SandboxState.READY, ip)
        assert (await second.container_status(cid)).pid == pid
        assert (await fetch(ip, 8080)).startswith("hello ")
        out = await second.exec_sync(cid, ("ip", "-4", "-o", "addr", "show", "eth0"), 10)
        assert f" {ip}/24 " in out.stdout.decode()
        await second.stop_container(cid, 5)
        assert (await second.container_status(cid)).exit_code == 128 + signal.SIGTERM
    finally:
        second.close()
