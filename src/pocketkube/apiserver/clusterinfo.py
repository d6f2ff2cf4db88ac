"""The ``cluster-info`` ConfigMap in ``kube-public``: how a joining node finds and trusts the
cluster before it has any credentials of its own (kubeadm's token discovery).

Its ``kubeconfig`` key holds a kubeconfig with one nameless cluster — the API server's address
and the cluster CA — in the exact shape kubeadm writes. The API server publishes it at every
start, changing only that key: the bootstrap signer adds ``jws-kubeconfig-<token-id>`` keys
beside it (a detached signature of the kubeconfig with each bootstrap token), which a node
checks with the token it was given before it trusts the CA.

Anyone may read this one object without credentials (upstream grants ``system:anonymous`` get
on it through RBAC), which is what lets discovery start; every other anonymous request is
still refused.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

from pocketkube.api.status import StatusError
from pocketkube.apiserver.registry import ResourceRegistry
from pocketkube.apiserver.requestinfo import parse_request_info
from pocketkube.storage.interface import Obj

NAMESPACE = "kube-public"
NAME = "cluster-info"
KUBECONFIG_KEY = "kubeconfig"
JWS_KEY_PREFIX = "jws-kubeconfig-"
PATH = f"/api/v1/namespaces/{NAMESPACE}/configmaps/{NAME}"


def discovery_kubeconfig(*, server_url: str, ca_pem: bytes) -> str:
    """The kubeconfig as kubeadm serializes it (client-go's YAML of a Config with one cluster
    named "", no users or contexts): the bytes the bootstrap tokens sign."""
    ca_data = base64.b64encode(ca_pem).decode("ascii")
    return (
        "apiVersion: v1\n"
        "clusters:\n"
        "- cluster:\n"
        f"    certificate-authority-data: {ca_data}\n"
        f"    server: {server_url}\n"
        '  name: ""\n'
        "contexts: null\n"
        'current-context: ""\n'
        "kind: Config\n"
        "preferences: {}\n"
        "users: null\n"
    )


def anonymous_may(method: str, path: str, query: Mapping[str, str]) -> bool:
    """Whether a request without credentials is a get of the cluster-info ConfigMap."""
    if path != PATH or method not in ("GET", "HEAD"):
        return False
    return parse_request_info(method, path, dict(query)).verb == "get"


async def publish(configmaps: ResourceRegistry, *, server_url: str, ca_pem: bytes) -> None:
    """Create cluster-info, or bring its ``kubeconfig`` key up to date (other keys are kept;
    an object that already says this is not written at all)."""
    kubeconfig = discovery_kubeconfig(server_url=server_url, ca_pem=ca_pem)
    try:
        current = await configmaps.get(NAMESPACE, NAME)
    except StatusError as err:
        if err.code != 404:
            raise
        try:
            await configmaps.create(
                NAMESPACE, {"metadata": {"name": NAME}, "data": {KUBECONFIG_KEY: kubeconfig}}
            )
            return
        except StatusError as err:
            if err.code != 409:
                raise
    else:
        if (current.get("data") or {}).get(KUBECONFIG_KEY) == kubeconfig:
            return

    async def set_kubeconfig(obj: Obj) -> Obj:
        data = obj.get("data")
        if not isinstance(data, dict):
            data = obj["data"] = {}
        data[KUBECONFIG_KEY] = kubeconfig
        return obj

    await configmaps.update(NAMESPACE, NAME, set_kubeconfig, dry_run=False)
