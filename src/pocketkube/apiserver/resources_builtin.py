"""What a stock kube-apiserver 1.33 serves, as ``kubectl get --raw /api/v1`` (and each
``/apis/<group>/<version>``) reports it: kinds, verbs, short names, categories, subresources.

Verbs are what upstream derives from each storage's interfaces: full CRUD for stored resources
(``namespaces`` lack ``deletecollection``), ``create`` alone for virtual ones (bindings, reviews),
``get, patch, update`` for ``status`` and ``scale``, and for connect subresources the HTTP methods
they accept (exec/attach/portforward: GET, POST; proxy: every method but HEAD/OPTIONS).
"""

from __future__ import annotations

from typing import NamedTuple

from pocketkube.apiserver.resources import Catalog, GroupVersionKind, Resource, Subresource

CRUD = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
CRUD_NO_COLLECTION = ("create", "delete", "get", "list", "patch", "update", "watch")
CREATE = ("create",)
GET_PATCH_UPDATE = ("get", "patch", "update")
CONNECT = ("create", "get")
PROXY = ("create", "delete", "get", "patch", "update")


class _Sub(NamedTuple):
    name: str
    verbs: tuple[str, ...]
    kind: str | None = None  # the parent's kind when None
    api_version: str | None = None  # the parent's group/version when None


STATUS = _Sub("status", GET_PATCH_UPDATE)
SCALE = _Sub("scale", GET_PATCH_UPDATE, "Scale", "autoscaling/v1")


def _split(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def _res(
    api_version: str,
    kind: str,
    plural: str,
    *,
    cluster: bool = False,
    verbs: tuple[str, ...] = CRUD,
    short: tuple[str, ...] = (),
    categories: tuple[str, ...] = (),
    subs: tuple[_Sub, ...] = (),
    singular: str | None = None,
    persisted: bool = True,
    etcd_path: str | None = None,
    storage_gvk: GroupVersionKind | None = None,
) -> Resource:
    group, version = _split(api_version)
    subresources = []
    for sub in subs:
        sub_group, sub_version = _split(sub.api_version) if sub.api_version else (group, version)
        subresources.append(
            Subresource(
                name=sub.name,
                kind=sub.kind or kind,
                group=sub_group,
                version=sub_version,
                verbs=sub.verbs,
            )
        )
    return Resource(
        group=group,
        version=version,
        kind=kind,
        plural=plural,
        singular=singular if singular is not None else kind.lower(),
        namespaced=not cluster,
        verbs=verbs if persisted else CREATE,
        short_names=short,
        categories=categories,
        subresources=tuple(subresources),
        persisted=persisted,
        etcd_path=etcd_path,
        storage_gvk=storage_gvk,
    )


ALL = ("all",)

CORE_V1 = (
    _res("v1", "Binding", "bindings", persisted=False),
    _res("v1", "ConfigMap", "configmaps", short=("cm",)),
    _res(
        "v1",
        "Endpoints",
        "endpoints",
        short=("ep",),
        singular="endpoints",
        etcd_path="services/endpoints",
    ),
    _res("v1", "Event", "events", short=("ev",)),
    _res("v1", "LimitRange", "limitranges", short=("limits",)),
    _res(
        "v1",
        "Namespace",
        "namespaces",
        cluster=True,
        verbs=CRUD_NO_COLLECTION,
        short=("ns",),
        subs=(_Sub("finalize", ("update",)), STATUS),
    ),
    _res(
        "v1",
        "Node",
        "nodes",
        cluster=True,
        short=("no",),
        etcd_path="minions",
        subs=(_Sub("proxy", PROXY, "NodeProxyOptions"), STATUS),
    ),
    _res("v1", "PersistentVolumeClaim", "persistentvolumeclaims", short=("pvc",), subs=(STATUS,)),
    _res(
        "v1", "PersistentVolume", "persistentvolumes", cluster=True, short=("pv",), subs=(STATUS,)
    ),
    _res(
        "v1",
        "Pod",
        "pods",
        short=("po",),
        categories=ALL,
        subs=(
            _Sub("attach", CONNECT, "PodAttachOptions"),
            _Sub("binding", CREATE, "Binding"),
            _Sub("ephemeralcontainers", GET_PATCH_UPDATE),
            _Sub("eviction", CREATE, "Eviction", "policy/v1"),
            _Sub("exec", CONNECT, "PodExecOptions"),
            _Sub("log", ("get",)),
            _Sub("portforward", CONNECT, "PodPortForwardOptions"),
            _Sub("proxy", PROXY, "PodProxyOptions"),
            _Sub("resize", GET_PATCH_UPDATE),  # InPlacePodVerticalScaling, beta and on in 1.33
            STATUS,
        ),
    ),
    _res("v1", "PodTemplate", "podtemplates"),
    _res(
        "v1",
        "ReplicationController",
        "replicationcontrollers",
        short=("rc",),
        categories=ALL,
        subs=(SCALE, STATUS),
        etcd_path="controllers",
    ),
    _res("v1", "ResourceQuota", "resourcequotas", short=("quota",), subs=(STATUS,)),
    _res("v1", "Secret", "secrets"),
    _res(
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        short=("sa",),
        subs=(_Sub("token", CREATE, "TokenRequest", "authentication.k8s.io/v1"),),
    ),
    _res(
        "v1",
        "Service",
        "services",
        short=("svc",),
        categories=ALL,
        etcd_path="services/specs",
        subs=(_Sub("proxy", PROXY, "ServiceProxyOptions"), STATUS),
    ),
)

APPS_V1 = (
    _res("apps/v1", "ControllerRevision", "controllerrevisions"),
    _res("apps/v1", "DaemonSet", "daemonsets", short=("ds",), categories=ALL, subs=(STATUS,)),
    _res(
        "apps/v1",
        "Deployment",
        "deployments",
        short=("deploy",),
        categories=ALL,
        subs=(SCALE, STATUS),
    ),
    _res(
        "apps/v1", "ReplicaSet", "replicasets", short=("rs",), categories=ALL, subs=(SCALE, STATUS)
    ),
    _res(
        "apps/v1",
        "StatefulSet",
        "statefulsets",
        short=("sts",),
        categories=ALL,
        subs=(SCALE, STATUS),
    ),
)

# Both versions share one store and one etcd prefix; autoscaling/v2 is the storage version.
AUTOSCALING = (
    _res(
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        short=("hpa",),
        categories=ALL,
        subs=(STATUS,),
    ),
    _res(
        "autoscaling/v1",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        short=("hpa",),
        categories=ALL,
        subs=(STATUS,),
        storage_gvk=GroupVersionKind("autoscaling", "v2", "HorizontalPodAutoscaler"),
    ),
)

BATCH_V1 = (
    _res("batch/v1", "CronJob", "cronjobs", short=("cj",), categories=ALL, subs=(STATUS,)),
    _res("batch/v1", "Job", "jobs", categories=ALL, subs=(STATUS,)),
)

OTHER_GROUPS = (
    # events.k8s.io Events cohabit with core Events: same keys, stored as core v1.
    _res(
        "events.k8s.io/v1",
        "Event",
        "events",
        short=("ev",),
        storage_gvk=GroupVersionKind("", "v1", "Event"),
    ),
    _res(
        "authentication.k8s.io/v1",
        "SelfSubjectReview",
        "selfsubjectreviews",
        cluster=True,
        persisted=False,
    ),
    _res("authentication.k8s.io/v1", "TokenReview", "tokenreviews", cluster=True, persisted=False),
    _res(
        "authorization.k8s.io/v1",
        "LocalSubjectAccessReview",
        "localsubjectaccessreviews",
        persisted=False,
    ),
    _res(
        "authorization.k8s.io/v1",
        "SelfSubjectAccessReview",
        "selfsubjectaccessreviews",
        cluster=True,
        persisted=False,
    ),
    _res(
        "authorization.k8s.io/v1",
        "SelfSubjectRulesReview",
        "selfsubjectrulesreviews",
        cluster=True,
        persisted=False,
    ),
    _res(
        "authorization.k8s.io/v1",
        "SubjectAccessReview",
        "subjectaccessreviews",
        cluster=True,
        persisted=False,
    ),
    _res(
        "certificates.k8s.io/v1",
        "CertificateSigningRequest",
        "certificatesigningrequests",
        cluster=True,
        short=("csr",),
        subs=(_Sub("approval", GET_PATCH_UPDATE), STATUS),
    ),
    _res("networking.k8s.io/v1", "IngressClass", "ingressclasses", cluster=True),
    _res(
        "networking.k8s.io/v1",
        "Ingress",
        "ingresses",
        short=("ing",),
        subs=(STATUS,),
        etcd_path="ingress",
    ),
    _res("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", short=("netpol",)),
    _res(
        "policy/v1", "PodDisruptionBudget", "poddisruptionbudgets", short=("pdb",), subs=(STATUS,)
    ),
    _res("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", cluster=True),
    _res("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", cluster=True),
    _res("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings"),
    _res("rbac.authorization.k8s.io/v1", "Role", "roles"),
    _res("storage.k8s.io/v1", "StorageClass", "storageclasses", cluster=True, short=("sc",)),
    # The apiextensions-apiserver keys by group/resource and still stores CRDs as v1beta1.
    _res(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        cluster=True,
        short=("crd", "crds"),
        categories=("api-extensions",),
        subs=(STATUS,),
        etcd_path="apiextensions.k8s.io/customresourcedefinitions",
        storage_gvk=GroupVersionKind("apiextensions.k8s.io", "v1beta1", "CustomResourceDefinition"),
    ),
    _res("scheduling.k8s.io/v1", "PriorityClass", "priorityclasses", cluster=True, short=("pc",)),
    _res("coordination.k8s.io/v1", "Lease", "leases"),
    _res("discovery.k8s.io/v1", "EndpointSlice", "endpointslices"),
)

BUILTIN_RESOURCES: tuple[Resource, ...] = (
    *CORE_V1,
    *APPS_V1,
    *AUTOSCALING,
    *BATCH_V1,
    *OTHER_GROUPS,
)


def builtin_catalog() -> Catalog:
    """A fresh catalog of what a stock kube-apiserver serves, ready for CRDs to be added."""
    return Catalog(BUILTIN_RESOURCES)
