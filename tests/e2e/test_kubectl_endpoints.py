"""E2E: Services' endpoints through real kubectl on a one-node cluster whose kubelet runs the pod.

A pod runs ``python3 -m http.server`` (a host process) with an exec readinessProbe on a file;
a Service selects it by a named port. Until the file exists the pod is not Ready: its EndpointSlice
endpoint is not ready and ``kubectl get endpoints`` lists no address (an empty column, as
upstream prints notReadyAddresses); once ``kubectl exec`` creates
the file, ``kubectl get endpointslices -l kubernetes.io/service-name=web`` and ``kubectl get
endpoints web`` show the pod's IP and port; removing the file (``kubectl exec ... rm``) takes it
out again.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import Cluster, free_port
from tests.e2e.nodecluster import wait_for

NS = "endpoints-e2e"
TIMEOUT = 90.0


@pytest.fixture
def web(node_cluster: Cluster) -> Iterator[tuple[Cluster, int, str]]:
    cluster = node_cluster
    cluster.kubectl("create", "namespace", NS)
    port = free_port()
    flag = f"/tmp/pocketkube-e2e-ready-{uuid.uuid4().hex}"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "http",
                    "image": "python",
                    "command": ["python3", "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                    "ports": [{"name": "http", "containerPort": port}],
                    "readinessProbe": {
                        "exec": {"command": ["test", "-f", flag]},
                        "periodSeconds": 1,
                        "failureThreshold": 1,
                    },
                }
            ],
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]},
    }
    stream = "\n---\n".join(json.dumps(o) for o in (pod, service))
    cluster.kubectl("apply", "-n", NS, "-f", "-", stdin=stream)
    try:
        yield cluster, port, flag
    finally:
        cluster.kubectl("delete", "namespace", NS, "--wait=false", check=False)


def slice_endpoints(cluster: Cluster) -> list[dict[str, Any]]:
    out = cluster.kubectl(
        "get", "endpointslices", "-n", NS, "-l", "kubernetes.io/service-name=web", "-o", "json"
    ).stdout
    return [e for s in json.loads(out)["items"] for e in s.get("endpoints") or []]


def pod_ip(cluster: Cluster) -> str:
    return cluster.kubectl("get", "pod", "web", "-n", NS, "-o", "jsonpath={.status.podIP}").stdout


def endpoints_column(cluster: Cluster) -> str | None:
    """The ENDPOINTS column of ``kubectl get endpoints web`` (empty when only not-ready
    addresses are there, as upstream prints it); None while there is no such Endpoints."""
    got = cluster.kubectl("get", "endpoints", "web", "-n", NS, check=False)
    if got.returncode != 0:
        return None
    header, row = got.stdout.splitlines()[:2]
    return row[header.index("ENDPOINTS") : header.index("AGE")].strip()


def test_endpoints_follow_readiness(web: tuple[Cluster, int, str]) -> None:
    cluster, port, flag = web

    def running_not_ready() -> list[dict[str, Any]] | None:
        endpoints = slice_endpoints(cluster)
        return endpoints if endpoints and pod_ip(cluster) else None

    (endpoint,) = wait_for(running_not_ready, TIMEOUT, "a not-ready endpoint")
    assert endpoint["conditions"]["ready"] is False
    assert endpoint["targetRef"]["name"] == "web"
    wait_for(lambda: endpoints_column(cluster) == "", TIMEOUT, "a not-ready Endpoints address")
    out = cluster.kubectl("get", "endpoints", "web", "-n", NS, "-o", "json").stdout
    (subset,) = json.loads(out)["subsets"]
    assert [a["targetRef"]["name"] for a in subset["notReadyAddresses"]] == ["web"]
    assert "addresses" not in subset

    cluster.kubectl("exec", "web", "-n", NS, "--", "touch", flag)
    ip = pod_ip(cluster)

    def ready() -> bool:
        endpoints = slice_endpoints(cluster)
        return len(endpoints) == 1 and endpoints[0]["conditions"]["ready"] is True

    wait_for(ready, TIMEOUT, "the endpoint to become ready")
    table = cluster.kubectl(
        "get", "endpointslices", "-n", NS, "-l", "kubernetes.io/service-name=web"
    ).stdout.splitlines()
    header, row = table[0].split(), table[1].split()
    columns = dict(zip(header, row, strict=True))
    assert columns["ADDRESSTYPE"] == "IPv4"
    assert columns["PORTS"] == str(port)
    assert columns["ENDPOINTS"] == ip
    wait_for(lambda: endpoints_column(cluster) == f"{ip}:{port}", TIMEOUT, "the Endpoints address")

    cluster.kubectl("exec", "web", "-n", NS, "--", "rm", flag)

    def not_ready() -> bool:
        endpoints = slice_endpoints(cluster)
        return len(endpoints) == 1 and endpoints[0]["conditions"]["ready"] is False

    wait_for(not_ready, TIMEOUT, "the endpoint to become not ready")
    wait_for(lambda: endpoints_column(cluster) == "", TIMEOUT, "endpoints to drop the pod")
