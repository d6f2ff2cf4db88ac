"""How a component finds the API server and proves who it is: the kubeconfig file.

``load_kubeconfig`` follows client-go's ``clientcmd`` for the parts a component needs: the current
context (or a named one) picks a cluster (server URL, CA) and a user (client certificate and key,
or a bearer token). Credentials may be embedded (``*-data``, base64 PEM, what our API server
writes) or referenced by path; paths are relative to the kubeconfig's directory, as in client-go.
Everything is read once, at load time, so a ``ClientConfig`` is a self-contained value that can be
handed to another task or process without touching the filesystem again.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_USER_AGENT = "pocketkube/0.1.0"
KUBERNETES_VERSION = "v1.33.0"  # the release whose components ours follow


def component_user_agent(component: str) -> str:
    """A control-plane component's User-Agent as upstream's (``kube-scheduler/v1.33.0 ...``):
    the API server names managedFields entries after its first segment."""
    return f"{component}/{KUBERNETES_VERSION} (pocketkube)"


class ConfigError(Exception):
    """The kubeconfig is missing, malformed, or does not name what it should."""


@dataclass(frozen=True, kw_only=True)
class ClientConfig:
    """Where the API server is and the credentials to present; secrets stay out of ``repr``."""

    server: str
    ca_data: bytes | None = field(default=None, repr=False)
    cert_data: bytes | None = field(default=None, repr=False)
    key_data: bytes | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    insecure_skip_tls_verify: bool = False
    tls_server_name: str | None = None
    user_agent: str = DEFAULT_USER_AGENT

    def ssl_context(self) -> ssl.SSLContext | None:
        """A TLS context that verifies the server against the cluster CA (the system's trust
        store when the kubeconfig names none) and presents the client certificate, or ``None``
        for a plain ``http://`` server.

        ``ssl`` loads a certificate chain only from a file, so an embedded key is written to a
        private (0600) temporary file that is removed as soon as it has been read.
        """
        if not self.server.startswith("https://"):
            return None
        context = ssl.create_default_context(
            cadata=self.ca_data.decode("ascii") if self.ca_data else None
        )
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.insecure_skip_tls_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.cert_data is not None and self.key_data is not None:
            fd, name = tempfile.mkstemp(prefix="pocketkube-client-", suffix=".pem")
            try:
                with os.fdopen(fd, "wb") as pem:
                    pem.write(self.cert_data.rstrip(b"\n") + b"\n" + self.key_data)
                context.load_cert_chain(name)
            finally:
                os.unlink(name)
        return context

    def headers(self) -> dict[str, str]:
        """Headers every request carries: who we are, and the bearer token if there is one."""
        headers = {"User-Agent": self.user_agent}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers


def load_kubeconfig(
    path: str | os.PathLike[str],
    *,
    context: str | None = None,
    user_agent: str = DEFAULT_USER_AGENT,
) -> ClientConfig:
    """Read a kubeconfig and resolve ``context`` (default: its ``current-context``)."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"cannot read kubeconfig {path}: {err}") from err
    if not isinstance(document, dict):
        raise ConfigError(f"kubeconfig {path} is not a mapping")
    name = context or document.get("current-context")
    if not name:
        raise ConfigError(f"kubeconfig {path} has no current-context")
    ctx = _named(document, "contexts", "context", str(name), path)
    cluster = _named(document, "clusters", "cluster", str(ctx.get("cluster", "")), path)
    user_name = ctx.get("user")
    user = _named(document, "users", "user", str(user_name), path) if user_name else {}
    server = cluster.get("server")
    if not isinstance(server, str) or not server:
        raise ConfigError(f"kubeconfig {path}: cluster {ctx.get('cluster')!r} has no server")
    base = path.parent
    token = user.get("token")
    if token is None and user.get("tokenFile"):
        token = _resolve(base, str(user["tokenFile"])).read_text().strip()
    return ClientConfig(
        server=server.rstrip("/"),
        ca_data=_credential(cluster, "certificate-authority", base),
        cert_data=_credential(user, "client-certificate", base),
        key_data=_credential(user, "client-key", base),
        token=str(token) if token else None,
        insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify", False)),
        tls_server_name=cluster.get("tls-server-name"),
        user_agent=user_agent,
    )


def _named(
    document: Mapping[str, Any], section: str, item: str, name: str, path: Path
) -> dict[str, Any]:
    for entry in document.get(section) or ():
        if isinstance(entry, dict) and entry.get("name") == name:
            value = entry.get(item) or {}
            if not isinstance(value, dict):
                break
            return value
    raise ConfigError(f"kubeconfig {path}: no {item} named {name!r}")


def _credential(section: Mapping[str, Any], key: str, base: Path) -> bytes | None:
    """``<key>-data`` (base64) wins over ``<key>`` (a path), as in client-go."""
    data = section.get(f"{key}-data")
    if data:
        try:
            return base64.b64decode(str(data), validate=True)
        except ValueError as err:
            raise ConfigError(f"{key}-data is not valid base64") from err
    file = section.get(key)
    if file:
        try:
            return _resolve(base, str(file)).read_bytes()
        except OSError as err:
            raise ConfigError(f"cannot read {key} {file}: {err}") from err
    return None


def _resolve(base: Path, file: str) -> Path:
    candidate = Path(file).expanduser()
    return candidate if candidate.is_absolute() else base / candidate
