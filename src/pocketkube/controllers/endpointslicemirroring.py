"""endpointslicemirroring: EndpointSlices mirrored from hand-made Endpoints (upstream's
``pkg/controller/endpointslicemirroring``).

A sync of ``namespace/name`` mirrors the Endpoints of a Service without a selector: gone
Endpoints or Service, a Service with a selector (its slices are the endpointslice controller's),
Endpoints labelled ``endpointslice.kubernetes.io/skip-mirror: "true"`` (the API server's
``kubernetes`` Endpoints) or carrying the leader-election annotation: its mirrored slices are
deleted. Otherwise the repacked subsets become one slice per subset and address type (at most
``--mirroring-max-endpoints-per-subset`` addresses of each subset, ready ones first; addresses
that are not IPs are skipped, both with a Warning event on the Endpoints as upstream), owned by
the Endpoints, labelled with its labels plus ``kubernetes.io/service-name`` and
``endpointslice.kubernetes.io/managed-by: endpointslicemirroring-controller.k8s.io``, and carrying
its annotations but the trigger time and kubectl's last-applied configuration. An existing slice
of the same ports and address type is rewritten only when its endpoints, labels or annotations
differ; extra ones are deleted (or reused for new ones).
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from pocketkube.client import resources
from pocketkube.client.clock import Clock
from pocketkube.client.informer import Informer
from pocketkube.client.rest import Obj
from pocketkube.client.store import NAMESPACE_INDEX, split_key
from pocketkube.controllers import endpoint_subsets as es
from pocketkube.controllers.base import ApiClient, Controller, IgnorableError
from pocketkube.controllers.context import Context, Recorder
from pocketkube.controllers.endpointslice import reconciler as rc
from pocketkube.controllers.endpointslice import slices as sl
from pocketkube.controllers.endpointslice import util
from pocketkube.controllers.endpointslice.util import meta

log = logging.getLogger(__name__)

NAME = "endpointslicemirroring"
CONTROLLER_NAME = "endpointslicemirroring-controller.k8s.io"
COMPONENT = "endpoint-slice-mirroring-controller"
_NOT_COPIED = (util.TRIGGER_TIME_ANNOTATION, util.LAST_APPLIED_ANNOTATION)

Key = tuple[sl.PortKey, str]


def should_mirror(endpoints: Obj) -> bool:
    labels = util.labels_of(endpoints)
    annotations = meta(endpoints).get("annotations") or {}
    if labels.get(util.SKIP_MIRROR_LABEL) == "true":
        return False
    return util.LEADER_ANNOTATION not in annotations


def slice_ports(ports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for port in ports:
        mirrored = {
            "name": port.get("name") or "",
            "port": port.get("port"),
            "protocol": port.get("protocol") or "TCP",
        }
        if port.get("appProtocol"):
            mirrored["appProtocol"] = port["appProtocol"]
        out.append(mirrored)
    return out


def address_endpoint(address: dict[str, Any], ready: bool) -> dict[str, Any]:
    """Upstream's ``addressToEndpoint``."""
    endpoint: dict[str, Any] = {"addresses": [address.get("ip")], "conditions": {"ready": ready}}
    if address.get("targetRef"):
        endpoint["targetRef"] = copy.deepcopy(address["targetRef"])
    if address.get("nodeName"):
        endpoint["nodeName"] = address["nodeName"]
    if address.get("hostname"):
        endpoint["hostname"] = address["hostname"]
    return endpoint


class Desired:
    """Upstream's ``desiredCalc``: endpoints by (port set, address type)."""

    def __init__(self, max_per_subset: int) -> None:
        self.max = max_per_subset
        self.ports: dict[Key, list[dict[str, Any]]] = {}
        self.endpoints: dict[Key, dict[sl.EndpointKey, dict[str, Any]]] = {}
        self.invalid = 0
        self.skipped = 0

    def add_subset(self, subset: es.Subset) -> None:
        ports = slice_ports(subset.get("ports") or [])
        pkey = sl.port_key(ports)
        for address_type in (util.IPV4, util.IPV6):
            self.ports[(pkey, address_type)] = ports
            self.endpoints.setdefault((pkey, address_type), {})
        addresses = [(a, True) for a in subset.get("addresses") or []]
        addresses += [(a, False) for a in subset.get("notReadyAddresses") or []]
        added = 0
        for address, ready in addresses:
            if added >= self.max:
                break
            family = util.address_type(str(address.get("ip") or ""))
            if family is None:
                self.invalid += 1
                continue
            endpoint = address_endpoint(address, ready)
            self.endpoints[(pkey, family)][sl.endpoint_key(endpoint)] = endpoint
            added += 1
        self.skipped += len(addresses) - added


def new_slice(endpoints: Obj, key: Key, ports: list[dict[str, Any]], name: str | None) -> Obj:
    """Upstream's mirroring ``newEndpointSlice``."""
    labels = util.labels_of(endpoints)
    labels[util.SERVICE_NAME_LABEL] = str(meta(endpoints).get("name"))
    labels[util.MANAGED_BY_LABEL] = CONTROLLER_NAME
    annotations = {
        k: v for k, v in (meta(endpoints).get("annotations") or {}).items() if k not in _NOT_COPIED
    }
    metadata: dict[str, Any] = {
        "namespace": meta(endpoints).get("namespace"),
        "labels": labels,
        "annotations": annotations,
        "ownerReferences": [sl.owner_ref(endpoints, "Endpoints")],
    }
    if name:
        metadata["name"] = name
    else:
        metadata["generateName"] = f"{meta(endpoints).get('name')}-"
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": metadata,
        "addressType": key[1],
        "endpoints": [],
        "ports": copy.deepcopy(ports),
    }


def _matches(current: Obj, endpoints: Obj, desired: dict[sl.EndpointKey, dict[str, Any]]) -> bool:
    have = {sl.endpoint_key(e): sl.endpoint_view(e) for e in current.get("endpoints") or []}
    want = {k: sl.endpoint_view(e) for k, e in desired.items()}
    labels = util.labels_of(current)
    labels.pop(util.MANAGED_BY_LABEL, None)
    labels.pop(util.SERVICE_NAME_LABEL, None)
    annotations = {
        k: v for k, v in (meta(endpoints).get("annotations") or {}).items() if k not in _NOT_COPIED
    }
    return (
        have == want
        and labels == util.labels_of(endpoints)
        and annotations == dict(meta(current).get("annotations") or {})
    )


def plan_for(endpoints: Obj, existing: list[Obj], max_per_subset: int) -> tuple[rc.Plan, Desired]:
    """Upstream's mirroring ``reconcile``: what to create, update and delete."""
    desired = Desired(max_per_subset)
    for subset in es.repack(copy.deepcopy(endpoints.get("subsets") or [])):
        desired.add_subset(subset)
    by_key: dict[Key, list[Obj]] = {}
    for current in existing:
        key = (sl.port_key(current.get("ports") or []), str(current.get("addressType")))
        by_key.setdefault(key, []).append(current)
    plan = rc.Plan()
    for key, wanted in desired.endpoints.items():
        have = sorted(by_key.get(key, []), key=lambda s: str(meta(s).get("name")))
        if not wanted:
            plan.delete += have
            continue
        if have:
            plan.delete += have[1:]
            if _matches(have[0], endpoints, wanted):
                continue
        name = str(meta(have[0]).get("name")) if have else None
        mirrored = new_slice(endpoints, key, desired.ports[key], name)
        for endpoint_key in sorted(wanted)[:max_per_subset]:
            mirrored["endpoints"].append(wanted[endpoint_key])
        if have:
            mirrored["metadata"]["resourceVersion"] = meta(have[0]).get("resourceVersion")
            plan.update.append(mirrored)
        else:
            plan.create.append(mirrored)
    for key, stale in by_key.items():
        if key not in desired.endpoints:
            plan.delete += stale
    return plan, desired


class EndpointSliceMirroringController(Controller):
    name = NAME

    def __init__(
        self,
        *,
        client: ApiClient,
        service_informer: Informer,
        endpoints_informer: Informer,
        slice_informer: Informer,
        recorder: Recorder,
        workers: int = 5,
        max_endpoints_per_subset: int = 1000,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(
            informers=[service_informer, endpoints_informer, slice_informer],
            workers=workers,
            clock=clock,
        )
        self._client = client
        self._recorder = recorder
        self._services = service_informer.store
        self._endpoints = endpoints_informer.store
        self._slices = slice_informer.store
        self._max = max_endpoints_per_subset
        self.tracker = util.StaleTracker()
        util.ensure_namespace_index(slice_informer)
        for informer in (service_informer, endpoints_informer):
            informer.add_handler(
                on_add=self.enqueue, on_update=self.enqueue_update, on_delete=self.enqueue
            )
        slice_informer.add_handler(
            on_add=self._slice_changed,
            on_update=lambda old, new: self._slice_changed(new),
            on_delete=self._slice_deleted,
        )

    def _service_key(self, slice_: Obj) -> str | None:
        labels = util.labels_of(slice_)
        service = labels.get(util.SERVICE_NAME_LABEL)
        if not service or labels.get(util.MANAGED_BY_LABEL) != CONTROLLER_NAME:
            return None
        return f"{meta(slice_).get('namespace')}/{service}"

    def _slice_changed(self, slice_: Obj) -> None:
        key = self._service_key(slice_)
        if key is not None:
            self.tracker.observed(key, slice_)
            self.queue.add(key)

    def _slice_deleted(self, slice_: Obj) -> None:
        key = self._service_key(slice_)
        if key is not None:
            self.tracker.gone(key, slice_)
            self.queue.add(key)

    def _mirrored(self, namespace: str, name: str) -> list[Obj]:
        return [
            s
            for s in self._slices.by_index(NAMESPACE_INDEX, namespace)
            if util.labels_of(s).get(util.SERVICE_NAME_LABEL) == name
            and util.labels_of(s).get(util.MANAGED_BY_LABEL) == CONTROLLER_NAME
        ]

    async def sync(self, key: str) -> None:
        namespace, name = split_key(key)
        namespace = namespace or ""
        endpoints = self._endpoints.get(key)
        service = self._services.get(key)
        if (
            endpoints is None
            or not should_mirror(endpoints)
            or service is None
            or util.selector_of(service) is not None
        ):
            await self._delete_mirrored(key, namespace, name)
            return
        existing = self._mirrored(namespace, name)
        if self.tracker.is_stale(key, existing):
            raise IgnorableError("EndpointSlice informer cache is out of date")
        plan, desired = plan_for(endpoints, existing, self._max)
        if desired.invalid:
            self._recorder.post(
                endpoints,
                type="Warning",
                reason="InvalidIPAddress",
                action="Mirroring",
                note=f"Skipped {desired.invalid} invalid IP addresses when mirroring to "
                "EndpointSlices",
            )
        if desired.skipped > desired.invalid:
            self._recorder.post(
                endpoints,
                type="Warning",
                reason="TooManyAddressesToMirror",
                action="Mirroring",
                note=f"A max of {self._max} addresses can be mirrored to EndpointSlices per "
                f"Endpoints subset. {desired.skipped} addresses were skipped",
            )
        await rc.finalize(self._client, endpoints, plan, None, self.tracker, key, set_trigger=False)

    async def _delete_mirrored(self, key: str, namespace: str, name: str) -> None:
        await util.delete_slices(self._client, self._mirrored(namespace, name))
        self.tracker.forget(key)


def build(ctx: Context) -> Controller:
    return EndpointSliceMirroringController(
        client=ctx.client,
        service_informer=ctx.informers.informer(resources.SERVICES),
        endpoints_informer=ctx.informers.informer(resources.ENDPOINTS),
        slice_informer=ctx.informers.informer(resources.ENDPOINT_SLICES),
        recorder=ctx.recorder(COMPONENT),
        workers=ctx.options.mirroring_concurrent_service_endpoint_syncs,
        max_endpoints_per_subset=ctx.options.mirroring_max_endpoints_per_subset,
        clock=ctx.clock,
    )
