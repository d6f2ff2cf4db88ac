"""The namespace controller against the real API server: deleting a namespace empties it — built-in
objects, pods (no kubelet: unbound pods go at once) and custom resources — and then the namespace
goes; an object held by a finalizer keeps the namespace Terminating with the upstream conditions
until the finalizer is removed."""

from __future__ import annotations

from typing import Any

from pocketkube.client import ApiError, Client
from tests.integration.controllers.conftest import eventually, run_controllers

NS = "/api/v1/namespaces"
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def _crd() -> dict[str, Any]:
    schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


async def _exists(client: Client, path: str) -> bool:
    try:
        await client.get(path)
    except ApiError as err:
        if err.not_found:
            return False
        raise
    return True


async def _fill(client: Client, name: str) -> None:
    await client.create(NS, {"metadata": {"name": name}})
    base = f"{NS}/{name}"
    for i in range(3):
        await client.create(f"{base}/configmaps", {"metadata": {"name": f"cm{i}"}})
    await client.create(f"{base}/secrets", {"metadata": {"name": "s"}, "stringData": {"a": "b"}})
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}
    await client.create(f"{base}/pods", pod)
    service = {"metadata": {"name": "svc"}, "spec": {"ports": [{"port": 80}]}}
    await client.create(f"{base}/services", service)


async def test_deleting_a_namespace_empties_it_then_removes_it(client: Client) -> None:
    await client.create(CRDS, _crd())

    async def widgets_served() -> bool:
        return await _exists(client, "/apis/example.com/v1/namespaces/default/widgets")

    await eventually(widgets_served)
    await _fill(client, "team")
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    await client.create("/apis/example.com/v1/namespaces/team/widgets", widget)
    async with run_controllers(client, "namespace"):
        marked = await client.delete(f"{NS}/team")
        assert marked["status"]["phase"] == "Terminating"

        async def gone() -> bool:
            return not await _exists(client, f"{NS}/team")

        await eventually(gone)
    for path in (
        f"{NS}/team/configmaps",
        f"{NS}/team/secrets",
        f"{NS}/team/pods",
        f"{NS}/team/services",
        "/apis/example.com/v1/namespaces/team/widgets",
    ):
        assert (await client.get(path))["items"] == [], path
    # other namespaces are untouched
    assert await _exists(client, f"{NS}/default/services/kubernetes")


async def test_a_finalizer_holds_the_namespace_in_terminating(client: Client) -> None:
    await client.create(NS, {"metadata": {"name": "held"}})
    cm = {"metadata": {"name": "keep", "finalizers": ["example.com/hold"]}}
    await client.create(f"{NS}/held/configmaps", cm)
    await client.create(f"{NS}/held/configmaps", {"metadata": {"name": "other"}})
    async with run_controllers(client, "namespace"):
        await client.delete(f"{NS}/held")

        async def conditions() -> dict[str, Any]:
            ns = await client.get(f"{NS}/held")
            found = {c["type"]: c for c in ns["status"].get("conditions") or []}
            held = found.get("NamespaceFinalizersRemaining", {})
            return found if held.get("status") == "True" else {}

        found = await eventually(conditions)
        assert found["NamespaceContentRemaining"]["message"] == (
            "Some resources are remaining: configmaps. has 1 resource instances"
        )
        assert found["NamespaceFinalizersRemaining"]["message"] == (
            "Some content in the namespace has finalizers remaining: "
            "example.com/hold in 1 resource instances"
        )
        assert found["NamespaceDeletionContentFailure"]["status"] == "False"
        ns = await client.get(f"{NS}/held")
        assert ns["spec"]["finalizers"] == ["kubernetes"]
        assert ns["status"]["phase"] == "Terminating"
        patch = {"metadata": {"finalizers": None}}
        await client.patch(f"{NS}/held/configmaps/keep", patch, patch_type="merge")

        async def gone() -> bool:
            return not await _exists(client, f"{NS}/held")

        await eventually(gone, within=20)
