"""Pod networks with the real CNI plugins (root, Debian's containernetworking-plugins).

Each test uses its own bridge, network name, pod CIDR (a /24 or /29 of 10.199.0.0/16) and state
dir, so that it collides neither with a running cluster (pk0, 10.42.0.0/16) nor with another
test; it deletes its namespaces, bridge and the iptables chains portmap made, and restores
ip_forward (the bridge plugin turns it on for a gateway). Traffic only goes between the host and
namespaces the test made, or to 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import shutil
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pocketkube.runtime import cri
from pocketkube.runtime.process.cni_network import CNINetwork
from pocketkube.runtime.process.netns import netns_name

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces"),
    pytest.mark.skipif(not Path("/usr/lib/cni/bridge").exists(), reason="no CNI plugins"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="no iproute2"),
    pytest.mark.skipif(shutil.which("iptables") is None, reason="no iptables (portmap needs it)"),
]

FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
PORTMAP_CHAINS = ("CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-MASQ", "CNI-HOSTPORT-SETMARK")
PORTMAP_JUMPS = (
    ("PREROUTING", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "CNI-HOSTPORT-DNAT"),
    ("OUTPUT", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "CNI-HOSTPORT-DNAT"),
    (
        "POSTROUTING",
        "-m",
        "comment",
        "--comment",
        "CNI portfwd requiring masquerade",
        "-j",
        "CNI-HOSTPORT-MASQ",
    ),
)
SERVER = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen()
print("ready", flush=True)
for _ in range(int(sys.argv[2])):
    c, peer = s.accept()
    c.sendall(("hello " + peer[0]).encode())
    c.close()
"""
CLIENT = """
import socket, sys
with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5) as c:
    print(c.recv(100).decode())
"""


def nat_rules() -> str:
    return subprocess.run(["iptables", "-t", "nat", "-S"], capture_output=True, text=True).stdout


def in_netns(name: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", name, *argv], capture_output=True, text=True, timeout=30
    )


@contextlib.contextmanager
def server(netns: str, port: int, connections: int) -> Iterator[None]:
    """A TCP server inside ``netns`` answering ``hello <client address>``."""
    proc = subprocess.Popen(
        ["ip", "netns", "exec", netns, sys.executable, "-c", SERVER, str(port), str(connections)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        yield
    finally:
        proc.kill()
        proc.wait()


def fetch(host: str, port: int) -> str:
    with socket.create_connection((host, port), timeout=5) as c:
        return c.recv(100).decode()


@dataclass
class Harness:
    tmp_path: Path
    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    octet: int = field(default_factory=lambda: random.randint(1, 254))
    sandboxes: set[str] = field(default_factory=set)

    @property
    def bridge(self) -> str:
        return f"pkt{self.tag}"

    def network(self, prefix: int = 24) -> CNINetwork:
        return CNINetwork(
            pod_cidr=f"10.199.{self.octet}.0/{prefix}",
            node_ip="127.0.0.1",
            state_dir=self.tmp_path / "net",
            cluster_cidr="10.199.0.0/16",
            service_cidr="10.198.0.0/16",
            bridge=self.bridge,
            network_name=f"pkt-{self.tag}",
        )

    def sandbox(self) -> str:
        sandbox_id = secrets.token_hex(32)
        self.sandboxes.add(sandbox_id)
        return sandbox_id


def config(name: str, ports: tuple[cri.PortMapping, ...] = ()) -> cri.PodSandboxConfig:
    return cri.PodSandboxConfig(
        metadata=cri.PodSandboxMetadata(name=name, uid=f"uid-{name}", namespace="test"),
        port_mappings=ports,
    )


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    forward, had_chains = host_state()
    h = Harness(tmp_path)
    try:
        yield h
    finally:
        net = h.network()
        for sandbox_id in h.sandboxes:
            with contextlib.suppress(Exception):
                await net.teardown(sandbox_id=sandbox_id)
        cleanup(h, forward, had_chains)


def host_state() -> tuple[str, bool]:
    """What the test changes on the host besides what it made: ip_forward, portmap's chains."""
    return FORWARD.read_text(), f"-N {PORTMAP_CHAINS[0]}" in nat_rules()


def cleanup(h: Harness, forward: str, had_chains: bool) -> None:
    for sandbox_id in h.sandboxes:
        run("ip", "netns", "delete", netns_name(sandbox_id))
    run("ip", "link", "delete", h.bridge)
    FORWARD.write_text(forward)
    if not had_chains:  # portmap's shared chains, made for this test: remove them
        for jump in PORTMAP_JUMPS:
            run("iptables", "-t", "nat", "-D", *jump)
        for chain in PORTMAP_CHAINS:
            run("iptables", "-t", "nat", "-F", chain)
            run("iptables", "-t", "nat", "-X", chain)


def run(*argv: str) -> int:
    return subprocess.run(argv, capture_output=True).returncode


def netns_exists(sandbox_id: str) -> bool:
    return Path(f"/run/netns/{netns_name(sandbox_id)}").exists()


async def test_pods_get_their_own_ips_and_reach_each_other(harness: Harness) -> None:
    net = harness.network()
    assert net.condition().status is True
    a, b = harness.sandbox(), harness.sandbox()
    pod_a = await net.setup(sandbox_id=a, config=config("a"))
    pod_b = await net.setup(sandbox_id=b, config=config("b"))

    prefix = f"10.199.{harness.octet}."
    assert pod_a.ip != pod_b.ip
    assert pod_a.ip.startswith(prefix)
    assert pod_b.ip.startswith(prefix)
    assert pod_a.netns_path == f"/run/netns/{netns_name(a)}"
    assert netns_exists(a)

    with server(netns_name(b), 8080, connections=2):
        # pod to pod, over the bridge
        out = in_netns(netns_name(a), sys.executable, "-c", CLIENT, pod_b.ip, "8080")
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == f"hello {pod_a.ip}"  # no NAT between pods
        # host to pod, through the bridge's address
        assert fetch(pod_b.ip, 8080) == f"hello {prefix}1"

    # lo is up in the pod (the loopback plugin)
    with server(netns_name(a), 9090, connections=1):
        out = in_netns(netns_name(a), sys.executable, "-c", CLIENT, "127.0.0.1", "9090")
        assert out.stdout.strip() == "hello 127.0.0.1", out.stderr

    await net.check(sandbox_id=a)
    await net.check(sandbox_id=b)


async def test_pods_have_no_default_route(harness: Harness) -> None:
    net = harness.network()
    a = harness.sandbox()
    await net.setup(sandbox_id=a, config=config("a"))
    routes = in_netns(netns_name(a), "ip", "-4", "route", "show").stdout
    assert "default" not in routes
    destinations = sorted(line.split()[0] for line in routes.splitlines())
    assert destinations == sorted(
        ["10.198.0.0/16", "10.199.0.0/16", f"10.199.{harness.octet}.0/24"]
    )
    # the kernel has no route out of the cluster (asked without sending anything)
    for outside in ("1.1.1.1", "192.168.0.1"):
        out = in_netns(netns_name(a), "ip", "route", "get", outside)
        assert out.returncode != 0
        assert "Network is unreachable" in out.stderr


async def test_del_releases_the_ip(harness: Harness) -> None:
    net = harness.network(prefix=29)  # 10.199.x.2 - .6: five pod addresses
    ids = [harness.sandbox() for _ in range(6)]
    ips = [
        (await net.setup(sandbox_id=i, config=config(f"p{n}"))).ip for n, i in enumerate(ids[:5])
    ]
    assert len(set(ips)) == 5
    ipam_dir = harness.tmp_path / "net" / "ipam" / f"pkt-{harness.tag}"
    assert (ipam_dir / ips[2]).exists()

    with pytest.raises(cri.RuntimeError_) as info:  # the range is exhausted
        await net.setup(sandbox_id=ids[5], config=config("p5"))
    assert f'failed to setup network for sandbox "{ids[5]}"' in info.value.message
    assert "no IP addresses available" in info.value.message
    assert not netns_exists(ids[5])  # nothing left behind
    assert await net.status(sandbox_id=ids[5]) is None

    await net.teardown(sandbox_id=ids[2])
    assert not (ipam_dir / ips[2]).exists()
    assert not netns_exists(ids[2])
    assert (await net.setup(sandbox_id=ids[5], config=config("p5"))).ip == ips[2]


async def test_teardown_without_the_namespace_and_after_a_restart(harness: Harness) -> None:
    net = harness.network()
    a, b = harness.sandbox(), harness.sandbox()
    pod_a = await net.setup(sandbox_id=a, config=config("a"))
    pod_b = await net.setup(sandbox_id=b, config=config("b"))
    ipam_dir = harness.tmp_path / "net" / "ipam" / f"pkt-{harness.tag}"

    restarted = harness.network()
    assert await restarted.status(sandbox_id=a) == pod_a
    await restarted.check(sandbox_id=a)

    # the namespace vanished (as after a reboot): no status, and DEL still releases the IP
    assert run("ip", "netns", "delete", netns_name(b)) == 0
    assert await restarted.status(sandbox_id=b) is None
    await restarted.teardown(sandbox_id=b)
    assert not (ipam_dir / pod_b.ip).exists()
    await restarted.teardown(sandbox_id=b)  # idempotent
    await restarted.teardown(sandbox_id=harness.sandbox())  # never set up

    await restarted.teardown(sandbox_id=a)
    assert not (ipam_dir / pod_a.ip).exists()
    assert not netns_exists(a)


async def test_host_ports(harness: Harness) -> None:
    net = harness.network()
    a = harness.sandbox()
    host_port = random.randint(20000, 40000)
    ports = (cri.PortMapping(container_port=8080, host_port=host_port),)
    pod = await net.setup(sandbox_id=a, config=config("a", ports))
    assert f"--to-destination {pod.ip}:8080" in nat_rules()
    with server(netns_name(a), 8080, connections=1):
        assert fetch("127.0.0.1", host_port).startswith("hello ")
    await net.teardown(sandbox_id=a)
    rules = nat_rules()
    assert a not in rules
    assert f"{pod.ip}:8080" not in rules


async def test_host_network_pods_skip_cni(harness: Harness) -> None:
    net = harness.network()
    a = harness.sandbox()
    hostnet = cri.PodSandboxConfig(
        metadata=cri.PodSandboxMetadata(name="h", uid="uid-h", namespace="test"),
        host_network=True,
    )
    status = await net.setup(sandbox_id=a, config=hostnet)
    assert status.ip == "127.0.0.1"
    assert status.netns_path == ""
    assert not netns_exists(a)
    await net.teardown(sandbox_id=a)
