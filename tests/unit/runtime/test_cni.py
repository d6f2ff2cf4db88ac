"""The CNI runtime side against a fake plugin executor: what each plugin would receive
(environment, stdin) and how its output is read, per the CNI spec."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from pocketkube.runtime.process.cni import (
    CNI,
    CNIError,
    NetworkConfigList,
    PluginOutput,
    RuntimeConf,
    result_ips,
)


@dataclass
class Call:
    plugin: str
    env: dict[str, str]
    stdin: dict[str, Any]


@dataclass
class FakeExecutor:
    """Answers as plugins would: ADD results, empty DEL/CHECK, VERSION lists; or scripted."""

    installed: tuple[str, ...] = ("bridge", "host-local", "portmap", "loopback")
    versions: dict[str, list[str]] = field(default_factory=dict)
    replies: dict[tuple[str, str], PluginOutput] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)

    def find(self, plugin: str, dirs: Sequence[str]) -> str | None:
        return f"{dirs[0]}/{plugin}" if plugin in self.installed else None

    async def run(self, path: str, *, env: Mapping[str, str], stdin: bytes) -> PluginOutput:
        plugin = path.rsplit("/", 1)[1]
        command = env["CNI_COMMAND"]
        self.calls.append(Call(plugin, dict(env), json.loads(stdin)))
        if (plugin, command) in self.replies:
            return self.replies[(plugin, command)]
        if command == "VERSION":
            supported = self.versions.get(plugin, ["0.3.1", "0.4.0", "1.0.0"])
            body: dict[str, Any] = {"cniVersion": "1.0.0", "supportedVersions": supported}
            return PluginOutput(0, json.dumps(body).encode(), b"")
        if command != "ADD":
            return PluginOutput(0, b"", b"")
        result = dict(json.loads(stdin).get("prevResult") or {"cniVersion": "1.0.0"})
        result.setdefault("seen", []).append(plugin)
        if plugin == "bridge":
            result["interfaces"] = [
                {"name": "pk0", "mac": "aa"},
                {"name": "eth0", "mac": "bb", "sandbox": env["CNI_NETNS"]},
            ]
            result["ips"] = [{"address": "10.42.0.7/24", "gateway": "10.42.0.1", "interface": 1}]
        return PluginOutput(0, json.dumps(result).encode(), b"")


POD_NET = NetworkConfigList(
    name="podnet",
    cni_version="1.0.0",
    plugins=(
        {"type": "bridge", "cniVersion": "0.1.0", "name": "x", "ipam": {"type": "host-local"}},
        {"type": "portmap", "capabilities": {"portMappings": True, "other": False}},
    ),
)
RT = RuntimeConf(
    container_id="abc123",
    netns="/run/netns/pk-abc123",
    ifname="eth0",
    args=(("IgnoreUnknown", "1"), ("K8S_POD_NAMESPACE", "ns"), ("K8S_POD_NAME", "p")),
    capability_args={"portMappings": [{"hostPort": 8080, "containerPort": 80}], "other": 1},
)


def make(executor: FakeExecutor) -> CNI:
    return CNI(plugin_dirs=("/usr/lib/cni", "/opt/cni/bin"), executor=executor)


async def test_add_sends_the_spec_environment_and_chains_results() -> None:
    ex = FakeExecutor()
    result = await make(ex).add_list(POD_NET, RT)

    assert [c.plugin for c in ex.calls] == ["bridge", "portmap"]
    for call in ex.calls:
        assert call.env["CNI_COMMAND"] == "ADD"
        assert call.env["CNI_CONTAINERID"] == "abc123"
        assert call.env["CNI_NETNS"] == "/run/netns/pk-abc123"
        assert call.env["CNI_IFNAME"] == "eth0"
        assert call.env["CNI_PATH"] == "/usr/lib/cni:/opt/cni/bin"
        assert call.env["CNI_ARGS"] == "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p"
        # the list's name and version replace the plugin's own
        assert call.stdin["name"] == "podnet"
        assert call.stdin["cniVersion"] == "1.0.0"
    bridge, portmap = ex.calls
    assert "prevResult" not in bridge.stdin
    assert "runtimeConfig" not in bridge.stdin  # it declared no capability
    assert bridge.stdin["ipam"] == {"type": "host-local"}
    assert portmap.stdin["prevResult"]["seen"] == ["bridge"]
    # only declared (and true) capabilities are passed
    assert portmap.stdin["runtimeConfig"] == {
        "portMappings": [{"hostPort": 8080, "containerPort": 80}]
    }
    assert result["seen"] == ["bridge", "portmap"]
    assert result_ips(result, "eth0") == ["10.42.0.7"]


async def test_del_runs_in_reverse_with_the_cached_result() -> None:
    ex = FakeExecutor()
    cached = {"cniVersion": "1.0.0", "ips": [{"address": "10.42.0.7/24"}]}
    await make(ex).del_list(POD_NET, RT, cached)
    assert [c.plugin for c in ex.calls] == ["portmap", "bridge"]
    assert all(c.env["CNI_COMMAND"] == "DEL" for c in ex.calls)
    assert all(c.stdin["prevResult"] == cached for c in ex.calls)


async def test_del_without_a_result_or_netns() -> None:
    ex = FakeExecutor()
    gone = RuntimeConf(container_id="abc123", netns="", ifname="eth0")
    await make(ex).del_list(POD_NET, gone, None)
    assert all("prevResult" not in c.stdin for c in ex.calls)
    assert all(c.env["CNI_NETNS"] == "" for c in ex.calls)
    assert all(c.env["CNI_ARGS"] == "" for c in ex.calls)


async def test_check_passes_the_result_in_order() -> None:
    ex = FakeExecutor()
    cached = {"cniVersion": "1.0.0", "ips": []}
    await make(ex).check_list(POD_NET, RT, cached)
    assert [(c.plugin, c.env["CNI_COMMAND"]) for c in ex.calls] == [
        ("bridge", "CHECK"),
        ("portmap", "CHECK"),
    ]
    assert all(c.stdin["prevResult"] == cached for c in ex.calls)


@pytest.mark.parametrize(
    "net",
    [
        NetworkConfigList(name="n", plugins=({"type": "bridge"},), disable_check=True),
        NetworkConfigList(name="n", plugins=({"type": "bridge"},), cni_version="0.3.1"),
    ],
)
async def test_check_is_skipped_when_disabled_or_too_old(net: NetworkConfigList) -> None:
    ex = FakeExecutor()
    await make(ex).check_list(net, RT, {})
    assert ex.calls == []


@pytest.mark.parametrize(
    ("output", "expected", "code"),
    [
        (
            PluginOutput(1, b'{"cniVersion":"1.0.0","code":7,"msg":"bad config"}', b""),
            'plugin type="bridge" name="podnet" failed (add): bad config',
            7,
        ),
        (
            PluginOutput(
                1, b'{"code":11,"msg":"no IP addresses available","details":"range 10.42"}', b""
            ),
            "failed (add): no IP addresses available; range 10.42",
            11,
        ),
        (PluginOutput(2, b"", b"panic: oops\n"), "failed (add): panic: oops", 0),
        (PluginOutput(1, b"", b""), "no error message (exit status 1)", 0),
        (PluginOutput(0, b"not json", b""), "cannot decode the plugin's result", 6),
    ],
)
async def test_errors_become_cni_errors(output: PluginOutput, expected: str, code: int) -> None:
    ex = FakeExecutor(replies={("bridge", "ADD"): output})
    with pytest.raises(CNIError) as info:
        await make(ex).add_list(POD_NET, RT)
    assert expected in info.value.message
    assert info.value.cni_code == code
    assert info.value.plugin == "bridge"
    assert [c.plugin for c in ex.calls] == ["bridge"]  # the chain stops at the failure


async def test_missing_plugin() -> None:
    ex = FakeExecutor(installed=("bridge",))
    cni = make(ex)
    assert cni.missing_plugins(POD_NET) == ["host-local", "portmap"]
    with pytest.raises(CNIError, match='failed to find plugin "portmap"'):
        await cni.add_list(POD_NET, RT)


@pytest.mark.parametrize(
    ("versions", "chosen"),
    [
        ({}, "1.0.0"),
        ({"portmap": ["0.3.1", "0.4.0"]}, "0.4.0"),
        ({"bridge": ["0.3.0", "0.3.1"]}, "0.3.1"),
        ({"bridge": ["0.2.0"]}, None),
    ],
)
async def test_negotiate(versions: dict[str, list[str]], chosen: str | None) -> None:
    ex = FakeExecutor(versions=versions)
    cni = make(ex)
    if chosen is None:
        with pytest.raises(CNIError, match="no common CNI version"):
            await cni.negotiate(POD_NET)
        return
    net = await cni.negotiate(POD_NET)
    assert net.cni_version == chosen
    assert net.plugins == POD_NET.plugins
    version_calls = [c for c in ex.calls if c.env["CNI_COMMAND"] == "VERSION"]
    assert {c.plugin for c in version_calls} == {"bridge", "portmap"}
    await cni.negotiate(POD_NET)  # asked once per plugin
    assert len([c for c in ex.calls if c.env["CNI_COMMAND"] == "VERSION"]) == 2


@pytest.mark.parametrize(
    ("result", "ips"),
    [
        ({}, []),
        ({"ips": [{"address": "10.0.0.2/24"}]}, ["10.0.0.2"]),
        (  # the container's eth0 first, IPv4 first
            {
                "interfaces": [{"name": "pk0"}, {"name": "eth0", "sandbox": "/x"}],
                "ips": [
                    {"address": "10.0.0.1/24", "interface": 0},
                    {"address": "fd00::5/64", "interface": 1},
                    {"address": "10.0.0.5/24", "interface": 1},
                ],
            },
            ["10.0.0.5", "fd00::5", "10.0.0.1"],
        ),
        (  # 0.4.0 results carry "version"; out-of-range interface indexes are tolerated
            {"ips": [{"version": "4", "address": "10.0.0.9/24", "interface": 7}]},
            ["10.0.0.9"],
        ),
    ],
)
def test_result_ips(result: dict[str, Any], ips: list[str]) -> None:
    assert result_ips(result, "eth0") == ips


def test_config_list_round_trip() -> None:
    assert NetworkConfigList.from_json(POD_NET.to_json()) == POD_NET
