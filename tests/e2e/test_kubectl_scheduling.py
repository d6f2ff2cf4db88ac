"""The scheduler as users meet it: `pocketkube server` runs it, real kubectl shows its work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from .conftest import Cluster, free_port, start_server, stop_server

# A copy of ../shared/manifests/scheduling.yaml: CI runs on a clone without ../shared.
MANIFESTS = Path(__file__).resolve().parent / "manifests"
ZONE = "topology.kubernetes.io/zone"


def add_node(cluster: Cluster, name: str, *, labels: dict[str, str], cpu: str = "2") -> None:
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **labels}},
    }
    cluster.kubectl("create", "-f", "-", stdin=json.dumps(node))
    status = {
        "status": {
            "capacity": {"cpu": cpu, "memory": "4Gi", "pods": "110"},
            "allocatable": {"cpu": cpu, "memory": "4Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}],
        }
    }
    # What a kubelet does: node status goes through the status subresource.
    cluster.kubectl(
        "patch", "node", name, "--subresource=status", "--type=merge", "-p", json.dumps(status)
    )


def wait_for(check: Any, what: str, seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}: {last!r}")


def node_of(cluster: Cluster, pod: str) -> str:
    return cluster.kubectl("get", "pod", pod, "-o", "jsonpath={.spec.nodeName}").stdout


def test_scheduling_manifest_spreads_and_describe_shows_events(cluster: Cluster) -> None:
    add_node(cluster, "node-a", labels={ZONE: "a", "disktype": "ssd"})
    add_node(cluster, "node-b", labels={ZONE: "b"})
    add_node(cluster, "node-c", labels={ZONE: "c"})
    docs = list(yaml.safe_load_all((MANIFESTS / "scheduling.yaml").read_text()))
    priority_class = next(d for d in docs if d["kind"] == "PriorityClass")
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(priority_class))
    # No deployment controller yet: create the replicas from the template, as it would.
    template = deployment["spec"]["template"]
    for i in range(4):
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {**template["metadata"], "name": f"spread-{i}"},
            "spec": template["spec"],
        }
        cluster.kubectl("create", "-f", "-", stdin=json.dumps(pod))
    nodes = [wait_for(lambda i=i: node_of(cluster, f"spread-{i}"), "binding") for i in range(4)]
    # Zone spread (maxSkew 1, soft) and hostname anti-affinity: every node gets a pod.
    assert set(nodes) == {"node-a", "node-b", "node-c"}
    wide = cluster.kubectl("get", "pods", "-o", "wide").stdout
    assert "node-a" in wide
    priority = cluster.kubectl("get", "pod", "spread-0", "-o", "jsonpath={.spec.priority}")
    assert priority.stdout == "100000"

    def scheduled_event() -> str:
        out = cluster.kubectl("describe", "pod", "spread-0").stdout
        return out if "Successfully assigned default/spread-0 to" in out else ""

    described = wait_for(scheduled_event, "Scheduled event in describe")
    assert "Normal  Scheduled" in described
    assert "default-scheduler" in described
    conditions = cluster.kubectl(
        "get",
        "pod",
        "spread-0",
        "-o",
        "jsonpath={.status.conditions[?(@.type=='PodScheduled')].status}",
    )
    assert conditions.stdout == "True"


def test_unschedulable_pod_reports_why_then_fits_a_new_node(cluster: Cluster) -> None:
    add_node(cluster, "small", labels={}, cpu="1")
    cluster.kubectl(
        "run",
        "hungry",
        "--image=busybox",
        "--overrides",
        json.dumps(
            {
                "spec": {
                    "containers": [
                        {
                            "name": "hungry",
                            "image": "busybox",
                            "resources": {"requests": {"cpu": "3"}},
                        }
                    ]
                }
            }
        ),
    )
    expected = (
        "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: "
        "1 No preemption victims found for incoming pod.."
    )

    def failed() -> str:
        out = cluster.kubectl("describe", "pod", "hungry").stdout
        return out if "FailedScheduling" in out else ""

    described = wait_for(failed, "FailedScheduling in describe")
    assert expected in described
    assert "Warning  FailedScheduling" in described
    events = cluster.kubectl("get", "events", "--field-selector", "reason=FailedScheduling")
    assert "pod/hungry" in events.stdout
    message = cluster.kubectl(
        "get",
        "pod",
        "hungry",
        "-o",
        "jsonpath={.status.conditions[?(@.type=='PodScheduled')].message}",
    )
    assert message.stdout == expected
    add_node(cluster, "large", labels={}, cpu="4")
    assert wait_for(lambda: node_of(cluster, "hungry"), "binding after a node arrived") == "large"


def test_standalone_scheduler_with_a_configuration_file(tmp_path: Path) -> None:
    port = free_port()
    data_dir = tmp_path / "cluster"
    server = start_server(data_dir, port, "--disable-scheduler")
    config = tmp_path / "scheduler.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kubescheduler.config.k8s.io/v1",
                "kind": "KubeSchedulerConfiguration",
                "clientConnection": {"kubeconfig": str(data_dir / "admin.kubeconfig")},
                "profiles": [{"schedulerName": "my-scheduler"}],
            }
        )
    )
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "pocketkube.cli", "scheduler", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        cluster = Cluster(server, data_dir, port, tmp_path / "kubectl-cache")
        add_node(cluster, "n1", labels={})
        cluster.kubectl(
            "run",
            "mine",
            "--image=busybox",
            "--overrides",
            json.dumps({"spec": {"schedulerName": "my-scheduler"}}),
        )
        cluster.kubectl("run", "default-one", "--image=busybox")
        assert wait_for(lambda: node_of(cluster, "mine"), "binding by my-scheduler") == "n1"
        # No default-scheduler runs: that pod stays pending, untouched.
        time.sleep(1)
        assert node_of(cluster, "default-one") == ""
    finally:
        scheduler.terminate()
        scheduler.wait(15)
        stop_server(server)


def test_bad_scheduler_configuration_is_a_usage_error(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("apiVersion: v1\nkind: Pod\n")
    result = subprocess.run(
        [sys.executable, "-m", "pocketkube.cli", "scheduler", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "KubeSchedulerConfiguration" in result.stderr
    assert "Traceback" not in result.stderr


def _scheduler_pids(data_dir: Path) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"scheduler" in argv and str(data_dir / "scheduler.kubeconfig").encode() in argv:
            pids.append(int(entry.name))
    return pids


def test_killed_scheduler_is_restarted_by_the_server(cluster: Cluster) -> None:
    add_node(cluster, "n1", labels={})
    cluster.kubectl("run", "before", "--image=busybox")
    assert wait_for(lambda: node_of(cluster, "before"), "first binding") == "n1"
    (pid,) = wait_for(lambda: _scheduler_pids(cluster.data_dir), "the scheduler process")
    os.kill(pid, signal.SIGKILL)
    cluster.kubectl("run", "after", "--image=busybox")
    assert wait_for(lambda: node_of(cluster, "after"), "binding by the restarted one") == "n1"
    assert _scheduler_pids(cluster.data_dir) != [pid]


def test_scheduler_carries_on_across_an_api_server_restart(tmp_path: Path) -> None:
    port = free_port()
    data_dir = tmp_path / "cluster"
    server = start_server(data_dir, port, "--disable-scheduler")
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "pocketkube.cli", "scheduler", "--kubeconfig",
         str(data_dir / "admin.kubeconfig")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        cluster = Cluster(server, data_dir, port, tmp_path / "kubectl-cache")
        add_node(cluster, "n1", labels={})
        cluster.kubectl("run", "one", "--image=busybox")
        assert wait_for(lambda: node_of(cluster, "one"), "binding") == "n1"
        stop_server(server)
        server = start_server(data_dir, port, "--disable-scheduler")
        cluster = Cluster(server, data_dir, port, tmp_path / "kubectl-cache")
        add_node(cluster, "n2", labels={})
        on_n2 = {"spec": {"nodeSelector": {"kubernetes.io/hostname": "n2"}}}
        cluster.kubectl("run", "two", "--image=busybox", "--overrides", json.dumps(on_n2))
        assert wait_for(lambda: node_of(cluster, "two"), "binding after restart", 60) == "n2"
        assert scheduler.poll() is None
    finally:
        scheduler.terminate()
        scheduler.wait(15)
        stop_server(server)
