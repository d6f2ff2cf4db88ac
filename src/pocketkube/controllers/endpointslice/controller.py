"""endpointslice: EndpointSlices for every Service with a selector (upstream's
``pkg/controller/endpointslice``).

A sync of ``namespace/name`` takes the Service from the informer. Gone: its slices managed by
this controller are deleted (the garbage collector would too, by owner reference). ExternalName
or without a selector: nothing to do (a selectorless Service's slices come from the mirroring
controller). Otherwise the pods in its namespace matching the selector that belong in endpoints
(not terminal, with an IP; terminating pods too, with ``terminating: true``) become one endpoint
per address type of the Service, grouped by the ports they resolve to, and ``reconciler``
writes the difference. A pod whose Node is unknown is left out (unless the Service publishes
not-ready addresses) and the sync is retried. Zone hints follow ``spec.trafficDistribution``
(``trafficdist``), except for Services asking for the topology cache (``topology-mode: Auto``,
not implemented: their hints are left alone). A failed sync is reported on the Service
(``FailedToUpdateEndpointSlices``, from ``endpoint-slice-controller``). The sync waits (retried)
while the slice informer has not shown this controller's own last writes.

Handlers: a Service change enqueues it; a pod change enqueues every Service whose selector
matches its old or new labels; a managed slice's change enqueues its Service; a new Node
enqueues the Services that left out a pod for want of it.
"""

from __future__ import annotations

import logging

from pocketkube.client import resources
from pocketkube.client.clock import Clock
from pocketkube.client.informer import Informer
from pocketkube.client.rest import ApiError, Obj
from pocketkube.client.store import NAMESPACE_INDEX, split_key
from pocketkube.controllers.base import ApiClient, Controller, IgnorableError
from pocketkube.controllers.context import Context, Recorder
from pocketkube.controllers.endpointslice import reconciler as rc
from pocketkube.controllers.endpointslice import slices as sl
from pocketkube.controllers.endpointslice import trafficdist, util
from pocketkube.controllers.endpointslice.util import meta, spec

log = logging.getLogger(__name__)

NAME = "endpointslice"
COMPONENT = "endpoint-slice-controller"
TOPOLOGY_MODE = "service.kubernetes.io/topology-mode"
TOPOLOGY_AWARE_HINTS = "service.kubernetes.io/topology-aware-hints"  # deprecated, wins


class EndpointSliceController(Controller):
    name = NAME

    def __init__(
        self,
        *,
        client: ApiClient,
        service_informer: Informer,
        pod_informer: Informer,
        node_informer: Informer,
        slice_informer: Informer,
        recorder: Recorder | None = None,
        workers: int = 5,
        max_endpoints_per_slice: int = 100,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(
            informers=[service_informer, pod_informer, node_informer, slice_informer],
            workers=workers,
            clock=clock,
        )
        self._client = client
        self._services = service_informer.store
        self._pods = pod_informer.store
        self._nodes = node_informer.store
        self._awaiting_node: dict[str, set[str]] = {}  # node name -> Services waiting for it
        self._slices = slice_informer.store
        self._max = max_endpoints_per_slice
        self._recorder = recorder
        self.triggers = util.TriggerTimeTracker()
        self.tracker = util.StaleTracker()
        for informer in (service_informer, pod_informer, slice_informer):
            util.ensure_namespace_index(informer)
        service_informer.add_handler(
            on_add=self.enqueue, on_update=self.enqueue_update, on_delete=self.enqueue
        )
        pod_informer.add_handler(
            on_add=self._pod_changed,
            on_update=self._pod_updated,
            on_delete=self._pod_changed,
        )
        node_informer.add_handler(on_add=self._node_added)
        slice_informer.add_handler(
            on_add=self._slice_changed,
            on_update=self._slice_updated,
            on_delete=self._slice_deleted,
        )

    # -- handlers ------------------------------------------------------------------------------
    def _pod_changed(self, pod: Obj) -> None:
        for key in util.services_for_pod(self._services, pod):
            self.queue.add(key)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        for key in util.services_for_pod_update(self._services, old, new):
            self.queue.add(key)

    def _node_added(self, node: Obj) -> None:
        for key in self._awaiting_node.pop(str(meta(node).get("name")), set()):
            self.queue.add(key)

    def _service_key(self, slice_: Obj) -> str | None:
        labels = util.labels_of(slice_)
        service = labels.get(util.SERVICE_NAME_LABEL)
        if not service or labels.get(util.MANAGED_BY_LABEL) != sl.CONTROLLER_NAME:
            return None
        return f"{meta(slice_).get('namespace')}/{service}"

    def _slice_changed(self, slice_: Obj) -> None:
        key = self._service_key(slice_)
        if key is not None:
            self.tracker.observed(key, slice_)
            self.queue.add(key)

    def _slice_updated(self, old: Obj, new: Obj) -> None:
        before = self._service_key(old)
        if before is not None and before != self._service_key(new):
            self.queue.add(before)  # managed-by or service-name changed hands
        self._slice_changed(new)

    def _slice_deleted(self, slice_: Obj) -> None:
        key = self._service_key(slice_)
        if key is not None:
            self.tracker.gone(key, slice_)
            self.queue.add(key)

    # -- sync ----------------------------------------------------------------------------------
    def _managed_slices(self, namespace: str, name: str) -> list[Obj]:
        return [
            s
            for s in self._slices.by_index(NAMESPACE_INDEX, namespace)
            if util.labels_of(s).get(util.SERVICE_NAME_LABEL) == name
            and util.labels_of(s).get(util.MANAGED_BY_LABEL) == sl.CONTROLLER_NAME
        ]

    async def sync(self, key: str) -> None:
        namespace, name = split_key(key)
        namespace = namespace or ""
        service = self._services.get(key)
        if service is None:
            self.triggers.delete(key)
            await self._delete_all(key, namespace, name)
            return
        if spec(service).get("type") == "ExternalName" or util.selector_of(service) is None:
            return
        existing = self._managed_slices(namespace, name)
        if self.tracker.is_stale(key, existing):
            raise IgnorableError("EndpointSlice informer cache is out of date")
        pods = util.pods_for_service(self._pods, service)
        trigger = self.triggers.compute(key, service, pods)
        types = sl.address_types(service)
        desired = {t: rc.Desired() for t in types}
        missing_nodes = []
        publish = bool(spec(service).get("publishNotReadyAddresses"))
        for pod in pods:
            if not util.should_pod_be_in_endpoints(pod, True):
                continue
            ports = sl.endpoint_ports(service, pod)
            node_name = spec(pod).get("nodeName") or ""
            node = self._nodes.get(node_name) if node_name else None
            if node is None and not publish:
                for want in desired.values():
                    want.add(ports, None)  # the port set stays wanted, as upstream
                missing_nodes.append(str(meta(pod).get("name")))
                self._awaiting_node.setdefault(node_name, set()).add(key)
                continue
            for address_type, want in desired.items():
                want.add(ports, sl.pod_endpoint(pod, node, service, address_type))
        unsupported = rc.Plan()  # slices of an address type the Service no longer has
        by_type: dict[str, list[Obj]] = {}
        for current in existing:
            if current.get("addressType") in types:
                by_type.setdefault(str(current.get("addressType")), []).append(current)
            else:
                unsupported.delete.append(current)
        plans = []
        for address_type in sorted(types):
            plan = rc.reconcile_address_type(
                service,
                by_type.get(address_type, []),
                desired[address_type],
                address_type,
                max_endpoints=self._max,
            )
            if not _topology_auto(service):  # upstream's topology cache is not implemented
                trafficdist.reconcile_hints(
                    spec(service).get("trafficDistribution"),
                    plan,
                    by_type.get(address_type, []),
                )
            plans.append(plan)
        plans.append(unsupported)
        try:
            for plan in plans:
                await rc.finalize(self._client, service, plan, trigger, self.tracker, key)
            if missing_nodes:
                raise IgnorableError(f"skipping Pods {', '.join(missing_nodes)}: Node not found")
        except Exception as err:
            if not (isinstance(err, ApiError) and err.conflict) and self._recorder is not None:
                self._recorder.post(
                    service,
                    type="Warning",
                    reason="FailedToUpdateEndpointSlices",
                    action="Update",
                    note=f"Error updating Endpoint Slices for Service {key}: {err}",
                )
            raise

    async def _delete_all(self, key: str, namespace: str, name: str) -> None:
        await util.delete_slices(self._client, self._managed_slices(namespace, name))
        self.tracker.forget(key)


def _topology_auto(service: Obj) -> bool:
    """Upstream's ``hintsEnabled``: topology-aware hints asked for by annotation."""
    annotations = meta(service).get("annotations") or {}
    value = annotations.get(TOPOLOGY_AWARE_HINTS, annotations.get(TOPOLOGY_MODE))
    return value in ("Auto", "auto")


def build(ctx: Context) -> Controller:
    return EndpointSliceController(
        client=ctx.client,
        service_informer=ctx.informers.informer(resources.SERVICES),
        pod_informer=ctx.informers.informer(resources.PODS),
        node_informer=ctx.informers.informer(resources.NODES),
        slice_informer=ctx.informers.informer(resources.ENDPOINT_SLICES),
        recorder=ctx.recorder(COMPONENT),
        workers=ctx.options.concurrent_service_endpoint_syncs,
        max_endpoints_per_slice=ctx.options.max_endpoints_per_slice,
        clock=ctx.clock,
    )
