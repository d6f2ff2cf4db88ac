"""The serviceaccount controller and the root CA publisher with a fake client: what each sync
writes for active, terminating and missing namespaces, existing or edited objects, and refusals
it should not retry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pocketkube.client import resources
from pocketkube.client.clock import FakeClock
from pocketkube.client.rest import ApiError
from pocketkube.controllers import rootcacert, serviceaccount
from pocketkube.controllers.context import Context, Options
from pocketkube.controllers.informers import SharedInformers
from tests.unit.controllers.fakes import FakeClient, informer

CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
TERMINATING = ApiError(
    403,
    "Forbidden",
    "unable to create new content in namespace team because it is being terminated",
    {"details": {"causes": [{"reason": "NamespaceTerminating"}]}},
)


def ns(name: str = "team", *, phase: str = "Active", deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if deleting:
        meta["deletionTimestamp"] = "2024-05-01T12:00:00Z"
    return {"metadata": meta, "status": {"phase": phase}}


def sa(namespace: str, name: str = "default") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace}}


def sa_controller(
    client: FakeClient, namespaces: list[dict[str, Any]], accounts: list[dict[str, Any]]
) -> serviceaccount.ServiceAccountsController:
    return serviceaccount.ServiceAccountsController(
        client=client,
        namespace_informer=informer(client, resources.NAMESPACES, *namespaces),
        service_account_informer=informer(client, resources.SERVICE_ACCOUNTS, *accounts),
        clock=FakeClock(),
    )


@pytest.mark.parametrize(
    ("namespace", "accounts", "created"),
    [
        (ns(), [], True),
        (ns(), [sa("team", "builder")], True),
        (ns(), [sa("team")], False),
        (ns(phase="Terminating"), [], False),
        (ns(deleting=True), [], False),
        (None, [], False),
    ],
)
async def test_default_service_account(
    namespace: dict[str, Any] | None, accounts: list[dict[str, Any]], created: bool
) -> None:
    client = FakeClient()
    ctl = sa_controller(client, [namespace] if namespace else [], accounts)
    await ctl.sync("team")
    writes = [(c.verb, c.path, c.body["metadata"]["name"]) for c in client.writes()]
    expected = [("POST", "/api/v1/namespaces/team/serviceaccounts", "default")]
    assert writes == (expected if created else [])


@pytest.mark.parametrize(
    ("refusal", "raises"),
    [
        (ApiError(409, "AlreadyExists", "exists"), False),
        (ApiError(404, "NotFound", 'namespaces "team" not found'), False),
        (TERMINATING, False),
        (ApiError(500, "InternalError", "boom"), True),
    ],
)
async def test_refused_creates(refusal: ApiError, raises: bool) -> None:
    client = FakeClient()
    client.answers[("POST", "/api/v1/namespaces/team/serviceaccounts")] = refusal
    ctl = sa_controller(client, [ns()], [])
    if raises:
        with pytest.raises(ApiError):
            await ctl.sync("team")
    else:
        await ctl.sync("team")


def test_a_deleted_service_account_queues_its_namespace() -> None:
    client = FakeClient()
    ctl = sa_controller(client, [], [])
    ctl._service_account_deleted(sa("team"))
    assert len(ctl.queue) == 1


# -- root CA publisher -------------------------------------------------------------------------
def ca_configmap(**changes: Any) -> dict[str, Any]:
    cm: dict[str, Any] = {
        "metadata": {
            "name": "kube-root-ca.crt",
            "namespace": "team",
            "resourceVersion": "7",
            "annotations": {rootcacert.DESCRIPTION_ANNOTATION: rootcacert.DESCRIPTION},
        },
        "data": {"ca.crt": CA},
    }
    cm.update(changes)
    return cm


def publisher(
    client: FakeClient, namespaces: list[dict[str, Any]], configmaps: list[dict[str, Any]]
) -> rootcacert.RootCACertPublisher:
    return rootcacert.RootCACertPublisher(
        client=client,
        namespace_informer=informer(client, resources.NAMESPACES, *namespaces),
        configmap_informer=informer(client, resources.CONFIGMAPS, *configmaps),
        root_ca=CA,
        clock=FakeClock(),
    )


async def test_publishes_the_ca_in_an_active_namespace() -> None:
    client = FakeClient()
    await publisher(client, [ns()], []).sync("team")
    [call] = client.writes()
    assert (call.verb, call.path) == ("POST", "/api/v1/namespaces/team/configmaps")
    assert call.body["metadata"] == {
        "name": "kube-root-ca.crt",
        "annotations": {
            "kubernetes.io/description": (
                "Contains a CA bundle that can be used to verify the kube-apiserver when using "
                "internal endpoints such as the internal service IP or kubernetes.default.svc. "
                "No other usage is guaranteed across distributions of Kubernetes clusters."
            )
        },
    }
    assert call.body["data"] == {"ca.crt": CA}


@pytest.mark.parametrize(
    "configmap",
    [
        ca_configmap(data={"ca.crt": "tampered"}),
        ca_configmap(data={"ca.crt": CA, "extra": "x"}),
        ca_configmap(metadata={"name": "kube-root-ca.crt", "namespace": "team"}),
    ],
)
async def test_restores_an_edited_configmap(configmap: dict[str, Any]) -> None:
    client = FakeClient()
    await publisher(client, [ns()], [configmap]).sync("team")
    [call] = client.writes()
    assert (call.verb, call.path) == ("PUT", "/api/v1/namespaces/team/configmaps/kube-root-ca.crt")
    assert call.body["data"] == {"ca.crt": CA}
    annotations = call.body["metadata"]["annotations"]
    assert annotations[rootcacert.DESCRIPTION_ANNOTATION] == rootcacert.DESCRIPTION


@pytest.mark.parametrize(
    ("namespaces", "configmaps"),
    [([ns()], [ca_configmap()]), ([ns(phase="Terminating", deleting=True)], []), ([], [])],
)
async def test_leaves_things_alone(
    namespaces: list[dict[str, Any]], configmaps: list[dict[str, Any]]
) -> None:
    client = FakeClient()
    await publisher(client, namespaces, configmaps).sync("team")
    assert client.writes() == []


async def test_a_terminating_refusal_is_not_retried() -> None:
    client = FakeClient()
    client.answers[("POST", "/api/v1/namespaces/team/configmaps")] = TERMINATING
    await publisher(client, [ns()], []).sync("team")


def test_only_its_own_configmap_queues_a_namespace() -> None:
    ctl = publisher(FakeClient(), [], [])
    ctl._ours({"metadata": {"name": "other", "namespace": "team"}})
    assert len(ctl.queue) == 0
    ctl._ours(ca_configmap())
    assert len(ctl.queue) == 1


def test_declines_without_a_root_ca_file(tmp_path: Path) -> None:
    client = FakeClient()
    ctx = Context(client=client, informers=SharedInformers(client=client), options=Options())
    assert rootcacert.build(ctx) is None
    (tmp_path / "ca.crt").write_text(CA)
    with_ca = Context(
        client=client,
        informers=SharedInformers(client=client),
        options=Options(root_ca_file=tmp_path / "ca.crt"),
    )
    built = rootcacert.build(with_ca)
    assert built is not None
    assert built.name == "root-ca-cert-publisher"
