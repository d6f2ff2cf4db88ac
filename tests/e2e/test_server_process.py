"""`pocketkube server` as a user runs it: starts on SQLite, keeps its data, stops on SIGTERM."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import free_port

POCKETKUBE = [sys.executable, "-m", "pocketkube.cli"]


def start(data_dir: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*POCKETKUBE, "server", "--data-dir", str(data_dir), "--port", str(free_port()), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_ready(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "ready at revision" in line:
            return line
    raise AssertionError("server exited before it was ready:\n" + "".join(lines))


def stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    return out


def test_server_starts_on_sqlite_and_stops_cleanly(tmp_path: Path) -> None:
    data_dir = tmp_path / "cluster"
    proc = start(data_dir)
    try:
        line = wait_ready(proc)
    finally:
        out = stop(proc)
    assert "datastore sqlite" in line
    assert "stopped" in out
    assert stat.S_IMODE(os.stat(data_dir).st_mode) == 0o700
    assert (data_dir / "db" / "state.db").exists()
    assert stat.S_IMODE(os.stat(data_dir / "db" / "state.db").st_mode) == 0o600


def test_server_refuses_an_unknown_datastore(tmp_path: Path) -> None:
    result = subprocess.run(
        [*POCKETKUBE, "server", "--data-dir", str(tmp_path), "--datastore-endpoint", "mysql://x"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "unknown datastore endpoint" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.etcd
def test_server_runs_on_real_etcd(tmp_path: Path, etcd_server: object) -> None:
    if shutil.which("etcd") is None:
        pytest.skip("etcd not installed: apt-get install etcd-server")
    endpoint = getattr(etcd_server, "endpoint")  # noqa: B009
    proc = start(tmp_path / "cluster", "--datastore-endpoint", endpoint)
    try:
        line = wait_ready(proc)
    finally:
        stop(proc)
    assert "datastore etcd" in line


def test_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [*POCKETKUBE, "server", "--data-dir", str(tmp_path), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert "cannot start" in result.stderr
    assert "Traceback" not in result.stderr
