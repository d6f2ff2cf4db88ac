"""The scheduler against a real API server: Node objects made by the test, no kubelet."""

from __future__ import annotations

import asyncio
from typing import Any

from pocketkube.client import Client

from .conftest import (
    StartScheduler,
    create_node,
    create_pod,
    events_for,
    get_pod,
    node,
    pod,
    wait_for,
    wait_scheduled,
    wait_unschedulable,
)

ZONE = "topology.kubernetes.io/zone"


async def test_binds_a_pod_with_condition_and_event(
    client: Client, start_scheduler: StartScheduler
) -> None:
    await create_node(client, node("node-1"))
    await start_scheduler()
    await create_pod(client, pod("web"))
    assert await wait_scheduled(client, "web") == "node-1"
    obj = await get_pod(client, "web")
    assert obj is not None
    conditions = {c["type"]: c for c in obj["status"]["conditions"]}
    assert conditions["PodScheduled"]["status"] == "True"

    async def scheduled_event() -> Any:
        return [e for e in await events_for(client, "web") if e["reason"] == "Scheduled"]

    events = await wait_for(scheduled_event, what="Scheduled event")
    assert events[0]["message"] == "Successfully assigned default/web to node-1"
    assert events[0]["type"] == "Normal"
    assert events[0].get("reportingComponent") == "default-scheduler"


async def test_insufficient_cpu_then_a_new_node_arrives(
    client: Client, start_scheduler: StartScheduler
) -> None:
    await create_node(client, node("small-1", cpu="1"))
    await create_node(
        client,
        node(
            "tainted",
            cpu="8",
            taints=[{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}],
        ),
    )
    await start_scheduler()
    await create_pod(client, pod("big", cpu="2"))
    message = await wait_unschedulable(client, "big")
    assert message == (
        "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint "
        "{node-role.kubernetes.io/control-plane: }. preemption: 0/2 nodes are available: "
        "1 No preemption victims found for incoming pod, 1 Preemption is not helpful for "
        "scheduling.."
    )

    async def failed_event() -> Any:
        return [e for e in await events_for(client, "big") if e["reason"] == "FailedScheduling"]

    events = await wait_for(failed_event, what="FailedScheduling event")
    assert events[0]["type"] == "Warning"
    assert events[0]["message"] == message
    await create_node(client, node("big-1", cpu="4"))
    assert await wait_scheduled(client, "big") == "big-1"


async def test_node_selector_and_required_affinity(
    client: Client, start_scheduler: StartScheduler
) -> None:
    await create_node(client, node("hdd", labels={"disktype": "hdd"}))
    await create_node(client, node("ssd", labels={"disktype": "ssd"}))
    await start_scheduler()
    await create_pod(client, pod("by-selector", spec={"nodeSelector": {"disktype": "ssd"}}))
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "disktype", "operator": "In", "values": ["hdd"]}]}
                ]
            }
        }
    }
    await create_pod(client, pod("by-affinity", spec={"affinity": affinity}))
    await create_pod(client, pod("nowhere", spec={"nodeSelector": {"disktype": "nvme"}}))
    assert await wait_scheduled(client, "by-selector") == "ssd"
    assert await wait_scheduled(client, "by-affinity") == "hdd"
    assert await wait_unschedulable(client, "nowhere") == (
        "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. "
        "preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.."
    )


async def test_preferred_node_affinity(client: Client, start_scheduler: StartScheduler) -> None:
    await create_node(client, node("plain"))
    await create_node(client, node("fast", labels={"disktype": "ssd"}))
    await start_scheduler()
    preferred = {
        "nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 100,
                    "preference": {
                        "matchExpressions": [
                            {"key": "disktype", "operator": "In", "values": ["ssd"]}
                        ]
                    },
                }
            ]
        }
    }
    for i in range(3):
        await create_pod(client, pod(f"pref-{i}", spec={"affinity": preferred}))
    for i in range(3):
        assert await wait_scheduled(client, f"pref-{i}") == "fast"


async def test_pod_affinity_and_anti_affinity_across_zones(
    client: Client, start_scheduler: StartScheduler
) -> None:
    for zone in ("a", "b"):
        for i in range(2):
            await create_node(client, node(f"{zone}-{i}", labels={ZONE: zone}))
    await start_scheduler()
    await create_pod(client, pod("db", labels={"app": "db"}, spec={"nodeSelector": {ZONE: "b"}}))
    assert (await wait_scheduled(client, "db")).startswith("b-")
    with_db = {
        "podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": ZONE}
            ]
        }
    }
    away_from_db = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": ZONE}
            ]
        }
    }
    await create_pod(client, pod("near", spec={"affinity": with_db}))
    await create_pod(client, pod("far", spec={"affinity": away_from_db}))
    assert (await wait_scheduled(client, "near")).startswith("b-")
    assert (await wait_scheduled(client, "far")).startswith("a-")


async def test_topology_spread_six_pods_over_three_zones(
    client: Client, start_scheduler: StartScheduler
) -> None:
    for zone in ("a", "b", "c"):
        await create_node(client, node(f"n-{zone}", labels={ZONE: zone}))
    await start_scheduler()
    spread = {
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": ZONE,
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": {"app": "spread"}},
            }
        ]
    }
    for i in range(6):
        await create_pod(client, pod(f"s-{i}", labels={"app": "spread"}, spec=spread))
        await wait_scheduled(client, f"s-{i}")
    placed = [await wait_scheduled(client, f"s-{i}") for i in range(6)]
    assert sorted(placed) == ["n-a", "n-a", "n-b", "n-b", "n-c", "n-c"]


async def test_taints_and_tolerations(client: Client, start_scheduler: StartScheduler) -> None:
    taint = {"key": "dedicated", "value": "batch", "effect": "NoSchedule"}
    await create_node(client, node("batch", taints=[taint]))
    await start_scheduler()
    await create_pod(client, pod("plain"))
    toleration = {"key": "dedicated", "operator": "Equal", "value": "batch", "effect": "NoSchedule"}
    await create_pod(client, pod("tolerant", spec={"tolerations": [toleration]}))
    assert await wait_scheduled(client, "tolerant") == "batch"
    assert await wait_unschedulable(client, "plain") == (
        "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: batch}. "
        "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.."
    )


async def test_host_port_conflict(client: Client, start_scheduler: StartScheduler) -> None:
    await create_node(client, node("only"))
    await start_scheduler()
    port = {"ports": [{"containerPort": 80, "hostPort": 8080}]}
    await create_pod(client, pod("first", container=port))
    assert await wait_scheduled(client, "first") == "only"
    await create_pod(client, pod("second", container=port))
    message = await wait_unschedulable(client, "second")
    assert message.startswith(
        "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports."
    )


async def test_preemption_of_a_lower_priority_pod(
    client: Client, start_scheduler: StartScheduler
) -> None:
    await client.create(
        "/apis/scheduling.k8s.io/v1/priorityclasses",
        {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": "high"},
            "value": 1000,
        },
    )
    await create_node(client, node("one", cpu="2"))
    await start_scheduler()
    await create_pod(client, pod("low", cpu="1500m"))
    assert await wait_scheduled(client, "low") == "one"
    await create_pod(client, pod("high", cpu="1500m", spec={"priorityClassName": "high"}))

    async def nominated() -> Any:
        obj = await get_pod(client, "high")
        return ((obj or {}).get("status") or {}).get("nominatedNodeName")

    assert await wait_for(nominated, what="nominatedNodeName") == "one"

    async def victim_marked() -> Any:
        obj = await get_pod(client, "low")
        if obj is None:
            return "gone"
        return obj["metadata"].get("deletionTimestamp")

    assert await wait_for(victim_marked, what="victim deleted")
    # No kubelet here: finish the graceful deletion as the node would.
    await client.delete("/api/v1/namespaces/default/pods/low", params={"gracePeriodSeconds": "0"})
    assert await wait_scheduled(client, "high") == "one"
    events = await events_for(client, "low")
    assert any(e["reason"] == "Preempted" for e in events)


async def test_local_persistent_volume_decides_the_node(
    client: Client, start_scheduler: StartScheduler
) -> None:
    await create_node(client, node("disk-node"))
    await create_node(client, node("other-node"))
    await client.create(
        "/api/v1/persistentvolumes",
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": "local-pv"},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "local",
                "local": {"path": "/mnt/disk"},
                "claimRef": {"namespace": "default", "name": "data"},
                "nodeAffinity": {
                    "required": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {
                                        "key": "kubernetes.io/hostname",
                                        "operator": "In",
                                        "values": ["disk-node"],
                                    }
                                ]
                            }
                        ]
                    }
                },
            },
        },
    )
    await client.create(
        "/api/v1/namespaces/default/persistentvolumeclaims",
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "local",
                "volumeName": "local-pv",
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )
    await start_scheduler()
    volume = {"volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]}
    for i in range(3):
        await create_pod(client, pod(f"uses-disk-{i}", spec=volume))
    for i in range(3):
        assert await wait_scheduled(client, f"uses-disk-{i}") == "disk-node"


async def test_pods_for_another_scheduler_are_left_alone(
    client: Client, start_scheduler: StartScheduler
) -> None:
    await create_node(client, node("n"))
    await start_scheduler()
    await create_pod(client, pod("theirs", spec={"schedulerName": "other-scheduler"}))
    await create_pod(client, pod("ours"))
    assert await wait_scheduled(client, "ours") == "n"
    await asyncio.sleep(0.5)
    obj = await get_pod(client, "theirs")
    assert obj is not None
    assert not obj["spec"].get("nodeName")
    assert not (obj.get("status") or {}).get("conditions")


async def test_a_second_profile_schedules_its_own_pods(
    client: Client, start_scheduler: StartScheduler
) -> None:
    await create_node(client, node("n"))
    await start_scheduler(
        {
            "apiVersion": "kubescheduler.config.k8s.io/v1",
            "kind": "KubeSchedulerConfiguration",
            "profiles": [
                {"schedulerName": "default-scheduler"},
                {
                    "schedulerName": "no-scoring",
                    "plugins": {"score": {"disabled": [{"name": "*"}]}},
                },
            ],
        }
    )
    await create_pod(client, pod("second", spec={"schedulerName": "no-scoring"}))
    assert await wait_scheduled(client, "second") == "n"
