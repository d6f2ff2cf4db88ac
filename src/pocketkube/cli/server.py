"""``pocketkube server`` and ``pocketkube apiserver``: the control plane in one command.

The datastore (SQLite by default, or etcd) with its background compactor and the API server in
front of it run in this process; the scheduler runs beside it as a child process with its own
client identity (``components.py``), and so do the controller manager and the kubelet of the
server's own node (docs/architecture.md). ``apiserver`` runs the API server and datastore
alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import re
import signal
import socket
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.x509.oid import ExtendedKeyUsageOID

from pocketkube.apiserver.app import APIServer, APIServerConfig
from pocketkube.apiserver.certs import CertSpec, ensure_leaf, subject_name
from pocketkube.apiserver.pki import PKI, split_sans
from pocketkube.cli.components import ComponentProcess, component_kubeconfig
from pocketkube.cli.hostname import default_node_name
from pocketkube.cli.jointoken import ensure_join_token, join_command
from pocketkube.client import ApiError, Client, load_kubeconfig
from pocketkube.storage.compactor import Compactor
from pocketkube.storage.factory import EtcdTLS, open_backend
from pocketkube.tuning import freeze_startup_objects, tune_gc

log = logging.getLogger(__name__)
_DNS_LABELS = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")


@dataclass(frozen=True)
class ServerOptions:
    data_dir: Path
    datastore_endpoint: str = ""
    tls: EtcdTLS = field(default_factory=EtcdTLS)
    bind_address: str = "127.0.0.1"
    port: int = 6443
    tls_sans: tuple[str, ...] = ()
    advertise_address: str = "127.0.0.1"
    # Components started beside the API server (``pocketkube server``; ``apiserver`` has none).
    scheduler: bool = False
    scheduler_config: Path | None = None
    controller_manager: bool = False
    kubelet: bool = False
    node_name: str = ""
    pod_cidr: str = "10.42.0.0/24"
    node_ip: str = "127.0.0.1"
    kubelet_args: tuple[str, ...] = ()  # extra flags passed through to the kubelet
    join_token: bool = False  # make DATA_DIR/node-token for `pocketkube agent` (jointoken.py)


def prepare_data_dir(data_dir: Path) -> None:
    """Create the data directory readable by its owner only (RELIABILITY A7)."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(data_dir, 0o700)


async def run_server(options: ServerOptions) -> None:
    tune_gc()
    prepare_data_dir(options.data_dir)
    backend = open_backend(
        data_dir=options.data_dir, endpoint=options.datastore_endpoint, tls=options.tls
    )
    await backend.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    apiserver = APIServer(
        config=APIServerConfig(
            data_dir=options.data_dir,
            bind_address=options.bind_address,
            port=options.port,
            tls_sans=options.tls_sans,
            advertise_host=options.advertise_address,
        ),
        backend=backend,
    )
    try:
        await apiserver.start()
        revision = await backend.current_revision()
        freeze_startup_objects()
        print(
            f"pocketkube: datastore {backend.name} ready at revision {revision} "
            f"(data directory {options.data_dir})",
            flush=True,
        )
        print(f"pocketkube: API server listening on {apiserver.url}", flush=True)
        if options.join_token:
            await _join_token(options, apiserver)
        print(
            f"pocketkube: to use it:  export KUBECONFIG={apiserver.kubeconfig_path}  "
            "&& kubectl get namespaces",
            flush=True,
        )
        components = await _components(options, apiserver)
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(Compactor(backend=backend).run())]
            tasks += [group.create_task(component.run()) for component in components]
            await stop.wait()
            for task in tasks:
                task.cancel()
    finally:
        with contextlib.suppress(Exception):
            await apiserver.close()
        with contextlib.suppress(Exception):
            await backend.close()
        print("pocketkube: stopped", flush=True)


async def _join_token(options: ServerOptions, apiserver: APIServer) -> None:
    """Make (once) the bootstrap token other nodes join with, through the API as an admin."""
    if apiserver.pki is None:
        return
    config = await asyncio.to_thread(load_kubeconfig, apiserver.kubeconfig_path)
    try:
        async with Client(config=config) as client:
            path = await ensure_join_token(
                client=client, data_dir=options.data_dir, ca_cert=apiserver.pki.ca_cert
            )
    except ApiError as err:
        log.warning("no join token for other nodes: %s", err)
        return
    print(f"pocketkube: to join a node:  {join_command(apiserver.url, path)}", flush=True)


def _kubelet_serving_args(pki: PKI, node: str, node_ip: str) -> list[str]:
    """The server's own kubelet serves with a certificate from the cluster CA (SANs: node IP,
    hostname, node name; CN system:node:<node>, O system:nodes, as a kubelet-serving CSR would
    get) and accepts the client certificates the cluster CA signed."""
    cert, key = pki.dir / "kubelet-serving.crt", pki.dir / "kubelet-serving.key"
    hostname = socket.gethostname().lower()
    names = [node_ip, node.lower(), *([hostname] if _DNS_LABELS.fullmatch(hostname) else [])]
    dns, ips = split_sans([n for n in names if _DNS_LABELS.fullmatch(n) or _is_ip(n)])
    spec = CertSpec(
        subject_name(f"system:node:{node}", ("system:nodes",)),
        ExtendedKeyUsageOID.SERVER_AUTH,
        dns,
        ips,
    )
    ca_cert, ca_key = pki.load_ca()
    ensure_leaf(cert, key, spec, ca_cert, ca_key)
    return [
        "--tls-cert-file",
        str(cert),
        "--tls-private-key-file",
        str(key),
        "--client-ca-file",
        str(pki.ca_cert),
    ]


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


async def _components(options: ServerOptions, apiserver: APIServer) -> list[ComponentProcess]:
    """The child processes to run, each with its own kubeconfig in the data directory."""
    pki = apiserver.pki
    if pki is None:
        return []

    async def kubeconfig(name: str, user: str, groups: tuple[str, ...] = ()) -> str:
        path = await asyncio.to_thread(
            component_kubeconfig,
            data_dir=options.data_dir,
            pki=pki,
            server_url=apiserver.url,
            name=name,
            user=user,
            groups=groups,
        )
        return str(path)

    components = []
    if options.scheduler:
        args = ["scheduler", "--kubeconfig", await kubeconfig("scheduler", "system:kube-scheduler")]
        if options.scheduler_config is not None:
            args += ["--config", str(options.scheduler_config)]
        components.append(ComponentProcess(name="scheduler", args=args))
    if options.controller_manager:
        args = [
            "controller-manager",
            "--kubeconfig",
            await kubeconfig("controller-manager", "system:kube-controller-manager"),
            # As kubeadm runs it: the bootstrap-token controllers on, signing with the cluster CA.
            "--controllers",
            "*,bootstrapsigner,tokencleaner",
            "--cluster-signing-cert-file",
            str(pki.ca_cert),
            "--cluster-signing-key-file",
            str(pki.ca_key),
            "--root-ca-file",
            str(pki.ca_cert),
            # One controller manager per server: nothing to elect, and a restart starts at once.
            "--leader-elect=false",
        ]
        components.append(ComponentProcess(name="controller-manager", args=args))
    if options.kubelet:
        node = options.node_name or default_node_name()
        args = [
            "kubelet",
            "--kubeconfig",
            await kubeconfig("kubelet", f"system:node:{node}", ("system:nodes",)),
            "--node-name",
            node,
            "--root-dir",
            str(options.data_dir / "kubelet"),
            "--pod-cidr",
            options.pod_cidr,
            "--node-ip",
            options.node_ip,
            "--control-plane",
            *await asyncio.to_thread(_kubelet_serving_args, pki, node, options.node_ip),
            *options.kubelet_args,
        ]
        components.append(ComponentProcess(name="kubelet", args=args))
    return components
