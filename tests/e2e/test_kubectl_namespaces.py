"""Real kubectl against `pocketkube server` with its kubelet: namespaces and what the controller
manager does with them — a new namespace gets its ``default`` ServiceAccount and the
``kube-root-ca.crt`` ConfigMap; ``kubectl describe quota`` shows used/hard; ``kubectl delete
namespace`` shows Terminating while the namespace controller empties it (a running pod is really
stopped by the kubelet) and returns once the namespace and everything in it are gone; the system
namespaces cannot be deleted."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import Cluster
from tests.e2e.nodecluster import wait_for

NS = "ns-e2e"
POD = """
apiVersion: v1
kind: Pod
metadata:
  name: sleeper
spec:
  terminationGracePeriodSeconds: 15
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "trap 'sleep 5; exit 0' TERM; while true; do sleep 0.1; done"]
    resources:
      requests: {cpu: 100m, memory: 32Mi}
      limits: {memory: 64Mi}
"""
CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"""
GADGET = """
apiVersion: example.com/v1
kind: Gadget
metadata:
  name: g1
"""


def names(cluster: Cluster, kind: str, namespace: str) -> list[str]:
    out = cluster.kubectl("get", kind, "-n", namespace, "-o", "name", check=False).stdout
    return sorted(out.split())


def pod_phase(cluster: Cluster, name: str, namespace: str) -> str:
    got = cluster.kubectl(
        "get", "pod", name, "-n", namespace, "-o", "jsonpath={.status.phase}", check=False
    )
    return got.stdout if got.returncode == 0 else ""


@pytest.fixture
def filled(node_cluster: Cluster) -> Cluster:
    cluster = node_cluster
    created = cluster.kubectl("create", "namespace", NS).stdout
    assert created.strip() == f"namespace/{NS} created"
    wait_for(
        lambda: names(cluster, "serviceaccounts", NS) == ["serviceaccount/default"],
        30,
        "the default ServiceAccount",
    )
    wait_for(
        lambda: "configmap/kube-root-ca.crt" in names(cluster, "configmaps", NS),
        30,
        "kube-root-ca.crt",
    )
    cluster.kubectl("create", "configmap", "settings", "-n", NS, "--from-literal=a=1")
    cluster.kubectl("create", "secret", "generic", "creds", "-n", NS, "--from-literal=b=2")
    cluster.kubectl("create", "-n", NS, "-f", "-", stdin=POD)
    cluster.kubectl("apply", "-f", "-", stdin=CRD)
    wait_for(
        lambda: cluster.kubectl("get", "gadgets", "-n", NS, check=False).returncode == 0,
        30,
        "the gadgets resource to be served",
    )
    cluster.kubectl("create", "-n", NS, "-f", "-", stdin=GADGET)
    wait_for(lambda: pod_phase(cluster, "sleeper", NS) == "Running", 60, "the pod to run")
    return cluster


def test_a_new_namespace_gets_its_service_account_and_root_ca(filled: Cluster) -> None:
    cluster = filled
    cm = json.loads(
        cluster.kubectl("get", "configmap", "kube-root-ca.crt", "-n", NS, "-o", "json").stdout
    )
    assert cm["data"]["ca.crt"].startswith("-----BEGIN CERTIFICATE-----")
    description = cm["metadata"]["annotations"]["kubernetes.io/description"]
    assert description.startswith(
        "Contains a CA bundle that can be used to verify the kube-apiserver"
    )
    # deleted, they come back
    cluster.kubectl("delete", "serviceaccount", "default", "-n", NS)
    cluster.kubectl("delete", "configmap", "kube-root-ca.crt", "-n", NS)
    wait_for(
        lambda: names(cluster, "serviceaccounts", NS) == ["serviceaccount/default"],
        30,
        "the default ServiceAccount again",
    )
    wait_for(
        lambda: "configmap/kube-root-ca.crt" in names(cluster, "configmaps", NS),
        30,
        "kube-root-ca.crt again",
    )
    cluster.kubectl("delete", "namespace", NS, "--timeout=120s")


def test_describe_quota_shows_used_and_hard(filled: Cluster) -> None:
    cluster = filled
    cluster.kubectl(
        "create", "quota", "compute", "-n", NS,
        "--hard=pods=4,requests.cpu=1,requests.memory=1Gi,limits.memory=2Gi,configmaps=10",
    )  # fmt: skip

    def described() -> dict[str, list[str]] | None:
        out = cluster.kubectl("describe", "quota", "compute", "-n", NS).stdout
        rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}
        return rows if rows.get("pods") == ["1", "4"] else None

    rows = wait_for(described, 30, "the quota's used amounts")
    assert rows["requests.cpu"] == ["100m", "1"]
    assert rows["requests.memory"] == ["32Mi", "1Gi"]
    assert rows["limits.memory"] == ["64Mi", "2Gi"]
    assert rows["configmaps"] == ["2", "10"]  # settings and kube-root-ca.crt
    cluster.kubectl("delete", "namespace", NS, "--timeout=120s")


def test_delete_namespace_empties_it(filled: Cluster) -> None:
    cluster = filled
    started = cluster.kubectl("delete", "namespace", NS, "--wait=false").stdout
    assert started.strip() == f'namespace "{NS}" deleted'
    table = cluster.kubectl("get", "namespace", NS, check=False).stdout.splitlines()
    # the pod takes 5 s to stop (15 s grace): the namespace is Terminating meanwhile
    assert table, "the namespace is gone already"
    assert table[-1].split()[:2] == [NS, "Terminating"], table
    refused = cluster.kubectl("create", "configmap", "late", "-n", NS, check=False)
    assert "because it is being terminated" in refused.stderr
    waited = cluster.kubectl(
        "wait", "--for=delete", f"namespace/{NS}", "--timeout=120s", check=False
    )
    assert waited.returncode == 0, waited.stderr
    missing = cluster.kubectl("get", "namespace", NS, check=False)
    assert f'namespaces "{NS}" not found' in missing.stderr
    for kind in ("pods", "configmaps", "secrets", "serviceaccounts", "gadgets"):
        assert names(cluster, kind, NS) == [], kind


def test_kubectl_delete_namespace_waits_until_it_is_gone(node_cluster: Cluster) -> None:
    cluster = node_cluster
    cluster.kubectl("create", "namespace", "short-lived")
    cluster.kubectl("create", "configmap", "c", "-n", "short-lived")
    deleted = cluster.kubectl("delete", "namespace", "short-lived", "--timeout=120s").stdout
    assert deleted.strip() == 'namespace "short-lived" deleted'
    missing = cluster.kubectl("get", "namespace", "short-lived", check=False)
    assert missing.returncode != 0


@pytest.mark.parametrize("name", ["default", "kube-system", "kube-public"])
def test_system_namespaces_cannot_be_deleted(node_cluster: Cluster, name: str) -> None:
    refused = node_cluster.kubectl("delete", "namespace", name, check=False)
    assert refused.returncode != 0
    assert (
        f'Error from server (Forbidden): namespaces "{name}" is forbidden: this namespace may '
        "not be deleted"
    ) in refused.stderr
