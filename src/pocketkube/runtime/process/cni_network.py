"""A network namespace and an IP per pod, wired by CNI plugins as containerd's CRI plugin does.

``CNINetwork`` makes ``/run/netns/pk-<sandbox id>`` and runs Debian's standard plugins in it:

* ``loopback`` for ``lo`` (its own network, ``cni-loopback``, as containerd has it);
* ``bridge`` (``pk0``) + ``host-local`` IPAM over the node's pod CIDR for ``eth0``. The bridge is
  the pods' gateway but NOT their default gateway: a pod gets routes to the cluster CIDR and the
  service CIDR only, so pod traffic cannot leave the machine (and nothing is masqueraded).
  Pods on the node reach each other over the bridge; the node reaches them through the bridge's
  address (the first of the pod CIDR);
* ``portmap`` for hostPorts (``runtimeConfig.portMappings``). It acts on those alone: without
  any, its ADD hands the previous result on unchanged and its CHECK and DEL do nothing
  (containernetworking/plugins, plugins/meta/portmap), so a sandbox without hostPorts skips it
  (``chain_for``): one process execution less per pod.

The generated configuration is written under the state dir (``net.d/``) for users to read, and
host-local's allocations live there too (not in /var/lib/cni). Each sandbox's ADD inputs and
results are persisted (``results/<sandbox id>.json``, as libcni caches results) before and after
each step, so that a restarted runtime finds a pod's IP again (``status``) and DEL and CHECK get
exactly the plugins, configuration and ``prevResult`` of its ADD (a sandbox set up before
portmap was skipped keeps it), even after a crash mid-ADD or a reboot that removed the
namespace (DEL then runs with an empty ``CNI_NETNS``, as the spec allows).

``hostNetwork`` sandboxes skip all of it and get the node's IP.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import os
from pathlib import Path
from typing import Any

from pocketkube.runtime import cri
from pocketkube.runtime.process.cni import CNI, NetworkConfigList, RuntimeConf, result_ips
from pocketkube.runtime.process.netns import KernelNetns, NetnsManager, netns_name
from pocketkube.runtime.process.network import DEFAULT_BRIDGE, PodNetworkStatus

log = logging.getLogger(__name__)

CLUSTER_CIDR = "10.42.0.0/16"
SERVICE_CIDR = "10.43.0.0/16"
NETWORK_NAME = "pocketkube"
LOOPBACK_NAME = "cni-loopback"
IFNAME = "eth0"
ARP_TABLE = Path("/proc/net/arp")

Attachments = tuple[tuple[NetworkConfigList, str], ...]  # (network, interface name), ADD order


class CNINetwork:
    """A network namespace per sandbox, wired by CNI plugins (root only)."""

    def __init__(
        self,
        *,
        pod_cidr: str,
        node_ip: str,
        state_dir: Path,
        cluster_cidr: str = CLUSTER_CIDR,
        service_cidr: str = SERVICE_CIDR,
        bridge: str = DEFAULT_BRIDGE,
        network_name: str = NETWORK_NAME,
        cni: CNI | None = None,
        netns: NetnsManager | None = None,
    ) -> None:
        self.node_ip = node_ip
        self.state_dir = state_dir
        self.cni = cni or CNI()
        # A real namespace manager means a real bridge: its stale neighbour entries are ours
        # to forget (tests with fakes touch no host state).
        self._forget_neighbours = netns is None
        self.netns = netns or KernelNetns()
        self.bridge = bridge
        self.note = ""
        pod_net = pod_conflist(
            name=network_name,
            bridge=bridge,
            pod_cidr=pod_cidr,
            routes=(cluster_cidr, service_cidr),
            ipam_dir=state_dir / "ipam",
        )
        self._nets: Attachments = ((loopback_conflist(), "lo"), (pod_net, IFNAME))
        self._negotiated = False
        self._locks: dict[str, asyncio.Lock] = {}

    def unavailable(self) -> str:
        """Why pods cannot get their own network here ("" when they can)."""
        missing = [p for net, _ in self._nets for p in self.cni.missing_plugins(net)]
        if missing:
            dirs = ":".join(self.cni.plugin_dirs)
            return f"CNI plugins {', '.join(missing)} not found in {dirs}"
        return self.netns.available()

    def condition(self) -> cri.RuntimeCondition:
        why = self.unavailable()
        if why:
            return cri.RuntimeCondition(
                type="NetworkReady",
                status=False,
                reason="NetworkPluginNotReady",
                message=f"Network plugin returns error: cni plugin not initialized: {why}",
            )
        return cri.RuntimeCondition(type="NetworkReady", status=True)

    async def setup(self, *, sandbox_id: str, config: cri.PodSandboxConfig) -> PodNetworkStatus:
        async with self._lock(sandbox_id):
            if config.host_network:
                self._save(sandbox_id, {"host_network": True})
                return PodNetworkStatus(ip=self.node_ip, netns_path="")
            found = self._status(self._load(sandbox_id))
            if found is not None:
                return found
            try:
                await self._teardown(sandbox_id)  # leftovers of an interrupted attempt
                return await self._add(sandbox_id, config)
            except BaseException as err:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._teardown(sandbox_id))
                if not isinstance(err, cri.RuntimeError_):
                    raise
                why = f'failed to setup network for sandbox "{sandbox_id}": {err.message}'
                raise cri.RuntimeError_("Unknown", why) from err

    async def teardown(self, *, sandbox_id: str) -> None:
        lock = self._lock(sandbox_id)
        async with lock:
            try:
                await self._teardown(sandbox_id)
            except cri.RuntimeError_ as err:
                why = f'failed to destroy network for sandbox "{sandbox_id}": {err.message}'
                raise cri.RuntimeError_("Unknown", why) from err
        if not lock.locked():
            self._locks.pop(sandbox_id, None)

    async def status(self, *, sandbox_id: str) -> PodNetworkStatus | None:
        return self._status(self._load(sandbox_id))

    async def check(self, *, sandbox_id: str) -> None:
        """CNI CHECK of the sandbox's attachments; raises ``CNIError`` if one is broken."""
        record = self._load(sandbox_id)
        if record is None or record.get("host_network"):
            return
        for att in record["attachments"]:
            if att.get("result") is not None:
                net = NetworkConfigList.from_json(att["config"])
                rt = self._rt(sandbox_id, record, att["ifname"])
                await self.cni.check_list(net, rt, att["result"])

    async def _add(self, sandbox_id: str, config: cri.PodSandboxConfig) -> PodNetworkStatus:
        await self._negotiate()
        meta = config.metadata
        record = self._new_record(sandbox_id, capability_args(config))
        record["args"] = [
            ["IgnoreUnknown", "1"],  # plugins refuse CNI_ARGS they do not know otherwise
            ["K8S_POD_NAMESPACE", meta.namespace],
            ["K8S_POD_NAME", meta.name],
            ["K8S_POD_INFRA_CONTAINER_ID", sandbox_id],
            ["K8S_POD_UID", meta.uid],
        ]
        self._save(sandbox_id, record)  # first, so that a teardown after a crash finds it all
        await self.netns.create(record["netns"])
        for att in record["attachments"]:
            net = NetworkConfigList.from_json(att["config"])
            rt = self._rt(sandbox_id, record, att["ifname"])
            att["result"] = await self.cni.add_list(net, rt)
            if att["ifname"] == IFNAME:
                ips = result_ips(att["result"], IFNAME)
                record["ip"] = ips[0] if ips else ""
            self._save(sandbox_id, record)
        ips = result_ips(record["attachments"][-1]["result"], IFNAME)
        if not ips:
            raise cri.RuntimeError_("Unknown", f"the CNI result has no IP address for {IFNAME}")
        if self._forget_neighbours:
            await forget_neighbour(ips[0], self.bridge)
        return PodNetworkStatus(ip=ips[0], netns_path=self.netns.path(record["netns"]))

    async def _teardown(self, sandbox_id: str) -> None:
        record = self._load(sandbox_id)
        if record is None:
            if not self.netns.exists(netns_name(sandbox_id)):
                return  # never set up, or already torn down
            record = self._new_record(sandbox_id)  # DEL with what we would have used
        if not record.get("host_network"):
            for att in reversed(record["attachments"]):
                net = NetworkConfigList.from_json(att["config"])
                rt = self._rt(sandbox_id, record, att["ifname"])
                await self.cni.del_list(net, rt, att.get("result"))
            await self.netns.delete(record["netns"])
        self._path(sandbox_id).unlink(missing_ok=True)

    def _new_record(
        self, sandbox_id: str, capabilities: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        caps = capabilities or {}
        return {
            "netns": netns_name(sandbox_id),
            "args": [],
            "capability_args": caps,
            "attachments": [
                {"ifname": ifname, "config": chain_for(net, caps).to_json(), "result": None}
                for net, ifname in self._nets
            ],
            "ip": "",
        }

    async def _negotiate(self) -> None:
        """Settle the spec version with the installed plugins once, and write the
        configuration for users to read."""
        if self._negotiated:
            return
        self._nets = tuple([(await self.cni.negotiate(net), ifname) for net, ifname in self._nets])
        conf_dir = self.state_dir / "net.d"
        conf_dir.mkdir(parents=True, exist_ok=True)
        for net, ifname in self._nets:
            prefix = "99" if ifname == "lo" else "10"  # the pod network first, as kubelets sort
            write_json(conf_dir / f"{prefix}-{net.name}.conflist", net.to_json(), pretty=True)
        self._negotiated = True

    def _rt(self, sandbox_id: str, record: dict[str, Any], ifname: str) -> RuntimeConf:
        name = record["netns"]
        return RuntimeConf(
            container_id=sandbox_id,
            netns=self.netns.path(name) if self.netns.exists(name) else "",
            ifname=ifname,
            args=tuple((k, v) for k, v in record["args"]),
            capability_args=record["capability_args"],
        )

    def _status(self, record: dict[str, Any] | None) -> PodNetworkStatus | None:
        if record is None:
            return None
        if record.get("host_network"):
            return PodNetworkStatus(ip=self.node_ip, netns_path="")
        if not record.get("ip") or not self.netns.exists(record["netns"]):
            return None
        return PodNetworkStatus(ip=record["ip"], netns_path=self.netns.path(record["netns"]))

    def _lock(self, sandbox_id: str) -> asyncio.Lock:
        return self._locks.setdefault(sandbox_id, asyncio.Lock())

    def _path(self, sandbox_id: str) -> Path:
        return self.state_dir / "results" / f"{sandbox_id}.json"

    def _load(self, sandbox_id: str) -> dict[str, Any] | None:
        try:
            data = json.loads(self._path(sandbox_id).read_text())
        except FileNotFoundError:
            return None
        except ValueError:
            log.warning("ignoring the unreadable network record of sandbox %s", sandbox_id)
            return None
        return data if isinstance(data, dict) else None

    def _save(self, sandbox_id: str, record: dict[str, Any]) -> None:
        self._path(sandbox_id).parent.mkdir(parents=True, exist_ok=True)
        write_json(self._path(sandbox_id), record)


def pod_conflist(
    *, name: str, bridge: str, pod_cidr: str, routes: tuple[str, ...], ipam_dir: Path
) -> NetworkConfigList:
    """bridge + host-local + portmap, with routes to ``routes`` only (no default route).

    The gateway (the bridge's address, the first of the pod CIDR) is spelled out in each route:
    the bridge plugin's CHECK compares the result's routes with the pod's routing table as
    they are written, and a route without ``gw`` never matches."""
    gateway = str(next(ipaddress.ip_network(pod_cidr, strict=False).hosts()))
    bridge_conf = {
        "type": "bridge",
        "bridge": bridge,
        "isGateway": True,
        "isDefaultGateway": False,
        "ipMasq": False,
        "hairpinMode": True,
        "ipam": {
            "type": "host-local",
            "ranges": [[{"subnet": pod_cidr, "gateway": gateway}]],
            "routes": [{"dst": dst, "gw": gateway} for dst in routes],
            "dataDir": str(ipam_dir),
        },
    }
    portmap_conf = {"type": "portmap", "capabilities": {"portMappings": True}}
    return NetworkConfigList(name=name, plugins=(bridge_conf, portmap_conf))


PASS_THROUGH = {"portmap": "portMappings"}  # plugin type -> the capability it acts on alone


def chain_for(net: NetworkConfigList, capabilities: dict[str, Any]) -> NetworkConfigList:
    """``net`` without the plugins that would only hand the previous result on: those of
    ``PASS_THROUGH`` when the sandbox gives them nothing to act on."""
    plugins = tuple(
        conf
        for conf in net.plugins
        if conf["type"] not in PASS_THROUGH or capabilities.get(PASS_THROUGH[conf["type"]])
    )
    if len(plugins) == len(net.plugins):
        return net
    return NetworkConfigList(net.name, plugins, net.cni_version, net.disable_check)


def loopback_conflist() -> NetworkConfigList:
    return NetworkConfigList(name=LOOPBACK_NAME, plugins=({"type": "loopback"},))


def capability_args(config: cri.PodSandboxConfig) -> dict[str, Any]:
    """The runtime values CNI plugins may ask for: hostPorts as portmap wants them."""
    mappings = []
    for pm in config.port_mappings:
        if pm.host_port <= 0:  # containerPort-only entries are not mapped (as containerd)
            continue
        entry: dict[str, Any] = {
            "hostPort": pm.host_port,
            "containerPort": pm.container_port,
            "protocol": pm.protocol.lower(),
        }
        if pm.host_ip:
            entry["hostIP"] = pm.host_ip
        mappings.append(entry)
    return {"portMappings": mappings} if mappings else {}


async def forget_neighbour(ip: str, device: str, *, arp: Path = ARP_TABLE) -> None:
    """Drop the host's ARP entry for a reused pod IP: it still names the previous pod's MAC,
    and the bridge plugin's gratuitous ARP can come too early to correct it, leaving the new
    pod unreachable from the node for many seconds. Most pods get an address the host has no
    entry for (host-local hands them out in turn), so the table is read first, and ``ip``
    runs only when there is something to delete."""
    if not has_neighbour(ip, device, arp=arp):
        return
    try:
        proc = await asyncio.create_subprocess_exec(
            "ip",
            "neigh",
            "del",
            ip,
            "dev",
            device,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError as err:  # no iproute2: the entry ages out by itself
        log.warning("cannot delete the neighbour entry of %s on %s: %s", ip, device, err)
        return
    await proc.wait()  # "no such entry" is a possible answer, and fine


def has_neighbour(ip: str, device: str, *, arp: Path = ARP_TABLE) -> bool:
    """Whether the host's IPv4 neighbour table (``/proc/net/arp``: address, hardware type,
    flags, hardware address, mask, device) has an entry for ``ip`` on ``device``; True when it
    cannot be read (then ``ip`` decides)."""
    try:
        lines = arp.read_text().splitlines()[1:]
    except OSError:
        return True
    return any(f[:1] == [ip] and f[-1:] == [device] for f in map(str.split, lines))


def write_json(path: Path, data: Any, *, pretty: bool = False) -> None:
    """Atomically: a reader (or a crash) sees the old or the new content, never a mix.
    ``pretty`` for files people read; the records are compact (the indenting encoder is
    Python's slow one, and every pod start writes its record three times)."""
    tmp = path.with_name(f".{path.name}.tmp")
    text = json.dumps(data, indent=1, sort_keys=True) if pretty else json.dumps(data)
    tmp.write_text(text + "\n")
    os.replace(tmp, path)
