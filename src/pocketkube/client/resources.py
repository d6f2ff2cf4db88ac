"""Where each kind of object lives in the REST API.

A component names what it reads or writes by a ``Resource`` (group, version, plural) rather than
by hand-built URLs, as client-go's typed clients do, so that the one rule of the API's layout is in
one place: the core group lives under ``/api/v1``, every other group under
``/apis/<group>/<version>``, namespaced objects under ``namespaces/<ns>/``, and subresources after
the object's name. Leaving the namespace out of a namespaced resource's path lists or watches it
across all namespaces.

The constants are the built-in resources components use; each is served by our API server.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Resource:
    """One REST resource: ``pods`` in ``v1``, ``deployments`` in ``apps/v1``."""

    group: str
    version: str
    plural: str
    namespaced: bool
    kind: str

    @property
    def api_version(self) -> str:
        """``apiVersion`` as objects of this resource carry it: ``v1``, ``apps/v1``."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def prefix(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    def path(
        self,
        *,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str | None = None,
    ) -> str:
        """The URL path of the collection, or of one object (and one of its subresources).

        Asking for a namespace on a cluster-scoped resource, or for a namespaced object without
        its namespace, is a bug in the caller, so it raises ``ValueError`` rather than producing a
        URL the server would answer with a confusing 404.
        """
        if subresource is not None and name is None:
            raise ValueError(f"{self.plural}: a subresource needs an object name")
        parts = [self.prefix]
        if namespace is not None:
            if not self.namespaced:
                raise ValueError(f"{self.plural} are cluster-scoped: no namespace")
            parts.append(f"namespaces/{namespace}")
        elif name is not None and self.namespaced:
            raise ValueError(f"{self.plural} are namespaced: {name!r} needs a namespace")
        parts.append(self.plural)
        if name is not None:
            parts.append(name)
        if subresource is not None:
            parts.append(subresource)
        return "/".join(parts)


def _core(plural: str, kind: str, *, namespaced: bool = True) -> Resource:
    return Resource(group="", version="v1", plural=plural, namespaced=namespaced, kind=kind)


def _grouped(api_version: str, plural: str, kind: str, *, namespaced: bool = True) -> Resource:
    group, version = api_version.split("/")
    return Resource(group=group, version=version, plural=plural, namespaced=namespaced, kind=kind)


PODS = _core("pods", "Pod")
NODES = _core("nodes", "Node", namespaced=False)
NAMESPACES = _core("namespaces", "Namespace", namespaced=False)
SERVICES = _core("services", "Service")
ENDPOINTS = _core("endpoints", "Endpoints")
EVENTS = _core("events", "Event")
PERSISTENT_VOLUMES = _core("persistentvolumes", "PersistentVolume", namespaced=False)
PERSISTENT_VOLUME_CLAIMS = _core("persistentvolumeclaims", "PersistentVolumeClaim")
CONFIGMAPS = _core("configmaps", "ConfigMap")
SECRETS = _core("secrets", "Secret")
SERVICE_ACCOUNTS = _core("serviceaccounts", "ServiceAccount")
REPLICATION_CONTROLLERS = _core("replicationcontrollers", "ReplicationController")
RESOURCE_QUOTAS = _core("resourcequotas", "ResourceQuota")

EVENTS_V1 = _grouped("events.k8s.io/v1", "events", "Event")
REPLICA_SETS = _grouped("apps/v1", "replicasets", "ReplicaSet")
DEPLOYMENTS = _grouped("apps/v1", "deployments", "Deployment")
DAEMON_SETS = _grouped("apps/v1", "daemonsets", "DaemonSet")
STATEFUL_SETS = _grouped("apps/v1", "statefulsets", "StatefulSet")
CONTROLLER_REVISIONS = _grouped("apps/v1", "controllerrevisions", "ControllerRevision")
JOBS = _grouped("batch/v1", "jobs", "Job")
CRON_JOBS = _grouped("batch/v1", "cronjobs", "CronJob")
ENDPOINT_SLICES = _grouped("discovery.k8s.io/v1", "endpointslices", "EndpointSlice")
LEASES = _grouped("coordination.k8s.io/v1", "leases", "Lease")
POD_DISRUPTION_BUDGETS = _grouped("policy/v1", "poddisruptionbudgets", "PodDisruptionBudget")
PRIORITY_CLASSES = _grouped(
    "scheduling.k8s.io/v1", "priorityclasses", "PriorityClass", namespaced=False
)
STORAGE_CLASSES = _grouped("storage.k8s.io/v1", "storageclasses", "StorageClass", namespaced=False)
CERTIFICATE_SIGNING_REQUESTS = _grouped(
    "certificates.k8s.io/v1",
    "certificatesigningrequests",
    "CertificateSigningRequest",
    namespaced=False,
)
SUBJECT_ACCESS_REVIEWS = _grouped(
    "authorization.k8s.io/v1", "subjectaccessreviews", "SubjectAccessReview", namespaced=False
)
