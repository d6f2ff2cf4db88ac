"""kube-scheduler end to end: pods/s from the first binding to the last, through the API.

``python -m bench.scheduler_bench [--nodes 1000 5000] [--pods 10000] [--profile DIR]``

For each node count: a fresh ``pocketkube server --disable-scheduler`` (its own process, SQLite),
N Node objects (32 cpu, 128 Gi, 110 pods; 10 zones) and the pending pods (100m cpu, 128 Mi each)
created through the API; then ``pocketkube scheduler`` is started as its own process, and a
watch on pods times every binding. "pods/s" counts from the first binding to the last, so it
includes the scheduler's binding writes and the API server's work for them, on the same
2 cores; "startup" is from spawning the scheduler to its first binding (its informers' lists
of nodes and pods). The scheduler is stopped once every ``Scheduled`` event is written (or
none came for 5 s): "events lag" is how long after the last binding the last event came, and
the scheduler's CPU covers all its bindings and events; the API server's is measured at the
last binding. ``--profile DIR`` runs the scheduler under cProfile and prints its top functions.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pstats
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.apiserver_bench import running_server
from pocketkube.client import Client, load_kubeconfig

NAMESPACE = "default"
ZONES = 10
CONCURRENCY = 32
CLK_TCK = os.sysconf("SC_CLK_TCK")


def node(i: int) -> dict[str, Any]:
    name = f"node-{i:05d}"
    allocatable = {"cpu": "32", "memory": "128Gi", "pods": "110"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "topology.kubernetes.io/zone": f"zone-{i % ZONES}",
            },
        },
        "status": {
            "capacity": allocatable,
            "allocatable": allocatable,
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def pod(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"pod-{i:05d}", "labels": {"app": f"app-{i % 50}"}},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "registry.k8s.io/pause:3.10",
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                }
            ]
        },
    }


async def in_parallel(count: int, make: Any, concurrency: int = CONCURRENCY) -> None:
    """``make(i)`` for every i below ``count``, ``concurrency`` at a time."""
    queue = iter(range(count))

    async def worker() -> None:
        for i in queue:
            await make(i)

    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(worker())


async def populate(client: Client, nodes: int, pods: int) -> str:
    """Create the nodes (status through /status, as a kubelet) and pods; the pods' list RV."""

    async def make_node(i: int) -> None:
        obj = node(i)
        created = await client.create("/api/v1/nodes", obj)
        created["status"] = obj["status"]
        await client.update(f"/api/v1/nodes/{obj['metadata']['name']}/status", created)

    async def make_pod(i: int) -> None:
        await client.create(f"/api/v1/namespaces/{NAMESPACE}/pods", pod(i))

    await in_parallel(nodes, make_node)
    await in_parallel(pods, make_pod)
    listed = await client.list(f"/api/v1/namespaces/{NAMESPACE}/pods", params={"limit": "1"})
    return str(listed["metadata"]["resourceVersion"])


async def watch_bindings(client: Client, rv: str, pods: int, started: float) -> list[float]:
    """perf_counter() of every binding, as the watch reports it."""
    bound: dict[str, float] = {}
    while len(bound) < pods:
        params = {"resourceVersion": rv, "allowWatchBookmarks": "true", "timeoutSeconds": "600"}
        async for event in client.watch(f"/api/v1/namespaces/{NAMESPACE}/pods", params=params):
            obj = event.object
            rv = obj["metadata"]["resourceVersion"]
            if event.type == "MODIFIED" and (obj.get("spec") or {}).get("nodeName"):
                bound.setdefault(obj["metadata"]["name"], time.perf_counter())
                if len(bound) == pods:
                    break
    return sorted(bound.values())


async def wait_for_file(path: Path, seconds: float = 30.0) -> None:
    """The admin kubeconfig is written just after the server starts listening."""
    deadline = time.monotonic() + seconds
    while not await asyncio.to_thread(path.exists):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} was not written")
        await asyncio.sleep(0.01)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


async def count_scheduled_events(client: Client) -> int:
    """``Scheduled`` events written: under load the recorder drops what its queue cannot hold,
    as upstream's event broadcaster does."""
    count, token = 0, ""
    while True:
        params = {"fieldSelector": "reason=Scheduled", "limit": "500"}
        if token:
            params["continue"] = token
        page = await client.list(f"/api/v1/namespaces/{NAMESPACE}/events", params=params)
        count += len(page.get("items") or [])
        token = (page.get("metadata") or {}).get("continue") or ""
        if not token:
            return count


async def wait_for_events(client: Client, pods: int, quiet: float = 5.0) -> int:
    """Scheduled events written, once there is one per pod or none came for ``quiet`` s."""
    count, last_change = 0, time.perf_counter()
    while count < pods and time.perf_counter() - last_change < quiet:
        await asyncio.sleep(0.5)
        now = await count_scheduled_events(client)
        if now != count:
            count, last_change = now, time.perf_counter()
    return count


def scheduler_command(kubeconfig: Path, profile: Path | None) -> list[str]:
    runner = [sys.executable]
    if profile is not None:
        runner += ["-m", "cProfile", "-o", str(profile)]
    return [*runner, "-m", "pocketkube.cli", "scheduler", "--kubeconfig", str(kubeconfig)]


async def run_once(directory: Path, nodes: int, pods: int, profile_dir: Path | None) -> None:
    with running_server(directory, alone=True) as (server, _):
        kubeconfig = server.data_dir / "admin.kubeconfig"
        await wait_for_file(kubeconfig)
        async with Client(config=load_kubeconfig(kubeconfig), timeout=120) as client:
            t0 = time.perf_counter()
            rv = await populate(client, nodes, pods)
            populate_s = time.perf_counter() - t0
            profile = profile_dir / f"scheduler-{nodes}.prof" if profile_dir else None
            spawned = time.perf_counter()
            server_cpu = server.cpu_seconds()
            proc = await asyncio.create_subprocess_exec(
                *scheduler_command(kubeconfig, profile),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            try:
                times = await watch_bindings(client, rv, pods, spawned)
                server_cpu = server.cpu_seconds() - server_cpu
                events = await wait_for_events(client, pods)
                events_lag = time.perf_counter() - times[-1]
                scheduler_cpu = cpu_seconds(proc.pid)
            finally:
                proc.send_signal(signal.SIGINT)
                await proc.wait()
    first, last = times[0], times[-1]
    rate = (len(times) - 1) / (last - first) if last > first else float("nan")
    print(
        f"| {nodes:,} | {pods:,} | {rate:,.0f} | {last - first:.1f} | {first - spawned:.1f} "
        f"| {scheduler_cpu * 1000 / pods:.2f} | {server_cpu * 1000 / pods:.2f} "
        f"| {events:,} | {events_lag:.1f} | {populate_s:.0f} |",
        flush=True,
    )
    if profile is not None:
        stats = pstats.Stats(str(profile))
        stats.sort_stats("cumulative").print_stats(25)
        stats.sort_stats("tottime").print_stats(25)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--profile", type=Path, default=None)
    args = parser.parse_args()
    print(
        "| nodes | pods | pods/s | seconds | startup s | scheduler CPU ms/pod "
        "| API server CPU ms/pod | Scheduled events | events lag s | populate s |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="scheduler-bench-") as directory:
        for nodes in args.nodes:
            await run_once(Path(directory), nodes, args.pods, args.profile)


if __name__ == "__main__":
    asyncio.run(main())
