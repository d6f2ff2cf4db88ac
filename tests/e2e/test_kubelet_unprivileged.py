"""Without root the kubelet still runs pods: on the host's network, without cgroups, and says so.

The server runs as ``nobody``: pods get the node's address (127.0.0.1), their processes run as
that user, and the node's Ready condition tells the user what is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import pocketkube
from pocketkube.runtime.process.logs import read_log
from tests.e2e.conftest import Cluster, free_port
from tests.e2e.nodecluster import FAST_KUBELET, node_ready, teardown_node, wait_for

NOBODY = 65534

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become another user")


AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


def nobody_python() -> tuple[str, dict[str, str]]:
    """An interpreter ``nobody`` can run, and re-run (the server starts its components with
    ``sys.executable``), with this checkout and its packages on the path.

    The venv's interpreter may live under /root (pyenv), out of nobody's reach; the system's
    Python of the same minor version takes the same packages.
    """
    paths = [str(Path(pocketkube.__file__).parents[1]), sysconfig.get_paths()["purelib"]]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    minor = f"python{sys.version_info.major}.{sys.version_info.minor}"
    probe = "import subprocess, sys, pocketkube.cli.main; "
    probe += "subprocess.run([sys.executable, '-c', 'import orjson'], check=True)"
    for candidate in (f"/usr/bin/{minor}", f"/usr/local/bin/{minor}", sys.executable):
        if not os.path.exists(candidate):
            continue
        check = subprocess.run([*AS_NOBODY, candidate, "-c", probe], capture_output=True, env=env)
        if check.returncode == 0:
            return candidate, env
    pytest.skip(f"no Python that user {NOBODY} can run with this checkout's packages")


@pytest.fixture
def unprivileged(tmp_path: Path) -> Iterator[Cluster]:
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    python, env = nobody_python()
    base = Path(tempfile.mkdtemp(prefix="pk-nobody-"))
    os.chown(base, NOBODY, NOBODY)
    data_dir = base / "cluster"
    port = free_port()
    log = open(base / "server.log", "wb")  # noqa: SIM115 (the child owns it)
    argv = [python, "-m", "pocketkube.cli", "server", "--data-dir", str(data_dir)]
    proc = subprocess.Popen(
        [*AS_NOBODY, *argv, "--port", str(port), *FAST_KUBELET],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=base,
        env={**env, "HOME": str(base)},
    )
    log.close()
    cluster = Cluster(proc, data_dir, port, tmp_path / "cache")  # type: ignore[arg-type]
    try:
        wait_for(lambda: (data_dir / "admin.kubeconfig").exists(), 30, "the kubeconfig")
        try:
            wait_for(lambda: node_ready(cluster), 60, "the node to be Ready")
        except AssertionError:
            print((base / "server.log").read_text(errors="replace")[-5000:])
            raise
        yield cluster
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        teardown_node(data_dir / "kubelet")
        shutil.rmtree(base, ignore_errors=True)


def test_unprivileged_server_runs_pods_on_the_host_network(unprivileged: Cluster) -> None:
    cluster = unprivileged
    node = json.loads(cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"][0]
    ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"
    assert "host" in ready["message"]
    assert "network" in ready["message"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "plain"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox", "command": ["id", "-u"]}],
        },
    }
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(pod))

    def finished() -> dict[str, object] | None:
        got = json.loads(cluster.kubectl("get", "pod", "plain", "-o", "json").stdout)
        return got if got["status"].get("phase") in ("Succeeded", "Failed") else None

    done = wait_for(finished, 60, "the pod to finish")
    assert done["status"]["phase"] == "Succeeded"  # type: ignore[index]
    assert done["status"]["podIP"] == "127.0.0.1"  # type: ignore[index]
    meta = done["metadata"]  # type: ignore[index]
    logs = cluster.data_dir / "kubelet" / "logs" / f"default_plain_{meta['uid']}" / "c"
    assert read_log(logs / "0.log") == [("stdout", f"{NOBODY}\n")] or [
        line.strip() for _, line in read_log(logs / "0.log")
    ] == [str(NOBODY)]
