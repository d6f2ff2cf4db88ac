"""Entry point of the ``pocketkube`` command."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from pocketkube.cli.controllermanager import controller_manager
from pocketkube.storage.factory import EtcdTLS

DEFAULT_DATA_DIR = Path.home() / ".pocketkube"


@click.group()
@click.version_option(package_name="pocketkube")
@click.option("-v", "--verbose", is_flag=True, help="Log at debug level.")
def main(verbose: bool) -> None:
    """pocketkube: Kubernetes, written in Python."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def control_plane_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The flags the API server takes, shared by ``server`` and ``apiserver``."""
    options = [
        click.option(
            "--data-dir",
            type=click.Path(path_type=Path, file_okay=False),
            default=DEFAULT_DATA_DIR,
            show_default=True,
            help="Where the cluster keeps its state (created 0700).",
        ),
        click.option(
            "--datastore-endpoint",
            default="",
            help="sqlite://PATH (default: DATA_DIR/db/state.db), etcd://HOST:PORT[,HOST:PORT], "
            "etcds://... for TLS, or memory://.",
        ),
        click.option("--datastore-cafile", default=None, help="CA bundle for an etcd endpoint."),
        click.option("--datastore-certfile", default=None, help="Client certificate for etcd."),
        click.option("--datastore-keyfile", default=None, help="Client key for etcd."),
        click.option("--bind-address", default="127.0.0.1", show_default=True),
        click.option("--port", type=click.IntRange(0, 65535), default=6443, show_default=True),
        click.option(
            "--tls-san", "tls_sans", multiple=True, help="Extra name or IP for the serving cert."
        ),
        click.option(
            "--advertise-address",
            default="127.0.0.1",
            show_default=True,
            help="The address written into the admin kubeconfig.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _run(
    *,
    scheduler: bool = False,
    scheduler_config: Path | None = None,
    controller_manager: bool = False,
    kubelet: bool = False,
    kubelet_options: dict[str, Any] | None = None,
    join_token: bool = False,
    **kwargs: Any,
) -> None:
    from pocketkube.cli.server import ServerOptions, run_server

    options = ServerOptions(
        data_dir=kwargs["data_dir"].absolute(),
        datastore_endpoint=kwargs["datastore_endpoint"],
        tls=EtcdTLS(
            ca_file=kwargs["datastore_cafile"],
            cert_file=kwargs["datastore_certfile"],
            key_file=kwargs["datastore_keyfile"],
        ),
        bind_address=kwargs["bind_address"],
        port=kwargs["port"],
        tls_sans=tuple(kwargs["tls_sans"]),
        advertise_address=kwargs["advertise_address"],
        scheduler=scheduler,
        scheduler_config=scheduler_config.absolute() if scheduler_config else None,
        controller_manager=controller_manager,
        kubelet=kubelet,
        join_token=join_token,
        **(kubelet_options or {}),
    )
    try:
        asyncio.run(run_server(options))
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    except OSError as err:  # e.g. the port is taken: say so, without a traceback
        raise click.ClickException(f"cannot start: {err}") from None


@main.command()
@control_plane_options
@click.option(
    "--disable-scheduler", is_flag=True, help="Do not start the scheduler beside the API server."
)
@click.option(
    "--scheduler-config",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="A KubeSchedulerConfiguration file for the scheduler.",
)
@click.option(
    "--disable-controller-manager",
    is_flag=True,
    help="Do not start the controller manager beside the API server.",
)
@click.option("--disable-kubelet", is_flag=True, help="Do not run a kubelet for this node.")
@click.option("--node-name", default="", help="The server node's name (default: the hostname).")
@click.option("--pod-cidr", default="10.42.0.0/24", show_default=True, help="This node's pods.")
@click.option(
    "--node-ip", default="127.0.0.1", show_default=True, help="The address the node reports."
)
@click.option(
    "--kubelet-arg",
    "kubelet_args",
    multiple=True,
    help="A flag for the kubelet, e.g. --kubelet-arg=--container-restart-backoff-base=1.",
)
def server(
    disable_scheduler: bool,
    scheduler_config: Path | None,
    disable_controller_manager: bool,
    disable_kubelet: bool,
    node_name: str,
    pod_cidr: str,
    node_ip: str,
    kubelet_args: tuple[str, ...],
    **kwargs: Any,
) -> None:
    """Run a one-node cluster: the API server, and the scheduler, the controller manager and
    this node's kubelet as their own processes."""
    _run(
        scheduler=not disable_scheduler,
        scheduler_config=scheduler_config,
        controller_manager=not disable_controller_manager,
        kubelet=not disable_kubelet,
        kubelet_options={
            "node_name": node_name,
            "pod_cidr": pod_cidr,
            "node_ip": node_ip,
            "kubelet_args": kubelet_args,
        },
        join_token=True,
        **kwargs,
    )


@main.command()
@click.option(
    "--kubeconfig",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="The kubeconfig with the scheduler's identity (or clientConnection.kubeconfig).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="A KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1) file.",
)
def scheduler(kubeconfig: Path | None, config_path: Path | None) -> None:
    """Run kube-scheduler against an API server."""
    from pocketkube.scheduler.app import run_scheduler
    from pocketkube.scheduler.config import ConfigError

    try:
        asyncio.run(run_scheduler(kubeconfig=kubeconfig, config_path=config_path))
    except ConfigError as err:
        raise click.UsageError(str(err)) from None
    except KeyboardInterrupt:
        pass


@main.command()
@click.option(
    "--kubeconfig",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The kubeconfig with the node's identity (CN=system:node:<name>); with "
    "--bootstrap-kubeconfig, written once the node's client certificate is issued.",
)
@click.option(
    "--bootstrap-kubeconfig",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="A kubeconfig (bootstrap token) to request the node's client certificate with when "
    "--kubeconfig has no valid one (TLS bootstrap).",
)
@click.option(
    "--cert-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where TLS bootstrap keeps the client certificate and key (default: ROOT_DIR/pki).",
)
@click.option("--node-name", default="", help="The node's name (default: the hostname).")
@click.option("--runtime", type=click.Choice(["process"]), default="process", show_default=True)
@click.option(
    "--root-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("/var/lib/pocketkube/kubelet"),
    show_default=True,
    help="Where the kubelet and its runtime keep pods' state, volumes and logs.",
)
@click.option("--pod-cidr", default="10.42.0.0/24", show_default=True)
@click.option(
    "--cni-bridge",
    default="",
    help="The Linux bridge this node's pods attach to (default pk0); nodes sharing a machine "
    "need one each.",
)
@click.option("--node-ip", default="127.0.0.1", show_default=True)
@click.option("--node-labels", default="", help="Extra labels: key=value,key=value.")
@click.option("--control-plane", is_flag=True, help="Label the node as a control-plane node.")
@click.option(
    "--container-restart-backoff-base",
    type=float,
    default=10.0,
    show_default=True,
    help="Seconds before the second restart of a crashing container (doubling).",
)
@click.option("--container-restart-backoff-max", type=float, default=300.0, show_default=True)
@click.option(
    "--pleg-period", type=float, default=1.0, show_default=True, help="Runtime relist period."
)
@click.option("--node-status-update-frequency", type=float, default=10.0, show_default=True)
@click.option("--node-lease-renew-interval", type=float, default=10.0, show_default=True)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=10250,
    show_default=True,
    help="The kubelet server's HTTPS port (logs, exec, attach, port-forward).",
)
@click.option(
    "--address",
    default="0.0.0.0",
    show_default=True,
    help="The IP address the kubelet server listens on.",
)
@click.option(
    "--tls-cert-file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="The kubelet server's certificate (default: a self-signed one in CERT_DIR).",
)
@click.option(
    "--tls-private-key-file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="The key of --tls-cert-file.",
)
@click.option(
    "--client-ca-file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="The CA that signs the client certificates the kubelet server accepts (without it "
    "every request is anonymous: 401).",
)
@click.option(
    "--authorization-mode",
    type=click.Choice(["AlwaysAllow", "Webhook"]),
    default="Webhook",
    show_default=True,
    help="Webhook asks the API server (SubjectAccessReview) whether a caller may.",
)
@click.option(
    "--rotate-server-certificates",
    is_flag=True,
    help="Ask the cluster for the serving certificate (a kubernetes.io/kubelet-serving CSR).",
)
def kubelet(
    kubeconfig: Path, bootstrap_kubeconfig: Path | None, cert_dir: Path | None, **kwargs: Any
) -> None:
    """Run the kubelet: the pods bound to this node, on the process runtime."""
    # gRPC's fork handlers (for grpc probes' channels) must not run around the runtime's forks.
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
    from pocketkube.cli.hostname import default_node_name
    from pocketkube.kubelet.app import KUBELET_VERSION, KubeletOptions, run_kubelet
    from pocketkube.kubelet.certbootstrap import BootstrapError, load_client_cert

    if bootstrap_kubeconfig is None and not kubeconfig.is_file():
        raise click.BadParameter(
            f"File '{kubeconfig}' does not exist.", param_hint="'--kubeconfig'"
        )

    labels = dict(
        item.split("=", 1) for item in kwargs.pop("node_labels").split(",") if "=" in item
    )
    kwargs.pop("runtime")
    if (kwargs["tls_cert_file"] is None) != (kwargs["tls_private_key_file"] is None):
        raise click.UsageError("--tls-cert-file and --tls-private-key-file go together")
    for name in ("tls_cert_file", "tls_private_key_file", "client_ca_file"):
        if kwargs[name] is not None:
            kwargs[name] = kwargs[name].absolute()
    root_dir = kwargs.pop("root_dir").absolute()
    cert_dir = (cert_dir or root_dir / "pki").absolute()
    options = KubeletOptions(
        node_name=kwargs.pop("node_name") or default_node_name(),
        root_dir=root_dir,
        node_labels=labels,
        cert_dir=cert_dir,
        **kwargs,
    )

    kubeconfig = kubeconfig.absolute()

    async def bootstrap_then_run() -> None:
        if bootstrap_kubeconfig is not None:
            await load_client_cert(
                kubeconfig=kubeconfig,
                bootstrap_kubeconfig=bootstrap_kubeconfig,
                cert_dir=cert_dir,
                node_name=options.node_name,
                user_agent=f"kubelet/{KUBELET_VERSION} (pocketkube)",
            )
        await run_kubelet(kubeconfig=kubeconfig, options=options)

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(bootstrap_then_run())
    except BootstrapError as err:
        raise click.ClickException(f"kubelet TLS bootstrap: {err}") from None


@main.command()
@click.option("--server", required=True, help="The API server's URL, https://HOST:PORT.")
@click.option(
    "--token",
    envvar="POCKETKUBE_TOKEN",
    required=True,
    help="The join token: the server's DATA_DIR/node-token (K10<ca-hash>::<id>.<secret>) or a "
    "bootstrap token <id>.<secret> [env POCKETKUBE_TOKEN].",
)
@click.option(
    "--ca-cert-hash",
    "ca_cert_hashes",
    multiple=True,
    help="Trust the cluster CA only if its public key has this hash (sha256:<hex>).",
)
@click.option("--node-name", default="", help="The node's name (default: the hostname).")
@click.option(
    "--root-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("/var/lib/pocketkube/kubelet"),
    show_default=True,
    help="The kubelet's root directory; its kubeconfigs and pki/ are kept there too.",
)
@click.option("--pod-cidr", default="10.42.0.0/24", show_default=True, help="This node's pods.")
@click.option(
    "--node-ip", default="127.0.0.1", show_default=True, help="The address the node reports."
)
@click.option("--node-labels", default="", help="Extra labels: key=value,key=value.")
@click.option(
    "--kubelet-arg",
    "kubelet_args",
    multiple=True,
    help="A flag for the kubelet, e.g. --kubelet-arg=--pleg-period=0.5.",
)
@click.option(
    "--discovery-timeout",
    type=click.FloatRange(min=0),
    default=300.0,
    show_default=True,
    help="Seconds to wait for the cluster-info ConfigMap to be signed for the token.",
)
def agent(
    server: str,
    token: str,
    ca_cert_hashes: tuple[str, ...],
    node_name: str,
    root_dir: Path,
    kubelet_args: tuple[str, ...],
    **kwargs: Any,
) -> None:
    """Join this machine to a cluster as a node: discover and verify the cluster with the
    token, then run the kubelet, which asks for its client certificate (TLS bootstrap)."""
    from pocketkube.cli.agent import AgentOptions, DiscoveryError, run_agent
    from pocketkube.cli.hostname import default_node_name
    from pocketkube.cli.jointoken import JoinTokenError, parse_ca_cert_hash, parse_join_token

    if not server.startswith("https://"):
        raise click.BadParameter("must be an https:// URL", param_hint="'--server'")
    try:
        options = AgentOptions(
            server=server.rstrip("/"),
            token=parse_join_token(token),
            ca_cert_hashes=tuple(parse_ca_cert_hash(h) for h in ca_cert_hashes),
            node_name=node_name or default_node_name(),
            root_dir=root_dir.absolute(),
            kubelet_args=kubelet_args,
            **kwargs,
        )
    except JoinTokenError as err:
        raise click.UsageError(str(err)) from None
    try:
        run_agent(options)
    except DiscoveryError as err:
        raise click.ClickException(f"cannot join the cluster: {err}") from None
    except KeyboardInterrupt:
        pass


@main.command()
@control_plane_options
def apiserver(**kwargs: Any) -> None:
    """Run the API server (with its datastore) alone."""
    _run(**kwargs)


main.add_command(controller_manager)
