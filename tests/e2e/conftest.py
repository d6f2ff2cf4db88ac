"""A `pocketkube server` process on a free loopback port, and real kubectl pointed at it."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Cluster:
    process: subprocess.Popen[str]
    data_dir: Path
    port: int
    cache_dir: Path

    @property
    def kubeconfig(self) -> Path:
        return self.data_dir / "admin.kubeconfig"

    def kubectl(
        self, *args: str, check: bool = True, stdin: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [
                "kubectl",
                "--kubeconfig",
                str(self.kubeconfig),
                "--cache-dir",
                str(self.cache_dir),
                *args,
            ],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result


def start_server(
    data_dir: Path, port: int, *extra: str, kubelet: bool = False
) -> subprocess.Popen[str]:
    """A server; without ``kubelet`` it runs no node (the API and scheduler tests need none)."""
    if not kubelet:
        extra = ("--disable-kubelet", *extra)
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
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "export KUBECONFIG=" in line:
            return proc
    proc.wait(10)
    raise AssertionError("pocketkube server did not start:\n" + "".join(seen))


def stop_server(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    return out


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    port = free_port()
    data_dir = tmp_path / "cluster"
    proc = start_server(data_dir, port)
    try:
        yield Cluster(proc, data_dir, port, tmp_path / "kubectl-cache")
    finally:
        stop_server(proc)


@pytest.fixture(scope="module")
def node_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One node whose kubelet runs pods (shared by a test module; each test uses its own
    namespace)."""
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    from tests.e2e.nodecluster import node_cluster_at

    yield from node_cluster_at(tmp_path_factory.mktemp("node"))
