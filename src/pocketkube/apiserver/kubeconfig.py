"""Kubeconfig files: how kubectl and every component find the API server and prove who they are.

The credentials are embedded (``*-data`` fields, base64 PEM) rather than referenced by path, so a
kubeconfig stays valid when copied to another machine or into a container, as k3s's
``k3s.yaml`` does. It holds a private key, hence mode 0600 and an atomic replace.
"""

from __future__ import annotations

import base64
from pathlib import Path

import yaml

from pocketkube.apiserver.certs import write_file_atomic


def write_kubeconfig(
    path: Path,
    *,
    server_url: str,
    ca_path: Path,
    cert_path: Path,
    key_path: Path,
    user: str = "admin",
    cluster: str = "pocketkube",
    context: str = "pocketkube",
) -> None:
    """Write a one-cluster, one-user kubeconfig whose current context points at ``server_url``."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {
                "name": cluster,
                "cluster": {
                    "server": server_url,
                    "certificate-authority-data": _embed(ca_path),
                },
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": _embed(cert_path),
                    "client-key-data": _embed(key_path),
                },
            }
        ],
        "contexts": [{"name": context, "context": {"cluster": cluster, "user": user}}],
        "current-context": context,
    }
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True)
    text = yaml.safe_dump(config, sort_keys=False, default_flow_style=False)
    write_file_atomic(path, text.encode(), mode=0o600)


def _embed(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")
