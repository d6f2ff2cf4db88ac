"""Real kubectl against a server with its kubelet: a DaemonSet of ``sleep`` pods runs one pod on
the node, ``kubectl rollout status`` finishes, ``kubectl set image`` rolls it; and node
lifecycle: a hand-made Node with no kubelet behind it goes NotReady (Unknown) and
``kubectl describe node`` shows the unreachable taints, with the controller manager run by the
test with short grace periods."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Cluster
from tests.e2e.nodecluster import node_cluster_at, node_ready, wait_for

DAEMONSET = {
    "apiVersion": "apps/v1",
    "kind": "DaemonSet",
    "metadata": {"name": "sleeper"},
    "spec": {
        "selector": {"matchLabels": {"app": "sleeper"}},
        "template": {
            "metadata": {"labels": {"app": "sleeper"}},
            "spec": {
                "terminationGracePeriodSeconds": 2,
                "containers": [{"name": "c", "image": "busybox:1", "command": ["sleep", "3600"]}],
            },
        },
    },
}


def pods(cluster: Cluster, namespace: str) -> list[dict[str, object]]:
    out = cluster.kubectl("get", "pods", "-n", namespace, "-l", "app=sleeper", "-o", "json")
    return [
        p for p in json.loads(out.stdout)["items"] if not p["metadata"].get("deletionTimestamp")
    ]


@pytest.mark.timeout(240)
def test_daemonset_runs_on_the_node_and_rolls(node_cluster: Cluster) -> None:
    ns = "ds-e2e"
    node_cluster.kubectl("create", "namespace", ns)
    node_cluster.kubectl("apply", "-n", ns, "-f", "-", stdin=json.dumps(DAEMONSET))
    done = node_cluster.kubectl(
        "rollout", "status", "-n", ns, "ds/sleeper", "--timeout=120s", timeout=150
    )
    assert 'daemon set "sleeper" successfully rolled out' in done.stdout
    (pod,) = pods(node_cluster, ns)
    node = node_cluster.kubectl("get", "nodes", "-o", "jsonpath={.items[0].metadata.name}").stdout
    assert pod["spec"]["nodeName"] == node  # type: ignore[index]
    row = node_cluster.kubectl("get", "ds", "-n", ns, "sleeper", "--no-headers").stdout.split()
    assert row[1:6] == ["1", "1", "1", "1", "1"]  # desired current ready up-to-date available

    node_cluster.kubectl("set", "image", "-n", ns, "ds/sleeper", "c=busybox:2")
    done = node_cluster.kubectl(
        "rollout", "status", "-n", ns, "ds/sleeper", "--timeout=120s", timeout=150
    )
    assert "successfully rolled out" in done.stdout
    wait_for(lambda: len(pods(node_cluster, ns)) == 1, 60, "the old pod to go")
    (new,) = pods(node_cluster, ns)
    assert new["spec"]["containers"][0]["image"] == "busybox:2"  # type: ignore[index]
    history = node_cluster.kubectl("rollout", "history", "-n", ns, "ds/sleeper").stdout
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]
    # undo: kubectl applies revision 1's template patch; the controller rolls back to it
    node_cluster.kubectl("rollout", "undo", "-n", ns, "ds/sleeper")
    done = node_cluster.kubectl(
        "rollout", "status", "-n", ns, "ds/sleeper", "--timeout=120s", timeout=150
    )
    assert "successfully rolled out" in done.stdout
    wait_for(lambda: len(pods(node_cluster, ns)) == 1, 60, "the old pod to go")
    (back,) = pods(node_cluster, ns)
    assert back["spec"]["containers"][0]["image"] == "busybox:1"  # type: ignore[index]
    history = node_cluster.kubectl("rollout", "history", "-n", ns, "ds/sleeper").stdout
    # revision 1 came back as revision 3 (upstream renumbers the current revision)
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["2", "3"]
    node_cluster.kubectl("delete", "namespace", ns, "--wait=false")


@pytest.fixture
def cluster_without_controllers(tmp_path: Path) -> Iterator[Cluster]:
    yield from node_cluster_at(tmp_path, "--disable-controller-manager")


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.timeout(180)
def test_a_node_without_kubelet_goes_unknown_and_is_tainted(
    cluster_without_controllers: Cluster, tmp_path: Path
) -> None:
    cluster = cluster_without_controllers
    log = open(tmp_path / "controller-manager.log", "wb")  # noqa: SIM115 (the child owns it)
    # The real kubelet renews its Lease every ~10 s: the grace period must be longer.
    manager = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pocketkube.cli",
            "controller-manager",
            "--kubeconfig",
            str(cluster.kubeconfig),
            "--leader-elect=false",
            "--node-monitor-period",
            "1s",
            "--node-monitor-grace-period",
            "15s",
            "--node-startup-grace-period",
            "15s",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    try:
        ghost = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "ghost"}}
        cluster.kubectl("create", "-f", "-", stdin=json.dumps(ghost))
        ready = {
            "type": "Ready",
            "status": "True",
            "reason": "KubeletReady",
            "message": "kubelet is posting ready status",
            "lastHeartbeatTime": now(),
            "lastTransitionTime": now(),
        }
        cluster.kubectl(
            "patch",
            "node",
            "ghost",
            "--subresource=status",
            "--type=merge",
            "-p",
            json.dumps({"status": {"conditions": [ready]}}),
        )

        def row(name: str) -> list[str]:
            out = cluster.kubectl("get", "node", name, "--no-headers").stdout
            return out.split()

        assert row("ghost")[1] == "Ready"

        def tainted() -> str | None:
            out = cluster.kubectl("describe", "node", "ghost").stdout
            return out if "node.kubernetes.io/unreachable:NoExecute" in out else None

        described = wait_for(tainted, 60, "the unreachable taint")
        assert row("ghost")[1] == "NotReady"
        assert "node.kubernetes.io/unreachable:NoSchedule" in described
        assert "Kubelet stopped posting node status." in described
        assert "NodeStatusUnknown" in described
        assert "Unknown" in described
        assert "RegisteredNode" in described
        assert "NodeNotReady" in described
        # the real node stays Ready and untainted
        assert node_ready(cluster)
        real = cluster.kubectl("get", "nodes", "-o", "json").stdout
        for node in json.loads(real)["items"]:
            if node["metadata"]["name"] != "ghost":
                assert not node["spec"].get("taints")
    finally:
        manager.terminate()
        manager.wait(30)
