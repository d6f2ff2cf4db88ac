"""F7 (RELIABILITY.md): kill -9 the kubelet with 10 pods running.

The pods' processes keep running with unchanged PIDs, container IDs and restart counts; the
restarted kubelet (``pocketkube server`` restarts its child) adopts them without starting anything
twice, its status reconciles within 30 s, and pods deleted while it was down are stopped.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pocketkube.runtime.process.logs import read_log
from tests.e2e.conftest import Cluster
from tests.e2e.nodecluster import node_cluster_at, wait_for

PODS = 10


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    yield from node_cluster_at(tmp_path)


def kubelet_pid(cluster: Cluster) -> int:
    out = subprocess.run(
        ["pgrep", "-f", f"pocketkube.cli kubelet --kubeconfig {cluster.data_dir}/"],
        capture_output=True,
        text=True,
    ).stdout.split()
    assert len(out) == 1, out
    return int(out[0])


def pods(cluster: Cluster) -> dict[str, dict[str, object]]:
    items = json.loads(cluster.kubectl("get", "pods", "-n", "f7", "-o", "json").stdout)["items"]
    return {p["metadata"]["name"]: p for p in items}


def first_line_pid(cluster: Cluster, pod: dict[str, object]) -> int:
    meta = pod["metadata"]  # type: ignore[index]
    logs = cluster.data_dir / "kubelet" / "logs" / f"f7_{meta['name']}_{meta['uid']}"
    lines = read_log(next((logs / "c").glob("*.log")))
    return int(lines[0][1].strip())


def manifest() -> str:
    docs = []
    for n in range(PODS):
        docs.append(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": f"p{n}", "namespace": "f7"},
                    "spec": {
                        "terminationGracePeriodSeconds": 2,
                        "containers": [
                            {
                                "name": "c",
                                "image": "busybox",
                                # "$$$$" reaches sh as "$$" (Kubernetes expands "$$" to "$")
                                "command": ["sh", "-c", "echo $$$$; exec sleep 3600"],
                            }
                        ],
                    },
                }
            )
        )
    return "\n---\n".join(docs)


def test_kill_9_kubelet_keeps_pods_running_and_adopts_them(cluster: Cluster) -> None:
    cluster.kubectl("create", "namespace", "f7")
    cluster.kubectl("apply", "-f", "-", stdin=manifest())

    def all_running() -> dict[str, dict[str, object]] | None:
        current = pods(cluster)
        ok = len(current) == PODS and all(
            p["status"].get("phase") == "Running"
            for p in current.values()  # type: ignore[union-attr]
        )
        return current if ok else None

    before = wait_for(all_running, 90, "10 running pods")
    seen = {
        name: (
            p["status"]["containerStatuses"][0]["containerID"],  # type: ignore[index]
            p["status"]["containerStatuses"][0]["restartCount"],  # type: ignore[index]
            first_line_pid(cluster, p),
        )
        for name, p in before.items()
    }
    for _, _, pid in seen.values():
        assert Path(f"/proc/{pid}").exists()

    old = kubelet_pid(cluster)
    os.kill(old, signal.SIGKILL)
    # While the kubelet is down, two pods are deleted: they must be stopped after it returns.
    cluster.kubectl("delete", "pod", "-n", "f7", "p0", "p1", "--wait=false")
    time.sleep(1)
    for _, _, pid in seen.values():
        assert Path(f"/proc/{pid}").exists(), "a container died with its kubelet"

    wait_for(lambda: _other_kubelet(cluster, old), 30, "the kubelet to be restarted")

    def reconciled() -> dict[str, dict[str, object]] | None:
        current = pods(cluster)
        return current if set(current) == {f"p{n}" for n in range(2, PODS)} else None

    after = wait_for(reconciled, 30, "the deleted pods to be stopped and gone")
    for name, pod in after.items():
        status = pod["status"]["containerStatuses"][0]  # type: ignore[index]
        container_id, restarts, pid = seen[name]
        assert status["containerID"] == container_id
        assert status["restartCount"] == restarts
        assert "running" in status["state"]
        assert Path(f"/proc/{pid}").exists()
    for name in ("p0", "p1"):
        pid = seen[name][2]
        wait_for(lambda pid=pid: not _alive(pid), 15, f"{name}'s process to end")  # type: ignore[misc]
    # No container was started twice: each pod has one log file, from its first start.
    for pod in after.values():
        meta = pod["metadata"]  # type: ignore[index]
        logs = cluster.data_dir / "kubelet" / "logs" / f"f7_{meta['name']}_{meta['uid']}" / "c"
        assert [p.name for p in logs.glob("*.log")] == ["0.log"]
    cluster.kubectl("delete", "pod", "--all", "-n", "f7", "--wait=true", timeout=120)


def _other_kubelet(cluster: Cluster, old: int) -> bool:
    try:
        return kubelet_pid(cluster) != old
    except AssertionError:
        return False


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"
