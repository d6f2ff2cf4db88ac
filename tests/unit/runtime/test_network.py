"""CNINetwork and HostNetwork without root: fake plugins and a fake namespace manager."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pocketkube.runtime import cri
from pocketkube.runtime.process import network
from pocketkube.runtime.process.cni import CNI, PluginOutput
from pocketkube.runtime.process.cni_network import CNINetwork, capability_args, has_neighbour
from pocketkube.runtime.process.network import HostNetwork, PodNetworkStatus, default_network
from tests.unit.runtime.test_cni import FakeExecutor

SANDBOX = "0123456789abcdef0123"
NETNS = "/run/netns/pk-0123456789ab"
PORTS = (cri.PortMapping(container_port=80, host_port=8080),)


class FakeNetns:
    def __init__(self) -> None:
        self.live: set[str] = set()
        self.log: list[str] = []

    def path(self, name: str) -> str:
        return f"/run/netns/{name}"

    def exists(self, name: str) -> bool:
        return name in self.live

    def available(self) -> str:
        return ""

    async def create(self, name: str) -> str:
        assert name not in self.live
        self.live.add(name)
        self.log.append(f"add {name}")
        return self.path(name)

    async def delete(self, name: str) -> None:
        self.live.discard(name)
        self.log.append(f"delete {name}")


def config(
    *, host_network: bool = False, ports: tuple[cri.PortMapping, ...] = ()
) -> cri.PodSandboxConfig:
    return cri.PodSandboxConfig(
        metadata=cri.PodSandboxMetadata(name="web", uid="uid-1", namespace="shop"),
        host_network=host_network,
        port_mappings=ports,
    )


def make(tmp_path: Path, ex: FakeExecutor, ns: FakeNetns) -> CNINetwork:
    return CNINetwork(
        pod_cidr="10.42.0.0/24",
        node_ip="192.0.2.10",
        state_dir=tmp_path,
        cni=CNI(plugin_dirs=("/usr/lib/cni",), executor=ex),
        netns=ns,
    )


def commands(ex: FakeExecutor) -> list[tuple[str, str, str]]:
    return [
        (c.plugin, c.env["CNI_COMMAND"], c.env["CNI_IFNAME"])
        for c in ex.calls
        if c.env["CNI_COMMAND"] != "VERSION"
    ]


async def test_setup_runs_loopback_then_the_pod_network(tmp_path: Path) -> None:
    ex, ns = FakeExecutor(), FakeNetns()
    net = make(tmp_path, ex, ns)
    ports = (
        cri.PortMapping(container_port=80, host_port=8080),
        cri.PortMapping(container_port=9, host_port=0),
    )
    status = await net.setup(sandbox_id=SANDBOX, config=config(ports=ports))

    assert status == PodNetworkStatus(ip="10.42.0.7", netns_path=NETNS)
    assert ns.log == ["add pk-0123456789ab"]
    assert commands(ex) == [
        ("loopback", "ADD", "lo"),
        ("bridge", "ADD", "eth0"),
        ("portmap", "ADD", "eth0"),
    ]
    add = ex.calls[-1]
    assert add.env["CNI_CONTAINERID"] == SANDBOX
    assert add.env["CNI_NETNS"] == NETNS
    assert add.env["CNI_ARGS"] == (
        "IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web;"
        f"K8S_POD_INFRA_CONTAINER_ID={SANDBOX};K8S_POD_UID=uid-1"
    )
    assert add.stdin["runtimeConfig"] == {
        "portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]
    }
    assert await net.status(sandbox_id=SANDBOX) == status
    # setting up again returns what is there
    assert await net.setup(sandbox_id=SANDBOX, config=config()) == status
    assert len(commands(ex)) == 3


async def test_the_generated_configuration_keeps_pods_on_the_machine(tmp_path: Path) -> None:
    net = make(tmp_path, FakeExecutor(), FakeNetns())
    await net.setup(sandbox_id=SANDBOX, config=config())
    conf = json.loads((tmp_path / "net.d" / "10-pocketkube.conflist").read_text())
    assert json.loads((tmp_path / "net.d" / "99-cni-loopback.conflist").read_text())["plugins"] == [
        {"type": "loopback"}
    ]
    assert conf["cniVersion"] == "1.0.0"
    bridge, portmap = conf["plugins"]
    assert bridge["bridge"] == "pk0"
    assert bridge["isGateway"] is True
    assert bridge["isDefaultGateway"] is False
    assert bridge["ipMasq"] is False
    assert bridge["hairpinMode"] is True
    ipam = bridge["ipam"]
    assert ipam["type"] == "host-local"
    assert ipam["ranges"] == [[{"subnet": "10.42.0.0/24", "gateway": "10.42.0.1"}]]
    assert ipam["routes"] == [
        {"dst": "10.42.0.0/16", "gw": "10.42.0.1"},
        {"dst": "10.43.0.0/16", "gw": "10.42.0.1"},
    ]
    assert ipam["dataDir"] == str(tmp_path / "ipam")
    assert portmap == {"type": "portmap", "capabilities": {"portMappings": True}}


async def test_a_restarted_runtime_finds_and_tears_down_the_network(tmp_path: Path) -> None:
    ex, ns = FakeExecutor(), FakeNetns()
    status = await make(tmp_path, ex, ns).setup(sandbox_id=SANDBOX, config=config(ports=PORTS))
    result = json.loads((tmp_path / "results" / f"{SANDBOX}.json").read_text())
    ex.calls.clear()

    again = make(tmp_path, ex, ns)
    assert await again.status(sandbox_id=SANDBOX) == status
    await again.check(sandbox_id=SANDBOX)
    assert commands(ex) == [
        ("loopback", "CHECK", "lo"),
        ("bridge", "CHECK", "eth0"),
        ("portmap", "CHECK", "eth0"),
    ]
    ex.calls.clear()
    await again.teardown(sandbox_id=SANDBOX)
    assert commands(ex) == [
        ("portmap", "DEL", "eth0"),
        ("bridge", "DEL", "eth0"),
        ("loopback", "DEL", "lo"),
    ]
    pod_result = result["attachments"][1]["result"]
    assert ex.calls[0].stdin["prevResult"] == pod_result
    assert ex.calls[0].env["CNI_NETNS"] == NETNS
    assert ns.live == set()
    assert not (tmp_path / "results" / f"{SANDBOX}.json").exists()
    assert await again.status(sandbox_id=SANDBOX) is None
    ex.calls.clear()
    await again.teardown(sandbox_id=SANDBOX)  # idempotent, and nothing left to do
    assert ex.calls == []


async def test_portmap_is_skipped_without_host_ports(tmp_path: Path) -> None:
    """portmap without portMappings only hands prevResult on: ADD, CHECK and DEL skip it."""
    ex, ns = FakeExecutor(), FakeNetns()
    net = make(tmp_path, ex, ns)
    status = await net.setup(sandbox_id=SANDBOX, config=config())
    assert status.ip == "10.42.0.7"
    assert commands(ex) == [("loopback", "ADD", "lo"), ("bridge", "ADD", "eth0")]
    ex.calls.clear()
    again = make(tmp_path, ex, ns)  # a restarted runtime reads the chain from the record
    await again.check(sandbox_id=SANDBOX)
    await again.teardown(sandbox_id=SANDBOX)
    assert commands(ex) == [
        ("loopback", "CHECK", "lo"),
        ("bridge", "CHECK", "eth0"),
        ("bridge", "DEL", "eth0"),
        ("loopback", "DEL", "lo"),
    ]
    # the node's configuration keeps portmap: hostPorts still work
    conf = json.loads((tmp_path / "net.d" / "10-pocketkube.conflist").read_text())
    assert [p["type"] for p in conf["plugins"]] == ["bridge", "portmap"]


async def test_a_sandbox_recorded_with_portmap_keeps_it(tmp_path: Path) -> None:
    """A sandbox set up when every chain ran portmap is checked and deleted with it."""
    ex, ns = FakeExecutor(), FakeNetns()
    await make(tmp_path, ex, ns).setup(sandbox_id=SANDBOX, config=config())
    path = tmp_path / "results" / f"{SANDBOX}.json"
    record = json.loads(path.read_text())
    pod_net = record["attachments"][1]
    pod_net["config"]["plugins"].append({"type": "portmap", "capabilities": {"portMappings": True}})
    path.write_text(json.dumps(record))
    ex.calls.clear()
    again = make(tmp_path, ex, ns)
    await again.check(sandbox_id=SANDBOX)
    await again.teardown(sandbox_id=SANDBOX)
    assert commands(ex) == [
        ("loopback", "CHECK", "lo"),
        ("bridge", "CHECK", "eth0"),
        ("portmap", "CHECK", "eth0"),
        ("portmap", "DEL", "eth0"),
        ("bridge", "DEL", "eth0"),
        ("loopback", "DEL", "lo"),
    ]
    assert "runtimeConfig" not in ex.calls[3].stdin
    assert ex.calls[3].stdin["prevResult"] == pod_net["result"]


@pytest.mark.parametrize(
    ("table", "found"),
    [
        ("", False),
        ("10.42.0.7  0x1  0x2  aa:bb:cc:dd:ee:ff  *  pk0\n", True),
        ("10.42.0.7  0x1  0x0  00:00:00:00:00:00  *  pk0\n", True),  # incomplete: still there
        ("10.42.0.7  0x1  0x2  aa:bb:cc:dd:ee:ff  *  eth0\n", False),  # another device
        ("10.42.0.70  0x1  0x2  aa:bb:cc:dd:ee:ff  *  pk0\n", False),
    ],
)
def test_has_neighbour(tmp_path: Path, table: str, found: bool) -> None:
    arp = tmp_path / "arp"
    arp.write_text("IP address  HW type  Flags  HW address  Mask  Device\n" + table)
    assert has_neighbour("10.42.0.7", "pk0", arp=arp) is found
    assert has_neighbour("10.42.0.7", "pk0", arp=tmp_path / "missing") is True  # ip decides


async def test_teardown_after_the_namespace_is_gone(tmp_path: Path) -> None:
    ex, ns = FakeExecutor(), FakeNetns()
    net = make(tmp_path, ex, ns)
    await net.setup(sandbox_id=SANDBOX, config=config(ports=PORTS))
    ns.live.clear()  # e.g. a reboot emptied /run
    assert await net.status(sandbox_id=SANDBOX) is None
    ex.calls.clear()
    await net.teardown(sandbox_id=SANDBOX)
    dels = [c for c in ex.calls if c.env["CNI_COMMAND"] == "DEL"]
    assert len(dels) == 3
    assert all(c.env["CNI_NETNS"] == "" for c in dels)  # the spec's "netns is gone" DEL
    assert all("prevResult" in c.stdin for c in dels)


async def test_a_failed_add_leaves_nothing_behind(tmp_path: Path) -> None:
    error = b'{"cniVersion":"1.0.0","code":11,"msg":"no IP addresses available in range set"}'
    ex = FakeExecutor(replies={("bridge", "ADD"): PluginOutput(1, error, b"")})
    ns = FakeNetns()
    net = make(tmp_path, ex, ns)
    with pytest.raises(cri.RuntimeError_) as info:
        await net.setup(sandbox_id=SANDBOX, config=config())
    assert info.value.message == (
        f'failed to setup network for sandbox "{SANDBOX}": plugin type="bridge" '
        'name="pocketkube" failed (add): no IP addresses available in range set'
    )
    assert ("bridge", "DEL", "eth0") in commands(ex)
    assert ns.live == set()
    assert not (tmp_path / "results" / f"{SANDBOX}.json").exists()


async def test_a_failed_del_is_reported_and_can_be_retried(tmp_path: Path) -> None:
    ex, ns = FakeExecutor(), FakeNetns()
    net = make(tmp_path, ex, ns)
    await net.setup(sandbox_id=SANDBOX, config=config(ports=PORTS))
    ex.replies[("portmap", "DEL")] = PluginOutput(1, b'{"code":100,"msg":"iptables busy"}', b"")
    with pytest.raises(cri.RuntimeError_, match="failed to destroy network for sandbox"):
        await net.teardown(sandbox_id=SANDBOX)
    assert ns.live == {"pk-0123456789ab"}  # kept for the retry
    del ex.replies[("portmap", "DEL")]
    await net.teardown(sandbox_id=SANDBOX)
    assert ns.live == set()


async def test_host_network_sandboxes_skip_cni(tmp_path: Path) -> None:
    ex, ns = FakeExecutor(), FakeNetns()
    net = make(tmp_path, ex, ns)
    status = await net.setup(sandbox_id=SANDBOX, config=config(host_network=True))
    assert status == PodNetworkStatus(ip="192.0.2.10", netns_path="")
    assert await make(tmp_path, ex, ns).status(sandbox_id=SANDBOX) == status
    await net.teardown(sandbox_id=SANDBOX)
    assert ex.calls == []
    assert ns.log == []
    assert await net.status(sandbox_id=SANDBOX) is None


def test_condition(tmp_path: Path) -> None:
    ready = make(tmp_path, FakeExecutor(), FakeNetns()).condition()
    assert ready == cri.RuntimeCondition(type="NetworkReady", status=True)
    missing = make(tmp_path, FakeExecutor(installed=("loopback",)), FakeNetns()).condition()
    assert missing.status is False
    assert missing.reason == "NetworkPluginNotReady"
    assert missing.message == (
        "Network plugin returns error: cni plugin not initialized: "
        "CNI plugins bridge, host-local, portmap not found in /usr/lib/cni"
    )


def test_capability_args() -> None:
    ports = (
        cri.PortMapping(container_port=53, host_port=5353, protocol="UDP", host_ip="127.0.0.1"),
        cri.PortMapping(container_port=80, host_port=0),
    )
    assert capability_args(config(ports=ports)) == {
        "portMappings": [
            {"hostPort": 5353, "containerPort": 53, "protocol": "udp", "hostIP": "127.0.0.1"}
        ]
    }
    assert capability_args(config()) == {}


async def test_host_network() -> None:
    net = HostNetwork(node_ip="192.0.2.10", note="not root")
    status = PodNetworkStatus(ip="192.0.2.10", netns_path="")
    assert await net.setup(sandbox_id="x", config=config()) == status
    assert await net.status(sandbox_id="x") == status
    await net.teardown(sandbox_id="x")
    assert net.condition().status is True


def test_default_network_without_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(network.os, "geteuid", lambda: 1000)
    net = default_network(pod_cidr="10.42.0.0/24", node_ip="192.0.2.10", state_dir=tmp_path)
    assert isinstance(net, HostNetwork)
    assert net.node_ip == "192.0.2.10"
    assert "not root" in net.note
