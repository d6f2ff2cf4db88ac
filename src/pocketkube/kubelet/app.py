"""``pocketkube kubelet``: the parts of the kubelet assembled, and run until SIGTERM.

Everything the kubelet knows of the cluster comes through one ``Client`` with the node's identity
(``system:node:<name>``): an informer on the pods bound to this node, one on Services (for the
service-link environment variables), and the node's own object. Every part runs as a task of
one TaskGroup; stopping the kubelet leaves the pods' processes running, as upstream does, and a
kubelet started again on the same root directory adopts them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pocketkube.client import Client, load_kubeconfig
from pocketkube.client.events import EventRecorder
from pocketkube.client.informer import Informer
from pocketkube.client.resources import PODS, SERVICES
from pocketkube.client.rest import Obj
from pocketkube.kubelet.backoff import Backoff
from pocketkube.kubelet.certbootstrap import BootstrapError, write_private
from pocketkube.kubelet.containerconfig import KubeletContainerConfigs
from pocketkube.kubelet.kubelet import Kubelet
from pocketkube.kubelet.lifecycle.hooks import HookRunner
from pocketkube.kubelet.node import LeaseRenewer, NodeStatusManager, host_machine_info
from pocketkube.kubelet.node.pressure import read_host_signals
from pocketkube.kubelet.prober.manager import ProberManager
from pocketkube.kubelet.runtimemanager import RuntimeManager, container_ref
from pocketkube.kubelet.server import Host, KubeletServer, TLSFiles
from pocketkube.kubelet.server.auth import authorizer_for
from pocketkube.kubelet.server.metrics import kubelet_metrics
from pocketkube.kubelet.server.proxy import upgrade_proxy
from pocketkube.kubelet.server.stats import SummaryBuilder
from pocketkube.kubelet.servingcert import (
    SERVER_CURRENT_PEM,
    current_pair,
    request_serving_cert,
    self_signed,
)
from pocketkube.kubelet.statusmanager import StatusManager
from pocketkube.kubelet.termination import TerminationMessages
from pocketkube.kubelet.volumes.manager import VolumeManager
from pocketkube.kubelet.volumes.source import ClientVolumeSource
from pocketkube.runtime import cri
from pocketkube.runtime.process.cgroups import default_cgroups
from pocketkube.runtime.process.network import default_network
from pocketkube.runtime.process.runtime import ProcessRuntime

log = logging.getLogger(__name__)

KUBELET_VERSION = "v1.33.0"  # the Kubernetes version whose kubelet this one follows
IMAGE_NOTE = " (the process runtime runs the host's binaries: nothing was pulled)"


@dataclass(frozen=True, kw_only=True)
class KubeletOptions:
    node_name: str
    root_dir: Path
    pod_cidr: str = "10.42.0.0/24"
    cni_bridge: str = ""  # the bridge of this node's pod network; "" for the runtime's default
    node_ip: str = "127.0.0.1"
    node_labels: Mapping[str, str] = field(default_factory=dict)
    control_plane: bool = False
    container_restart_backoff_base: float = 10.0
    container_restart_backoff_max: float = 300.0
    pleg_period: float = 1.0
    node_status_update_frequency: float = 10.0
    node_lease_renew_interval: float = 10.0
    # The kubelet's HTTPS server (kubelet/server): logs, exec, attach, port-forward, ...
    port: int = 10250
    address: str = "0.0.0.0"
    tls_cert_file: Path | None = None
    tls_private_key_file: Path | None = None
    client_ca_file: Path | None = None
    authorization_mode: str = "Webhook"
    rotate_server_certificates: bool = False
    cert_dir: Path | None = None


class _PodIndex:
    """The pods informer's store, by uid (what the sync loop and the status manager look up)."""

    def __init__(self, informer: Informer) -> None:
        self._informer = informer
        informer.add_indexer("uid", lambda obj: [str(obj.get("metadata", {}).get("uid", ""))])

    def by_uid(self, uid: str) -> Obj | None:
        found = self._informer.store.by_index("uid", uid)
        return found[0] if found else None

    def uids(self) -> list[str]:
        return [str(p["metadata"]["uid"]) for p in self._informer.store.list()]


def bare_id(container_id: str) -> str:
    """The runtime's id in the API's ``<runtime>://<id>``."""
    return container_id.rpartition("://")[2]


class _BareIds:
    """The runtime's exec for the prober, which knows containers by their API ids."""

    def __init__(self, runtime: ProcessRuntime) -> None:
        self._runtime = runtime

    async def exec_sync(
        self,
        container_id: str,
        cmd: tuple[str, ...],
        timeout: float,  # noqa: ASYNC109 (CRI's signature)
    ) -> cri.ExecSyncResponse:
        return await self._runtime.exec_sync(bare_id(container_id), cmd, timeout)


class _StatusView:
    """What the prober reads: the status manager's newest statuses."""

    def __init__(self, statuses: StatusManager) -> None:
        self._statuses = statuses

    def get_container_status(self, pod_uid: str, name: str) -> Obj | None:
        status = self._statuses.get(pod_uid) or {}
        for key in ("containerStatuses", "initContainerStatuses"):
            for s in status.get(key) or []:
                if s.get("name") == name:
                    return dict(s)
        return None

    def get_pod_ip(self, pod_uid: str) -> str | None:
        return (self._statuses.get(pod_uid) or {}).get("podIP")


async def run_kubelet(*, kubeconfig: Path, options: KubeletOptions) -> None:
    root = options.root_dir
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    config = load_kubeconfig(kubeconfig, user_agent=f"kubelet/{KUBELET_VERSION} (pocketkube)")
    async with Client(config=config) as client:
        runtime = ProcessRuntime(
            root_dir=root / "runtime",
            network=default_network(
                pod_cidr=options.pod_cidr,
                node_ip=options.node_ip,
                state_dir=root / "network",
                bridge=options.cni_bridge,
            ),
            cgroups=default_cgroups(),
            node_ip=options.node_ip,
        )
        recorder = EventRecorder(
            client=client, reporting_controller="kubelet", reporting_instance=options.node_name
        )
        pods = Informer(
            client=client, resource=PODS, field_selector=f"spec.nodeName={options.node_name}"
        )
        services = Informer(client=client, resource=SERVICES)
        index = _PodIndex(pods)
        labels = dict(options.node_labels)
        if options.control_plane:
            labels["node-role.kubernetes.io/control-plane"] = ""
        serving = await asyncio.to_thread(_serving_files, options, config.ca_data)
        server = KubeletServer(
            host=Host(
                node_name=options.node_name,
                pods=lambda: pods.store.list(),
                runtime=runtime,
                log_root=root / "logs",
                proxy=upgrade_proxy,
                metrics=lambda: kubelet_metrics(options.node_name, pods.store.list()),
                stats=SummaryBuilder(
                    node_name=options.node_name,
                    pods=lambda: pods.store.list(),
                    runtime=runtime,
                    cgroup_dirs=lambda cid: _cgroup_dirs(runtime, cid),
                ).summary,
            ),
            tls=serving,
            address=options.address,
            port=options.port,
            authorizer=authorizer_for(options.authorization_mode, client),
        )
        await server.start()
        try:
            node = NodeStatusManager(
                client=client,
                recorder=recorder,
                node_name=options.node_name,
                runtime=runtime,
                images=runtime,
                machine=lambda: host_machine_info(root),
                signals=lambda: read_host_signals(root),
                node_ip=options.node_ip,
                kubelet_version=KUBELET_VERSION,
                labels=labels,
                pod_cidr=options.pod_cidr,
                update_frequency=options.node_status_update_frequency,
                kubelet_port=server.port,
            )
            lease = LeaseRenewer(
                client=client,
                node_name=options.node_name,
                renew_interval=options.node_lease_renew_interval,
            )
            status_manager = StatusManager(client=client, api_pod=index.by_uid)
            source = ClientVolumeSource(client)
            allocatable = _Allocatable(node)
            volumes = VolumeManager(root_dir=root, source=source, node_allocatable=allocatable)
            volume_paths: dict[str, dict[str, str]] = {}

            def warn(pod: Obj, reason: str, note: str) -> None:
                recorder.post(
                    container_ref(pod, None),
                    type="Warning",
                    reason=reason,
                    action="Sync",
                    note=note,
                )

            configs = KubeletContainerConfigs(
                root_dir=root,
                node_name=options.node_name,
                host_ip=options.node_ip,
                source=source,
                services=lambda: services.store.list() if services.has_synced else None,
                node_allocatable=allocatable,
                volume_paths=volume_paths,
                warn=warn,
            )
            manager = RuntimeManager(
                runtime=runtime,
                images=runtime,
                configs=configs,
                hooks=HookRunner(runtime=runtime, recorder=recorder),
                events=recorder,
                backoff=Backoff(
                    base=options.container_restart_backoff_base,
                    cap=options.container_restart_backoff_max,
                ),
                image_note=IMAGE_NOTE,
            )
            holder: list[Kubelet] = []
            prober = ProberManager(
                runtime=_BareIds(runtime),
                recorder=recorder,
                status_source=_StatusView(status_manager),
                on_failure=lambda uid, name, cid, kind, message, grace: holder[0].probe_failed(
                    uid, bare_id(cid), "Liveness" if kind.value == "Liveness" else "Startup"
                ),
                on_change=lambda uid: holder[0].probe_changed(uid),
            )
            kubelet = Kubelet(
                node_name=options.node_name,
                host_ip=options.node_ip,
                pods=index,
                runtime_manager=manager,
                status_manager=status_manager,
                prober=prober,
                volumes=volumes,
                recorder=recorder,
                volume_paths=volume_paths,
                termination_message=TerminationMessages().read,
                pleg_period=options.pleg_period,
            )
            holder.append(kubelet)
            pods.add_handler(
                on_add=kubelet.pod_changed,
                on_update=kubelet.pod_updated,
                on_delete=kubelet.pod_changed,
            )
            print(f"pocketkube kubelet: node {options.node_name}, root {root}", flush=True)
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(recorder.run())]
                await node.register()
                if options.rotate_server_certificates:
                    tasks.append(group.create_task(_rotate_serving(client, options, server)))
                tasks += [
                    group.create_task(node.run()),
                    group.create_task(lease.run()),
                    group.create_task(services.run()),
                    group.create_task(status_manager.run()),
                    group.create_task(prober.run()),
                ]
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(services.wait_synced(), 10)
                tasks.append(group.create_task(pods.run()))
                # Only a synced pod list tells an orphan (kill it) from a pod not listed yet.
                await pods.wait_synced()
                tasks.append(group.create_task(kubelet.run()))
                await stop.wait()
                for task in tasks:
                    task.cancel()
        finally:
            await server.close()
            await runtime.aclose()  # its streaming server and open sessions
        with contextlib.suppress(Exception):
            await recorder.flush()


def _cgroup_dirs(runtime: ProcessRuntime, container_id: str) -> list[str]:
    """The container's cgroup directories (one per hierarchy), from the runtime's record."""
    try:
        record = runtime.store.container(container_id)
    except (OSError, ValueError):  # unreadable meanwhile
        return []
    return [os.path.dirname(f) for f in record.procs_files] if record is not None else []


def _serving_names(options: KubeletOptions) -> tuple[list[str], list[str]]:
    """The serving certificate's SANs: the Node's addresses (its InternalIP and its Hostname,
    which is the node's name), as upstream's kubelet asks for them."""
    return [options.node_ip], [options.node_name.lower()]


def _serving_files(options: KubeletOptions, kubeconfig_ca: bytes | None) -> TLSFiles:
    """The server's certificate and client CA. Without ``--client-ca-file`` the CA of the
    kubeconfig's cluster is used (a pocketkube default: it is the cluster CA that signs the API
    server's kubelet client certificate)."""
    cert_dir = options.cert_dir or options.root_dir / "pki"
    client_ca = options.client_ca_file
    if client_ca is None and kubeconfig_ca:
        client_ca = cert_dir / "client-ca.crt"
        write_private(client_ca, kubeconfig_ca)
    if options.tls_cert_file is not None and options.tls_private_key_file is not None:
        return TLSFiles(options.tls_cert_file, options.tls_private_key_file, client_ca)
    ips, names = _serving_names(options)
    files = self_signed(cert_dir, options.node_name, ips, names)
    current = cert_dir / SERVER_CURRENT_PEM
    if options.rotate_server_certificates and current_pair(current, ips, names):
        return TLSFiles(current, current, client_ca)
    return TLSFiles(files.cert_file, files.key_file, client_ca)


async def _rotate_serving(client: Client, options: KubeletOptions, server: KubeletServer) -> None:
    """Ask for the kubelet-serving certificate and serve it once issued (the self-signed one
    serves meanwhile); renewed when it nears its end."""
    ips, names = _serving_names(options)
    cert_dir = options.cert_dir or options.root_dir / "pki"
    while True:
        try:
            files = await request_serving_cert(
                client, cert_dir=cert_dir, node_name=options.node_name, ips=ips, names=names
            )
        except BootstrapError as err:
            log.warning("no kubelet serving certificate: %s", err)
            await asyncio.sleep(60)
            continue
        server.reload_certificate(files.cert_file, files.key_file)
        log.info("serving with the certificate in %s", files.cert_file)
        await asyncio.sleep(3600)


class _Allocatable:
    """The node's allocatable resources (limits of containers that set none default to it)."""

    def __init__(self, node: NodeStatusManager) -> None:
        self._node = node

    def __call__(self) -> Mapping[str, object]:
        current = self._node.node or {}
        return dict((current.get("status") or {}).get("allocatable") or {})


__all__ = ["KubeletOptions", "run_kubelet"]
