"""resourcequota against the real API server: status.hard follows spec.hard and status.used
follows the namespace's pods (compute resources, terminal pods uncharged), services, configmaps
and count/<resource>.<group> objects."""

from __future__ import annotations

from typing import Any

from pocketkube.client import Client
from tests.integration.controllers.conftest import eventually, run_controllers

NS = "/api/v1/namespaces/team"


def _pod(name: str, cpu: str, memory: str) -> dict[str, Any]:
    resources = {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory}}
    container = {"name": "c", "image": "x", "resources": resources}
    return {"metadata": {"name": name}, "spec": {"containers": [container]}}


async def test_quota_status_follows_the_namespace(client: Client) -> None:
    await client.create("/api/v1/namespaces", {"metadata": {"name": "team"}})
    hard = {
        "pods": "10",
        "requests.cpu": "2",
        "requests.memory": "1Gi",
        "limits.memory": "2Gi",
        "configmaps": "5",
        "services": "3",
        "count/deployments.apps": "4",
    }
    quota = {"metadata": {"name": "compute"}, "spec": {"hard": hard}}
    await client.create(f"{NS}/resourcequotas", quota)
    async with run_controllers(client, "resourcequota"):

        async def used_is(expected: dict[str, str]) -> Any:
            async def check() -> Any:
                got = await client.get(f"{NS}/resourcequotas/compute")
                status = got.get("status") or {}
                return status if status.get("used") == expected else None

            check.__name__ = f"used == {expected}"
            return await eventually(check)

        status = await used_is(
            {
                "pods": "0",
                "requests.cpu": "0",
                "requests.memory": "0",
                "limits.memory": "0",
                "configmaps": "0",
                "services": "0",
                "count/deployments.apps": "0",
            }
        )
        assert status["hard"] == hard
        await client.create(f"{NS}/pods", _pod("a", "250m", "64Mi"))
        await client.create(f"{NS}/pods", _pod("b", "500m", "128Mi"))
        await client.create(f"{NS}/configmaps", {"metadata": {"name": "c"}})
        await client.create(
            f"{NS}/services", {"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}}
        )
        await used_is(
            {
                "pods": "2",
                "requests.cpu": "750m",
                "requests.memory": "192Mi",
                "limits.memory": "192Mi",
                "configmaps": "1",
                "services": "1",
                "count/deployments.apps": "0",
            }
        )
        # a pod that has finished is no longer charged
        pod = await client.get(f"{NS}/pods/b")
        pod["status"] = {"phase": "Succeeded"}
        await client.update(f"{NS}/pods/b/status", pod)
        await used_is(
            {
                "pods": "1",
                "requests.cpu": "250m",
                "requests.memory": "64Mi",
                "limits.memory": "64Mi",
                "configmaps": "1",
                "services": "1",
                "count/deployments.apps": "0",
            }
        )
        # a new limit shows up in status.hard at once
        current = await client.get(f"{NS}/resourcequotas/compute")
        current["spec"]["hard"]["secrets"] = "9"
        await client.update(f"{NS}/resourcequotas/compute", current)

        async def secrets_tracked() -> bool:
            got = await client.get(f"{NS}/resourcequotas/compute")
            status = got.get("status") or {}
            return (status.get("hard") or {}).get("secrets") == "9" and "secrets" in (
                status.get("used") or {}
            )

        await eventually(secrets_tracked)
