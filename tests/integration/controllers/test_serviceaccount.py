"""serviceaccount and root-ca-cert-publisher against the real API server: a new namespace gets
its ``default`` ServiceAccount and ``kube-root-ca.crt``; both come back when deleted, the
ConfigMap's CA and annotation are restored when edited; a terminating namespace gets nothing
new."""

from __future__ import annotations

from typing import Any

from pocketkube.apiserver.app import APIServer
from pocketkube.client import ApiError, Client
from tests.integration.controllers.conftest import eventually, run_controllers

NS = "/api/v1/namespaces"
DESCRIPTION = "kubernetes.io/description"


async def _get(client: Client, path: str) -> dict[str, Any] | None:
    try:
        return await client.get(path)
    except ApiError as err:
        if err.not_found:
            return None
        raise


async def test_default_service_account_and_root_ca(apiserver: APIServer, client: Client) -> None:
    assert apiserver.pki is not None
    ca = apiserver.pki.ca_cert.read_text()
    sa_path = f"{NS}/team/serviceaccounts/default"
    cm_path = f"{NS}/team/configmaps/kube-root-ca.crt"
    async with run_controllers(
        client, "serviceaccount", "root-ca-cert-publisher", root_ca_file=apiserver.pki.ca_cert
    ):
        # the system namespaces get them too
        async def in_kube_system() -> bool:
            got = await _get(client, f"{NS}/kube-system/serviceaccounts/default")
            return got is not None and bool(
                await _get(client, f"{NS}/kube-system/configmaps/kube-root-ca.crt")
            )

        await eventually(in_kube_system)
        await client.create(NS, {"metadata": {"name": "team"}})

        async def published() -> dict[str, Any] | None:
            if await _get(client, sa_path) is None:
                return None
            return await _get(client, cm_path)

        cm = await eventually(published)
        assert cm["data"] == {"ca.crt": ca}
        assert cm["metadata"]["annotations"][DESCRIPTION].startswith("Contains a CA bundle")
        first_uid = (await client.get(sa_path))["metadata"]["uid"]

        await client.delete(sa_path)
        await client.delete(cm_path)

        async def recreated() -> bool:
            again = await _get(client, sa_path)
            return (
                again is not None
                and again["metadata"]["uid"] != first_uid
                and bool(await _get(client, cm_path))
            )

        await eventually(recreated)
        edit = {"data": {"ca.crt": "tampered", "extra": "x"}, "metadata": {"annotations": None}}
        await client.patch(cm_path, edit, patch_type="merge")

        async def restored() -> bool:
            got = await client.get(cm_path)
            annotations = got["metadata"].get("annotations") or {}
            return got["data"] == {"ca.crt": ca} and DESCRIPTION in annotations

        await eventually(restored)


async def test_nothing_is_created_in_a_terminating_namespace(
    apiserver: APIServer, client: Client
) -> None:
    assert apiserver.pki is not None
    await client.create(NS, {"metadata": {"name": "going"}})
    await client.delete(f"{NS}/going")  # Terminating: no namespace controller here
    async with run_controllers(
        client, "serviceaccount", "root-ca-cert-publisher", root_ca_file=apiserver.pki.ca_cert
    ):

        async def default_done() -> bool:
            return await _get(client, f"{NS}/default/serviceaccounts/default") is not None

        await eventually(default_done)
        assert (await client.get(f"{NS}/going/serviceaccounts"))["items"] == []
        assert (await client.get(f"{NS}/going/configmaps"))["items"] == []
