"""Streaming throughput: ``kubectl port-forward`` and ``kubectl logs`` against reading the same
bytes directly, in one run.

``python -m bench.streaming_bench [--mb 100]``

A fresh ``pocketkube server`` (API server, scheduler, the node's kubelet on the process runtime)
on a temporary data directory. Three measurements, each as MB/s and as a ratio to the direct way
of reading the same bytes:

- **port-forward**: a pod serves ``--mb`` MB on each TCP connection to its port 9000; the bench
  reads them through ``kubectl port-forward pod/sink`` (kubectl → API server → kubelet →
  streaming server → the pod's port, SPDY frames in WebSocket messages) and directly from the pod's
  address (its own network namespace as root, the host's otherwise). One connection, then 4 at
  once.
- **logs -f**: a pod writes ``--mb`` MB (100-byte lines) to stdout once told to; ``kubectl logs
  -f`` follows it from before the first byte until the container exits (shim → CRI log file, with
  rotation → kubelet → API server → kubectl). Direct: the same command run on the host, its stdout
  read from a pipe.
- **logs**: ``kubectl logs`` of that finished container (what the kubelet keeps: containerLogMaxSize
  10 MiB times containerLogMaxFiles 5, so about 45 MB of the 100 MB) against reading the same CRI
  log files from disk (``cat``, which is less work: no parsing of the records).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.kubelet_bench import free_port, node_server

NAMESPACE = "bench"
CHUNK = 1 << 20

SINK = """\
import socket, sys, threading
data = b"x" * (1 << 20)
mb = int(sys.argv[1])
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("0.0.0.0", 9000))
server.listen(64)
def serve(conn):
    with conn:
        for _ in range(mb):
            conn.sendall(data)
while True:
    conn, _ = server.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"""

LOGGER = """\
import os, sys, time
mb, trigger = int(sys.argv[1]), sys.argv[2]
while not os.path.exists(trigger):
    time.sleep(0.02)
chunk = (b"y" * 99 + b"\\n") * 10486
out = sys.stdout.buffer
for _ in range(mb):
    out.write(chunk)
out.flush()
"""


def manifest(mb: int, trigger: Path) -> str:
    pods = []
    for name, script, args in (
        ("sink", SINK, [str(mb)]),
        ("logger", LOGGER, [str(mb), str(trigger)]),
    ):
        pods.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "namespace": NAMESPACE},
                "spec": {
                    "restartPolicy": "Never",
                    "terminationGracePeriodSeconds": 1,
                    "containers": [
                        {
                            "name": "c",
                            "image": "python",
                            "command": ["python3", "-c", script, *args],
                            **(
                                {
                                    "readinessProbe": {
                                        "tcpSocket": {"port": 9000},
                                        "periodSeconds": 1,
                                    }
                                }
                                if name == "sink"
                                else {}
                            ),
                        }
                    ],
                },
            }
        )
    return "\n---\n".join(json.dumps(p) for p in pods)


class Kubectl:
    def __init__(self, kubeconfig: Path, cache: Path) -> None:
        self.base = ["kubectl", "--kubeconfig", str(kubeconfig), "--cache-dir", str(cache)]

    def argv(self, *args: str) -> list[str]:
        return [*self.base, "-n", NAMESPACE, *args]

    def run(self, *args: str, stdin: str | None = None) -> str:
        result = subprocess.run(
            self.argv(*args), input=stdin, capture_output=True, text=True, timeout=120
        )
        if result.returncode != 0:
            raise SystemExit(f"kubectl {' '.join(args)}: {result.stderr}")
        return result.stdout

    def pod(self, name: str) -> dict[str, Any]:
        return json.loads(self.run("get", "pod", name, "-o", "json"))  # type: ignore[no-any-return]

    def wait(self, name: str, check: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            pod = self.pod(name)
            status = pod.get("status") or {}
            conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}
            if (check == "Ready" and conditions.get("Ready") == "True") or status.get(
                "phase"
            ) == check:
                return pod
            if time.monotonic() > deadline:
                raise SystemExit(f"{name} not {check}: {status}")
            time.sleep(0.2)


def read_all(sock: socket.socket) -> int:
    total = 0
    buf = bytearray(CHUNK)
    while True:
        n = sock.recv_into(buf)
        if not n:
            return total
        total += n


def download(host: str, port: int, connections: int) -> tuple[int, float]:
    """Bytes read over ``connections`` parallel connections, and the seconds it took."""
    totals = [0] * connections

    def one(i: int) -> None:
        with socket.create_connection((host, port), timeout=60) as sock:
            totals[i] = read_all(sock)

    started = time.perf_counter()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(totals), time.perf_counter() - started


@contextmanager
def port_forward(kubectl: Kubectl, target: str, remote: int) -> Iterator[int]:
    local = free_port()
    proc = subprocess.Popen(
        kubectl.argv("port-forward", target, f"{local}:{remote}"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("Forwarding from"):
            proc.kill()
            raise SystemExit(f"kubectl port-forward: {line} {proc.communicate()[1]}")
        yield local
    finally:
        proc.kill()
        proc.communicate()


def mbps(nbytes: int, seconds: float) -> float:
    return nbytes / seconds / 1e6


def row(what: str, nbytes: int, seconds: float, direct_bytes: int, direct_seconds: float) -> str:
    through = mbps(nbytes, seconds)
    direct = mbps(direct_bytes, direct_seconds)
    return (
        f"| {what} | {nbytes / 1e6:.0f} | {through:.1f} | {direct:.1f} | {through / direct:.2f} |"
    )


def measure_port_forward(kubectl: Kubectl, mb: int) -> list[str]:
    pod = kubectl.wait("sink", "Ready")
    pod_ip = str(pod["status"]["podIP"])
    rows = []
    with port_forward(kubectl, "pod/sink", 9000) as local:
        download("127.0.0.1", local, 1)  # warm-up: kubectl's first connection sets up the stream
        for connections in (1, 4):
            direct = download(pod_ip, 9000, connections)
            through = download("127.0.0.1", local, connections)
            assert through[0] == direct[0] == connections * mb * CHUNK, (through, direct)
            rows.append(row(f"port-forward, {connections} connection(s)", *through, *direct))
    return rows


def measure_logs(kubectl: Kubectl, mb: int, trigger: Path, data_dir: Path) -> list[str]:
    kubectl.wait("logger", "Running")
    # direct: the same program on the host, its stdout read from a pipe
    host_trigger = trigger.with_suffix(".host")
    host_trigger.touch()
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", LOGGER, str(mb), str(host_trigger)], capture_output=True
    )
    direct = (len(proc.stdout), time.perf_counter() - started)

    follower = subprocess.Popen(kubectl.argv("logs", "-f", "logger"), stdout=subprocess.PIPE)
    time.sleep(1.0)  # kubectl is following before the first byte is written
    started = time.perf_counter()
    trigger.touch()
    assert follower.stdout is not None
    followed = 0
    while chunk := os.read(follower.stdout.fileno(), CHUNK):
        followed += len(chunk)
    follower.wait()
    follow = (followed, time.perf_counter() - started)
    rows = [row("logs -f while written", *follow, *direct)]

    kubectl.wait("logger", "Succeeded")
    pod = kubectl.pod("logger")
    uid = pod["metadata"]["uid"]
    log_dir = data_dir / "kubelet" / "logs" / f"{NAMESPACE}_logger_{uid}" / "c"
    files = sorted(log_dir.iterdir())
    started = time.perf_counter()
    raw = 0
    for path in files:
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                raw += len(chunk)
    cat = (raw, time.perf_counter() - started)
    started = time.perf_counter()
    out = subprocess.run(kubectl.argv("logs", "logger"), capture_output=True).stdout
    logs = (len(out), time.perf_counter() - started)
    rows.append(row(f"logs of the finished container ({len(files)} files)", *logs, *cat))
    return rows


def run(mb: int) -> None:
    base = Path(tempfile.mkdtemp(prefix="pk-streaming-bench-"))
    with node_server(base) as (data_dir, kubeconfig, _):
        kubectl = Kubectl(kubeconfig, base / "kubectl-cache")
        subprocess.run([*kubectl.base, "create", "namespace", NAMESPACE], capture_output=True)
        trigger = base / "go"
        kubectl.run("apply", "-f", "-", stdin=manifest(mb, trigger))
        rows = measure_port_forward(kubectl, mb) + measure_logs(kubectl, mb, trigger, data_dir)
        network = "own netns" if os.geteuid() == 0 else "host network"
        print(f"streaming throughput ({mb} MB, pods in their {network}):")
        print("| path | MB | MB/s | direct MB/s | ratio |")
        print("|---|---:|---:|---:|---:|")
        for line in rows:
            print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100)
    args = parser.parse_args()
    run(args.mb)


if __name__ == "__main__":
    main()
