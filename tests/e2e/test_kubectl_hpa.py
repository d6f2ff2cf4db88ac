"""HorizontalPodAutoscalers as kubectl sees them: `autoscale` (an autoscaling/v2 protobuf body,
accepted on the first try), `get hpa` with upstream's columns, the defaults in `-o yaml`, and
upstream's validation."""

from __future__ import annotations

import re

import yaml

from tests.e2e.conftest import Cluster

HEADER = ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"]


def test_autoscale_get_and_defaults(cluster: Cluster) -> None:
    cluster.kubectl("create", "deployment", "web", "--image=nginx")
    result = cluster.kubectl(
        "autoscale", "deployment", "web", "--cpu-percent=50", "--min=1", "--max=3", "-v=6"
    )
    assert result.stdout.strip() == "horizontalpodautoscaler.autoscaling/web autoscaled"
    posts = [line for line in result.stderr.splitlines() if 'verb="POST"' in line]
    assert len(posts) == 1, result.stderr  # no 415 and no fallback to autoscaling/v1
    assert "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers" in posts[0]
    assert 'status="201 Created"' in posts[0]

    lines = cluster.kubectl("get", "hpa").stdout.splitlines()
    assert lines[0].split() == HEADER
    assert re.fullmatch(
        r"web\s+Deployment/web\s+cpu: <unknown>/50%\s+1\s+3\s+0\s+\d+s", lines[1]
    ), lines[1]
    # the autoscaling/v1 view prints the same row
    v1_lines = cluster.kubectl("get", "horizontalpodautoscalers.v1.autoscaling").stdout
    assert v1_lines.splitlines()[1].split()[:6] == lines[1].split()[:6]

    web = yaml.safe_load(cluster.kubectl("get", "hpa", "web", "-o", "yaml").stdout)
    assert web["apiVersion"] == "autoscaling/v2"
    assert web["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "web",
    }
    assert (web["spec"]["minReplicas"], web["spec"]["maxReplicas"]) == (1, 3)
    assert web["status"] == {"desiredReplicas": 0}

    manifest = """
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: api
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 5
  behavior:
    scaleDown:
      stabilizationWindowSeconds: 120
"""
    cluster.kubectl("create", "-f", "-", stdin=manifest)
    api = yaml.safe_load(cluster.kubectl("get", "hpa", "api", "-o", "yaml").stdout)
    spec = api["spec"]
    assert spec["minReplicas"] == 1
    assert spec["metrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 80},
            },
        }
    ]
    assert spec["behavior"]["scaleDown"] == {
        "stabilizationWindowSeconds": 120,
        "selectPolicy": "Max",
        "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
    }
    assert spec["behavior"]["scaleUp"]["stabilizationWindowSeconds"] == 0
    assert [p["type"] for p in spec["behavior"]["scaleUp"]["policies"]] == ["Pods", "Percent"]
    rows = cluster.kubectl("get", "hpa", "--no-headers").stdout.splitlines()
    assert [row.split()[:6] for row in rows] == [
        ["api", "Deployment/web", "cpu:", "<unknown>/80%", "1", "5"],
        ["web", "Deployment/web", "cpu:", "<unknown>/50%", "1", "3"],
    ]


def test_invalid_hpa_is_refused(cluster: Cluster) -> None:
    manifest = """
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: bad
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 0
"""
    result = cluster.kubectl("create", "-f", "-", stdin=manifest, check=False)
    assert result.returncode != 0
    assert 'The HorizontalPodAutoscaler "bad" is invalid' in result.stderr
    assert "spec.maxReplicas: Invalid value: 0: must be greater than 0" in result.stderr
    assert (
        "spec.maxReplicas: Invalid value: 0: must be greater than or equal to `minReplicas`"
        in result.stderr
    )
    missing = cluster.kubectl("get", "hpa", "bad", check=False)
    assert "NotFound" in missing.stderr
