"""Real kubectl against `pocketkube server`: what a user types, and what they read back."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import yaml

from tests.e2e.conftest import Cluster, start_server, stop_server

CONFIGMAP = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  labels:
    app: web
data:
  greeting: hello
"""


def test_version_reports_a_1_33_server(cluster: Cluster) -> None:
    out = cluster.kubectl("version", "-o", "json").stdout
    server = json.loads(out)["serverVersion"]
    assert (server["major"], server["minor"], server["gitVersion"]) == ("1", "33", "v1.33.0")


def test_get_namespaces_shows_the_system_namespaces(cluster: Cluster) -> None:
    out = cluster.kubectl("get", "namespaces").stdout
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "STATUS", "AGE"]
    rows = {line.split()[0]: line.split()[1] for line in lines[1:]}
    for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
        assert rows[name] == "Active"


def test_api_resources_lists_the_builtin_kinds(cluster: Cluster) -> None:
    out = cluster.kubectl("api-resources").stdout
    names = {line.split()[0] for line in out.splitlines()[1:]}
    assert {"pods", "configmaps", "deployments", "namespaces", "nodes"} <= names
    versions = cluster.kubectl("api-versions").stdout.split()
    assert {"v1", "apps/v1", "batch/v1"} <= set(versions)


def test_configmap_lifecycle(cluster: Cluster) -> None:
    created = cluster.kubectl("create", "--validate=false", "-f", "-", stdin=CONFIGMAP).stdout
    assert created.strip() == "configmap/settings created"
    again = cluster.kubectl("create", "--validate=false", "-f", "-", stdin=CONFIGMAP, check=False)
    assert again.returncode != 0
    assert again.stderr.startswith("Error from server (AlreadyExists): ")
    assert 'configmaps "settings" already exists' in again.stderr

    table = cluster.kubectl("get", "configmaps").stdout.splitlines()
    assert table[0].split() == ["NAME", "DATA", "AGE"]
    # the root CA publisher may have added kube-root-ca.crt by now
    assert [row.split()[:2] for row in table[1:] if row.startswith("settings")] == [
        ["settings", "1"]
    ]

    obj = yaml.safe_load(cluster.kubectl("get", "configmap", "settings", "-o", "yaml").stdout)
    assert obj["data"] == {"greeting": "hello"}
    assert obj["metadata"]["uid"]

    assert "labeled" in cluster.kubectl("label", "configmap", "settings", "tier=front").stdout
    selected = cluster.kubectl("get", "cm", "-l", "tier=front", "-o", "name").stdout.split()
    assert selected == ["configmap/settings"]
    patched = cluster.kubectl(
        "patch", "configmap", "settings", "--type=merge", "-p", '{"data":{"greeting":"hi"}}'
    ).stdout
    assert "patched" in patched
    value = cluster.kubectl("get", "cm", "settings", "-o", "jsonpath={.data.greeting}").stdout
    assert value == "hi"

    deleted = cluster.kubectl("delete", "configmap", "settings").stdout
    assert deleted.strip() == 'configmap "settings" deleted'
    missing = cluster.kubectl("get", "configmap", "settings", check=False)
    assert 'Error from server (NotFound): configmaps "settings" not found' in missing.stderr


def test_get_all_namespaces(cluster: Cluster) -> None:
    empty = cluster.kubectl("get", "podtemplates", "-A")
    assert empty.stdout == ""
    assert "No resources found" in empty.stderr
    cluster.kubectl("create", "--validate=false", "-f", "-", stdin=CONFIGMAP)
    cluster.kubectl("create", "--validate=false", "-n", "kube-system", "-f", "-", stdin=CONFIGMAP)
    out = cluster.kubectl("get", "configmaps", "-A").stdout.splitlines()
    assert out[0].split() == ["NAMESPACE", "NAME", "DATA", "AGE"]
    # kube-public holds the API server's cluster-info; kube-root-ca.crt (the root CA publisher's,
    # in every namespace) is left out
    rows = [line.split() for line in out[1:]]
    names = sorted(row[0] for row in rows if row[1] != "kube-root-ca.crt")
    assert names == ["default", "kube-public", "kube-system"]


def test_watch_prints_changes(cluster: Cluster) -> None:
    watcher = subprocess.Popen(
        [
            "kubectl",
            "--kubeconfig",
            str(cluster.kubeconfig),
            "--cache-dir",
            str(cluster.cache_dir),
            "get",
            "configmaps",
            "-w",
            "--request-timeout=20s",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        time.sleep(2)
        cluster.kubectl("create", "--validate=false", "-f", "-", stdin=CONFIGMAP)
        time.sleep(2)
    finally:
        watcher.terminate()
        out, _ = watcher.communicate(timeout=10)
    assert "settings" in out


def test_restart_keeps_objects_and_credentials(tmp_path: Path) -> None:
    from tests.e2e.conftest import free_port

    data_dir, port = tmp_path / "cluster", free_port()
    cluster = Cluster(start_server(data_dir, port), data_dir, port, tmp_path / "cache")
    try:
        cluster.kubectl("create", "--validate=false", "-f", "-", stdin=CONFIGMAP)
        before = json.loads(cluster.kubectl("get", "cm", "settings", "-o", "json").stdout)
    finally:
        stop_server(cluster.process)
    cluster.process = start_server(data_dir, port)
    try:
        after = json.loads(cluster.kubectl("get", "cm", "settings", "-o", "json").stdout)
    finally:
        stop_server(cluster.process)
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def test_get_reads_lists_the_server_gzips(cluster: Cluster) -> None:
    """Lists over 128 KiB go gzip-compressed to kubectl (it asks for gzip): -o json and the
    Table (each row carries the last-applied annotation, 3 KB) both read back whole."""
    padding = "x" * 3000
    stream = "\n---\n".join(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"big-{i:02}", "labels": {"size": "big"}},
                "data": {"pad": padding},
            }
        )
        for i in range(60)
    )
    cluster.kubectl("apply", "-f", "-", stdin=stream)
    listed = json.loads(cluster.kubectl("get", "configmaps", "-l", "size=big", "-o", "json").stdout)
    assert len(json.dumps(listed)) > 128 * 1024
    assert sorted(i["metadata"]["name"] for i in listed["items"]) == [
        f"big-{i:02}" for i in range(60)
    ]
    assert all(i["data"]["pad"] == padding for i in listed["items"])
    rows = cluster.kubectl("get", "configmaps", "-l", "size=big").stdout.splitlines()
    assert rows[0].split() == ["NAME", "DATA", "AGE"]
    assert [r.split()[:2] for r in rows[1:]] == [[f"big-{i:02}", "1"] for i in range(60)]
