"""The API server as a client sees it: `pocketkube server` in its own process, over HTTPS.

Three measurements (``python -m bench.apiserver_bench``; also the last part of ``make bench``):

- cold start: from spawning ``pocketkube server`` on a fresh data directory (so including the PKI
  and the SQLite schema) to the first 200 from ``/readyz``, and the process's RSS once idle;
- creates/s: concurrent clients (one aiohttp session and connection each, admin client cert)
  POSTing small Pods to one namespace while 5 watchers read pod watch streams;
- LIST of 10,000 pods over ``/api/v1/pods``: with resourceVersion unset (a consistent read,
  what kubectl sends: from the watch cache once it has caught up with the datastore), at
  ``resourceVersion=0`` (the watch cache as it is), at an exact resourceVersion (always the
  datastore), and as a ``Table`` (what kubectl asks for).

Latencies are timed up to the last byte of the response. The client runs on the same machine and
competes with the server for CPU, as kubectl and controllers would; ``server CPU`` below is the
server process's own user+system time, read from /proc. ``--profile DIR`` runs the server under
cProfile and prints where its time went.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import pstats
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson

from bench.load import run_writers
from bench.stats import Summary, percentile, summarize

NAMESPACE = "bench"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
READY_TIMEOUT = 60.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_command(
    data_dir: Path, port: int, profile: Path | None = None, *, alone: bool = False
) -> list[str]:
    """``pocketkube server`` (for the cold start), or with ``alone`` only its API server: the
    controller manager would share the 2 cores, relisting and reacting to every benchmark pod."""
    runner = [sys.executable]
    if profile is not None:
        runner += ["-m", "cProfile", "-o", str(profile)]
    # No scheduler: with no nodes it would answer every benchmark pod with status writes.
    only = ["--disable-controller-manager", "--disable-kubelet"] if alone else []
    return [*runner, "-m", "pocketkube.cli", "server", "--data-dir", str(data_dir), "--port",
            str(port), "--disable-scheduler", *only]  # fmt: skip


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    data_dir: Path
    port: int

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca(self) -> Path:
        return self.data_dir / "tls" / "ca.crt"

    def client_ssl(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca)
        tls = self.data_dir / "tls"
        context.load_cert_chain(tls / "admin.crt", tls / "admin.key")
        return context

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def wait_ready(server: Server, timeout: float = READY_TIMEOUT) -> float:
    """Poll ``/readyz`` until it answers 200; the seconds that took since ``started``."""
    deadline = time.perf_counter() + timeout
    context: ssl.SSLContext | None = None
    while time.perf_counter() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"pocketkube server exited with {server.proc.returncode}")
        try:
            if context is None:
                context = ssl.create_default_context(cafile=server.ca)
            conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=2)
            try:
                conn.request("GET", "/readyz")
                if conn.getresponse().status == 200:
                    return time.perf_counter()
            finally:
                conn.close()
        except (OSError, ssl.SSLError):
            pass  # not written yet, not listening yet, or not ready yet
        time.sleep(0.002)
    raise TimeoutError(f"pocketkube server not ready within {timeout} s")


@contextmanager
def running_server(
    directory: Path, profile: Path | None = None, *, alone: bool = False
) -> Iterator[tuple[Server, float]]:
    """A server on a fresh data directory under ``directory``, and its cold-start seconds."""
    data_dir = Path(tempfile.mkdtemp(dir=directory, prefix="server-"))
    port = free_port()
    started = time.perf_counter()
    proc = subprocess.Popen(
        server_command(data_dir / "data", port, profile, alone=alone),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = Server(proc, data_dir / "data", port)
    try:
        ready = wait_ready(server)
        yield server, ready - started
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- cold start ---------------------------------------------------------------------------------
def cold_start(directory: Path, runs: int) -> tuple[list[float], list[float]]:
    """Seconds to ready and idle RSS (MB, one second after ready) of ``runs`` fresh servers."""
    seconds, rss = [], []
    for _ in range(runs):
        with running_server(directory) as (server, took):
            seconds.append(took)
            time.sleep(1.0)
            rss.append(server.rss_mb())
    return seconds, rss


# -- writes and reads over HTTPS ------------------------------------------------------------------
def pod(name: str) -> bytes:
    return orjson.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "bench"}},
            "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]},
        }
    )


async def post(session: aiohttp.ClientSession, url: str, body: bytes) -> None:
    headers = {"Content-Type": "application/json"}
    async with session.post(url, data=body, headers=headers) as response:
        await response.read()
        if response.status != 201:
            raise RuntimeError(f"POST {url}: {response.status}")


def sessions(server: Server, count: int) -> list[aiohttp.ClientSession]:
    context = server.client_ssl()
    return [
        aiohttp.ClientSession(server.url, connector=aiohttp.TCPConnector(limit=1, ssl=context))
        for _ in range(count)
    ]


async def create_namespace(session: aiohttp.ClientSession, name: str) -> None:
    await post(session, "/api/v1/namespaces", orjson.dumps({"metadata": {"name": name}}))


@dataclass
class CreateResult:
    summary: Summary
    server_cpu: float  # seconds of server CPU during the run
    client_cpu: float  # seconds of this process's CPU (clients and watchers) during the run
    delivered: list[int]  # events each watcher had read by the end
    drained_after: float  # seconds after the last create until every watcher had every event


async def watch_pods(session: aiohttp.ClientSession, seen: list[int], index: int) -> None:
    url = f"/api/v1/namespaces/{NAMESPACE}/pods?watch=1&timeoutSeconds=600"
    async with session.get(url, timeout=aiohttp.ClientTimeout(total=None)) as response:
        async for _line in response.content:
            seen[index] += 1


async def creates(server: Server, *, clients: int, watchers: int, seconds: float) -> CreateResult:
    writers = sessions(server, clients)
    watching = sessions(server, watchers)
    seen = [0] * watchers
    try:
        await create_namespace(writers[0], NAMESPACE)
        url = f"/api/v1/namespaces/{NAMESPACE}/pods"
        tasks = [asyncio.create_task(watch_pods(s, seen, i)) for i, s in enumerate(watching)]
        await asyncio.sleep(0.5)  # let the watches start

        async def write(writer: int, sequence: int) -> None:
            await post(writers[writer], url, pod(f"pod-{writer}-{sequence}"))

        cpu, own = server.cpu_seconds(), time.process_time()
        latencies, took = await run_writers(clients, seconds, write)
        server_cpu, client_cpu = server.cpu_seconds() - cpu, time.process_time() - own
        finished = time.perf_counter()
        for _ in range(1000):  # up to 10 s for the watchers to catch up
            if min(seen) >= len(latencies):
                break
            await asyncio.sleep(0.01)
        drained = time.perf_counter() - finished
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        for session in writers + watching:
            await session.close()
    return CreateResult(summarize(latencies, took), server_cpu, client_cpu, list(seen), drained)


async def fill(server: Server, *, pods: int, clients: int, within: float) -> float:
    """Create ``pods`` pods (``clients`` at a time); the seconds that took."""
    writers = sessions(server, clients)
    names = iter(range(pods))
    started = time.perf_counter()
    deadline = started + within
    try:
        await create_namespace(writers[0], NAMESPACE)
        url = f"/api/v1/namespaces/{NAMESPACE}/pods"

        async def writer(session: aiohttp.ClientSession) -> None:
            for number in names:
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"creating {pods} pods took over {within} s")
                await post(session, url, pod(f"pod-{number:05d}"))

        async with asyncio.TaskGroup() as group:
            for session in writers:
                group.create_task(writer(session))
    finally:
        for session in writers:
            await session.close()
    return time.perf_counter() - started


EXACT = "resourceVersionMatch=Exact&resourceVersion={rv}"  # {rv}: the first list's revision
LIST_CASES = (
    ("JSON, resourceVersion unset", "/api/v1/pods", "application/json"),
    ("JSON, resourceVersion=0 (cache)", "/api/v1/pods?resourceVersion=0", "application/json"),
    ("JSON, Exact (storage)", f"/api/v1/pods?{EXACT}", "application/json"),
    ("Table, resourceVersion unset", "/api/v1/pods", TABLE),
    ("Table, resourceVersion=0 (cache)", "/api/v1/pods?resourceVersion=0", TABLE),
    ("Table, Exact (storage)", f"/api/v1/pods?{EXACT}", TABLE),
)


async def lists(
    server: Server, *, expected: int, runs: int, budget: float
) -> list[tuple[str, Summary, float]]:
    """Each LIST case ``runs`` times (or for ``budget`` seconds): latencies and MB per response."""
    results = []
    (session,) = sessions(server, 1)
    try:
        async with session.get("/api/v1/pods?limit=1") as response:
            revision = (await response.json())["metadata"]["resourceVersion"]
        for name, template, accept in LIST_CASES:
            url = template.format(rv=revision)
            latencies: list[float] = []
            size = 0
            case_started = time.perf_counter()
            while len(latencies) < runs and time.perf_counter() - case_started < budget:
                started = time.perf_counter()
                async with session.get(url, headers={"Accept": accept}) as response:
                    body = await response.read()
                latencies.append(time.perf_counter() - started)
                if response.status != 200:
                    raise RuntimeError(f"GET {url}: {response.status}")
                if not size:
                    size = len(body)
                    doc = orjson.loads(body)
                    count = len(doc["rows"] if accept == TABLE else doc["items"])
                    if count != expected:
                        raise RuntimeError(f"GET {url} returned {count} of {expected} pods")
            results.append((name, summarize(latencies, time.perf_counter() - case_started), size))
    finally:
        await session.close()
    return results


# -- report ----------------------------------------------------------------------------------------
def table(header: tuple[str, ...], rows: list[tuple[object, ...]]) -> None:
    cells = [tuple(str(c) for c in row) for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(
            zip(row, widths, strict=True))))  # fmt: skip


def print_profile(path: Path, top: int) -> None:
    if not path.exists():
        print(f"(no profile written to {path})")
        return
    print(f"\nserver profile ({path.name}), top {top} by internal time:")
    stats = pstats.Stats(str(path))
    stats.sort_stats("tottime").print_stats(top)


async def run(
    *,
    directory: Path,
    cold_runs: int = 5,
    seconds: float = 5.0,
    clients: int = 32,
    watchers: int = 5,
    pods: int = 10_000,
    list_runs: int = 20,
    profile: Path | None = None,
) -> None:
    started = await asyncio.to_thread(cold_start, directory, cold_runs)
    took, rss = started
    print(f"cold start ({cold_runs} runs, fresh data directory, to the first 200 on /readyz):")
    table(
        ("", "p50", "max", "goal"),
        [
            ("seconds to ready", f"{percentile(took, 50):.2f}", f"{max(took):.2f}", "≤ 1.5"),
            ("idle RSS MB", f"{percentile(rss, 50):.1f}", f"{max(rss):.1f}", "≤ 80"),
        ],
    )

    create_profile = profile / "creates.prof" if profile else None
    with running_server(directory, create_profile, alone=True) as (server, _):
        result = await creates(server, clients=clients, watchers=watchers, seconds=seconds)
    s = result.summary
    print(f"\ncreates: {clients} clients POSTing pods for {seconds:g} s, {watchers} pod watchers:")
    table(
        ("creates", "per s", "p50 ms", "p99 ms", "CPU ms/create: server", "client", "watch events"),
        [
            (
                s.count,
                f"{s.rate:,.0f}",
                f"{s.p50_ms:.1f}",
                f"{s.p99_ms:.1f}",
                f"{result.server_cpu * 1000 / max(s.count, 1):.2f}",
                f"{result.client_cpu * 1000 / max(s.count, 1):.2f}",
                f"{min(result.delivered)}..{max(result.delivered)} (+{result.drained_after:.2f} s)",
            )
        ],
    )

    list_profile = profile / "lists.prof" if profile else None
    with running_server(directory, list_profile, alone=True) as (server, _):
        filled = await fill(server, pods=pods, clients=clients, within=300)
        rows = await lists(server, expected=pods, runs=list_runs, budget=30)
    print(f"\nLIST of {pods:,} pods (created in {filled:.1f} s), GET /api/v1/pods:")
    table(
        ("response", "runs", "p50 ms", "p99 ms", "MB"),
        [
            (n, s.count, f"{s.p50_ms:.1f}", f"{s.p99_ms:.1f}", f"{mb / 1e6:.1f}")
            for n, s, mb in rows
        ],
    )
    if profile:
        for path in (create_profile, list_profile):
            assert path is not None
            print_profile(path, 25)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of the create run")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--list-runs", type=int, default=20)
    parser.add_argument("--profile", type=Path, help="run the server under cProfile, into DIR")
    args = parser.parse_args()
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
        asyncio.run(
            run(
                directory=Path(tmp),
                cold_runs=args.cold_runs,
                seconds=args.seconds,
                clients=args.clients,
                pods=args.pods,
                list_runs=args.list_runs,
                profile=args.profile and args.profile.resolve(),
            )
        )


if __name__ == "__main__":
    main()
