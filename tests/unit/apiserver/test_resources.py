from __future__ import annotations

import pytest

from pocketkube.apiserver.resources import (
    Catalog,
    GroupVersionKind,
    GroupVersionResource,
    Resource,
    Subresource,
    builtin_catalog,
    version_sort_key,
)
from pocketkube.apiserver.resources_builtin import BUILTIN_RESOURCES

KNOWN_VERBS = {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}


@pytest.fixture
def catalog() -> Catalog:
    return builtin_catalog()


@pytest.mark.parametrize(
    ("short_name", "group", "version", "plural"),
    [
        ("po", "", "v1", "pods"),
        ("svc", "", "v1", "services"),
        ("no", "", "v1", "nodes"),
        ("ns", "", "v1", "namespaces"),
        ("cm", "", "v1", "configmaps"),
        ("ep", "", "v1", "endpoints"),
        ("ev", "", "v1", "events"),  # core wins over events.k8s.io, as for kubectl
        ("sa", "", "v1", "serviceaccounts"),
        ("pv", "", "v1", "persistentvolumes"),
        ("pvc", "", "v1", "persistentvolumeclaims"),
        ("rc", "", "v1", "replicationcontrollers"),
        ("quota", "", "v1", "resourcequotas"),
        ("limits", "", "v1", "limitranges"),
        ("deploy", "apps", "v1", "deployments"),
        ("rs", "apps", "v1", "replicasets"),
        ("sts", "apps", "v1", "statefulsets"),
        ("ds", "apps", "v1", "daemonsets"),
        ("hpa", "autoscaling", "v2", "horizontalpodautoscalers"),
        ("cj", "batch", "v1", "cronjobs"),
        ("ing", "networking.k8s.io", "v1", "ingresses"),
        ("netpol", "networking.k8s.io", "v1", "networkpolicies"),
        ("pdb", "policy", "v1", "poddisruptionbudgets"),
        ("pc", "scheduling.k8s.io", "v1", "priorityclasses"),
        ("sc", "storage.k8s.io", "v1", "storageclasses"),
        ("crd", "apiextensions.k8s.io", "v1", "customresourcedefinitions"),
        ("CRDS", "apiextensions.k8s.io", "v1", "customresourcedefinitions"),
    ],
)
def test_by_short_name(
    catalog: Catalog, short_name: str, group: str, version: str, plural: str
) -> None:
    found = catalog.by_short_name(short_name)
    assert found is not None
    assert found.gvr == GroupVersionResource(group, version, plural)


def test_unknown_short_name(catalog: Catalog) -> None:
    assert catalog.by_short_name("nope") is None


@pytest.mark.parametrize(
    ("kind", "group", "version", "expected"),
    [
        ("Pod", None, None, ("", "v1", "pods")),
        ("Event", None, None, ("", "v1", "events")),
        ("Event", "events.k8s.io", None, ("events.k8s.io", "v1", "events")),
        ("HorizontalPodAutoscaler", None, None, ("autoscaling", "v2", "horizontalpodautoscalers")),
        ("HorizontalPodAutoscaler", None, "v1", ("autoscaling", "v1", "horizontalpodautoscalers")),
        ("Deployment", "apps", "v1", ("apps", "v1", "deployments")),
        ("Endpoints", None, None, ("", "v1", "endpoints")),
        ("Deployment", "extensions", None, None),
        ("Widget", None, None, None),
    ],
)
def test_by_kind(
    catalog: Catalog,
    kind: str,
    group: str | None,
    version: str | None,
    expected: tuple[str, str, str] | None,
) -> None:
    found = catalog.by_kind(kind, group=group, version=version)
    assert (found.gvr if found else None) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("pods", ("", "v1", "pods")),
        ("pod", ("", "v1", "pods")),
        ("Pod", ("", "v1", "pods")),
        ("deploy", ("apps", "v1", "deployments")),
        ("deployments.apps", ("apps", "v1", "deployments")),
        ("deployments.v1.apps", ("apps", "v1", "deployments")),
        ("events.events.k8s.io", ("events.k8s.io", "v1", "events")),
        ("hpa", ("autoscaling", "v2", "horizontalpodautoscalers")),
        (
            "horizontalpodautoscalers.v1.autoscaling",
            ("autoscaling", "v1", "horizontalpodautoscalers"),
        ),
        ("roles.rbac.authorization.k8s.io", ("rbac.authorization.k8s.io", "v1", "roles")),
        ("deployments.batch", None),
        ("gadgets", None),
    ],
)
def test_resolve(catalog: Catalog, name: str, expected: tuple[str, str, str] | None) -> None:
    found = catalog.resolve(name)
    assert (found.gvr if found else None) == expected


def _ids(resource: Resource) -> str:
    return f"{resource.api_version}/{resource.plural}"


@pytest.mark.parametrize("resource", BUILTIN_RESOURCES, ids=_ids)
def test_verbs_are_sane(resource: Resource) -> None:
    assert resource.verbs == tuple(sorted(set(resource.verbs)))
    assert set(resource.verbs) <= KNOWN_VERBS
    if resource.persisted:
        assert {"create", "delete", "get", "list", "patch", "update", "watch"} <= set(
            resource.verbs
        )
    else:
        assert resource.verbs == ("create",)
        assert resource.subresources == ()
    for sub in resource.subresources:
        assert sub.verbs == tuple(sorted(set(sub.verbs))), sub.name
        assert set(sub.verbs) <= KNOWN_VERBS, sub.name
        if sub.name in ("status", "scale"):
            assert sub.verbs == ("get", "patch", "update")


@pytest.mark.parametrize("resource", BUILTIN_RESOURCES, ids=_ids)
def test_names_are_sane(resource: Resource) -> None:
    assert resource.plural == resource.plural.lower()
    assert resource.singular == resource.kind.lower()
    assert all(s == s.lower() for s in resource.short_names)
    assert resource.kind[0].isupper()


def test_deletecollection_only_missing_for_namespaces_and_virtual_resources() -> None:
    without = {
        r.gvr for r in BUILTIN_RESOURCES if r.persisted and "deletecollection" not in r.verbs
    }
    assert without == {("", "v1", "namespaces")}


def test_builtins_are_unique(catalog: Catalog) -> None:
    assert len(catalog) == len(BUILTIN_RESOURCES)


def test_short_names_never_collide_across_different_resources() -> None:
    owners: dict[str, set[str]] = {}
    for resource in BUILTIN_RESOURCES:
        for short in resource.short_names:
            owners.setdefault(short, set()).add(resource.plural)
    assert {short: plurals for short, plurals in owners.items() if len(plurals) > 1} == {}


def test_category_all_matches_upstream(catalog: Catalog) -> None:
    in_all = {(r.group, r.plural) for r in catalog.by_category("all")}
    assert in_all == {
        ("", "pods"),
        ("", "replicationcontrollers"),
        ("", "services"),
        ("apps", "daemonsets"),
        ("apps", "deployments"),
        ("apps", "replicasets"),
        ("apps", "statefulsets"),
        ("autoscaling", "horizontalpodautoscalers"),
        ("batch", "cronjobs"),
        ("batch", "jobs"),
    }
    hpa = [r for r in catalog.by_category("all") if r.plural == "horizontalpodautoscalers"]
    assert [r.version for r in hpa] == ["v2"]


@pytest.mark.parametrize(
    ("gvr", "prefix"),
    [
        (("", "v1", "configmaps"), "/registry/configmaps/"),
        (("", "v1", "services"), "/registry/services/specs/"),
        (("", "v1", "endpoints"), "/registry/services/endpoints/"),
        (("", "v1", "nodes"), "/registry/minions/"),
        (("", "v1", "replicationcontrollers"), "/registry/controllers/"),
        (("", "v1", "serviceaccounts"), "/registry/serviceaccounts/"),
        (("", "v1", "events"), "/registry/events/"),
        (("events.k8s.io", "v1", "events"), "/registry/events/"),
        (("apps", "v1", "deployments"), "/registry/deployments/"),
        (("autoscaling", "v1", "horizontalpodautoscalers"), "/registry/horizontalpodautoscalers/"),
        (("autoscaling", "v2", "horizontalpodautoscalers"), "/registry/horizontalpodautoscalers/"),
        (("networking.k8s.io", "v1", "ingresses"), "/registry/ingress/"),
        (("coordination.k8s.io", "v1", "leases"), "/registry/leases/"),
        (("scheduling.k8s.io", "v1", "priorityclasses"), "/registry/priorityclasses/"),
        (("rbac.authorization.k8s.io", "v1", "clusterroles"), "/registry/clusterroles/"),
        (
            ("apiextensions.k8s.io", "v1", "customresourcedefinitions"),
            "/registry/apiextensions.k8s.io/customresourcedefinitions/",
        ),
        (("", "v1", "bindings"), None),
        (("authorization.k8s.io", "v1", "selfsubjectaccessreviews"), None),
    ],
)
def test_storage_prefix(catalog: Catalog, gvr: tuple[str, str, str], prefix: str | None) -> None:
    resource = catalog.get(*gvr)
    assert resource is not None
    assert resource.storage_prefix == prefix


# Values a real kube-apiserver reports in its APIResourceLists.
@pytest.mark.parametrize(
    ("gvr", "expected"),
    [
        (("", "v1", "pods"), "xPOwRZ+Yhw8="),
        (("", "v1", "services"), "0/CO1lhkEBI="),
        (("", "v1", "configmaps"), "qFsyl6wFWjQ="),
        (("", "v1", "namespaces"), "Q3oi5N2YM8M="),
        (("apps", "v1", "deployments"), "8aSe+NMegvE="),
        (("apps", "v1", "controllerrevisions"), "85nkx63pcBU="),
        (("batch", "v1", "jobs"), "mudhfqk/qZY="),
        (("events.k8s.io", "v1", "events"), "r2yiGXH7wu8="),
        (("autoscaling", "v1", "horizontalpodautoscalers"), "qwQve8ut294="),
        (("apiextensions.k8s.io", "v1", "customresourcedefinitions"), "jfWCUB31mvA="),
        (("certificates.k8s.io", "v1", "certificatesigningrequests"), "95fRKMXA+00="),
        (("", "v1", "bindings"), ""),
    ],
)
def test_storage_version_hash(catalog: Catalog, gvr: tuple[str, str, str], expected: str) -> None:
    resource = catalog.get(*gvr)
    assert resource is not None
    assert resource.storage_version_hash == expected


def test_group_versions_in_upstream_order(catalog: Catalog) -> None:
    assert [gv.api_version for gv in catalog.group_versions()] == [
        "v1",
        "apps/v1",
        "events.k8s.io/v1",
        "authentication.k8s.io/v1",
        "authorization.k8s.io/v1",
        "autoscaling/v2",
        "autoscaling/v1",
        "batch/v1",
        "certificates.k8s.io/v1",
        "networking.k8s.io/v1",
        "policy/v1",
        "rbac.authorization.k8s.io/v1",
        "storage.k8s.io/v1",
        "apiextensions.k8s.io/v1",
        "scheduling.k8s.io/v1",
        "coordination.k8s.io/v1",
        "discovery.k8s.io/v1",
    ]
    assert catalog.preferred_version("autoscaling") == "v2"
    assert catalog.preferred_version("nope.example.com") is None


def test_helpers(catalog: Catalog) -> None:
    deployments = catalog.get("apps", "v1", "deployments")
    assert deployments is not None
    assert deployments.gvk == GroupVersionKind("apps", "v1", "Deployment")
    assert deployments.gvk.api_version == "apps/v1"
    assert deployments.scope == "Namespaced"
    assert deployments.subresource("scale") == Subresource(
        name="scale",
        kind="Scale",
        group="autoscaling",
        version="v1",
        verbs=("get", "patch", "update"),
    )
    assert deployments.subresource("log") is None
    pods = catalog.get("", "v1", "pods")
    assert pods is not None
    assert pods.api_version == "v1"
    token = catalog.get("", "v1", "serviceaccounts")
    assert token is not None
    sub = token.subresource("token")
    assert sub is not None
    assert (sub.gvk, sub.verbs) == (
        GroupVersionKind("authentication.k8s.io", "v1", "TokenRequest"),
        ("create",),
    )


def _crd(version: str) -> Resource:
    return Resource(
        group="stable.example.com",
        version=version,
        kind="CronTab",
        plural="crontabs",
        singular="crontab",
        namespaced=True,
        verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"),
        short_names=("ct",),
        etcd_path="stable.example.com/crontabs",
    )


def test_register_and_unregister_a_custom_resource(catalog: Catalog) -> None:
    catalog.register(_crd("v1beta1"))
    catalog.register(_crd("v1"))
    assert catalog.group_versions()[-2:] == [
        ("stable.example.com", "v1"),
        ("stable.example.com", "v1beta1"),
    ]
    found = catalog.by_short_name("ct")
    assert found is not None
    assert found.version == "v1"
    assert found.storage_prefix == "/registry/stable.example.com/crontabs/"
    assert catalog.resolve("crontabs.stable.example.com") == found

    catalog.register(_crd("v1"))  # re-registering replaces
    assert len(catalog) == len(BUILTIN_RESOURCES) + 2

    assert catalog.unregister("stable.example.com", "v1", "crontabs") == found
    assert catalog.preferred_version("stable.example.com") == "v1beta1"
    assert catalog.unregister("stable.example.com", "v1", "crontabs") is None


def test_version_order() -> None:
    versions = ["v1alpha1", "foo", "v1", "v2beta1", "v1beta2", "v11alpha2", "v2", "v1beta1", "bar"]
    assert sorted(versions, key=version_sort_key) == [
        "v2",
        "v1",
        "v2beta1",
        "v1beta2",
        "v1beta1",
        "v11alpha2",
        "v1alpha1",
        "bar",
        "foo",
    ]
