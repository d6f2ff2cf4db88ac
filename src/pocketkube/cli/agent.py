"""``pocketkube agent --server URL --token TOKEN``: join this machine to a cluster as a node.

kubeadm's token discovery, then the kubelet's TLS bootstrap:

1. GET the ``cluster-info`` ConfigMap in kube-public anonymously, not yet verifying the server's
   certificate (it is how we learn the CA), retrying until it carries ``jws-kubeconfig-<id>``
   (the bootstrap signer adds it shortly after a token is made) or the discovery timeout ends.
2. Trust its ``kubeconfig`` only if that JWS verifies with the token (whoever signed it knows
   our secret), and its CA only if it matches a pinned hash when one was given (``K10<hash>::``
   tokens carry it; ``--ca-cert-hash`` adds more).
3. GET cluster-info again over TLS verified with that CA and require the same kubeconfig.
4. Write ``<root-dir>/bootstrap-kubelet.kubeconfig`` (the CA, the token as bearer) and become the
   kubelet (``exec``) with ``--bootstrap-kubeconfig`` and ``--kubeconfig
   <root-dir>/kubelet.kubeconfig``: the kubelet asks for its client certificate with a CSR.

Unlike kubeadm, which connects to the server named inside cluster-info, the agent keeps using
``--server`` as k3s's agent does: cluster-info names the advertise address, which is loopback on
a default single-machine server. A node that already holds a valid client certificate (a
restart) skips discovery: the token is not needed any more.
"""

from __future__ import annotations

import asyncio
import base64
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from pocketkube.api import bootstraptoken as bt
from pocketkube.cli.jointoken import JoinToken, ca_hashes
from pocketkube.client import ApiError, Client, ClientConfig
from pocketkube.client.resources import CONFIGMAPS
from pocketkube.client.rest import Obj
from pocketkube.kubelet.certbootstrap import client_config_still_valid, write_private

BOOTSTRAP_KUBECONFIG = "bootstrap-kubelet.kubeconfig"
KUBELET_KUBECONFIG = "kubelet.kubeconfig"
TOKEN_USER = "tls-bootstrap-token-user"  # kubeadm's user name in the bootstrap kubeconfig
CLUSTER_NAME = "kubernetes"
DISCOVERY_TIMEOUT = 300.0  # kubeadm's default
RETRY_INTERVAL = 5.0  # kubeadm's DiscoveryRetryInterval
REQUEST_TIMEOUT = 10.0
CLUSTER_INFO = CONFIGMAPS.path(namespace=bt.CLUSTER_INFO_NAMESPACE, name=bt.CLUSTER_INFO_NAME)


class DiscoveryError(Exception):
    """The cluster could not be found or trusted with this token."""


@dataclass(frozen=True, kw_only=True)
class AgentOptions:
    server: str
    token: JoinToken
    ca_cert_hashes: tuple[str, ...] = ()
    node_name: str
    root_dir: Path
    pod_cidr: str = "10.42.0.0/24"
    node_ip: str = "127.0.0.1"
    node_labels: str = ""
    kubelet_args: tuple[str, ...] = ()
    discovery_timeout: float = DISCOVERY_TIMEOUT

    @property
    def bootstrap_kubeconfig(self) -> Path:
        return self.root_dir / BOOTSTRAP_KUBECONFIG

    @property
    def kubeconfig(self) -> Path:
        return self.root_dir / KUBELET_KUBECONFIG

    @property
    def pins(self) -> tuple[str, ...]:
        own = (self.token.ca_hash,) if self.token.ca_hash else ()
        return (*own, *self.ca_cert_hashes)


# -- checking what cluster-info says -----------------------------------------------------------
def validate_cluster_info(cluster_info: Obj, token: JoinToken) -> str:
    """The ConfigMap's kubeconfig, if its JWS for ``token`` verifies (kubeadm's messages)."""
    data = cluster_info.get("data") or {}
    kubeconfig = data.get(bt.KUBECONFIG_KEY)
    if not isinstance(kubeconfig, str) or not kubeconfig:
        raise DiscoveryError(
            f"there is no {bt.KUBECONFIG_KEY} key in the {bt.CLUSTER_INFO_NAME} ConfigMap. "
            "This API Server isn't set up for token bootstrapping, can't connect"
        )
    signature = data.get(bt.JWS_KEY_PREFIX + token.token_id)
    if not isinstance(signature, str) or not signature:
        raise DiscoveryError(
            f'token id "{token.token_id}" is invalid for this cluster or it has expired. '
            'Use "kubectl get secrets -n kube-system" on the server to find a valid token '
            "(the server's node-token file holds one)"
        )
    if not bt.verify_detached_signature(signature, kubeconfig, token.token_id, token.token_secret):
        raise DiscoveryError(
            "failed to verify JWS signature of received cluster info object, "
            "can't trust this API Server"
        )
    return kubeconfig


def cluster_ca(kubeconfig: str) -> bytes:
    """The CA of the one cluster in cluster-info's kubeconfig."""
    try:
        document = yaml.safe_load(kubeconfig)
        (entry,) = document["clusters"]
        ca = base64.b64decode(entry["cluster"]["certificate-authority-data"], validate=True)
    except (yaml.YAMLError, KeyError, TypeError, ValueError) as err:
        raise DiscoveryError(
            f"malformed kubeconfig in the {bt.CLUSTER_INFO_NAME} ConfigMap: {err}"
        ) from err
    return ca


def check_pins(ca: bytes, pins: Sequence[str]) -> None:
    """The CA's public key must be one of ``pins`` (when there are any)."""
    try:
        found = ca_hashes(ca)
    except ValueError as err:
        raise DiscoveryError(
            f"failed to parse cluster CA from the {bt.CLUSTER_INFO_NAME} ConfigMap: {err}"
        ) from err
    if not found:
        raise DiscoveryError(f"no cluster CA in the {bt.CLUSTER_INFO_NAME} ConfigMap")
    if pins and not set(found) & set(pins):
        raise DiscoveryError(
            f"cluster CA found in {bt.CLUSTER_INFO_NAME} ConfigMap is invalid: "
            f'none of the public keys "{", ".join(found)}" are pinned'
        )


# -- fetching it -------------------------------------------------------------------------------
async def fetch_cluster_info(config: ClientConfig, token: JoinToken, *, patience: float) -> Obj:
    """cluster-info once it carries a signature for the token (kubeadm polls every 5 s)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    last = ""
    async with Client(config=config, timeout=REQUEST_TIMEOUT) as client:
        while True:
            try:
                cluster_info = await client.get(CLUSTER_INFO)
            except ApiError as err:
                last = f"failed to request the {bt.CLUSTER_INFO_NAME} ConfigMap: {err}"
                if isinstance(err.__cause__, aiohttp.ClientSSLError):
                    raise DiscoveryError(last) from err  # a certificate does not get better
            else:
                if bt.JWS_KEY_PREFIX + token.token_id in (cluster_info.get("data") or {}):
                    return cluster_info
                last = (
                    f"could not find a JWS signature in the {bt.CLUSTER_INFO_NAME} ConfigMap "
                    f'for token ID "{token.token_id}"'
                )
            if loop.time() + RETRY_INTERVAL > deadline:
                raise DiscoveryError(last)
            print(f"pocketkube agent: [discovery] retrying: {last}", flush=True)
            await asyncio.sleep(RETRY_INTERVAL)


async def discover(options: AgentOptions) -> bytes:
    """The cluster CA, learnt and checked with the token; kubeadm's token discovery."""
    print(
        f"pocketkube agent: [discovery] requesting cluster-info from {options.server}", flush=True
    )
    insecure = ClientConfig(server=options.server, insecure_skip_tls_verify=True)
    loop = asyncio.get_running_loop()
    started = loop.time()
    first = await fetch_cluster_info(insecure, options.token, patience=options.discovery_timeout)
    kubeconfig = validate_cluster_info(first, options.token)
    ca = cluster_ca(kubeconfig)
    check_pins(ca, options.pins)
    if not options.pins:
        print(
            "pocketkube agent: [discovery] no CA pin given: trusting the CA that the "
            "token's signature vouches for",
            flush=True,
        )
    verified = ClientConfig(server=options.server, ca_data=ca)
    remaining = max(options.discovery_timeout - (loop.time() - started), RETRY_INTERVAL)
    try:
        second = await fetch_cluster_info(verified, options.token, patience=remaining)
    except DiscoveryError as err:
        raise DiscoveryError(f"the API server failed TLS verification with its CA: {err}") from err
    if (second.get("data") or {}).get(bt.KUBECONFIG_KEY) != kubeconfig:
        raise DiscoveryError(
            f"the second kubeconfig from the {bt.CLUSTER_INFO_NAME} ConfigMap (using validated "
            "TLS) was different from the first"
        )
    print(
        f"pocketkube agent: [discovery] cluster-info is signed with the token and the "
        f"API server {options.server} is verified with its CA",
        flush=True,
    )
    return ca


# -- becoming the kubelet ----------------------------------------------------------------------
def bootstrap_kubeconfig(*, server: str, ca: bytes, token: JoinToken) -> dict[str, Any]:
    """kubeadm's bootstrap-kubelet.conf: the cluster and the token as a bearer token."""
    context = f"{TOKEN_USER}@{CLUSTER_NAME}"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": CLUSTER_NAME,
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca).decode("ascii"),
                },
            }
        ],
        "users": [{"name": TOKEN_USER, "user": {"token": token.token}}],
        "contexts": [{"name": context, "context": {"cluster": CLUSTER_NAME, "user": TOKEN_USER}}],
        "current-context": context,
    }


def kubelet_argv(options: AgentOptions) -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "pocketkube.cli",
        "kubelet",
        "--bootstrap-kubeconfig",
        str(options.bootstrap_kubeconfig),
        "--kubeconfig",
        str(options.kubeconfig),
        "--node-name",
        options.node_name,
        "--root-dir",
        str(options.root_dir),
        "--pod-cidr",
        options.pod_cidr,
        "--node-ip",
        options.node_ip,
        # its serving certificate from a kubernetes.io/kubelet-serving CSR (csrapproving approves
        # a node's own addresses); the client CA is the cluster CA of its kubeconfig
        "--rotate-server-certificates",
    ]
    if options.node_labels:
        argv += ["--node-labels", options.node_labels]
    return [*argv, *options.kubelet_args]


async def prepare(options: AgentOptions) -> None:
    """Discover the cluster and write the bootstrap kubeconfig, unless the node has already
    joined."""
    await asyncio.to_thread(options.root_dir.mkdir, parents=True, exist_ok=True, mode=0o700)
    if await asyncio.to_thread(client_config_still_valid, options.kubeconfig):
        print(
            f"pocketkube agent: node {options.node_name} already joined: "
            f"using {options.kubeconfig}",
            flush=True,
        )
        return
    ca = await discover(options)
    document = bootstrap_kubeconfig(server=options.server, ca=ca, token=options.token)
    text = yaml.safe_dump(document, sort_keys=False).encode()
    await asyncio.to_thread(write_private, options.bootstrap_kubeconfig, text)


def run_agent(options: AgentOptions) -> None:
    """Prepare, then replace this process with the kubelet (it handles the signals itself)."""
    asyncio.run(prepare(options))
    argv = kubelet_argv(options)
    print(f"pocketkube agent: starting the kubelet of node {options.node_name}", flush=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)
