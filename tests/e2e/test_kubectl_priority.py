"""Real kubectl and the admission chain: the system PriorityClasses with upstream's columns,
`kubectl create priorityclass`, a pod's priority from its class, a pod naming a missing class
refused as upstream refuses it, and the service account and tolerations every pod gets."""

from __future__ import annotations

import re

import yaml

from tests.e2e.conftest import Cluster

HEADER = ["NAME", "VALUE", "GLOBAL-DEFAULT", "AGE", "PREEMPTIONPOLICY"]


def pod_manifest(name: str, priority_class: str = "") -> str:
    extra = f"\n  priorityClassName: {priority_class}" if priority_class else ""
    return f"""
apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:{extra}
  containers:
  - name: c
    image: busybox:1.36
"""


def test_priority_classes_and_pod_admission(cluster: Cluster) -> None:
    lines = cluster.kubectl("get", "priorityclasses").stdout.splitlines()
    assert lines[0].split() == HEADER
    rows = [line.split() for line in lines[1:]]
    assert [row[:3] + row[4:] for row in rows] == [
        ["system-cluster-critical", "2000000000", "false", "PreemptLowerPriority"],
        ["system-node-critical", "2000001000", "false", "PreemptLowerPriority"],
    ]
    assert all(re.fullmatch(r"\d+s", row[3]) for row in rows), rows

    created = cluster.kubectl("create", "priorityclass", "high", "--value=1000").stdout
    assert created.strip() == "priorityclass.scheduling.k8s.io/high created"
    high = cluster.kubectl("get", "pc", "high", "--no-headers").stdout.split()
    assert high[:3] + high[4:] == ["high", "1000", "false", "PreemptLowerPriority"]

    cluster.kubectl("create", "-f", "-", stdin=pod_manifest("important", "high"))
    important = yaml.safe_load(cluster.kubectl("get", "pod", "important", "-o", "yaml").stdout)
    spec = important["spec"]
    assert (spec["priorityClassName"], spec["priority"]) == ("high", 1000)
    assert spec["preemptionPolicy"] == "PreemptLowerPriority"

    refused = cluster.kubectl(
        "create", "-f", "-", stdin=pod_manifest("lost", "missing"), check=False
    )
    assert refused.returncode != 0
    assert refused.stderr.strip() == (
        'Error from server (Forbidden): error when creating "STDIN": pods "lost" is forbidden: '
        "no PriorityClass with name missing was found"
    )

    cluster.kubectl("run", "plain", "--image=busybox:1.36")
    plain = yaml.safe_load(cluster.kubectl("get", "pod", "plain", "-o", "yaml").stdout)["spec"]
    assert plain["serviceAccountName"] == plain["serviceAccount"] == "default"
    assert (plain["priority"], plain["preemptionPolicy"]) == (0, "PreemptLowerPriority")
    assert plain["tolerations"] == [
        {
            "key": key,
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 300,
        }
        for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
    ]


def test_priority_class_rules(cluster: Cluster) -> None:
    reserved = cluster.kubectl("create", "priorityclass", "system-mine", "--value=1", check=False)
    assert reserved.returncode != 0
    # `kubectl create priorityclass` words server errors its own way
    assert reserved.stderr.strip() == (
        'error: failed to create priorityclass: PriorityClass.scheduling.k8s.io "system-mine" is '
        "invalid: metadata.name: Forbidden: priority class names with 'system-' prefix are "
        "reserved for system use only. error: system-mine is not a known system priority class"
    )
    cluster.kubectl("create", "priorityclass", "usual", "--value=10", "--global-default")
    second = cluster.kubectl(
        "create", "priorityclass", "other", "--value=20", "--global-default", check=False
    )
    assert second.returncode != 0
    assert second.stderr.strip() == (
        'error: failed to create priorityclass: priorityclasses.scheduling.k8s.io "other" is '
        "forbidden: PriorityClass usual is already marked as default. Only one default can exist"
    )
    changed = cluster.kubectl(
        "patch", "pc", "usual", "--type=merge", "-p", '{"value": 11}', check=False
    )
    assert changed.returncode != 0
    assert "value: Forbidden: may not be changed in an update." in changed.stderr
