"""kube-controller-manager: a Deployment of 1,000 replicas until every pod exists, and the
controller manager's memory with 10,000 pods in its informers.

``python -m bench.controllers_bench [--replicas 1000] [--pods 10000]``

Both parts run a fresh ``pocketkube server --disable-scheduler --disable-controller-manager
--disable-kubelet`` (its own process, SQLite) and ``pocketkube controller-manager`` as a process
of its own, both on the same 2 cores; no node is needed, since pods need not be bound.

- *rollout*: the controller manager runs the ``deployment`` and ``replicaset`` controllers; one
  Deployment of N replicas is created and a pod watch times every pod's creation. "seconds" runs
  from the Deployment's POST to the last pod's ADDED event (the ReplicaSet controller creates in
  slow-start batches of 1, 2, 4 ... and at most 500 per sync, as upstream).
- *memory*: N small pods (one container, labels, no owner) are created through the API, then
  the controller manager starts with every controller on by default (``*``); once its
  controllers report their caches synced (the pod informer's list is in), and again a few
  seconds later, its RSS is read from /proc. The same controller manager started before any pod
  exists gives the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from bench.apiserver_bench import Server, free_port, wait_ready
from bench.scheduler_bench import cpu_seconds, wait_for_file
from pocketkube.client import Client, load_kubeconfig

NAMESPACE = "default"
CONCURRENCY = 32
PODS = f"/api/v1/namespaces/{NAMESPACE}/pods"
DEPLOYMENTS = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments"
SYNCED = "caches synced"


@contextlib.contextmanager
def api_server(directory: Path) -> Iterator[Server]:
    data_dir = Path(tempfile.mkdtemp(dir=directory, prefix="server-")) / "data"
    port = free_port()
    command = [sys.executable, "-m", "pocketkube.cli", "server", "--data-dir", str(data_dir),
               "--port", str(port), "--disable-scheduler", "--disable-controller-manager",
               "--disable-kubelet"]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = Server(proc, data_dir, port)
    try:
        wait_ready(server)
        yield server
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.asynccontextmanager
async def controller_manager(
    kubeconfig: Path, controllers: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pocketkube.cli", "controller-manager", "--kubeconfig",
        str(kubeconfig), "--controllers", controllers, "--leader-elect=false",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def wait_synced(proc: asyncio.subprocess.Process, name: str) -> float:
    """Read the controller manager's log until controller ``name`` says its caches synced;
    the log is drained afterwards so the process never blocks on a full pipe."""
    assert proc.stderr is not None
    started = time.perf_counter()
    async for line in proc.stderr:
        if SYNCED in line.decode(errors="replace") and f"{name}:" in line.decode(errors="replace"):
            break
    else:
        raise RuntimeError("the controller manager exited before its caches synced")
    asyncio.get_running_loop().create_task(_drain(proc))
    return time.perf_counter() - started


async def _drain(proc: asyncio.subprocess.Process) -> None:
    assert proc.stderr is not None
    async for _ in proc.stderr:
        pass


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def deployment(replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "registry.k8s.io/pause:3.10"}]},
            },
        },
    }


def small_pod(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"pod-{i:05d}", "labels": {"app": f"app-{i % 50}"}},
        "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}]},
    }


async def rollout(directory: Path, replicas: int) -> None:
    with api_server(directory) as server:
        kubeconfig = server.data_dir / "admin.kubeconfig"
        await wait_for_file(kubeconfig)
        async with (
            Client(config=load_kubeconfig(kubeconfig), timeout=120) as client,
            controller_manager(kubeconfig, "deployment,replicaset") as manager,
        ):
            await wait_synced(manager, "deployment")
            listed = await client.list(PODS, params={"limit": "1"})
            rv = str(listed["metadata"]["resourceVersion"])
            cpu0, server_cpu0 = cpu_seconds(manager.pid), server.cpu_seconds()
            started = time.perf_counter()
            await client.create(DEPLOYMENTS, deployment(replicas))
            first, last, seen = 0.0, 0.0, set()
            params = {"resourceVersion": rv, "allowWatchBookmarks": "true"}
            async for event in client.watch(PODS, params=params):
                if event.type == "ADDED":
                    seen.add(event.object["metadata"]["name"])
                    last = time.perf_counter()
                    first = first or last
                    if len(seen) >= replicas:
                        break
            manager_cpu = cpu_seconds(manager.pid) - cpu0
            server_cpu = server.cpu_seconds() - server_cpu0
            rss = rss_mb(manager.pid)
    print(
        f"| rollout | {replicas:,} pods | {last - started:.1f} s to the last pod "
        f"({first - started:.2f} s to the first; {replicas / (last - started):,.0f} pods/s) "
        f"| controller manager CPU {manager_cpu:.1f} s, RSS {rss:.0f} MB "
        f"| API server CPU {server_cpu:.1f} s |",
        flush=True,
    )


async def populate(client: Client, pods: int) -> None:
    queue = iter(range(pods))

    async def worker() -> None:
        for i in queue:
            await client.create(PODS, small_pod(i))

    async with asyncio.TaskGroup() as group:
        for _ in range(CONCURRENCY):
            group.create_task(worker())


async def memory(directory: Path, pods: int) -> None:
    with api_server(directory) as server:
        kubeconfig = server.data_dir / "admin.kubeconfig"
        await wait_for_file(kubeconfig)
        async with Client(config=load_kubeconfig(kubeconfig), timeout=120) as client:
            async with controller_manager(kubeconfig, "*") as manager:
                await wait_synced(manager, "deployment")
                await asyncio.sleep(3)
                baseline = rss_mb(manager.pid)
            t0 = time.perf_counter()
            await populate(client, pods)
            populate_s = time.perf_counter() - t0
            async with controller_manager(kubeconfig, "*") as manager:
                synced_s = await wait_synced(manager, "deployment")
                at_sync = rss_mb(manager.pid)
                await asyncio.sleep(5)
                settled = rss_mb(manager.pid)
    per_pod = (settled - baseline) * 1024 / pods
    print(
        f"| memory | {pods:,} pods | RSS {baseline:.0f} MB with no pods, {at_sync:.0f} MB when "
        f"synced ({synced_s:.1f} s after start), {settled:.0f} MB 5 s later "
        f"(~{per_pod:.1f} KB per pod) | populate {populate_s:.0f} s |",
        flush=True,
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=1000)
    parser.add_argument("--pods", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="controllers-bench-") as directory:
        await rollout(Path(directory), args.replicas)
        await memory(Path(directory), args.pods)


if __name__ == "__main__":
    asyncio.run(main())
