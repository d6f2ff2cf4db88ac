"""Real kubectl against a server (no kubelet) and its garbage collector: deleting a ConfigMap
that other ConfigMaps name as their owner, with each of kubectl's ``--cascade`` modes."""

from __future__ import annotations

import json
import time

from tests.e2e.conftest import Cluster


def make_owner(cluster: Cluster, name: str) -> str:
    cluster.kubectl("create", "configmap", name)
    uid = cluster.kubectl("get", "configmap", name, "-o", "jsonpath={.metadata.uid}").stdout
    assert uid
    return uid


def make_dependent(cluster: Cluster, name: str, owner: str, uid: str) -> None:
    manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "name": owner,
                    "uid": uid,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "data": {"k": "v"},
    }
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(manifest))


def present(cluster: Cluster, *names: str) -> set[str]:
    out = cluster.kubectl("get", "configmaps", "-o", "name").stdout.split()
    return {n for n in names if f"configmap/{n}" in out}


def wait_for(check: object, within: float = 20.0) -> None:
    assert callable(check)
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {check.__name__}")


def test_kubectl_delete_cascades(cluster: Cluster) -> None:
    # background (kubectl's default): the owner goes at once, the dependents after it
    uid = make_owner(cluster, "bg-owner")
    make_dependent(cluster, "bg-dep-1", "bg-owner", uid)
    make_dependent(cluster, "bg-dep-2", "bg-owner", uid)
    out = cluster.kubectl("delete", "configmap", "bg-owner").stdout
    assert 'configmap "bg-owner" deleted' in out

    def background_done() -> bool:
        return not present(cluster, "bg-owner", "bg-dep-1", "bg-dep-2")

    wait_for(background_done)

    # foreground: kubectl waits for the owner, which waits for its blocking dependents
    uid = make_owner(cluster, "fg-owner")
    make_dependent(cluster, "fg-dep", "fg-owner", uid)
    cluster.kubectl("delete", "configmap", "fg-owner", "--cascade=foreground", timeout=60)
    assert not present(cluster, "fg-owner", "fg-dep")

    # orphan: the owner goes, the dependents stay without the reference
    uid = make_owner(cluster, "or-owner")
    make_dependent(cluster, "or-dep", "or-owner", uid)
    cluster.kubectl("delete", "configmap", "or-owner", "--cascade=orphan", timeout=60)

    def owner_gone() -> bool:
        return not present(cluster, "or-owner")

    wait_for(owner_gone)
    dep = json.loads(cluster.kubectl("get", "configmap", "or-dep", "-o", "json").stdout)
    assert not dep["metadata"].get("ownerReferences")
    time.sleep(1.0)
    assert present(cluster, "or-dep") == {"or-dep"}
