"""Real kubectl reading one object through two versions: events.k8s.io/v1 over core Events,
autoscaling/v1 over autoscaling/v2 HorizontalPodAutoscalers."""

from __future__ import annotations

import json

from tests.e2e.conftest import Cluster

CORE_EVENT = """
apiVersion: v1
kind: Event
metadata:
  name: web.started
involvedObject:
  kind: Pod
  namespace: default
  name: web
reason: Started
message: Started container web
type: Normal
source:
  component: kubelet
  host: node-1
count: 1
firstTimestamp: "2025-01-01T00:00:00Z"
lastTimestamp: "2025-01-01T00:00:00Z"
"""


def test_core_event_reads_as_events_k8s_io(cluster: Cluster) -> None:
    cluster.kubectl("create", "-f", "-", stdin=CORE_EVENT)
    event = json.loads(
        cluster.kubectl("get", "events.v1.events.k8s.io", "web.started", "-o", "json").stdout
    )
    assert event["apiVersion"] == "events.k8s.io/v1"
    assert event["note"] == "Started container web"
    assert event["regarding"] == {"kind": "Pod", "namespace": "default", "name": "web"}
    assert event["deprecatedSource"] == {"component": "kubelet", "host": "node-1"}
    assert "message" not in event

    core = cluster.kubectl("get", "events").stdout.splitlines()
    new = cluster.kubectl("get", "events.v1.events.k8s.io").stdout.splitlines()
    assert new[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert new == core
    selected = cluster.kubectl(
        "get", "events.events.k8s.io", "--field-selector", "regarding.name=web", "-o", "name"
    ).stdout.split()
    assert selected == ["event.events.k8s.io/web.started"]


def test_explain_and_discovery_show_events_k8s_io(cluster: Cluster) -> None:
    resources = json.loads(cluster.kubectl("get", "--raw", "/apis/events.k8s.io/v1").stdout)
    assert [r["name"] for r in resources["resources"]] == ["events"]
    listed = cluster.kubectl("api-resources", "--api-group=events.k8s.io").stdout
    assert "events.k8s.io/v1" in listed
    explained = cluster.kubectl("explain", "events", "--api-version=events.k8s.io/v1").stdout
    assert "regarding" in explained
    assert "note" in explained


def test_autoscale_reads_back_as_autoscaling_v1(cluster: Cluster) -> None:
    cluster.kubectl("create", "deployment", "x", "--image=nginx")
    out = cluster.kubectl("autoscale", "deployment", "x", "--cpu-percent=50", "--min=1", "--max=3")
    assert out.stdout.strip() == "horizontalpodautoscaler.autoscaling/x autoscaled"
    # The full resource name: kubectl drops the version of a short name (hpa.v1.autoscaling).
    v1 = json.loads(
        cluster.kubectl("get", "horizontalpodautoscalers.v1.autoscaling", "x", "-o", "json").stdout
    )
    assert v1["apiVersion"] == "autoscaling/v1"
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 50
    assert (v1["spec"]["minReplicas"], v1["spec"]["maxReplicas"]) == (1, 3)
    v2 = json.loads(cluster.kubectl("get", "hpa.v2.autoscaling", "x", "-o", "json").stdout)
    assert v2["apiVersion"] == "autoscaling/v2"
    assert v2["spec"]["metrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 50},
            },
        }
    ]
