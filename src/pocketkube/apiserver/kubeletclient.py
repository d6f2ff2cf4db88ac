"""How the API server reaches a node's kubelet (upstream's ``KubeletClientConfig``).

The kubelet's address is taken from its Node object: the first of ``status.addresses`` in the
order of ``--kubelet-preferred-address-types`` (kubeadm's InternalIP, ExternalIP, Hostname),
and ``status.daemonEndpoints.kubeletEndpoint.Port``. The connection is HTTPS with the API
server's kubelet-client certificate (CN ``kube-apiserver-kubelet-client``, O ``system:masters``
as kubeadm issues it) and the kubelet's serving certificate verified against the cluster CA.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

from pocketkube.api import status
from pocketkube.api.status import StatusError

PREFERRED_ADDRESS_TYPES = ("InternalIP", "ExternalIP", "Hostname", "InternalDNS", "ExternalDNS")
DEFAULT_PORT = 10250
CLIENT_CN = "kube-apiserver-kubelet-client"
CLIENT_GROUPS = ("system:masters",)


def client_ssl_context(*, ca_file: Path, cert_file: Path, key_file: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context


def node_address(node: Mapping[str, Any]) -> tuple[str, int]:
    """The kubelet's (host, port) from its Node, or a 400 Status as upstream's
    ``GetPreferredNodeAddress`` error."""
    node_status = node.get("status") or {}
    addresses = node_status.get("addresses") or []
    name = (node.get("metadata") or {}).get("name", "")
    host = ""
    for wanted in PREFERRED_ADDRESS_TYPES:
        host = next(
            (
                a.get("address", "")
                for a in addresses
                if a.get("type") == wanted and a.get("address")
            ),
            "",
        )
        if host:
            break
    if not host:
        raise StatusError(
            status.bad_request(
                f"no preferred addresses found; known addresses: {_known(addresses)}"
                if addresses
                else f"node {name} has no addresses"
            )
        )
    endpoint = (node_status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}
    port = int(endpoint.get("Port") or DEFAULT_PORT)
    return host, port


def _known(addresses: Sequence[Mapping[str, str]]) -> str:
    return "[" + " ".join(f"{{{a.get('type')} {a.get('address')}}}" for a in addresses) + "]"


class KubeletClient:
    """One TLS context and one connection pool to every kubelet."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.ssl_context = context
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=30)
            )
        return self._session

    def url(self, node: Mapping[str, Any], path: str, query: Sequence[tuple[str, str]]) -> URL:
        host, port = node_address(node)
        return URL.build(scheme="https", host=host, port=port, path=path).with_query(list(query))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


KUBELET_CLIENT: web.AppKey[KubeletClient] = web.AppKey("kubelet_client", KubeletClient)
