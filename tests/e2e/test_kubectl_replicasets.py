"""E2E: ReplicaSets and StatefulSets on a real node through real kubectl: the server's
replicaset and statefulset controllers create the pods, its kubelet runs them
(``python3 -m http.server``) and reports them Ready, and kubectl shows the result."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from pocketkube.controllers.podcontrol import parse_time
from tests.e2e.conftest import Cluster
from tests.e2e.nodecluster import wait_for

TIMEOUT = 120.0
# port 0: every pod gets a port of its own, whatever the node's networking
HTTP = ["sh", "-c", "exec python3 -m http.server 0 --bind 127.0.0.1"]


def template(app: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": app}},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "http", "image": "python", "command": HTTP}],
        },
    }


def replica_set(replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": template("web"),
        },
    }


def stateful_set(replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "serviceName": "web",
            "selector": {"matchLabels": {"app": "db"}},
            "template": template("db"),
        },
    }


@pytest.fixture
def namespace(node_cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    name = f"rs-{request.node.name.removeprefix('test_').replace('_', '-')}"[:60]
    node_cluster.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        for kind in ("replicasets", "statefulsets"):
            node_cluster.kubectl("delete", kind, "--all", "-n", name, "--wait=false", check=False)
        node_cluster.kubectl("delete", "pods", "--all", "-n", name, "--wait=false", check=False)


def apply(cluster: Cluster, namespace: str, obj: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(obj))


def rs_row(cluster: Cluster, namespace: str) -> list[str]:
    out = cluster.kubectl("get", "rs", "web", "-n", namespace, "--no-headers").stdout
    return out.split()


def test_replicaset_pods_become_ready_and_scale(node_cluster: Cluster, namespace: str) -> None:
    apply(node_cluster, namespace, replica_set(2))

    def ready(n: int) -> Any:
        row = rs_row(node_cluster, namespace)
        return row if row[1:4] == [str(n)] * 3 else None  # NAME DESIRED CURRENT READY AGE

    wait_for(lambda: ready(2), TIMEOUT, "2/2 ready in kubectl get rs")
    pods = json.loads(
        node_cluster.kubectl("get", "pods", "-n", namespace, "-l", "app=web", "-o", "json").stdout
    )["items"]
    assert len(pods) == 2
    for pod in pods:
        ref = pod["metadata"]["ownerReferences"][0]
        assert (ref["kind"], ref["name"], ref["controller"]) == ("ReplicaSet", "web", True)

    scaled = node_cluster.kubectl("scale", "rs", "web", "--replicas=3", "-n", namespace).stdout
    assert scaled.strip() == "replicaset.apps/web scaled"
    wait_for(lambda: ready(3), TIMEOUT, "3/3 ready after kubectl scale")
    described = node_cluster.kubectl("describe", "rs", "web", "-n", namespace).stdout
    assert "3 current / 3 desired" in described
    assert "3 Running" in described
    assert "SuccessfulCreate" in described


def test_statefulset_comes_up_in_order(node_cluster: Cluster, namespace: str) -> None:
    apply(node_cluster, namespace, stateful_set(2))
    rolled = node_cluster.kubectl(
        "rollout",
        "status",
        "statefulset/web",
        "-n",
        namespace,
        f"--timeout={TIMEOUT:.0f}s",
        timeout=TIMEOUT + 30,
    ).stdout
    assert "roll out complete" in rolled or "rolling update complete" in rolled
    pods = {
        p["metadata"]["name"]: p
        for p in json.loads(
            node_cluster.kubectl("get", "pods", "-n", namespace, "-o", "json").stdout
        )["items"]
    }
    assert sorted(pods) == ["web-0", "web-1"]
    ready0 = next(c for c in pods["web-0"]["status"]["conditions"] if c["type"] == "Ready")
    created1 = parse_time(pods["web-1"]["metadata"]["creationTimestamp"])
    became_ready = parse_time(ready0["lastTransitionTime"])
    assert created1 is not None
    assert became_ready is not None
    assert created1 >= became_ready  # web-1 only once web-0 was Ready
    assert pods["web-1"]["spec"]["hostname"] == "web-1"
    assert pods["web-1"]["spec"]["subdomain"] == "web"
    row = node_cluster.kubectl("get", "statefulset", "web", "-n", namespace, "--no-headers")
    assert row.stdout.split()[1] == "2/2"


def test_statefulset_rolling_update_history_and_undo(node_cluster: Cluster, namespace: str) -> None:
    apply(node_cluster, namespace, stateful_set(2))

    def rollout() -> str:
        return node_cluster.kubectl(
            "rollout",
            "status",
            "statefulset/web",
            "-n",
            namespace,
            f"--timeout={TIMEOUT:.0f}s",
            timeout=TIMEOUT + 30,
        ).stdout

    def status() -> dict[str, Any]:
        out = node_cluster.kubectl("get", "statefulset", "web", "-n", namespace, "-o", "json")
        result: dict[str, Any] = json.loads(out.stdout)["status"]
        return result

    rollout()
    first = status()["updateRevision"]
    node_cluster.kubectl("set", "env", "statefulset/web", "-n", namespace, "GREETING=hi")
    wait_for(lambda: status()["updateRevision"] != first, TIMEOUT, "a new update revision")
    wait_for(
        lambda: status().get("updatedReplicas") == 2 and status().get("readyReplicas") == 2,
        TIMEOUT,
        "both pods updated and ready",
    )
    second = status()["updateRevision"]
    history = node_cluster.kubectl("rollout", "history", "statefulset/web", "-n", namespace)
    revisions = [line.split()[0] for line in history.stdout.splitlines()[2:] if line.strip()]
    assert revisions == ["1", "2"]
    env = node_cluster.kubectl(
        "get", "pod", "web-0", "-n", namespace, "-o", "jsonpath={.spec.containers[0].env}"
    )
    assert "GREETING" in env.stdout

    undone = node_cluster.kubectl("rollout", "undo", "statefulset/web", "-n", namespace)
    assert "rolled back" in undone.stdout
    wait_for(lambda: status()["updateRevision"] == first, TIMEOUT, "the first revision back")
    wait_for(
        lambda: status().get("currentRevision") == first and status().get("readyReplicas") == 2,
        TIMEOUT,
        "the rollback rolled out",
    )
    revs = json.loads(
        node_cluster.kubectl("get", "controllerrevisions", "-n", namespace, "-o", "json").stdout
    )["items"]
    numbers = {r["metadata"]["name"]: r["revision"] for r in revs}
    assert numbers == {second: 2, first: 3}  # the old revision re-numbered, not copied
