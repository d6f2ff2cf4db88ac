"""The official Python client (kubernetes-client/python) against `pocketkube server`.

What its own e2e tests and an informer lean on: typed CRUD, merge patches, selectors, errors as
`ApiException` with the right status and reason, watches from a listed resourceVersion, the 410
that makes an informer relist, collection deletes, paging with `continue`, and dry runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from tests.e2e.conftest import Cluster

NS = "client-e2e"
ROOT_CA = "kube-root-ca.crt"


@pytest.fixture
def api(cluster: Cluster) -> Iterator[client.ApiClient]:
    api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
    try:
        yield api_client
    finally:
        api_client.close()


@pytest.fixture
def core(api: client.ApiClient) -> client.CoreV1Api:
    v1 = client.CoreV1Api(api)
    v1.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NS)))
    # As in any cluster, the root CA publisher puts kube-root-ca.crt in the new namespace; wait
    # for it so that the tests' lists and watches see a settled namespace.
    deadline = time.monotonic() + 60
    while not v1.list_namespaced_config_map(NS, field_selector=f"metadata.name={ROOT_CA}").items:
        assert time.monotonic() < deadline, f"no {ROOT_CA} in {NS}"
        time.sleep(0.1)
    return v1


def ours(items: list[Any]) -> list[str]:
    """The names of the listed ConfigMaps the test made (not kube-root-ca.crt)."""
    return [item.metadata.name for item in items if item.metadata.name != ROOT_CA]


def configmap(name: str, labels: dict[str, str] | None = None, **data: str) -> client.V1ConfigMap:
    return client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=name, labels=labels), data=data or None
    )


def api_error(call: object, *args: object, **kwargs: object) -> ApiException:
    with pytest.raises(ApiException) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    return caught.value


def test_load_kube_config_reaches_the_server(cluster: Cluster) -> None:
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=configuration)
    with client.ApiClient(configuration) as api_client:
        version = client.VersionApi(api_client).get_code()
        names = {ns.metadata.name for ns in client.CoreV1Api(api_client).list_namespace().items}
    assert (version.major, version.minor) == ("1", "33")
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= names


def test_namespace_crud(api: client.ApiClient) -> None:
    v1 = client.CoreV1Api(api)
    created = v1.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name="team-a", labels={"team": "a"}))
    )
    assert created.metadata.uid
    assert created.status.phase == "Active"
    read = v1.read_namespace("team-a")
    assert read.metadata.labels == {"team": "a", "kubernetes.io/metadata.name": "team-a"}
    patched = v1.patch_namespace("team-a", {"metadata": {"labels": {"tier": "gold"}}})
    assert patched.metadata.labels["tier"] == "gold"
    assert patched.metadata.labels["team"] == "a"
    selected = v1.list_namespace(label_selector="tier=gold").items
    assert [ns.metadata.name for ns in selected] == ["team-a"]
    by_field = v1.list_namespace(field_selector="metadata.name=team-a").items
    assert [ns.metadata.name for ns in by_field] == ["team-a"]
    taken = api_error(v1.create_namespace, client.V1Namespace(metadata=read.metadata))
    assert (taken.status, taken.reason) == (409, "Conflict")
    v1.delete_namespace("team-a")
    # Terminating until the namespace controller has emptied it, then gone.
    left = v1.list_namespace(field_selector="metadata.name=team-a").items
    assert [ns.status.phase for ns in left] in ([], ["Terminating"])


def test_configmap_crud(core: client.CoreV1Api) -> None:
    created = core.create_namespaced_config_map(NS, configmap("settings", {"app": "web"}, a="1"))
    assert created.metadata.namespace == NS
    assert created.metadata.resource_version
    assert created.metadata.creation_timestamp is not None

    read = core.read_namespaced_config_map("settings", NS)
    assert read.data == {"a": "1"}

    read.data["b"] = "2"
    replaced = core.replace_namespaced_config_map("settings", NS, read)
    assert replaced.data == {"a": "1", "b": "2"}
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)

    # `body` as a dict: the client sends it as a JSON merge patch.
    patched = core.patch_namespaced_config_map(
        "settings", NS, {"data": {"a": None, "c": "3"}, "metadata": {"labels": {"tier": "1"}}}
    )
    assert patched.data == {"b": "2", "c": "3"}
    assert patched.metadata.labels == {"app": "web", "tier": "1"}

    stale = api_error(core.replace_namespaced_config_map, "settings", NS, read)
    assert (stale.status, stale.reason) == (409, "Conflict")

    exists = api_error(core.create_namespaced_config_map, NS, configmap("settings"))
    assert (exists.status, exists.reason) == (409, "Conflict")

    status = core.delete_namespaced_config_map("settings", NS)
    assert status is not None
    missing = api_error(core.read_namespaced_config_map, "settings", NS)
    assert (missing.status, missing.reason) == (404, "Not Found")
    gone = api_error(core.delete_namespaced_config_map, "settings", NS)
    assert gone.status == 404


def test_list_with_label_and_field_selectors(core: client.CoreV1Api) -> None:
    for name, app in (("web-1", "web"), ("web-2", "web"), ("db-1", "db")):
        core.create_namespaced_config_map(NS, configmap(name, {"app": app}))
    web = core.list_namespaced_config_map(NS, label_selector="app=web")
    assert sorted(cm.metadata.name for cm in web.items) == ["web-1", "web-2"]
    not_web = core.list_namespaced_config_map(NS, label_selector="app!=web")
    assert ours(not_web.items) == ["db-1"]  # kube-root-ca.crt has no app label either
    by_name = core.list_namespaced_config_map(NS, field_selector="metadata.name=web-2")
    assert [cm.metadata.name for cm in by_name.items] == ["web-2"]
    everywhere = core.list_config_map_for_all_namespaces(label_selector="app in (web,db)")
    assert len(everywhere.items) == 3
    bad = api_error(core.list_namespaced_config_map, NS, field_selector="data.x=1")
    assert bad.status == 400


def test_secret_crud(core: client.CoreV1Api) -> None:
    secret = client.V1Secret(metadata=client.V1ObjectMeta(name="creds"), data={"token": "c2VjcmV0"})
    created = core.create_namespaced_secret(NS, secret)
    assert created.type == "Opaque"
    read = core.read_namespaced_secret("creds", NS)
    assert read.data == {"token": "c2VjcmV0"}
    patched = core.patch_namespaced_secret("creds", NS, {"data": {"token": "bmV3"}})
    assert patched.data == {"token": "bmV3"}
    read.data["more"] = "bW9yZQ=="
    conflict = api_error(core.replace_namespaced_secret, "creds", NS, read)
    assert (conflict.status, conflict.reason) == (409, "Conflict")
    core.delete_namespaced_secret("creds", NS)
    assert api_error(core.read_namespaced_secret, "creds", NS).status == 404


def test_secret_string_data_is_folded_into_data(core: client.CoreV1Api) -> None:
    secret = client.V1Secret(
        metadata=client.V1ObjectMeta(name="creds"),
        string_data={"user": "admin"},
        data={"token": "c2VjcmV0"},
    )
    core.create_namespaced_secret(NS, secret)
    read = core.read_namespaced_secret("creds", NS)
    assert read.data == {"token": "c2VjcmV0", "user": "YWRtaW4="}
    assert read.string_data is None


def deployment(name: str, replicas: int) -> client.V1Deployment:
    labels = {"app": name}
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1DeploymentSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(
                    containers=[client.V1Container(name="web", image="nginx:1.27")]
                ),
            ),
        ),
    )


def test_deployment_crud_as_stored_objects(api: client.ApiClient, core: client.CoreV1Api) -> None:
    apps = client.AppsV1Api(api)
    created = apps.create_namespaced_deployment(NS, deployment("web", 2))
    assert created.spec.replicas == 2
    assert created.metadata.generation == 1
    # The deployment controller writes the object too (revision annotation, status): a
    # read-modify-write retries on 409 Conflict, as client code against any cluster must.
    for _ in range(10):
        read = apps.read_namespaced_deployment("web", NS)
        read.spec.replicas = 3
        try:
            replaced = apps.replace_namespaced_deployment("web", NS, read)
            break
        except client.ApiException as err:
            if err.status != 409:
                raise
    assert replaced.spec.replicas == 3
    patched = apps.patch_namespaced_deployment("web", NS, {"spec": {"replicas": 5}})
    assert patched.spec.replicas == 5
    assert patched.spec.template.spec.containers[0].image == "nginx:1.27"
    listed = apps.list_namespaced_deployment(NS, label_selector="app=web")
    assert [d.metadata.name for d in listed.items] == ["web"]
    apps.delete_namespaced_deployment("web", NS)
    assert api_error(apps.read_namespaced_deployment, "web", NS).status == 404


def test_watch_from_a_listed_resource_version(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map(NS, configmap("before"))
    rv = core.list_namespaced_config_map(NS).metadata.resource_version

    core.create_namespaced_config_map(NS, configmap("cm", a="1"))
    core.patch_namespaced_config_map("cm", NS, {"data": {"a": "2"}})
    core.delete_namespaced_config_map("cm", NS)

    seen = []
    started = time.monotonic()
    for event in watch.Watch().stream(
        core.list_namespaced_config_map, NS, resource_version=rv, timeout_seconds=5
    ):
        seen.append((event["type"], event["object"].metadata.name, event["object"].data))
        if len(seen) == 3:
            break
    assert time.monotonic() - started < 5
    assert seen == [
        ("ADDED", "cm", {"a": "1"}),
        ("MODIFIED", "cm", {"a": "2"}),
        ("DELETED", "cm", {"a": "2"}),
    ]


def test_watch_ends_after_timeout_seconds(core: client.CoreV1Api) -> None:
    rv = core.list_namespaced_config_map(NS).metadata.resource_version
    started = time.monotonic()
    events = list(
        watch.Watch().stream(
            core.list_namespaced_config_map, NS, resource_version=rv, timeout_seconds=1
        )
    )
    assert events == []
    assert 0.9 < time.monotonic() - started < 5


def first_event(core: client.CoreV1Api, *, resource_version: str) -> dict[str, Any]:
    stream = watch.Watch().stream(
        core.list_namespaced_config_map,
        NS,
        resource_version=resource_version,
        timeout_seconds=5,
    )
    for event in stream:
        stream.close()  # ends the request, as a consumer breaking out of the loop does
        return event  # type: ignore[no-any-return]
    raise AssertionError(f"no event after resourceVersion {resource_version} within 5 s")


def test_watch_from_a_resource_version_out_of_the_window_is_410(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map(NS, configmap("churn", n="0"))
    early = first_event(core, resource_version="1")
    assert early["object"].metadata.name == ROOT_CA  # the oldest, still in the window
    # The watch cache keeps ~1000 events per resource: write more than that.
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda i: core.create_namespaced_config_map(NS, configmap(f"cm-{i}")),
                range(1100),
            )
        )
    with pytest.raises(ApiException) as caught:
        for _ in watch.Watch().stream(
            core.list_namespaced_config_map, NS, resource_version="1", timeout_seconds=5
        ):
            pass
    assert caught.value.status == 410
    assert caught.value.reason.startswith("Expired: ")

    # What an informer does next: relist, then watch from the list's resourceVersion.
    listed = core.list_namespaced_config_map(NS)
    assert len(ours(listed.items)) == 1101
    core.patch_namespaced_config_map("churn", NS, {"data": {"n": "1"}})
    event = first_event(core, resource_version=listed.metadata.resource_version)
    assert (event["type"], event["object"].data) == ("MODIFIED", {"n": "1"})


def test_delete_collection_with_a_label_selector(core: client.CoreV1Api) -> None:
    for i in range(3):
        core.create_namespaced_config_map(NS, configmap(f"tmp-{i}", {"kind": "tmp"}))
    core.create_namespaced_config_map(NS, configmap("keep", {"kind": "keep"}))
    core.delete_collection_namespaced_config_map(NS, label_selector="kind=tmp")
    left = core.list_namespaced_config_map(NS).items
    assert ours(left) == ["keep"]


def test_paging_with_limit_and_continue(core: client.CoreV1Api) -> None:
    for i in range(5):
        core.create_namespaced_config_map(NS, configmap(f"page-{i}"))
    first = core.list_namespaced_config_map(NS, limit=2)
    assert len(first.items) == 2
    assert first.metadata._continue
    names = [cm.metadata.name for cm in first.items]
    token = first.metadata._continue
    pages = 1
    while token:
        page = core.list_namespaced_config_map(NS, limit=2, _continue=token)
        names += [cm.metadata.name for cm in page.items]
        assert page.metadata.resource_version == first.metadata.resource_version
        token = page.metadata._continue
        pages += 1
    assert pages == 3  # kube-root-ca.crt and five pages, two at a time
    assert names == [ROOT_CA, *(f"page-{i}" for i in range(5))]


def _versions(core: client.CoreV1Api) -> dict[str, str]:
    items = core.list_namespaced_config_map(NS).items
    return {i.metadata.name: i.metadata.resource_version for i in items}


def test_dry_run_creates_nothing(core: client.CoreV1Api) -> None:
    # The namespace's objects, not the list's resourceVersion: that is the cluster's latest
    # revision, which any other component's write (a lease renewal) moves on.
    before = _versions(core)
    dry = core.create_namespaced_config_map(NS, configmap("dry", a="1"), dry_run="All")
    assert dry.metadata.name == "dry"
    assert dry.data == {"a": "1"}
    missing = api_error(core.read_namespaced_config_map, "dry", NS)
    assert missing.status == 404
    assert _versions(core) == before
    bad = api_error(core.create_namespaced_config_map, NS, configmap("x"), dry_run="Some")
    assert bad.status == 400


def test_limited_list_reports_remaining_item_count(core: client.CoreV1Api) -> None:
    for i in range(5):
        core.create_namespaced_config_map(NS, configmap(f"page-{i}"))
    first = core.list_namespaced_config_map(NS, limit=2)
    assert first.metadata.remaining_item_count == 4  # with kube-root-ca.crt
