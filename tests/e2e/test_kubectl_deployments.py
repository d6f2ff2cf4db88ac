"""E2E: Deployments through real kubectl on a one-node cluster whose kubelet runs the pods: the
server's deployment controller makes the ReplicaSets, the replicaset controller the pods, and
``kubectl rollout status`` finishes; ``scale``, ``set image`` (a new ReplicaSet, a rolling
update), ``rollout history`` and ``rollout undo`` (the old ReplicaSet revived under a new
revision), ``rollout pause``/``resume``/``restart``, and ``kubectl get deploy``'s READY,
UP-TO-DATE and AVAILABLE columns.

The pods run ``python3 -m http.server`` as host processes. Without root and CNI plugins every pod
shares the host's network, so two replicas (or the old and the new pod of a rolling update) may
not both listen on port 8000: the server is started on port 0 (a free port each), bound to the
loopback address.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import Cluster
from tests.e2e.nodecluster import wait_for

TIMEOUT = "120s"
HTTP = ["python3", "-m", "http.server", "0", "--bind", "127.0.0.1"]
REVISION = "deployment.kubernetes.io/revision"


@pytest.fixture
def namespace(node_cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    name = f"deploy-{request.node.name.removeprefix('test_').replace('_', '-')}"[:60]
    node_cluster.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        node_cluster.kubectl(
            "delete", "deployments,replicasets", "--all", "-n", name, "--wait=false", check=False
        )
        node_cluster.kubectl(
            "delete", "pods", "--all", "-n", name, "--grace-period=1", "--wait=false", check=False
        )


def get_json(cluster: Cluster, namespace: str, *what: str) -> Any:
    return json.loads(cluster.kubectl("get", *what, "-n", namespace, "-o", "json").stdout)


def rollout_status(cluster: Cluster, namespace: str) -> str:
    out = cluster.kubectl(
        "rollout", "status", "deployment/web", "-n", namespace, f"--timeout={TIMEOUT}", timeout=150
    ).stdout
    assert 'deployment "web" successfully rolled out' in out
    return out


def deploy_row(cluster: Cluster, namespace: str) -> dict[str, str]:
    lines = cluster.kubectl("get", "deploy", "web", "-n", namespace).stdout.splitlines()
    header, row = lines[0].split(), lines[1].split()
    return dict(zip(header, row, strict=True))


def replica_sets(cluster: Cluster, namespace: str) -> list[dict[str, Any]]:
    items = get_json(cluster, namespace, "replicasets")["items"]
    return sorted(items, key=lambda rs: int(rs["metadata"]["annotations"][REVISION]))


def running_images(cluster: Cluster, namespace: str) -> list[str]:
    pods = get_json(cluster, namespace, "pods")["items"]
    return sorted(
        p["spec"]["containers"][0]["image"]
        for p in pods
        if not p["metadata"].get("deletionTimestamp") and p["status"].get("phase") == "Running"
    )


def test_create_deployment_and_rollout_status(node_cluster: Cluster, namespace: str) -> None:
    created = node_cluster.kubectl(
        "create", "deployment", "web", "--image=web", "-n", namespace, "--", *HTTP
    ).stdout
    assert created.strip() == "deployment.apps/web created"
    rollout_status(node_cluster, namespace)
    row = deploy_row(node_cluster, namespace)
    assert list(row)[:4] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE"]
    assert (row["READY"], row["UP-TO-DATE"], row["AVAILABLE"]) == ("1/1", "1", "1")

    (rs,) = replica_sets(node_cluster, namespace)
    template_hash = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"web-{template_hash}"
    (pod,) = get_json(node_cluster, namespace, "pods")["items"]
    assert pod["metadata"]["name"].startswith(f"web-{template_hash}-")
    assert pod["spec"]["containers"][0]["command"] == HTTP

    described = node_cluster.kubectl("describe", "deployment", "web", "-n", namespace).stdout
    assert f"NewReplicaSet:   web-{template_hash} (1/1 replicas created)" in described
    assert f"Scaled up replica set web-{template_hash} from 0 to 1" in described
    (event_line,) = [line for line in described.splitlines() if "ScalingReplicaSet" in line]
    assert "deployment-controller" in event_line.split()  # the From column
    conditions = {
        c["type"]: c
        for c in get_json(node_cluster, namespace, "deployment", "web")["status"]["conditions"]
    }
    assert conditions["Available"]["reason"] == "MinimumReplicasAvailable"
    assert conditions["Progressing"]["reason"] == "NewReplicaSetAvailable"


def test_scale_set_image_history_and_undo(node_cluster: Cluster, namespace: str) -> None:
    node_cluster.kubectl("create", "deployment", "web", "--image=web", "-n", namespace, "--", *HTTP)
    rollout_status(node_cluster, namespace)

    scaled = node_cluster.kubectl("scale", "deployment", "web", "--replicas=3", "-n", namespace)
    assert scaled.stdout.strip() == "deployment.apps/web scaled"
    rollout_status(node_cluster, namespace)
    wait_for(lambda: deploy_row(node_cluster, namespace)["READY"] == "3/3", 60, "3 ready replicas")
    row = deploy_row(node_cluster, namespace)
    assert (row["UP-TO-DATE"], row["AVAILABLE"]) == ("3", "3")

    updated = node_cluster.kubectl("set", "image", "deployment/web", "web=y", "-n", namespace)
    assert updated.stdout.strip() == "deployment.apps/web image updated"
    rollout_status(node_cluster, namespace)
    first, second = replica_sets(node_cluster, namespace)
    assert (first["spec"]["replicas"], second["spec"]["replicas"]) == (0, 3)
    assert second["metadata"]["annotations"][REVISION] == "2"
    assert second["spec"]["template"]["spec"]["containers"][0]["image"] == "y"
    wait_for(lambda: running_images(node_cluster, namespace) == ["y"] * 3, 60, "the new pods")

    history = node_cluster.kubectl("rollout", "history", "deployment/web", "-n", namespace)
    revisions = [line.split()[0] for line in history.stdout.splitlines()[2:] if line.strip()]
    assert revisions == ["1", "2"]

    undone = node_cluster.kubectl("rollout", "undo", "deployment/web", "-n", namespace)
    assert undone.stdout.strip() == "deployment.apps/web rolled back"
    rollout_status(node_cluster, namespace)
    rss = replica_sets(node_cluster, namespace)
    assert len(rss) == 2  # the first ReplicaSet came back, no third one
    revived = rss[-1]
    assert revived["metadata"]["name"] == first["metadata"]["name"]
    assert revived["metadata"]["annotations"][REVISION] == "3"
    assert revived["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"
    assert revived["spec"]["replicas"] == 3
    wait_for(lambda: running_images(node_cluster, namespace) == ["web"] * 3, 60, "the old pods")

    history = node_cluster.kubectl("rollout", "history", "deployment/web", "-n", namespace)
    revisions = [line.split()[0] for line in history.stdout.splitlines()[2:] if line.strip()]
    assert revisions == ["2", "3"]
    events = node_cluster.kubectl(
        "get", "events", "-n", namespace, "--field-selector", "reason=ScalingReplicaSet"
    ).stdout
    assert f"Scaled down replica set {first['metadata']['name']} from 3 to 2" in events


def test_pause_resume_and_restart(node_cluster: Cluster, namespace: str) -> None:
    node_cluster.kubectl("create", "deployment", "web", "--image=web", "-n", namespace, "--", *HTTP)
    rollout_status(node_cluster, namespace)

    paused = node_cluster.kubectl("rollout", "pause", "deployment/web", "-n", namespace)
    assert paused.stdout.strip() == "deployment.apps/web paused"
    node_cluster.kubectl("set", "image", "deployment/web", "web=y", "-n", namespace)
    wait_for(
        lambda: (
            get_json(node_cluster, namespace, "deployment", "web")["status"].get(
                "observedGeneration"
            )
            == 3
        ),
        30,
        "the paused Deployment to be observed",
    )
    assert len(replica_sets(node_cluster, namespace)) == 1  # no rollout while paused
    conditions = {
        c["type"]: c
        for c in get_json(node_cluster, namespace, "deployment", "web")["status"]["conditions"]
    }
    assert conditions["Progressing"]["reason"] == "DeploymentPaused"

    resumed = node_cluster.kubectl("rollout", "resume", "deployment/web", "-n", namespace)
    assert resumed.stdout.strip() == "deployment.apps/web resumed"
    rollout_status(node_cluster, namespace)
    assert len(replica_sets(node_cluster, namespace)) == 2

    restarted = node_cluster.kubectl("rollout", "restart", "deployment/web", "-n", namespace)
    assert restarted.stdout.strip() == "deployment.apps/web restarted"
    rollout_status(node_cluster, namespace)
    rss = replica_sets(node_cluster, namespace)
    assert [rs["spec"]["replicas"] for rs in rss] == [0, 0, 1]
    restarted_at = rss[-1]["spec"]["template"]["metadata"]["annotations"]
    assert "kubectl.kubernetes.io/restartedAt" in restarted_at
