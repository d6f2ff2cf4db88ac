"""The shim and its fork server as standalone programs (``python -I -S``, standard library)."""

from __future__ import annotations

import json
import marshal
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pocketkube.runtime.process import forkserver, procs, read_log, shim
from pocketkube.runtime.process.launcher import socket_name

SHIM = Path(shim.__file__)
FORKSERVER = Path(forkserver.__file__)


def write_spec(directory: Path, *argv: str, **overrides: Any) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": list(argv),
        "env": {"PATH": "/usr/bin:/bin", "A": "b"},
        "cwd": str(directory),
        "procs_files": [],
        "netns": "",
        "uid": None,
        "gid": None,
        "log_path": str(directory / "0.log"),
        "log_max_size": 1 << 20,
        "log_max_files": 2,
        **overrides,
    }
    (directory / shim.SPEC).write_bytes(marshal.dumps(spec))


def run_shim(directory: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the shim to the container's end: (its report, the exit record)."""
    out = subprocess.run(
        [sys.executable, "-I", "-S", str(SHIM), str(directory)],
        capture_output=True,
        timeout=60,
        start_new_session=True,
    )
    assert out.returncode in (0, 1), out.stderr
    report = json.loads(out.stdout)
    return report, json.loads((directory / shim.EXITED).read_text())


def test_a_container_runs_logs_and_exits(tmp_path: Path) -> None:
    write_spec(tmp_path, "sh", "-c", 'echo "$A $(pwd)"; echo oops >&2; exit 3')
    report, exited = run_shim(tmp_path)
    assert report["pid"] > 0
    assert report["started_at"] > 0
    assert json.loads((tmp_path / shim.STARTED).read_text()) == report
    assert exited["exit_code"] == 3
    assert exited["finished_at"] >= report["started_at"]
    assert sorted(read_log(tmp_path / "0.log")) == [("stderr", "oops"), ("stdout", f"b {tmp_path}")]
    assert not list(tmp_path.glob("*.tmp"))  # records are renamed into place


def test_killed_by_a_signal_is_128_plus_its_number(tmp_path: Path) -> None:
    write_spec(tmp_path, "sh", "-c", "kill -KILL $$")
    _, exited = run_shim(tmp_path)
    assert (exited["exit_code"], exited["signal"]) == (128 + signal.SIGKILL, signal.SIGKILL)


def test_signals_are_reset_for_the_container(tmp_path: Path) -> None:
    # Python ignores SIGPIPE; a container must not inherit that: `yes` dies of SIGPIPE
    write_spec(tmp_path, "sh", "-c", "yes | head -n 1 >/dev/null; grep SigIgn /proc/self/status")
    _, exited = run_shim(tmp_path)
    assert exited["exit_code"] == 0
    [(stream, line)] = read_log(tmp_path / "0.log")
    assert stream == "stdout"
    assert line.startswith("SigIgn:\t")
    # No standard signal is ignored; glibc's reserved real-time signals (32, 33) cannot be
    # reset through libc, and a parent (a CI runner) may ignore them.
    assert int(line.split("\t")[1], 16) & 0x7FFFFFFF == 0


@pytest.mark.parametrize(
    ("argv", "overrides", "message"),
    [
        (["nope-xyz"], {}, 'exec: "nope-xyz": executable file not found in $PATH'),
        (["true"], {"env": {"PATH": "/nowhere"}}, 'exec: "true": executable file not found'),
        (
            ["true"],
            {"cwd": "/no/such/dir"},
            'chdir to cwd ("/no/such/dir") set in config.json failed: no such file or directory',
        ),
    ],
)
def test_start_errors(
    tmp_path: Path, argv: list[str], overrides: dict[str, Any], message: str
) -> None:
    write_spec(tmp_path, *argv, **overrides)
    report, exited = run_shim(tmp_path)
    assert message in report["error"]
    assert exited["exit_code"] == shim.START_ERROR_EXIT_CODE
    assert exited["start_error"] == report["error"]


def start_server(root: Path) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [sys.executable, "-I", "-S", str(FORKSERVER), str(root), socket_name(root)[1:]],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    assert server.stdout is not None
    assert server.stdout.readline() == b"ready\n"
    return server


def request(root: Path, line: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(socket_name(root))
        sock.sendall(line)
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
        return data


def test_fork_server(tmp_path: Path) -> None:
    root = tmp_path / "root"
    server = start_server(root)
    try:
        lifeline = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lifeline.connect(socket_name(root))
        lifeline.sendall(b"lifeline\n")
        cid = "ab" * 32
        write_spec(root / "containers" / cid, "sh", "-c", "echo hi")
        reply = request(root, f"start {cid}\n".encode())
        ack, report = reply.split(b"\n", 1)
        assert ack == b"ok"
        assert json.loads(report)["pid"] > 0
        for bad in (b"start ../../etc\n", b"start " + b"cd" * 32 + b"\n", b"run x\n"):
            assert request(root, bad) == b""  # refused: no such container, or not an id

        lifeline.close()  # the runtime is gone and no shim runs: the server leaves
        server.wait(timeout=forkserver.IDLE_EXIT_SECONDS + 10)
        assert read_log(root / "containers" / cid / "0.log") == [("stdout", "hi")]
        # a second server for the same root dir finds the name free again
        start_server(root).kill()
    finally:
        if server.poll() is None:
            server.kill()
        server.wait()


def test_a_second_fork_server_for_the_same_root_is_busy(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        second = subprocess.run(
            [sys.executable, "-I", "-S", str(FORKSERVER), str(tmp_path), socket_name(tmp_path)[1:]],
            capture_output=True,
            timeout=30,
        )
        assert second.stdout == b"busy\n"
    finally:
        server.kill()
        server.wait()


def test_the_shim_outlives_its_fork_server(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    cid = "ef" * 32
    directory = tmp_path / "containers" / cid
    write_spec(directory, "sleep", "60")
    try:
        report = json.loads(request(tmp_path, f"start {cid}\n".encode()).split(b"\n", 1)[1])
    finally:
        server.kill()
        server.wait()
    time.sleep(0.1)
    assert procs.alive(report["pid"], report["start_ticks"])
    os.killpg(report["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 20
    while not (directory / shim.EXITED).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert json.loads((directory / shim.EXITED).read_text())["exit_code"] == 137
