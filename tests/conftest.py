"""Shared fixtures: every storage backend behind one ``backend`` fixture, so that one contract
suite runs against the in-memory fake, SQLite and a private real etcd."""

from __future__ import annotations

import importlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pocketkube.storage.backend import Backend
from pocketkube.storage.memory import MemoryBackend
from tests.etcd_server import etcd_server  # noqa: F401

BACKENDS = ["memory", "sqlite", "etcd"]


def _require(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as err:  # pragma: no cover - only while a backend is being written
        if os.environ.get("CI"):
            raise
        pytest.skip(f"{module} is not available: {err}")


async def make_backend(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if kind == "memory":
        return MemoryBackend()
    if kind == "sqlite":
        sqlite = _require("pocketkube.storage.sqlite")
        backend: Backend = sqlite.SQLiteBackend(tmp_path / "state.db")
        return backend
    if kind == "etcd":
        etcd = _require("pocketkube.storage.etcd")
        server = request.getfixturevalue("etcd_server")
        backend = etcd.EtcdBackend.from_endpoint(
            server.endpoint, key_prefix=f"/test-{uuid.uuid4().hex[:12]}"
        )
        return backend
    raise ValueError(kind)


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    store = await make_backend(request.param, request, tmp_path)
    await store.start()
    try:
        yield store
    finally:
        await store.close()
