"""A real API server on SQLite in the test's event loop, and a component-style ``Client`` built
from the admin kubeconfig it writes (shared by the apiserver, client and scheduler tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pocketkube.apiserver.app import APIServer, APIServerConfig
from pocketkube.client import Client, load_kubeconfig
from pocketkube.storage.sqlite import SQLiteBackend


@pytest.fixture
async def apiserver(tmp_path: Path) -> AsyncIterator[APIServer]:
    backend = SQLiteBackend(tmp_path / "state.db")
    await backend.start()
    server = APIServer(config=APIServerConfig(data_dir=tmp_path / "data", port=0), backend=backend)
    await server.start()
    try:
        yield server
    finally:
        await server.close()
        await backend.close()


@pytest.fixture
async def client(apiserver: APIServer) -> AsyncIterator[Client]:
    config = load_kubeconfig(apiserver.kubeconfig_path, user_agent="pocketkube-test")
    async with Client(config=config) as client:
        yield client
