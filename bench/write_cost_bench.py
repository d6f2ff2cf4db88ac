"""What one write costs the API server, by kind: the server CPU behind a scheduler's pod.

``python -m bench.write_cost_bench [--writes 4000] [--watchers 2]`` (also part of ``make bench``).
A fresh ``pocketkube server`` alone (no scheduler, controller manager or kubelet) gets, from 64
concurrent requests over our own client (``pocketkube.client``, as every component uses):

1. ``--writes`` pod creates (one container, cpu and memory requests, as the scheduler benchmark);
2. as many ``pods/binding`` POSTs, each binding one of those pods, while ``--watchers`` pod
   watches (the scheduler's informer and one more) receive every change;
3. as many ``events.k8s.io/v1`` Event creates shaped like the scheduler's ``Scheduled`` events.

For each phase it prints writes/s and the server process's user+system CPU per write (read from
/proc): the scheduler benchmark's "API server CPU ms/pod" is about a binding plus an event plus
their watch fan-out, so this splits it into parts that a change can be measured against.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.apiserver_bench import Server, running_server
from bench.scheduler_bench import in_parallel, node, pod, wait_for_file
from pocketkube.client import Client, load_kubeconfig
from pocketkube.client.events import micro_time

CONCURRENCY = 64
NODES = 10


async def _phase(
    name: str, server: Server, count: int, write: Callable[[int], Awaitable[object]]
) -> None:
    cpu, started = server.cpu_seconds(), time.perf_counter()
    await in_parallel(count, write, CONCURRENCY)
    seconds, cpu = time.perf_counter() - started, server.cpu_seconds() - cpu
    print(f"| {name} | {count:,} | {count / seconds:,.0f} | {cpu * 1000 / count:.3f} |", flush=True)


async def _watch(client: Client, resource_version: str) -> None:
    params = {"resourceVersion": resource_version, "timeoutSeconds": "600"}
    async for _ in client.watch("/api/v1/namespaces/default/pods", params=params):
        pass


def _binding(i: int) -> dict[str, object]:
    name = f"pod-{i:05d}"
    return {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": name, "namespace": "default"},
        "target": {"apiVersion": "v1", "kind": "Node", "name": f"node-{i % NODES:05d}"},
    }


def _event(i: int) -> dict[str, object]:
    name, now = f"pod-{i:05d}", time.time_ns()
    return {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": f"{name}.{now:x}", "namespace": "default"},
        "eventTime": micro_time(now),
        "reportingController": "default-scheduler",
        "reportingInstance": "default-scheduler-bench",
        "action": "Binding",
        "reason": "Scheduled",
        "regarding": {"apiVersion": "v1", "kind": "Pod", "namespace": "default", "name": name},
        "note": f"Successfully assigned default/{name} to node-{i % NODES:05d}",
        "type": "Normal",
    }


async def run(writes: int, watchers: int) -> None:
    print("| write | count | writes/s | server CPU ms/write |")
    print("|---|---:|---:|---:|")
    with (
        tempfile.TemporaryDirectory(prefix="write-cost-bench-") as directory,
        running_server(Path(directory), alone=True) as (server, _),
    ):
        kubeconfig = server.data_dir / "admin.kubeconfig"
        await wait_for_file(kubeconfig)
        config = load_kubeconfig(kubeconfig)
        async with (
            Client(config=config, timeout=120) as client,
            Client(config=config, timeout=600) as watching,
        ):
            for i in range(NODES):
                await client.create("/api/v1/nodes", node(i))

            async def create(i: int) -> object:
                return await client.create("/api/v1/namespaces/default/pods", pod(i))

            await _phase("pod create", server, writes, create)
            listed = await client.list("/api/v1/namespaces/default/pods", params={"limit": "1"})
            resource_version = str(listed["metadata"]["resourceVersion"])
            async with asyncio.TaskGroup() as group:
                watches = [
                    group.create_task(_watch(watching, resource_version)) for _ in range(watchers)
                ]
                await asyncio.sleep(0.5)  # the watches are open

                async def bind(i: int) -> object:
                    name = f"pod-{i:05d}"
                    path = f"/api/v1/namespaces/default/pods/{name}/binding"
                    return await client.create(path, _binding(i))

                async def event(i: int) -> object:
                    path = "/apis/events.k8s.io/v1/namespaces/default/events"
                    return await client.create(path, _event(i))

                await _phase(f"pods/binding ({watchers} pod watches)", server, writes, bind)
                await _phase("event create (events.k8s.io/v1)", server, writes, event)
                for watch in watches:
                    watch.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=4000)
    parser.add_argument("--watchers", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(run(args.writes, args.watchers))


if __name__ == "__main__":
    main()
