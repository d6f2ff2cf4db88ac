"""Real kubectl against `pocketkube server`: workloads, scaling, reading the cluster, draining."""

from __future__ import annotations

from tests.e2e.conftest import Cluster

NODE_AND_POD = """
apiVersion: v1
kind: Node
metadata:
  name: node-1
---
apiVersion: v1
kind: Pod
metadata:
  name: lone
spec:
  containers:
  - name: c
    image: nginx
"""

BINDING = (
    '{"apiVersion":"v1","kind":"Binding","metadata":{"name":"lone"},'
    '"target":{"kind":"Node","name":"node-1"}}'
)


def test_create_and_scale_a_deployment(cluster: Cluster) -> None:
    created = cluster.kubectl("create", "deployment", "web", "--image=nginx").stdout
    assert created.strip() == "deployment.apps/web created"
    scaled = cluster.kubectl("scale", "deployment", "web", "--replicas=3").stdout
    assert scaled.strip() == "deployment.apps/web scaled"
    replicas = cluster.kubectl("get", "deployment", "web", "-o", "jsonpath={.spec.replicas}").stdout
    assert replicas == "3"

    everything = cluster.kubectl("get", "all").stdout
    rows = {line.split()[0]: line.split() for line in everything.splitlines() if line.strip()}
    assert rows["service/kubernetes"][1:3] == ["ClusterIP", "10.43.0.1"]
    assert rows["deployment.apps/web"][1] == "0/3"

    described = cluster.kubectl("describe", "deployment", "web").stdout
    fields = dict(
        (line.split(":", 1)[0], line.split(":", 1)[1].strip())
        for line in described.splitlines()
        if ":" in line and not line.startswith(" ")
    )
    assert fields["Name"] == "web"
    assert fields["Namespace"] == "default"
    assert fields["Replicas"].startswith("3 desired")
    assert fields["Selector"] == "app=web"


def test_events_and_cluster_info(cluster: Cluster) -> None:
    events = cluster.kubectl("get", "events")
    assert "No resources found in default namespace." in events.stderr
    info = cluster.kubectl("cluster-info").stdout
    assert f"Kubernetes control plane is running at https://127.0.0.1:{cluster.port}" in info


def test_metrics_through_kubectl(cluster: Cluster) -> None:
    cluster.kubectl("get", "namespaces")
    text = cluster.kubectl("get", "--raw", "/metrics").stdout
    assert "# TYPE apiserver_request_total counter" in text
    assert 'resource="namespaces"' in text
    assert "process_start_time_seconds " in text


def test_drain_evicts_the_pods_of_a_node(cluster: Cluster) -> None:
    cluster.kubectl("create", "--validate=false", "-f", "-", stdin=NODE_AND_POD)
    bound = cluster.kubectl(
        "create", "--raw", "/api/v1/namespaces/default/pods/lone/binding", "-f", "-", stdin=BINDING
    ).stdout
    assert '"status":"Success"' in bound
    node = cluster.kubectl("get", "pod", "lone", "-o", "jsonpath={.spec.nodeName}").stdout
    assert node == "node-1"
    again = cluster.kubectl(
        "create",
        "--raw",
        "/api/v1/namespaces/default/pods/lone/binding",
        "-f",
        "-",
        stdin=BINDING,
        check=False,
    )
    assert again.returncode != 0

    drained = cluster.kubectl(
        "drain", "node-1", "--force", "--grace-period=0", "--timeout=30s"
    ).stdout
    assert "pod/lone evicted" in drained
    assert "node/node-1 drained" in drained
    gone = cluster.kubectl("get", "pod", "lone", check=False)
    assert gone.returncode != 0
    assert 'pods "lone" not found' in gone.stderr
