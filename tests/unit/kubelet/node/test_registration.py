from __future__ import annotations

import copy
from typing import Any

import pytest

from pocketkube.kubelet.node.registration import (
    CONTROL_PLANE_ROLE,
    CONTROLLER_MANAGED_ATTACH,
    NodeConfig,
    initial_node,
    reconcile_existing,
)

CONFIG = NodeConfig(node_name="node-1", hostname="host-1", architecture="arm64")


def test_initial_node() -> None:
    node = initial_node(
        NodeConfig(
            node_name="node-1",
            hostname="host-1",
            architecture="arm64",
            labels={CONTROL_PLANE_ROLE: "", "kubernetes.io/os": "linux"},
        )
    )
    assert node["metadata"] == {
        "name": "node-1",
        "labels": {
            "kubernetes.io/hostname": "host-1",
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "arm64",
            "beta.kubernetes.io/os": "linux",
            "beta.kubernetes.io/arch": "arm64",
            CONTROL_PLANE_ROLE: "",
        },
        "annotations": {CONTROLLER_MANAGED_ATTACH: "true"},
    }
    assert node["spec"] == {}
    assert (node["apiVersion"], node["kind"]) == ("v1", "Node")


@pytest.mark.parametrize(
    ("config", "spec"),
    [
        (
            NodeConfig(node_name="n", hostname="n", schedulable=False),
            {
                "unschedulable": True,
                "taints": [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}],
            },
        ),
        (
            NodeConfig(
                node_name="n",
                hostname="n",
                schedulable=False,
                taints=[{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}],
            ),
            {
                "unschedulable": True,
                "taints": [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}],
            },
        ),
        (
            NodeConfig(
                node_name="n",
                hostname="n",
                taints=[{"key": "dedicated", "value": "db", "effect": "NoExecute"}],
                pod_cidr="10.42.0.0/24",
            ),
            {
                "taints": [{"key": "dedicated", "value": "db", "effect": "NoExecute"}],
                "podCIDR": "10.42.0.0/24",
                "podCIDRs": ["10.42.0.0/24"],
            },
        ),
    ],
)
def test_initial_spec(config: NodeConfig, spec: dict[str, Any]) -> None:
    assert initial_node(config)["spec"] == spec


def initial_with_status() -> dict[str, Any]:
    node = initial_node(NodeConfig(node_name="node-1", hostname="host-1", pod_cidr="10.42.1.0/24"))
    node["status"] = {
        "capacity": {"cpu": "4", "hugepages-2Mi": "0"},
        "allocatable": {"cpu": "4", "hugepages-2Mi": "0"},
    }
    return node


def test_reconcile_keeps_foreign_labels_and_fixes_ours() -> None:
    existing = {
        "metadata": {
            "name": "node-1",
            "labels": {
                "kubernetes.io/hostname": "old-host",
                "kubernetes.io/os": "linux",
                "team": "blue",
                "node-role.kubernetes.io/worker": "",
            },
            "annotations": {"note": "keep"},
        },
        "spec": {"podCIDR": "10.42.9.0/24", "taints": [{"key": "x", "effect": "NoSchedule"}]},
        "status": {
            "capacity": {"cpu": "4", "hugepages-1Gi": "0"},
            "allocatable": {"cpu": "4", "hugepages-1Gi": "0"},
        },
    }
    assert reconcile_existing(initial_with_status(), existing)
    assert existing["metadata"]["labels"] == {
        "kubernetes.io/hostname": "host-1",
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": "amd64",
        "team": "blue",
        "node-role.kubernetes.io/worker": "",
    }
    assert existing["metadata"]["annotations"] == {
        "note": "keep",
        CONTROLLER_MANAGED_ATTACH: "true",
    }
    assert existing["spec"]["podCIDR"] == "10.42.9.0/24"  # node IPAM's choice stays
    assert existing["spec"]["taints"] == [{"key": "x", "effect": "NoSchedule"}]
    assert existing["status"]["capacity"] == {"cpu": "4", "hugepages-2Mi": "0"}
    assert existing["status"]["allocatable"] == {"cpu": "4", "hugepages-2Mi": "0"}


def test_reconcile_fills_missing_status_and_pod_cidr() -> None:
    existing: dict[str, Any] = {"metadata": {"name": "node-1"}}
    assert reconcile_existing(initial_with_status(), existing)
    assert existing["status"]["capacity"]["cpu"] == "4"
    assert existing["spec"] == {"podCIDR": "10.42.1.0/24", "podCIDRs": ["10.42.1.0/24"]}


def test_reconcile_of_an_up_to_date_node_changes_nothing() -> None:
    initial = initial_with_status()
    existing = copy.deepcopy(initial)
    existing["metadata"]["labels"]["team"] = "blue"
    assert not reconcile_existing(initial, existing)


def test_reconcile_drops_attach_annotation_when_disabled() -> None:
    initial = initial_node(NodeConfig(node_name="n", hostname="n", controller_attach_detach=False))
    existing = {"metadata": {"annotations": {CONTROLLER_MANAGED_ATTACH: "true"}}, "status": {}}
    assert reconcile_existing(initial, existing)
    assert existing["metadata"]["annotations"] == {}
