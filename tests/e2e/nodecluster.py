"""A `pocketkube server` with its kubelet: a one-node cluster whose pods really run.

The server's output goes to a log file (a chatty kubelet must never block on a full pipe). Pods'
processes outlive the kubelet by design, so the teardown stops what the node's runtime still
holds — sandboxes (with their network namespaces and addresses), containers, shims — from the
runtime's own records, and never touches a process it did not start.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pocketkube.runtime.process.teardown import teardown_node
from tests.e2e.conftest import Cluster, free_port

NODE_READY_TIMEOUT = 60.0
# Fast crash back-off and relists, so restart timings can be tested in seconds.
FAST_KUBELET = (
    "--kubelet-arg=--container-restart-backoff-base=1",
    "--kubelet-arg=--container-restart-backoff-max=8",
    "--kubelet-arg=--pleg-period=0.5",
)


def start_node_server(data_dir: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    log = open(data_dir.parent / f"{data_dir.name}.log", "ab")  # noqa: SIM115 (the child owns it)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pocketkube.cli",
            "server",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
            *extra,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    return proc


def wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def node_ready(cluster: Cluster) -> bool:
    result = cluster.kubectl("get", "nodes", "-o", "json", check=False)
    if result.returncode != 0:
        return False
    for node in json.loads(result.stdout)["items"]:
        for condition in node["status"].get("conditions") or []:
            if condition["type"] == "Ready" and condition["status"] == "True":
                return True
    return False


def node_cluster_at(base: Path, *extra: str) -> Iterator[Cluster]:
    port = free_port()
    data_dir = base / "cluster"
    proc = start_node_server(data_dir, port, *FAST_KUBELET, *extra)
    cluster = Cluster(proc, data_dir, port, base / "kubectl-cache")  # type: ignore[arg-type]
    try:
        wait_for(lambda: (data_dir / "admin.kubeconfig").exists(), 30, "the admin kubeconfig")
        wait_for(lambda: node_ready(cluster), NODE_READY_TIMEOUT, "the node to be Ready")
        yield cluster
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        teardown_node(data_dir / "kubelet")


def server_log(cluster: Cluster) -> str:
    path = cluster.data_dir.parent / f"{cluster.data_dir.name}.log"
    return path.read_text(errors="replace") if path.exists() else ""


def is_root() -> bool:
    return os.geteuid() == 0
