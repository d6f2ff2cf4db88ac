"""The runtime side of the Container Network Interface: executing plugins as the CNI spec says.

A CNI plugin is an executable; the runtime (here: us, in upstream: containerd's go-cni/libcni)
runs it with the operation in environment variables (``CNI_COMMAND`` ADD/DEL/CHECK/VERSION,
``CNI_CONTAINERID``, ``CNI_NETNS``, ``CNI_IFNAME``, ``CNI_ARGS``, ``CNI_PATH``) and the network
configuration as JSON on stdin; a plugin reports success with exit status 0 (and, for ADD, the
Result JSON on stdout) and failure with a non-zero status and the error JSON
``{"code", "msg", "details"}`` on stdout. A *configuration list* chains plugins: the runtime sets
each plugin's ``name`` and ``cniVersion`` to the list's, passes each ADD result to the next plugin
as ``prevResult``, runs DEL in reverse order with the cached final result as ``prevResult``
(CHECK in order, likewise), and hands a plugin the runtime values it declared under
``capabilities`` (e.g. ``portMappings``) as ``runtimeConfig``.

We speak spec versions 1.0.0, 0.4.0 and 0.3.1 (their results share one shape); ``negotiate``
picks the newest that every plugin of a list supports, by asking them (VERSION).

Executing is behind ``PluginExecutor`` (as libcni's ``invoke.Exec``) so that unit tests check
exactly what a plugin would receive without running one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pocketkube.runtime import cri

SUPPORTED_VERSIONS = ("1.0.0", "0.4.0", "0.3.1")  # newest first
DEFAULT_PLUGIN_DIRS = ("/usr/lib/cni", "/opt/cni/bin")  # Debian's package, then upstream's
PLUGIN_TIMEOUT = 60.0  # seconds; a plugin that hangs (e.g. on the iptables lock) is killed
PLUGIN_WORKERS = 8  # plugins running at once (each from a thread of ExecPluginExecutor's pool)

Result = dict[str, Any]


class CNIError(cri.RuntimeError_):
    """A plugin failed; ``cni_code``/``msg``/``details`` are its error JSON (code 0 when it
    printed none). The message reads as libcni's: ``plugin type="bridge" name="n" failed (add):
    msg; details``."""

    def __init__(
        self, *, plugin: str, network: str, command: str, cni_code: int, msg: str, details: str = ""
    ) -> None:
        text = f"{msg}; {details}" if details else msg
        super().__init__(
            "Unknown", f'plugin type="{plugin}" name="{network}" failed ({command.lower()}): {text}'
        )
        self.plugin = plugin
        self.network = network
        self.command = command
        self.cni_code = cni_code
        self.msg = msg
        self.details = details


@dataclass(frozen=True)
class PluginOutput:
    returncode: int
    stdout: bytes
    stderr: bytes


class PluginExecutor(Protocol):
    def find(self, plugin: str, dirs: Sequence[str]) -> str | None:
        """The path of the executable named ``plugin`` in the first of ``dirs`` holding it."""
        ...

    async def run(self, path: str, *, env: Mapping[str, str], stdin: bytes) -> PluginOutput: ...


class ExecPluginExecutor:
    """Runs plugins as child processes, with our environment plus the CNI variables (plugins
    call iptables and friends through ``PATH``).

    Each plugin runs from a thread of a small pool of our own (``subprocess.Popen`` and a
    blocking ``communicate``): asyncio's subprocess machinery (a watcher thread per child,
    three pipe transports and their protocols) cost the kubelet more CPU per plugin than the
    plugin's own start-up when many pods start at once. The pool also bounds how many plugins
    run at once, and a plugin that hangs holds one of its threads, none of the event loop's."""

    def __init__(self, *, timeout: float = PLUGIN_TIMEOUT, workers: int = PLUGIN_WORKERS) -> None:
        self._timeout = timeout
        self._workers = workers
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    def find(self, plugin: str, dirs: Sequence[str]) -> str | None:
        for d in dirs:
            path = Path(d) / plugin
            if path.is_file() and os.access(path, os.X_OK):
                return str(path)
        return None

    async def run(self, path: str, *, env: Mapping[str, str], stdin: bytes) -> PluginOutput:
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=self._workers, thread_name_prefix="pk-cni"
            )
        child = _Child(path, {**os.environ, **env}, stdin, self._timeout)
        done = asyncio.get_running_loop().run_in_executor(self._pool, child.run)
        try:
            return await asyncio.shield(done)
        except asyncio.CancelledError:
            child.kill()  # and what it started: it has a session of its own
            with contextlib.suppress(Exception):
                await done
            raise


class _Child:
    """One plugin execution, from a pool thread; ``kill`` (from the event loop) ends it, even
    before it has started."""

    def __init__(self, path: str, env: dict[str, str], stdin: bytes, timeout: float) -> None:
        self._args = (path, env, stdin, timeout)
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._killed = False

    def run(self) -> PluginOutput:
        path, env, stdin, timeout = self._args
        with self._lock:
            if self._killed:
                raise TimeoutError("cancelled")
            self._proc = proc = subprocess.Popen(
                [path],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                start_new_session=True,  # so that a timeout kills what it started, too
            )
        try:
            out, err = proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            proc.communicate()
            raise TimeoutError(f"{path} timed out") from None
        return PluginOutput(proc.returncode, out, err)

    def kill(self) -> None:
        with self._lock:
            self._killed = True
            if self._proc is not None and self._proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._proc.pid, signal.SIGKILL)


@dataclass(frozen=True)
class NetworkConfigList:
    """A CNI network configuration list (a single configuration is a list of one)."""

    name: str
    plugins: tuple[dict[str, Any], ...]
    cni_version: str = SUPPORTED_VERSIONS[0]
    disable_check: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "cniVersion": self.cni_version,
            "name": self.name,
            "disableCheck": self.disable_check,
            "plugins": list(self.plugins),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NetworkConfigList:
        return cls(
            name=str(data["name"]),
            plugins=tuple(dict(p) for p in data["plugins"]),
            cni_version=str(data.get("cniVersion", SUPPORTED_VERSIONS[0])),
            disable_check=bool(data.get("disableCheck", False)),
        )


@dataclass(frozen=True)
class RuntimeConf:
    """What the runtime knows about one attachment: the spec's parameters."""

    container_id: str
    netns: str  # path; "" when it is gone (DEL only)
    ifname: str
    args: tuple[tuple[str, str], ...] = ()  # CNI_ARGS, in order
    capability_args: dict[str, Any] = field(default_factory=dict)  # e.g. {"portMappings": [...]}


class CNI:
    """Runs configuration lists against plugins found in ``plugin_dirs``."""

    def __init__(
        self,
        *,
        plugin_dirs: Sequence[str] = DEFAULT_PLUGIN_DIRS,
        executor: PluginExecutor | None = None,
    ) -> None:
        self.plugin_dirs = tuple(plugin_dirs)
        self.executor: PluginExecutor = executor or ExecPluginExecutor()
        self._versions: dict[str, tuple[str, ...]] = {}

    def missing_plugins(self, net: NetworkConfigList) -> list[str]:
        """The plugin types (including IPAM plugins) of ``net`` that are not installed."""
        missing = []
        for conf in net.plugins:
            for plugin in (conf["type"], conf.get("ipam", {}).get("type")):
                if plugin and self.executor.find(plugin, self.plugin_dirs) is None:
                    missing.append(plugin)
        return missing

    async def negotiate(self, net: NetworkConfigList) -> NetworkConfigList:
        """``net`` at the newest spec version that we and all its plugins support."""
        common = set(SUPPORTED_VERSIONS)
        for conf in net.plugins:
            common &= set(await self.supported_versions(conf["type"], net.name))
        for version in SUPPORTED_VERSIONS:
            if version in common:
                return NetworkConfigList(net.name, net.plugins, version, net.disable_check)
        raise CNIError(
            plugin=",".join(c["type"] for c in net.plugins),
            network=net.name,
            command="VERSION",
            cni_code=1,
            msg=f"no common CNI version: we support {', '.join(SUPPORTED_VERSIONS)}",
        )

    async def supported_versions(self, plugin: str, network: str = "") -> tuple[str, ...]:
        if plugin not in self._versions:
            stdin = json.dumps({"cniVersion": SUPPORTED_VERSIONS[0]}).encode()
            out = await self._exec(plugin, network, "VERSION", {}, stdin)
            self._versions[plugin] = tuple(out.get("supportedVersions", ()))
        return self._versions[plugin]

    async def add_list(self, net: NetworkConfigList, rt: RuntimeConf) -> Result:
        """ADD every plugin in order, chaining results; return the final result."""
        prev: Result | None = None
        for conf in net.plugins:
            prev = await self._invoke("ADD", net, conf, rt, prev)
        return prev or {"cniVersion": net.cni_version}

    async def check_list(self, net: NetworkConfigList, rt: RuntimeConf, prev: Result) -> None:
        """CHECK every plugin against the result of the ADD (no-op when the list disables it or
        its version predates CHECK)."""
        if net.disable_check or net.cni_version.startswith(("0.1.", "0.2.", "0.3.")):
            return
        for conf in net.plugins:
            await self._invoke("CHECK", net, conf, rt, prev)

    async def del_list(self, net: NetworkConfigList, rt: RuntimeConf, prev: Result | None) -> None:
        """DEL every plugin in reverse order; ``prev`` is the cached ADD result, if any."""
        for conf in reversed(net.plugins):
            await self._invoke("DEL", net, conf, rt, prev)

    async def _invoke(
        self,
        command: str,
        net: NetworkConfigList,
        conf: Mapping[str, Any],
        rt: RuntimeConf,
        prev: Result | None,
    ) -> Result:
        env = {
            "CNI_CONTAINERID": rt.container_id,
            "CNI_NETNS": rt.netns,
            "CNI_IFNAME": rt.ifname,
            "CNI_ARGS": ";".join(f"{k}={v}" for k, v in rt.args),
        }
        stdin = plugin_stdin(net, conf, rt, prev)
        return await self._exec(conf["type"], net.name, command, env, stdin)

    async def _exec(
        self, plugin: str, network: str, command: str, env: dict[str, str], stdin: bytes
    ) -> Result:
        where = {"plugin": plugin, "network": network, "command": command}
        path = self.executor.find(plugin, self.plugin_dirs)
        if path is None:
            missing = f'failed to find plugin "{plugin}" in path {list(self.plugin_dirs)}'
            raise CNIError(**where, cni_code=0, msg=missing)
        env = {**env, "CNI_COMMAND": command, "CNI_PATH": os.pathsep.join(self.plugin_dirs)}
        try:
            out = await self.executor.run(path, env=env, stdin=stdin)
        except TimeoutError:
            raise CNIError(**where, cni_code=0, msg="timed out") from None
        if out.returncode != 0:
            code, msg, details = decode_error(out)
            raise CNIError(**where, cni_code=code, msg=msg, details=details)
        if command not in ("ADD", "VERSION") or not out.stdout.strip():
            return {}
        try:
            result = json.loads(out.stdout)
        except ValueError:
            result = None
        if not isinstance(result, dict):
            bad = f"cannot decode the plugin's result: {out.stdout[:200]!r}"
            raise CNIError(**where, cni_code=6, msg=bad)  # the spec's "failed to decode content"
        return result


def plugin_stdin(
    net: NetworkConfigList, conf: Mapping[str, Any], rt: RuntimeConf, prev: Result | None
) -> bytes:
    """One plugin's configuration as the spec has the runtime build it from the list."""
    data = dict(conf)
    data["name"] = net.name
    data["cniVersion"] = net.cni_version
    runtime_config = {
        key: rt.capability_args[key]
        for key, wanted in conf.get("capabilities", {}).items()
        if wanted and key in rt.capability_args
    }
    if runtime_config:
        data["runtimeConfig"] = runtime_config
    if prev is not None:
        data["prevResult"] = prev
    return json.dumps(data).encode()


def decode_error(out: PluginOutput) -> tuple[int, str, str]:
    """(code, msg, details) from a failed plugin's stdout, falling back to its raw output."""
    with contextlib.suppress(ValueError):
        data = json.loads(out.stdout)
        if isinstance(data, dict) and ("msg" in data or "code" in data):
            return int(data.get("code", 0)), str(data.get("msg", "")), str(data.get("details", ""))
    text = (out.stdout or out.stderr).decode(errors="replace").strip()
    return 0, text or f"netplugin failed with no error message (exit status {out.returncode})", ""


def result_ips(result: Mapping[str, Any], ifname: str = "") -> list[str]:
    """The addresses (without prefix length) of a result, those on interface ``ifname`` first
    (``ips[].interface`` indexes ``interfaces``), IPv4 before IPv6."""
    interfaces = result.get("interfaces", [])
    on_if: list[str] = []
    others: list[str] = []
    for ip in result.get("ips", []):
        address = str(ip.get("address", "")).split("/")[0]
        if not address:
            continue
        idx = ip.get("interface")
        name = interfaces[idx].get("name") if isinstance(idx, int) and idx < len(interfaces) else ""
        (on_if if ifname and name == ifname else others).append(address)
    return sorted(on_if, key=_v6) + sorted(others, key=_v6)


def _v6(address: str) -> bool:
    return ":" in address
