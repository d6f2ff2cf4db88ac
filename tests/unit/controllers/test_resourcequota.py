"""ResourceQuota status with fake informers: each evaluator's charges, scopes, canonical
quantities, and what a sync writes."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest

from pocketkube.client import resources
from pocketkube.client.clock import FakeClock
from pocketkube.client.rest import ApiError
from pocketkube.controllers.resourcequota import WATCHED, ResourceQuotaController
from pocketkube.controllers.resourcequota.controller import owner_of
from pocketkube.controllers.resourcequota.usage import (
    Amount,
    format_quantity,
    pod_usage,
    pvc_usage,
    service_usage,
)
from tests.unit.controllers.fakes import NOW, FakeClient, informer


def pod(name: str = "p", *, phase: str = "Running", **spec: Any) -> dict[str, Any]:
    containers = spec.pop(
        "containers",
        [
            {
                "name": "a",
                "resources": {
                    "requests": {"cpu": "250m", "memory": "64Mi"},
                    "limits": {"cpu": "1", "memory": "128Mi"},
                },
            },
            {"name": "b", "resources": {"requests": {"cpu": "500m", "memory": "64Mi"}}},
        ],
    )
    return {
        "metadata": {"name": name, "namespace": "team"},
        "spec": {"containers": containers, **spec},
        "status": {"phase": phase},
    }


@pytest.mark.parametrize(
    ("value", "binary", "text"),
    [
        (Fraction(3, 4), False, "750m"),
        (Fraction(2), False, "2"),
        (Fraction(1500), False, "1500"),
        (Fraction(2000), False, "2k"),
        (Fraction(128 * 2**20), True, "128Mi"),
        (Fraction(3 * 2**30), True, "3Gi"),
        (Fraction(1000), True, "1000"),
        (Fraction(1, 2), True, "500m"),
        (Fraction(0), True, "0"),
    ],
)
def test_canonical_quantities(value: Fraction, binary: bool, text: str) -> None:
    assert format_quantity(Amount(value, binary=binary)) == text


def _shown(used: dict[str, Amount]) -> dict[str, str]:
    return {name: format_quantity(amount) for name, amount in used.items()}


def test_pod_usage_sums_containers_against_init_containers() -> None:
    init = [{"name": "i", "resources": {"requests": {"cpu": "2"}, "limits": {"memory": "1Gi"}}}]
    shown = _shown(pod_usage(pod(initContainers=init, overhead={"cpu": "100m"}), NOW))
    assert shown == {
        "count/pods": "1",
        "pods": "1",
        "cpu": "2100m",
        "requests.cpu": "2100m",
        "memory": "128Mi",
        "requests.memory": "128Mi",
        "limits.cpu": "1100m",
        "limits.memory": "1Gi",
    }


@pytest.mark.parametrize(
    ("phase", "meta", "charged"),
    [
        ("Succeeded", {}, False),
        ("Failed", {}, False),
        ("Running", {}, True),
        (
            "Running",
            {"deletionTimestamp": "2024-05-01T11:59:00Z", "deletionGracePeriodSeconds": 30},
            False,
        ),
        (
            "Running",
            {"deletionTimestamp": "2024-05-01T11:59:50Z", "deletionGracePeriodSeconds": 30},
            True,
        ),
    ],
)
def test_terminal_pods_charge_only_their_count(
    phase: str, meta: dict[str, Any], charged: bool
) -> None:
    obj = pod(phase=phase)
    obj["metadata"].update(meta)
    used = pod_usage(obj, NOW)
    assert ("pods" in used) is charged
    assert format_quantity(used["count/pods"]) == "1"


def test_extended_and_hugepages() -> None:
    containers = [
        {
            "name": "a",
            "resources": {"requests": {"example.com/gpu": "2", "hugepages-2Mi": "4Mi"}},
        }
    ]
    shown = _shown(pod_usage(pod(containers=containers), NOW))
    assert shown["requests.example.com/gpu"] == "2"
    assert shown["hugepages-2Mi"] == shown["requests.hugepages-2Mi"] == "4Mi"
    assert "example.com/gpu" not in shown


@pytest.mark.parametrize(
    ("spec", "nodeports", "lbs"),
    [
        ({"type": "ClusterIP", "ports": [{"port": 80}]}, "0", "0"),
        ({"type": "NodePort", "ports": [{"port": 80}, {"port": 81}]}, "2", "0"),
        ({"type": "LoadBalancer", "ports": [{"port": 80}]}, "1", "1"),
        (
            {
                "type": "LoadBalancer",
                "allocateLoadBalancerNodePorts": False,
                "ports": [{"port": 80, "nodePort": 30001}, {"port": 81}],
            },
            "1",
            "1",
        ),
    ],
)
def test_service_usage(spec: dict[str, Any], nodeports: str, lbs: str) -> None:
    shown = _shown(service_usage({"spec": spec}))
    assert shown == {
        "services": "1",
        "count/services": "1",
        "services.nodeports": nodeports,
        "services.loadbalancers": lbs,
    }


def test_pvc_usage_per_storage_class() -> None:
    claim = {
        "spec": {"storageClassName": "fast", "resources": {"requests": {"storage": "1Gi"}}},
        "status": {"allocatedResources": {"storage": "2Gi"}},
    }
    assert _shown(pvc_usage(claim)) == {
        "persistentvolumeclaims": "1",
        "count/persistentvolumeclaims": "1",
        "requests.storage": "2Gi",
        "fast.storageclass.storage.k8s.io/requests.storage": "2Gi",
        "fast.storageclass.storage.k8s.io/persistentvolumeclaims": "1",
    }


@pytest.mark.parametrize(
    ("name", "owner"),
    [
        ("pods", "pods"),
        ("requests.cpu", "pods"),
        ("limits.memory", "pods"),
        ("cpu", "pods"),
        ("requests.storage", "persistentvolumeclaims"),
        ("gold.storageclass.storage.k8s.io/requests.storage", "persistentvolumeclaims"),
        ("services.nodeports", "services"),
        ("configmaps", "configmaps"),
        ("count/secrets", "secrets"),
        ("count/deployments.apps", "deployments.apps"),
        ("nonsense", None),
    ],
)
def test_owner_of(name: str, owner: str | None) -> None:
    assert owner_of(name) == owner


# -- the controller ----------------------------------------------------------------------------
def quota(hard: dict[str, str], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "q", "namespace": "team", "resourceVersion": "4"},
        "spec": {"hard": hard, **spec},
    }


def controller(
    client: FakeClient, q: dict[str, Any], **objects: list[Any]
) -> ResourceQuotaController:
    quotas = informer(client, resources.RESOURCE_QUOTAS, q)
    watched = {p: informer(client, r, *objects.get(p, [])) for p, r in WATCHED.items()}
    watched["resourcequotas"] = quotas  # one shared informer, as the manager builds it
    return ResourceQuotaController(
        client=client,
        quota_informer=quotas,
        watched=watched,
        clock=FakeClock(),
        now=lambda: NOW,
    )


async def test_sync_writes_hard_and_used() -> None:
    hard = {
        "pods": "10",
        "requests.cpu": "4",
        "limits.memory": "1Gi",
        "configmaps": "5",
        "services": "2",
        "services.nodeports": "4",
        "resourcequotas": "1",
        "count/secrets": "3",
    }
    q = quota(hard)
    other_ns = {**pod("elsewhere"), "metadata": {"name": "x", "namespace": "other"}}
    client = FakeClient()
    ctl = controller(
        client,
        q,
        pods=[pod("a"), pod("done", phase="Succeeded"), other_ns],
        configmaps=[{"metadata": {"name": f"c{i}", "namespace": "team"}} for i in range(2)],
        services=[
            {
                "metadata": {"name": "s", "namespace": "team"},
                "spec": {"type": "NodePort", "ports": [{"port": 1}]},
            }
        ],
    )
    await ctl.sync("team/q")
    [call] = client.writes()
    assert (call.verb, call.path) == ("PUT", "/api/v1/namespaces/team/resourcequotas/q/status")
    assert call.body["status"] == {
        "hard": hard,
        "used": {
            "pods": "1",
            "requests.cpu": "750m",
            "limits.memory": "128Mi",
            "configmaps": "2",
            "services": "1",
            "services.nodeports": "1",
            "resourcequotas": "1",
            "count/secrets": "0",
        },
    }


async def test_sync_writes_nothing_when_current() -> None:
    q = quota({"pods": "10"})
    q["status"] = {"hard": {"pods": "10"}, "used": {"pods": "1"}}
    client = FakeClient()
    await controller(client, q, pods=[pod()]).sync("team/q")
    assert client.writes() == []


@pytest.mark.parametrize(
    ("spec", "pods"),
    [
        ({"scopes": ["BestEffort"]}, "1"),
        ({"scopes": ["NotBestEffort"]}, "1"),
        ({"scopes": ["Terminating"]}, "0"),
        (
            {
                "scopeSelector": {
                    "matchExpressions": [
                        {"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}
                    ]
                }
            },
            "1",
        ),
    ],
)
async def test_scopes_select_pods(spec: dict[str, Any], pods: str) -> None:
    best_effort = pod("be", containers=[{"name": "c"}])
    burstable = pod("b", priorityClassName="high")
    if "scopeSelector" in spec:
        best_effort["spec"]["priorityClassName"] = "low"
    q = quota({"pods": "5", "configmaps": "5"}, **spec)
    client = FakeClient()
    cms = [{"metadata": {"name": "c", "namespace": "team"}}]
    await controller(client, q, pods=[best_effort, burstable], configmaps=cms).sync("team/q")
    used = client.writes()[0].body["status"]["used"]
    assert used == {"pods": pods, "configmaps": "0"}


async def test_counts_other_resources_through_the_api() -> None:
    q = quota({"count/deployments.apps": "3", "count/widgets.example.com": "1"})
    client = FakeClient()
    client.answers[("GET", "/apis/apps")] = {"preferredVersion": {"version": "v1"}}
    client.answers[("GET", "/apis/apps/v1/namespaces/team/deployments")] = {"items": [{}, {}]}
    client.answers[("GET", "/apis/example.com")] = ApiError(404, "NotFound", "no")
    ctl = controller(client, q)
    await ctl.sync("team/q")
    used = client.writes()[0].body["status"]["used"]
    assert used == {"count/deployments.apps": "2"}
    assert ctl.queue.waiting == 1  # rechecked soon: nothing watches deployments here


def test_replenishment_queues_quotas_that_count_the_resource() -> None:
    client = FakeClient()
    ctl = controller(client, quota({"pods": "1"}))
    assert ctl.queue.get_nowait() == "team/q"  # queued when the informer handed it over
    ctl.queue.done("team/q")
    ctl._replenish("configmaps", {"metadata": {"name": "c", "namespace": "team"}})
    ctl._replenish("pods", {"metadata": {"name": "p", "namespace": "other"}})
    assert len(ctl.queue) == 0
    ctl._replenish("pods", {"metadata": {"name": "p", "namespace": "team"}})
    assert len(ctl.queue) == 1
