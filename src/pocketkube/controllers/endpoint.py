"""endpoint: the legacy v1 Endpoints of every Service with a selector (upstream's
``pkg/controller/endpoint``).

A sync of ``namespace/name``: when the Service is gone its Endpoints are deleted; ExternalName
Services and Services without a selector are left alone (their Endpoints are the user's). The
pods matching the selector that belong in endpoints (not terminal, with an IP, not terminating
unless ``publishNotReadyAddresses``) give one address each, in the Service's first IP family,
with ``nodeName``, ``targetRef`` and the hostname (``spec.hostname`` when ``spec.subdomain`` is
the Service's name), per Service port that resolves on the pod; ready pods (or all, with
``publishNotReadyAddresses``) under ``addresses``, others under ``notReadyAddresses``; then
repacked into subsets by port set (``endpoint_subsets``). The Endpoints carries the Service's
labels (+ ``service.kubernetes.io/headless`` when headless), the last-change-trigger-time
annotation, and, past 1000 addresses, is truncated with ``endpoints.kubernetes.io/over-capacity:
truncated``. It is written only when subsets, labels or the capacity annotation differ. On start,
every Endpoints without the leader-election annotation is synced once, so that those whose
Service went away meanwhile are deleted.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from pocketkube.client import resources
from pocketkube.client.clock import Clock
from pocketkube.client.informer import Informer
from pocketkube.client.rest import ApiError, Obj
from pocketkube.client.store import key_of, split_key
from pocketkube.controllers import endpoint_subsets as es
from pocketkube.controllers.base import ApiClient, Controller, IgnorableError
from pocketkube.controllers.context import Context, Recorder
from pocketkube.controllers.endpointslice import util
from pocketkube.controllers.endpointslice.util import IPV4, IPV6, meta, spec

log = logging.getLogger(__name__)

NAME = "endpoint"
COMPONENT = "endpoint-controller"
TRUNCATED = "truncated"


def pod_address(service: Obj, pod: Obj) -> dict[str, Any] | None:
    """Upstream's ``podToEndpointAddressForService``: the pod IP of the Service's (first) IP
    family; None when the pod has none."""
    families = spec(service).get("ipFamilies") or []
    if families:
        family = families[0]
    else:
        cluster_ip = spec(service).get("clusterIP")
        probe = cluster_ip if cluster_ip and cluster_ip != "None" else None
        ips = util.pod_ips(pod)
        probe = probe or (ips[0] if ips else "")
        family = IPV6 if util.is_ipv6(str(probe)) else IPV4
    ip = next((i for i in util.pod_ips(pod) if util.is_ipv6(i) == (family == IPV6)), None)
    if ip is None:
        return None
    address: dict[str, Any] = {"ip": ip}
    if spec(pod).get("nodeName"):
        address["nodeName"] = spec(pod)["nodeName"]
    address["targetRef"] = {
        "kind": "Pod",
        "namespace": meta(pod).get("namespace"),
        "name": meta(pod).get("name"),
        "uid": meta(pod).get("uid"),
    }
    if util.should_set_hostname(pod, service):
        address["hostname"] = spec(pod)["hostname"]
    return address


def desired_subsets(service: Obj, pods: list[Obj]) -> list[es.Subset]:
    publish = bool(spec(service).get("publishNotReadyAddresses"))
    subsets: list[es.Subset] = []
    for pod in pods:
        if not util.should_pod_be_in_endpoints(pod, publish):
            continue
        address = pod_address(service, pod)
        if address is None:
            log.debug("no address of the Service's family on pod %s", meta(pod).get("name"))
            continue
        field = "addresses" if publish or util.is_pod_ready(pod) else "notReadyAddresses"
        ports = spec(service).get("ports") or []
        if not ports:
            if spec(service).get("clusterIP") == "None":
                subsets.append({field: [address]})
            continue
        for service_port in ports:
            number = util.find_port(pod, service_port)
            if number is None:
                continue
            port: dict[str, Any] = {
                "name": service_port.get("name") or "",
                "port": number,
                "protocol": service_port.get("protocol") or "TCP",
            }
            if service_port.get("appProtocol"):
                port["appProtocol"] = service_port["appProtocol"]
            subsets.append({field: [address], "ports": [port]})
    return es.repack(subsets)


class EndpointsController(Controller):
    name = NAME

    def __init__(
        self,
        *,
        client: ApiClient,
        service_informer: Informer,
        pod_informer: Informer,
        endpoints_informer: Informer,
        recorder: Recorder,
        workers: int = 5,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(
            informers=[service_informer, pod_informer, endpoints_informer],
            workers=workers,
            clock=clock,
        )
        self._client = client
        self._recorder = recorder
        self._services = service_informer.store
        self._pods = pod_informer.store
        self._endpoints = endpoints_informer.store
        self._endpoints_informer = endpoints_informer
        self.triggers = util.TriggerTimeTracker()
        self.tracker = util.StaleTracker()
        util.ensure_namespace_index(service_informer)
        util.ensure_namespace_index(pod_informer)
        service_informer.add_handler(
            on_add=self.enqueue, on_update=self.enqueue_update, on_delete=self.enqueue
        )
        pod_informer.add_handler(
            on_add=self._pod_changed, on_update=self._pod_updated, on_delete=self._pod_changed
        )
        endpoints_informer.add_handler(
            on_add=self._observed,
            on_update=lambda old, new: self._observed(new),
            on_delete=self._endpoints_deleted,
        )

    async def run(self) -> None:
        await self._endpoints_informer.wait_synced()
        for endpoints in self._endpoints.list():  # upstream's checkLeftoverEndpoints
            if util.LEADER_ANNOTATION not in (meta(endpoints).get("annotations") or {}):
                self.enqueue(endpoints)
        await super().run()

    # -- handlers ------------------------------------------------------------------------------
    def _pod_changed(self, pod: Obj) -> None:
        for key in util.services_for_pod(self._services, pod):
            self.queue.add(key)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        for key in util.services_for_pod_update(self._services, old, new):
            self.queue.add(key)

    def _observed(self, endpoints: Obj) -> None:
        self.tracker.observed(key_of(endpoints), endpoints)

    def _endpoints_deleted(self, endpoints: Obj) -> None:
        key = key_of(endpoints)
        self.tracker.gone(key, endpoints)
        self.queue.add(key)

    # -- sync ----------------------------------------------------------------------------------
    async def sync(self, key: str) -> None:
        namespace, name = split_key(key)
        path = resources.ENDPOINTS.path(namespace=namespace, name=name)
        service = self._services.get(key)
        if service is None:
            self.triggers.delete(key)
            self.tracker.forget(key)
            if key in self._endpoints:
                try:
                    await self._client.delete(path)
                except ApiError as err:
                    if not err.not_found:
                        raise
            return
        if spec(service).get("type") == "ExternalName" or util.selector_of(service) is None:
            return
        pods = util.pods_for_service(self._pods, service)
        trigger = self.triggers.compute(key, service, pods)
        subsets = desired_subsets(service, pods)
        current = self._endpoints.get(key)
        if self.tracker.is_stale(key, [current] if current is not None else []):
            raise IgnorableError("endpoints informer cache is out of date")
        service_labels = util.labels_of(service)
        if current is not None:
            compare = util.labels_of(current)
            compare.pop(util.HEADLESS_LABEL, None)
            annotations = meta(current).get("annotations") or {}
            capacity_ok = (
                es.count(current.get("subsets") or []) <= es.MAX_CAPACITY
                and util.OVER_CAPACITY_ANNOTATION not in annotations
            )
            same = (current.get("subsets") or []) == subsets and compare == service_labels
            if same and capacity_ok:
                return
            new = copy.deepcopy(current)
        else:
            new = {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {"name": name, "namespace": namespace},
            }
        new["subsets"] = subsets
        util.set_trigger_time(new, trigger)
        new_annotations = new["metadata"]["annotations"]
        if es.truncate(subsets):
            new_annotations[util.OVER_CAPACITY_ANNOTATION] = TRUNCATED
        else:
            new_annotations.pop(util.OVER_CAPACITY_ANNOTATION, None)
        if not new_annotations:
            del new["metadata"]["annotations"]
        labels = dict(service_labels)
        if util.is_headless(service):
            labels[util.HEADLESS_LABEL] = ""
        new["metadata"]["labels"] = labels
        await self._write(key, namespace or "", name, new, create=current is None)

    async def _write(self, key: str, namespace: str, name: str, new: Obj, *, create: bool) -> None:
        try:
            if create:
                written = await self._client.create(
                    resources.ENDPOINTS.path(namespace=namespace), new
                )
            else:
                written = await self._client.update(
                    resources.ENDPOINTS.path(namespace=namespace, name=name), new
                )
        except ApiError as err:
            if create and err.status == 403 and "terminat" in str(err).lower():
                return  # the namespace is going away: creates keep failing
            if create:
                reason = "FailedToCreateEndpoint"
                note = f"Failed to create endpoint for service {namespace}/{name}: {err}"
            else:
                reason = "FailedToUpdateEndpoint"
                note = f"Failed to update endpoint {namespace}/{name}: {err}"
            if not err.conflict:
                self._recorder.post(new, type="Warning", reason=reason, action="Sync", note=note)
            raise
        self.tracker.wrote(key, written)


def build(ctx: Context) -> Controller:
    return EndpointsController(
        client=ctx.client,
        service_informer=ctx.informers.informer(resources.SERVICES),
        pod_informer=ctx.informers.informer(resources.PODS),
        endpoints_informer=ctx.informers.informer(resources.ENDPOINTS),
        recorder=ctx.recorder(COMPONENT),
        workers=ctx.options.concurrent_endpoint_syncs,
        clock=ctx.clock,
    )
