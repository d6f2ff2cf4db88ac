"""What the endpoints, endpointslice and mirroring controllers share (upstream's
``staging/src/k8s.io/endpointslice/util`` and ``pkg/controller/util/endpoint``).

- which pods belong in endpoints (``should_pod_be_in_endpoints``), their readiness, the port a
  Service port resolves to on a pod (``find_port``: a named ``targetPort`` from the pod's
  container ports with the same protocol, else the number);
- which Services select a pod (``services_for_pod``), for the pod handlers;
- ``TriggerTimeTracker``: the ``endpoints.kubernetes.io/last-change-trigger-time`` annotation,
  the earliest of the changes (a pod's Ready transition, the Service's creation) a sync reacts
  to, as upstream's ``TriggerTimeTracker``;
- ``StaleTracker``: the objects a controller wrote and deleted, so that a sync does not act on an
  informer that has not caught up with its own writes (upstream's ``EndpointSliceTracker``):
  acting on it could create a second slice for the same endpoints.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
from collections.abc import Iterable
from typing import Any

from pocketkube.api.labels import selector_from_set
from pocketkube.api.timestamps import parse_time
from pocketkube.client import resources
from pocketkube.client.informer import Informer
from pocketkube.client.rest import ApiError, Obj
from pocketkube.client.store import NAMESPACE_INDEX, Store, namespace_index
from pocketkube.controllers.base import ApiClient

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
SKIP_MIRROR_LABEL = "endpointslice.kubernetes.io/skip-mirror"
HEADLESS_LABEL = "service.kubernetes.io/headless"
TRIGGER_TIME_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"
OVER_CAPACITY_ANNOTATION = "endpoints.kubernetes.io/over-capacity"
LEADER_ANNOTATION = "control-plane.alpha.kubernetes.io/leader"
LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
ZONE_LABEL = "topology.kubernetes.io/zone"
IPV4, IPV6 = "IPv4", "IPv6"


def ensure_namespace_index(informer: Informer) -> None:
    """Index a shared informer by namespace (whoever asks first adds it)."""
    with contextlib.suppress(ValueError):
        informer.add_indexer(NAMESPACE_INDEX, namespace_index)


def meta(obj: Obj) -> dict[str, Any]:
    value = obj.get("metadata")
    return value if isinstance(value, dict) else {}


def spec(obj: Obj) -> dict[str, Any]:
    value = obj.get("spec")
    return value if isinstance(value, dict) else {}


def labels_of(obj: Obj) -> dict[str, str]:
    return dict(meta(obj).get("labels") or {})


# -- services ------------------------------------------------------------------------------------
def selector_of(service: Obj) -> dict[str, str] | None:
    """The Service's selector; None when it has none (its endpoints are someone else's). An
    empty selector is none: upstream's protobuf storage does not tell ``{}`` from nil."""
    selector = spec(service).get("selector")
    if not selector or not isinstance(selector, dict):
        return None
    return {str(k): str(v) for k, v in selector.items()}


def is_headless(service: Obj) -> bool:
    """Upstream's ``!IsServiceIPSet``: no cluster IP, or ``None``."""
    return spec(service).get("clusterIP") in (None, "", "None")


def services_for_pod(services: Store, pod: Obj) -> list[str]:
    """The keys of the Services in the pod's namespace whose selector matches its labels."""
    namespace = meta(pod).get("namespace") or ""
    labels = labels_of(pod)
    keys = []
    for service in services.by_index(NAMESPACE_INDEX, namespace):
        selector = selector_of(service)
        if selector is not None and selector_from_set(selector).matches(labels):
            keys.append(f"{namespace}/{meta(service).get('name')}")
    return keys


def services_for_pod_update(services: Store, old: Obj, new: Obj) -> set[str]:
    """The Services a pod update concerns: those selecting it now, and those that selected it
    before its labels changed; none when nothing changed (a resync)."""
    if meta(old).get("resourceVersion") == meta(new).get("resourceVersion"):
        return set()
    keys = set(services_for_pod(services, new))
    if labels_of(old) != labels_of(new):
        keys.update(services_for_pod(services, old))
    return keys


async def delete_slices(client: ApiClient, slices: Iterable[Obj]) -> None:
    """Delete these EndpointSlices (one already gone is fine)."""
    for slice_ in slices:
        meta_ = meta(slice_)
        path = resources.ENDPOINT_SLICES.path(
            namespace=str(meta_.get("namespace")), name=str(meta_.get("name"))
        )
        try:
            await client.delete(path)
        except ApiError as err:
            if not err.not_found:
                raise


def pods_for_service(pods: Store, service: Obj) -> list[Obj]:
    selector = selector_of(service)
    if selector is None:
        return []
    match = selector_from_set(selector)
    namespace = meta(service).get("namespace") or ""
    return [p for p in pods.by_index(NAMESPACE_INDEX, namespace) if match.matches(labels_of(p))]


# -- pods ----------------------------------------------------------------------------------------
def pod_ips(pod: Obj) -> list[str]:
    status = pod.get("status") or {}
    ips = [str(p.get("ip")) for p in status.get("podIPs") or [] if p.get("ip")]
    if not ips and status.get("podIP"):
        ips = [str(status["podIP"])]
    return ips


def is_ipv6(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).version == 6
    except ValueError:
        return False


def address_type(ip: str) -> str | None:
    """``IPv4``/``IPv6`` for a valid IP, None otherwise."""
    try:
        return IPV6 if ipaddress.ip_address(ip).version == 6 else IPV4
    except ValueError:
        return None


def should_pod_be_in_endpoints(pod: Obj, include_terminating: bool) -> bool:
    """Not terminal, has an IP, and (unless asked to include them) not terminating."""
    if (pod.get("status") or {}).get("phase") in ("Failed", "Succeeded"):
        return False
    if not pod_ips(pod):
        return False
    return include_terminating or not meta(pod).get("deletionTimestamp")


def ready_condition(pod: Obj) -> dict[str, Any] | None:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return dict(condition)
    return None


def is_pod_ready(pod: Obj) -> bool:
    condition = ready_condition(pod)
    return condition is not None and condition.get("status") == "True"


def should_set_hostname(pod: Obj, service: Obj) -> bool:
    pod_spec = spec(pod)
    return (
        bool(pod_spec.get("hostname"))
        and pod_spec.get("subdomain") == meta(service).get("name")
        and meta(pod).get("namespace") == meta(service).get("namespace")
    )


def find_port(pod: Obj, service_port: dict[str, Any]) -> int | None:
    """The container port a Service port's ``targetPort`` names on this pod (upstream's
    ``FindPort``): a name is looked up among the containers' ports with the same protocol (and
    restartable init containers', the sidecars); a number is itself."""
    target = service_port.get("targetPort")
    if target is None or target in ("", 0):
        target = service_port.get("port")
    if isinstance(target, int) and not isinstance(target, bool):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = service_port.get("protocol") or "TCP"
    pod_spec = spec(pod)
    containers = list(pod_spec.get("containers") or [])
    containers += [
        c for c in pod_spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"
    ]
    for container in containers:
        for port in container.get("ports") or []:
            if port.get("name") == target and (port.get("protocol") or "TCP") == protocol:
                number = port.get("containerPort")
                return int(number) if isinstance(number, int) else None
    return None


# -- timestamps ----------------------------------------------------------------------------------
def format_time(when: dt.datetime) -> str:
    """RFC 3339 with nanoseconds trimmed as Go's ``RFC3339Nano`` does."""
    when = when.astimezone(dt.UTC)
    text = when.strftime("%Y-%m-%dT%H:%M:%S")
    if when.microsecond:
        text += f".{when.microsecond:06d}".rstrip("0")
    return text + "Z"


class TriggerTimeTracker:
    """Upstream's ``TriggerTimeTracker``: per Service, the pods' Ready transition times and the
    Service's creation time seen by the last sync; ``compute`` returns the earliest of those that
    changed since (the Service's creation time on its first sync), None when nothing did."""

    def __init__(self) -> None:
        self._state: dict[str, tuple[dict[str, dt.datetime], dt.datetime | None]] = {}

    def compute(self, key: str, service: Obj, pods: Iterable[Obj]) -> dt.datetime | None:
        known = key in self._state
        last_pods, last_service = self._state.get(key, ({}, None))
        earliest: dt.datetime | None = None
        pod_times: dict[str, dt.datetime] = {}
        for pod in pods:
            when = parse_time((ready_condition(pod) or {}).get("lastTransitionTime"))
            if when is None:
                continue
            name = str(meta(pod).get("name"))
            pod_times[name] = when
            before = last_pods.get(name)
            if (before is None or when > before) and (earliest is None or when < earliest):
                earliest = when
        created = parse_time(meta(service).get("creationTimestamp"))
        service_changed = created is not None and (last_service is None or created > last_service)
        if service_changed and created is not None and (earliest is None or created < earliest):
            earliest = created
        self._state[key] = (pod_times, created)
        return earliest if known else created

    def delete(self, key: str) -> None:
        self._state.pop(key, None)


def set_trigger_time(obj: Obj, when: dt.datetime | None) -> None:
    metadata = obj.setdefault("metadata", {})
    annotations = metadata.get("annotations") or {}
    metadata["annotations"] = annotations
    if when is not None:
        annotations[TRIGGER_TIME_ANNOTATION] = format_time(when)
    else:
        annotations.pop(TRIGGER_TIME_ANNOTATION, None)


# -- informer staleness --------------------------------------------------------------------------
_GONE_KEPT = 64


def _rv(obj: Obj) -> int | None:
    try:
        return int(str(meta(obj).get("resourceVersion")))
    except ValueError:
        return None


class StaleTracker:
    """The objects a controller wrote (by ``namespace/name`` and resourceVersion) and deleted,
    per group key (the Service), until its informer has shown them."""

    def __init__(self) -> None:
        self._written: dict[str, dict[str, int]] = {}
        self._deleted: dict[str, set[str]] = {}
        # names whose deletion the informer showed, in case it did before our write returned
        self._gone: dict[str, dict[str, int]] = {}

    def wrote(self, group: str, obj: Obj) -> None:
        rv = _rv(obj)
        name = str(meta(obj).get("name"))
        if rv is not None and rv > self._gone.get(group, {}).get(name, -1):
            self._written.setdefault(group, {})[name] = rv

    def deleted(self, group: str, obj: Obj) -> None:
        self._deleted.setdefault(group, set()).add(str(meta(obj).get("name")))

    def observed(self, group: str, obj: Obj) -> None:
        """The informer showed ``obj`` (added or updated)."""
        name, rv = str(meta(obj).get("name")), _rv(obj)
        written = self._written.get(group, {})
        if name in written and (rv is None or rv >= written[name]):
            del written[name]

    def gone(self, group: str, obj: Obj) -> None:
        """The informer showed ``obj``'s deletion."""
        name = str(meta(obj).get("name"))
        self._written.get(group, {}).pop(name, None)
        self._deleted.get(group, set()).discard(name)
        gone = self._gone.setdefault(group, {})
        gone.pop(name, None)
        gone[name] = _rv(obj) or -1
        while len(gone) > _GONE_KEPT:
            del gone[next(iter(gone))]

    def is_stale(self, group: str, current: Iterable[Obj]) -> bool:
        """Whether the informer's ``current`` objects of ``group`` miss one of our writes."""
        seen = {str(meta(o).get("name")): _rv(o) for o in current}
        deleted = self._deleted.get(group, set())
        deleted.intersection_update(seen)  # the informer has shown the others gone
        written = self._written.get(group, {})
        for name, rv in list(written.items()):
            have = seen.get(name)
            if name in seen and (have is None or have >= rv):
                del written[name]  # shown already
        return bool(deleted or written)

    def forget(self, group: str) -> None:
        self._written.pop(group, None)
        self._deleted.pop(group, None)
        self._gone.pop(group, None)
