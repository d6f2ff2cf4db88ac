"""The real plugin executor against a tiny script plugin: it finds the plugin in CNI_PATH order,
passes the environment and stdin, reads the result, and kills a plugin that hangs."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from pocketkube.runtime.process.cni import (
    CNI,
    CNIError,
    ExecPluginExecutor,
    NetworkConfigList,
    RuntimeConf,
)

ECHO = """#!/bin/sh
# answers ADD with what it got, as a CNI result
stdin=$(cat)
cat <<EOF
{"cniVersion": "1.0.0", "ips": [{"address": "10.9.9.9/24"}],
 "env": {"cmd": "$CNI_COMMAND", "id": "$CNI_CONTAINERID", "netns": "$CNI_NETNS",
         "ifname": "$CNI_IFNAME", "args": "$CNI_ARGS", "path": "$CNI_PATH",
         "home": "$PATH"},
 "stdin": $stdin}
EOF
"""
FAIL = """#!/bin/sh
echo '{"cniVersion": "1.0.0", "code": 7, "msg": "invalid config", "details": "no bridge"}'
exit 1
"""
HANG = """#!/bin/sh
exec sleep 30
"""


def plugin(d: Path, name: str, body: str) -> None:
    d.mkdir(parents=True, exist_ok=True)
    path = d / name
    path.write_text(body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


RT = RuntimeConf(
    container_id="c1", netns="/run/netns/x", ifname="eth0", args=(("IgnoreUnknown", "1"),)
)


async def test_exec_passes_env_and_stdin(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    plugin(second, "echo", ECHO)
    plugin(first, "other", FAIL)
    cni = CNI(plugin_dirs=(str(first), str(second)), executor=ExecPluginExecutor())
    net = NetworkConfigList(name="n", plugins=({"type": "echo", "foo": 1},))
    result = await cni.add_list(net, RT)
    assert result["env"] == {
        "cmd": "ADD",
        "id": "c1",
        "netns": "/run/netns/x",
        "ifname": "eth0",
        "args": "IgnoreUnknown=1",
        "path": f"{first}:{second}",
        "home": result["env"]["home"],
    }
    assert result["env"]["home"]  # our PATH is passed on: plugins run iptables and friends
    assert result["stdin"] == {"type": "echo", "foo": 1, "name": "n", "cniVersion": "1.0.0"}


async def test_exec_error_json(tmp_path: Path) -> None:
    plugin(tmp_path, "bad", FAIL)
    cni = CNI(plugin_dirs=(str(tmp_path),))
    with pytest.raises(CNIError) as info:
        await cni.add_list(NetworkConfigList(name="n", plugins=({"type": "bad"},)), RT)
    assert info.value.message == (
        'plugin type="bad" name="n" failed (add): invalid config; no bridge'
    )
    assert info.value.cni_code == 7


async def test_exec_timeout_kills_the_plugin(tmp_path: Path) -> None:
    plugin(tmp_path, "hang", HANG)
    cni = CNI(plugin_dirs=(str(tmp_path),), executor=ExecPluginExecutor(timeout=0.3))
    with pytest.raises(CNIError, match="timed out"):
        await cni.add_list(NetworkConfigList(name="n", plugins=({"type": "hang"},)), RT)


def test_find_needs_an_executable(tmp_path: Path) -> None:
    (tmp_path / "notexec").write_text(json.dumps({}))
    ex = ExecPluginExecutor()
    assert ex.find("notexec", [str(tmp_path)]) is None
    assert ex.find("missing", [str(tmp_path)]) is None
