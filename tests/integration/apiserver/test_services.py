"""Services: the `kubernetes` service, cluster IP and node port allocation without duplicates."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

from tests.integration.apiserver.conftest import Client

SVCS = "/api/v1/namespaces/default/services"


def service(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80}], **spec},
    }


async def test_the_kubernetes_service_points_at_the_api_server(admin: Client) -> None:
    code, svc = await admin.request("GET", f"{SVCS}/kubernetes")
    assert code == 200
    assert svc["spec"]["clusterIP"] == "10.43.0.1"
    assert svc["spec"]["ports"][0]["port"] == 443
    code, eps = await admin.request("GET", "/api/v1/namespaces/default/endpoints/kubernetes")
    assert code == 200
    assert eps["subsets"][0]["addresses"] == [{"ip": "127.0.0.1"}]
    code, _ = await admin.request(
        "GET", "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes"
    )
    assert code == 200


async def test_cluster_ips_are_allocated_once_each_even_concurrently(admin: Client) -> None:
    results = await asyncio.gather(
        *(admin.request("POST", SVCS, service(f"s{i}")) for i in range(16))
    )
    ips = [body["spec"]["clusterIP"] for code, body in results if code == 201]
    assert len(ips) == 16
    assert len(set(ips)) == 16
    assert all(ipaddress.ip_address(ip) in ipaddress.ip_network("10.43.0.0/16") for ip in ips)
    first = results[0][1]
    assert first["spec"]["clusterIPs"] == [first["spec"]["clusterIP"]]
    assert first["spec"]["ports"][0] == {"port": 80, "protocol": "TCP", "targetPort": 80}
    assert first["spec"]["type"] == "ClusterIP"


async def test_a_taken_ip_is_refused_and_freed_on_delete(admin: Client) -> None:
    code, _ = await admin.request("POST", SVCS, service("a", clusterIP="10.43.1.1"))
    assert code == 201
    code, body = await admin.request("POST", SVCS, service("b", clusterIP="10.43.1.1"))
    assert (code, body["reason"]) == (422, "Invalid")
    assert "already allocated" in body["message"]
    code, body = await admin.request("POST", SVCS, service("c", clusterIP="192.168.0.1"))
    assert (code, body["reason"]) == (422, "Invalid")
    await admin.request("DELETE", f"{SVCS}/a")
    code, _ = await admin.request("POST", SVCS, service("b", clusterIP="10.43.1.1"))
    assert code == 201


async def test_node_ports(admin: Client) -> None:
    code, svc = await admin.request("POST", SVCS, service("np", type="NodePort"))
    assert code == 201
    node_port = svc["spec"]["ports"][0]["nodePort"]
    assert 30000 <= node_port <= 32767
    assert svc["spec"]["externalTrafficPolicy"] == "Cluster"
    fixed = service("np2", type="NodePort")
    fixed["spec"]["ports"][0]["nodePort"] = node_port
    code, body = await admin.request("POST", SVCS, fixed)
    assert (code, body["reason"]) == (422, "Invalid")


async def test_headless_services_get_no_ip_and_updates_keep_addresses(admin: Client) -> None:
    code, svc = await admin.request("POST", SVCS, service("headless", clusterIP="None"))
    assert (code, svc["spec"]["clusterIP"]) == (201, "None")
    code, svc = await admin.request("POST", SVCS, service("keep"))
    ip = svc["spec"]["clusterIP"]
    replacement = service("keep")
    replacement["metadata"]["resourceVersion"] = svc["metadata"]["resourceVersion"]
    code, updated = await admin.request("PUT", f"{SVCS}/keep", replacement)
    assert code == 200, updated
    assert updated["spec"]["clusterIP"] == ip
