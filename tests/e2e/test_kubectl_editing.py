"""Real kubectl editing objects: annotate, the three patch types, delete by label, client-side
diff, output formats (-o wide, -o json) and `kubectl events` with events of our own."""

from __future__ import annotations

import json

from tests.e2e.conftest import Cluster

PODS = """
apiVersion: v1
kind: Node
metadata:
  name: node-1
---
apiVersion: v1
kind: Pod
metadata:
  name: web-1
  labels: {app: web}
spec:
  nodeName: node-1
  containers:
  - name: c
    image: nginx
---
apiVersion: v1
kind: Pod
metadata:
  name: web-2
  labels: {app: web}
spec:
  containers:
  - name: c
    image: nginx
---
apiVersion: v1
kind: Pod
metadata:
  name: db-1
  labels: {app: db}
spec:
  containers:
  - name: c
    image: postgres
"""

EVENT = """
apiVersion: v1
kind: Event
metadata:
  name: web-1.started
involvedObject:
  apiVersion: v1
  kind: Pod
  name: web-1
  namespace: default
reason: Started
message: Started container c
type: Normal
count: 1
firstTimestamp: "2026-01-01T00:00:00Z"
lastTimestamp: "2026-01-01T00:00:00Z"
source:
  component: kubelet
"""


def test_annotate_and_the_three_patch_types(cluster: Cluster) -> None:
    cluster.kubectl("create", "configmap", "cfg", "--from-literal=a=1")
    annotated = cluster.kubectl("annotate", "configmap", "cfg", "owner=team-a").stdout
    assert annotated.strip() == "configmap/cfg annotated"
    overwrite = cluster.kubectl("annotate", "configmap", "cfg", "owner=team-b", check=False)
    assert overwrite.returncode != 0
    assert "already has a value (team-a)" in overwrite.stderr
    cluster.kubectl("annotate", "--overwrite", "configmap", "cfg", "owner=team-b")

    strategic = cluster.kubectl("patch", "configmap", "cfg", "-p", '{"data":{"b":"2"}}').stdout
    assert strategic.strip() == "configmap/cfg patched"
    merge = cluster.kubectl(
        "patch", "configmap", "cfg", "--type=merge", "-p", '{"data":{"a":null}}'
    ).stdout
    assert merge.strip() == "configmap/cfg patched"
    json_patch = cluster.kubectl(
        "patch",
        "configmap",
        "cfg",
        "--type=json",
        "-p",
        '[{"op":"add","path":"/data/c","value":"3"},{"op":"test","path":"/data/b","value":"2"}]',
    ).stdout
    assert json_patch.strip() == "configmap/cfg patched"
    unchanged = cluster.kubectl("patch", "configmap", "cfg", "-p", '{"data":{"b":"2"}}').stdout
    assert unchanged.strip() == "configmap/cfg patched (no change)"
    failed = cluster.kubectl(
        "patch",
        "configmap",
        "cfg",
        "--type=json",
        "-p",
        '[{"op":"test","path":"/data/b","value":"9"}]',
        check=False,
    )
    assert failed.returncode != 0
    assert "The request is invalid: testing value /data/b failed: test failed" in failed.stderr

    obj = json.loads(cluster.kubectl("get", "configmap", "cfg", "-o", "json").stdout)
    assert obj["data"] == {"b": "2", "c": "3"}
    assert obj["metadata"]["annotations"] == {"owner": "team-b"}
    assert obj["kind"] == "ConfigMap"


def test_wide_output_label_deletes_and_field_selectors(cluster: Cluster) -> None:
    cluster.kubectl("create", "-f", "-", stdin=PODS)
    wide = cluster.kubectl("get", "pods", "-o", "wide").stdout.splitlines()
    assert wide[0].split()[:8] == [
        "NAME",
        "READY",
        "STATUS",
        "RESTARTS",
        "AGE",
        "IP",
        "NODE",
        "NOMINATED",
    ]
    rows = {line.split()[0]: line.split() for line in wide[1:]}
    assert rows["web-1"][6] == "node-1"
    assert rows["web-2"][6] == "<none>"

    on_node = cluster.kubectl(
        "get", "pods", "--field-selector", "spec.nodeName=node-1", "-o", "name"
    ).stdout.split()
    assert on_node == ["pod/web-1"]

    deleted = cluster.kubectl("delete", "pods", "-l", "app=web", "--grace-period=0", "--force")
    assert 'pod "web-2" force deleted' in deleted.stdout
    left = cluster.kubectl("get", "pods", "-o", "name").stdout.split()
    assert left == ["pod/db-1"]


def test_kubectl_events_lists_events(cluster: Cluster) -> None:
    cluster.kubectl("create", "-f", "-", stdin=EVENT)
    listed = cluster.kubectl("events").stdout.splitlines()
    assert listed[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert listed[1].split()[1:5] == ["Normal", "Started", "Pod/web-1", "Started"]
    for_pod = cluster.kubectl("events", "--for", "pod/web-1").stdout
    assert "Started container c" in for_pod
    described = cluster.kubectl("get", "events", "-o", "wide").stdout
    assert "kubelet" in described


def test_client_side_diff(cluster: Cluster) -> None:
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: d}\ndata: {a: '1'}\n"
    cluster.kubectl("apply", "-f", "-", stdin=manifest)
    same = cluster.kubectl("diff", "-f", "-", stdin=manifest, check=False)
    assert same.returncode == 0, same.stderr
    assert same.stdout == ""
    changed = cluster.kubectl("diff", "-f", "-", stdin=manifest.replace("'1'", "'2'"), check=False)
    assert changed.returncode == 1, changed.stderr
    assert '-  a: "1"' in changed.stdout
    assert '+  a: "2"' in changed.stdout
    value = cluster.kubectl("get", "configmap", "d", "-o", "jsonpath={.data.a}").stdout
    assert value == "1"  # diff is a dry run
