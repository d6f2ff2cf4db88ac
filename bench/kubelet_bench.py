"""kubelet pod start latency: create → Running, observed through a watch, for pods created at once.

``python -m bench.kubelet_bench [--pods 100] [--host-network]``

A fresh ``pocketkube server`` (API server, scheduler and the node's kubelet, each its own
process, on the process runtime) on a temporary data directory; once its node is Ready, a watch
on the namespace is opened and ``--pods`` pods (one ``sleep`` container each) are created at once
(32 requests in flight). Each pod's latency runs from just before its POST to the watch event
that first shows it ``Running``, so it covers the API server, the scheduler, the kubelet (sandbox
with its network namespace and CNI as root, shim, container start) and the status write.
Reported: p50/p99/max latency, the time until the last pod ran, the resident memory of the
kubelet process (and of the runtime's shims) with every pod running, each process's CPU time
(and that of the kubelet's children: the CNI plugins as root), and the API writes per pod
during the burst (from the API server's ``apiserver_request_total``): pod creations,
bindings, status patches, events.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.stats import percentile
from pocketkube.client import Client, load_kubeconfig
from pocketkube.client.resources import NAMESPACES, NODES, PODS
from pocketkube.runtime.process.teardown import teardown_node

NAMESPACE = "bench"
CONCURRENCY = 32


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pod(i: int, host_network: bool) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"p{i:04d}", "namespace": NAMESPACE},
        "spec": {
            "hostNetwork": host_network,
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}],
        },
    }


def rss_kb(pid: int, field: str = "VmRSS:", source: str = "status") -> int:
    try:
        for line in Path(f"/proc/{pid}/{source}").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kb(pid: int) -> int:
    """Proportional set size: the shims share the fork server's pages."""
    return rss_kb(pid, "Pss:", "smaps_rollup")


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, *, children: bool = False) -> float:
    """User+system time of ``pid``, or (``children``) of its children that it has waited for
    (the kubelet's: the CNI plugins and ``ip``)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    first = 13 if children else 11
    return (int(fields[first]) + int(fields[first + 1])) / CLK_TCK


def components(data_dir: Path, server: int) -> dict[str, int]:
    found = {"api server": server}
    for name in ("kubelet", "scheduler"):
        pids = pids_matching(f"pocketkube.cli {name} --kubeconfig {data_dir}/")
        if pids:
            found[name] = pids[0]
    return found


def pids_matching(pattern: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


WRITES = {  # apiserver_request_total's (verb, resource, subresource) -> the column's name
    ("POST", "pods", ""): "create",
    ("POST", "pods", "binding"): "bind",
    ("PATCH", "pods", "status"): "status",
    ("PUT", "pods", "status"): "status",
    ("POST", "events", ""): "events",
    ("PATCH", "events", ""): "events",
}


def api_writes(kubeconfig: Path) -> dict[str, int]:
    """The API server's count of pod and event writes so far, by ``WRITES`` column."""
    text = subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), "get", "--raw", "/metrics"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    counts: dict[str, int] = {}
    for line in text.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
        key = (labels.get("verb", ""), labels.get("resource", ""), labels.get("subresource", ""))
        column = WRITES.get(key)
        if column is not None:
            counts[column] = counts.get(column, 0) + int(float(line.rsplit(" ", 1)[1]))
    return counts


async def wait_node_ready(client: Client) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            nodes = await client.list(NODES.path())
            for node in nodes["items"]:
                for condition in node["status"].get("conditions") or []:
                    if condition["type"] == "Ready" and condition["status"] == "True":
                        return
        await asyncio.sleep(0.2)
    raise SystemExit("the node did not become Ready")


async def node_ready(kubeconfig: Path) -> None:
    async with Client(config=load_kubeconfig(kubeconfig)) as client:
        await wait_node_ready(client)
    await asyncio.sleep(2)  # the kubelet's start-up work (first status, lease) is not measured


async def measure(kubeconfig: Path, pods: int, host_network: bool) -> dict[str, float]:
    async with Client(config=load_kubeconfig(kubeconfig)) as client:
        await client.create(NAMESPACES.path(), {"metadata": {"name": NAMESPACE}})
        listed = await client.list(PODS.path(namespace=NAMESPACE))
        created: dict[str, float] = {}
        running: dict[str, float] = {}
        bound: dict[str, float] = {}
        done = asyncio.Event()

        async def watch() -> None:
            params = {"resourceVersion": listed["metadata"]["resourceVersion"]}
            async for event in client.watch(PODS.path(namespace=NAMESPACE), params=params):
                obj = event.object
                name = obj["metadata"]["name"]
                if obj.get("spec", {}).get("nodeName") and name not in bound:
                    bound[name] = time.perf_counter()
                if obj.get("status", {}).get("phase") == "Running" and name not in running:
                    running[name] = time.perf_counter()
                    if len(running) == pods:
                        done.set()
                        return

        semaphore = asyncio.Semaphore(CONCURRENCY)

        async def create(i: int) -> None:
            async with semaphore:
                created[f"p{i:04d}"] = time.perf_counter()
                await client.create(PODS.path(namespace=NAMESPACE), pod(i, host_network))

        watcher = asyncio.create_task(watch())
        started = time.perf_counter()
        await asyncio.gather(*(create(i) for i in range(pods)))
        await asyncio.wait_for(done.wait(), 600)
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        latencies = [running[name] - created[name] for name in created]
        to_bind = [bound[name] - created[name] for name in created]
        to_run = [running[name] - bound[name] for name in created]
        return {
            "bind_p50": percentile(to_bind, 50),
            "run_p50": percentile(to_run, 50),
            "p50": percentile(latencies, 50),
            "p99": percentile(latencies, 99),
            "max": max(latencies),
            "all_running": max(running.values()) - started,
        }


@contextlib.contextmanager
def node_server(base: Path) -> Iterator[tuple[Path, Path, int]]:
    """A ``pocketkube server`` (with its node) in ``base``, up and its node Ready:
    ``(data_dir, admin kubeconfig, server pid)``; stopped and its pods torn down afterwards."""
    data_dir = base / "data"
    with open(base / "server.log", "wb") as log:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pocketkube.cli",
                "server",
                "--data-dir",
                str(data_dir),
                "--port",
                str(free_port()),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        kubeconfig = data_dir / "admin.kubeconfig"
        deadline = time.monotonic() + 30
        while not kubeconfig.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        asyncio.run(node_ready(kubeconfig))
        yield data_dir, kubeconfig, server.pid
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        teardown_node(data_dir / "kubelet")


def run(pods: int, host_network: bool) -> None:
    base = Path(tempfile.mkdtemp(prefix="pk-kubelet-bench-"))
    with node_server(base) as (data_dir, kubeconfig, server_pid):
        procs = components(data_dir, server_pid)
        cpu_before = {name: cpu_seconds(pid) for name, pid in procs.items()}
        cni_before = cpu_seconds(procs.get("kubelet", 0), children=True)
        writes_before = api_writes(kubeconfig)
        figures = asyncio.run(measure(kubeconfig, pods, host_network))
        cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in procs.items()}
        if "kubelet" in procs:
            cpu["kubelet's children"] = cpu_seconds(procs["kubelet"], children=True) - cni_before
        writes = {
            column: (count - writes_before.get(column, 0)) / pods
            for column, count in api_writes(kubeconfig).items()
        }
        kubelets = pids_matching(f"pocketkube.cli kubelet --kubeconfig {data_dir}/")
        shims = [
            int(p)
            for p in subprocess.run(
                ["pgrep", "-x", "pk-shim"], capture_output=True, text=True
            ).stdout.split()
        ]
        kubelet_mb = sum(rss_kb(p) for p in kubelets) / 1024
        shims_mb = sum(pss_kb(p) for p in shims) / 1024
        network = "host network" if host_network else f"own netns (root: {os.geteuid() == 0})"
        print(
            f"{pods} pods at once, {network}: start latency p50 {figures['p50'] * 1000:.0f} ms, "
            f"p99 {figures['p99'] * 1000:.0f} ms, max {figures['max'] * 1000:.0f} ms "
            f"(p50 create → bound {figures['bind_p50'] * 1000:.0f} ms, "
            f"bound → Running {figures['run_p50'] * 1000:.0f} ms); "
            f"all running after {figures['all_running']:.2f} s; kubelet RSS {kubelet_mb:.0f} MB "
            f"with {pods} pods (shims' PSS {shims_mb:.0f} MB in all); CPU seconds: "
            + ", ".join(f"{name} {seconds:.2f}" for name, seconds in cpu.items())
            + "; API writes per pod: "
            + ", ".join(f"{column} {count:.2f}" for column, count in sorted(writes.items())),
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=100)
    parser.add_argument("--host-network", action="store_true")
    args = parser.parse_args()
    run(args.pods, args.host_network)


if __name__ == "__main__":
    main()
