"""Choosing a datastore from a ``--datastore-endpoint`` value, as k3s does.

- empty or ``sqlite://[PATH]``: the embedded SQLite log, by default ``DATA_DIR/db/state.db``;
- ``etcd://host:port[,host:port...]`` (``http://`` too), or ``etcds://`` / ``https://`` for TLS:
  a real etcd cluster;
- ``memory://``: the in-memory fake (tests and throwaway clusters only: nothing survives a restart).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pocketkube.storage.backend import Backend


@dataclass(frozen=True, slots=True)
class EtcdTLS:
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None


def sqlite_path(data_dir: Path, endpoint: str = "") -> Path:
    rest = endpoint.removeprefix("sqlite://")
    return Path(rest) if rest else data_dir / "db" / "state.db"


def open_backend(*, data_dir: Path, endpoint: str = "", tls: EtcdTLS | None = None) -> Backend:
    """The backend ``endpoint`` names; call ``await backend.start()`` before use."""
    scheme = endpoint.split("://", 1)[0] if "://" in endpoint else ""
    if scheme in ("", "sqlite"):
        from pocketkube.storage.sqlite import SQLiteBackend

        path = sqlite_path(data_dir, endpoint)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(path.parent, 0o700)
        return SQLiteBackend(path)
    if scheme in ("etcd", "etcds", "http", "https"):
        from pocketkube.storage.etcd import EtcdBackend

        tls = tls or EtcdTLS()
        etcd: Backend = EtcdBackend.from_endpoint(
            endpoint, ca_file=tls.ca_file, cert_file=tls.cert_file, key_file=tls.key_file
        )
        return etcd
    if scheme == "memory":
        from pocketkube.storage.memory import MemoryBackend

        return MemoryBackend()
    raise ValueError(
        f"unknown datastore endpoint {endpoint!r}: use sqlite://PATH, etcd://HOST:PORT, "
        "etcds://HOST:PORT or memory://"
    )
