"""The whole prober (manager, workers, real mechanisms) against loopback servers, in real time
with sub-second periods: readiness follows the server, a liveness failure reaches the kubelet."""

from __future__ import annotations

import asyncio
import copy
import itertools
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from pocketkube.kubelet.prober import ProberManager, ProbeType
from pocketkube.kubelet.prober.fake import FakeExecRuntime, FakeRecorder, FakeStatusSource
from tests.integration.kubelet.test_probes_servers import (
    HOST,
    GRPCServer,
    HTTPServer,
    free_port,
    serve_grpc,
    serve_http,
)

PERIOD = 0.05


@pytest.fixture
def closed_port() -> int:
    return free_port()


@pytest.fixture
async def grpc_server() -> AsyncIterator[GRPCServer]:
    async with serve_grpc() as server:
        yield server


@pytest.fixture
async def http_server() -> AsyncIterator[HTTPServer]:
    async with serve_http() as server:
        yield server


def now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))


def pod_with(probes: dict[str, Any], ports: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"uid": "u1", "name": "web", "namespace": "default"},
        "spec": {
            "restartPolicy": "Always",
            "containers": [{"name": "app", "ports": ports or [], **probes}],
        },
    }


class Kubelet:
    """What the kubelet does with the callbacks, reduced to recording them."""

    def __init__(self) -> None:
        self.failures: list[tuple[Any, ...]] = []
        self.changes = 0
        self.changed = asyncio.Event()

    def on_failure(self, *args: Any) -> None:
        self.failures.append(args)
        self.changed.set()

    def on_change(self, pod_uid: str) -> None:
        self.changes += 1
        self.changed.set()


async def until(condition: Callable[[], bool], seconds: float = 5) -> None:
    async with asyncio.timeout(seconds):
        for _ in itertools.count():
            if condition():
                return
            await asyncio.sleep(0.01)


def probe(handler: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {**handler, "periodSeconds": PERIOD, "timeoutSeconds": 1, **fields}


async def test_readiness_follows_an_http_endpoint(http_server: HTTPServer) -> None:
    source, recorder, kubelet = FakeStatusSource(), FakeRecorder(), Kubelet()
    source.pod_ips["u1"] = HOST
    source.set_running("u1", "app", "c1", now_rfc3339())
    mgr = ProberManager(
        runtime=FakeExecRuntime(),
        recorder=recorder,
        status_source=source,
        on_failure=kubelet.on_failure,
        on_change=kubelet.on_change,
    )
    pod = pod_with(
        {
            "readinessProbe": probe(
                {"httpGet": {"path": "/ready", "port": "web"}}, failureThreshold=1
            )
        },
        ports=[{"name": "web", "containerPort": http_server.port}],
    )
    mgr.add_pod(pod)
    status = {"containerStatuses": [copy.deepcopy(source.statuses[("u1", "app")])]}

    def ready() -> bool:
        mgr.update_pod_status(pod, status)
        return bool(status["containerStatuses"][0]["ready"])

    async with asyncio.TaskGroup() as group:
        task = group.create_task(mgr.run())
        await until(ready)
        http_server.ready_status = 500
        await until(lambda: not ready())
        assert "Readiness probe failed: HTTP probe failed with statuscode: 500" in recorder.notes()
        http_server.ready_status = 200
        await until(ready)
        task.cancel()
    assert kubelet.changes >= 3
    assert kubelet.failures == []
    assert mgr.worker_keys() == set()


async def test_liveness_failure_reaches_the_kubelet(closed_port: int) -> None:
    source, recorder, kubelet = FakeStatusSource(), FakeRecorder(), Kubelet()
    source.pod_ips["u1"] = HOST
    source.set_running("u1", "app", "c1", now_rfc3339())
    mgr = ProberManager(
        runtime=FakeExecRuntime(),
        recorder=recorder,
        status_source=source,
        on_failure=kubelet.on_failure,
        on_change=kubelet.on_change,
    )
    liveness = probe({"tcpSocket": {"port": closed_port}}, terminationGracePeriodSeconds=3)
    mgr.add_pod(pod_with({"livenessProbe": liveness}))
    async with asyncio.TaskGroup() as group:
        task = group.create_task(mgr.run())
        await until(lambda: bool(kubelet.failures))
        task.cancel()
    assert kubelet.failures == [
        ("u1", "app", "c1", ProbeType.LIVENESS, "Container app failed liveness probe", 3)
    ]
    assert (
        recorder.notes("Unhealthy")
        == [f"Liveness probe failed: dial tcp {HOST}:{closed_port}: connect: connection refused"]
        * 3
    )


async def test_startup_by_grpc_gates_readiness(grpc_server: GRPCServer) -> None:
    source, kubelet = FakeStatusSource(), Kubelet()
    source.pod_ips["u1"] = HOST
    source.set_running("u1", "app", "c1", now_rfc3339())
    grpc_server.statuses[""] = 2  # NOT_SERVING until the test says so
    mgr = ProberManager(
        runtime=FakeExecRuntime(),
        recorder=FakeRecorder(),
        status_source=source,
        on_failure=kubelet.on_failure,
        on_change=kubelet.on_change,
    )
    pod = pod_with(
        {
            "startupProbe": probe({"grpc": {"port": grpc_server.port}}, failureThreshold=1000),
            "readinessProbe": probe({"grpc": {"port": grpc_server.port}}),
        }
    )
    mgr.add_pod(pod)
    status = {"containerStatuses": [copy.deepcopy(source.statuses[("u1", "app")])]}

    def flags() -> tuple[bool, bool]:
        mgr.update_pod_status(pod, status)
        container = status["containerStatuses"][0]
        return container["started"], container["ready"]

    async with asyncio.TaskGroup() as group:
        task = group.create_task(mgr.run())
        await until(lambda: len(grpc_server.user_agents) >= 3)
        assert flags() == (False, False)
        grpc_server.statuses[""] = 1
        await until(lambda: flags() == (True, True))
        task.cancel()
