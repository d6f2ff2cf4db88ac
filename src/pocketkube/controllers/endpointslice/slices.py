"""The EndpointSlice controller's desired state for one Service (upstream's ``utils.go`` in
``staging/src/k8s.io/endpointslice``): address types, ports per pod, one endpoint per pod,
labels, new slices.
"""

from __future__ import annotations

import copy
from typing import Any

from pocketkube.client.rest import Obj
from pocketkube.controllers.endpointslice import util
from pocketkube.controllers.endpointslice.util import IPV4, IPV6, meta, spec

CONTROLLER_NAME = "endpointslice-controller.k8s.io"

PortKey = tuple[tuple[str, int, str, str], ...]
EndpointKey = tuple[tuple[str, ...], str, str, str]


def address_types(service: Obj) -> set[str]:
    """Upstream's ``getAddressTypesForService``: the Service's ipFamilies; else its cluster
    IP's family; else (headless without families) both."""
    families = {f for f in spec(service).get("ipFamilies") or [] if f in (IPV4, IPV6)}
    if families:
        return families
    cluster_ip = spec(service).get("clusterIP")
    if cluster_ip and cluster_ip != "None":
        return {IPV6 if util.is_ipv6(str(cluster_ip)) else IPV4}
    return {IPV4, IPV6}


def endpoint_ports(service: Obj, pod: Obj) -> list[dict[str, Any]]:
    """Upstream's ``getEndpointPorts``: each Service port that resolves on this pod."""
    ports: list[dict[str, Any]] = []
    for service_port in spec(service).get("ports") or []:
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
        ports.append(port)
    return ports


def port_key(ports: list[dict[str, Any]]) -> PortKey:
    """Upstream's ``PortMapKey``: the set of ports, order aside."""
    return tuple(
        sorted(
            (
                str(p.get("name") or ""),
                int(p.get("port") or 0),
                str(p.get("protocol") or "TCP"),
                str(p.get("appProtocol") or ""),
            )
            for p in ports
        )
    )


def endpoint_key(endpoint: dict[str, Any]) -> EndpointKey:
    """What identifies an endpoint (upstream's ``hashEndpoint``)."""
    ref = endpoint.get("targetRef") or {}
    return (
        tuple(sorted(str(a) for a in endpoint.get("addresses") or [])),
        str(endpoint.get("hostname") or ""),
        str(ref.get("namespace") or ""),
        str(ref.get("name") or ""),
    )


# hints aside, as upstream's EndpointsEqualBeyondHash: they are trafficdist's
_COMPARED = ("addresses", "conditions", "hostname", "nodeName", "zone")


def endpoint_view(endpoint: dict[str, Any]) -> tuple[Any, ...]:
    """The fields whose change makes an endpoint worth rewriting (``EndpointsEqualBeyondHash``)."""
    ref = endpoint.get("targetRef") or {}
    conditions = {k: v for k, v in (endpoint.get("conditions") or {}).items() if v is not None}
    values = [endpoint.get(f) for f in _COMPARED]
    values[0] = sorted(values[0] or [])
    values[1] = conditions
    return (
        repr(values),
        ref.get("kind"),
        ref.get("namespace"),
        ref.get("name"),
        ref.get("uid"),
    )


def pod_endpoint(pod: Obj, node: Obj | None, service: Obj, address_type: str) -> dict[str, Any]:
    """Upstream's ``podToEndpoint``: the pod's addresses of ``address_type`` and its
    conditions (ready = serving and not terminating, or always with
    ``publishNotReadyAddresses``)."""
    serving = util.is_pod_ready(pod)
    terminating = bool(meta(pod).get("deletionTimestamp"))
    ready = bool(spec(service).get("publishNotReadyAddresses")) or (serving and not terminating)
    addresses = [ip for ip in util.pod_ips(pod) if util.is_ipv6(ip) == (address_type == IPV6)]
    endpoint: dict[str, Any] = {
        "addresses": addresses,
        "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
        "targetRef": {
            "kind": "Pod",
            "namespace": meta(pod).get("namespace"),
            "name": meta(pod).get("name"),
            "uid": meta(pod).get("uid"),
        },
    }
    node_name = spec(pod).get("nodeName")
    if node_name:
        endpoint["nodeName"] = node_name
    zone = util.labels_of(node).get(util.ZONE_LABEL) if node is not None else None
    if zone:
        endpoint["zone"] = zone
    if util.should_set_hostname(pod, service):
        endpoint["hostname"] = spec(pod)["hostname"]
    return endpoint


def is_reserved_label(key: str) -> bool:
    return key in (util.SERVICE_NAME_LABEL, util.MANAGED_BY_LABEL, util.HEADLESS_LABEL)


def slice_labels(slice_: Obj, service: Obj, controller: str) -> tuple[dict[str, str], bool]:
    """Upstream's ``setEndpointSliceLabels``: the Service's labels (reserved ones aside), the
    headless label, service-name and managed-by; and whether the copied labels changed."""
    own = {k: v for k, v in util.labels_of(slice_).items() if not is_reserved_label(k)}
    wanted = {k: v for k, v in util.labels_of(service).items() if not is_reserved_label(k)}
    changed = own != wanted
    if util.is_headless(service):
        wanted[util.HEADLESS_LABEL] = ""
    wanted[util.SERVICE_NAME_LABEL] = str(meta(service).get("name"))
    wanted[util.MANAGED_BY_LABEL] = controller
    return wanted, changed


def owner_ref(owner: Obj, kind: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": kind,
        "name": meta(owner).get("name"),
        "uid": meta(owner).get("uid"),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def owned_by(slice_: Obj, service: Obj) -> bool:
    uid = meta(service).get("uid")
    return any(
        ref.get("uid") == uid and ref.get("kind") == "Service" and ref.get("apiVersion") == "v1"
        for ref in meta(slice_).get("ownerReferences") or []
    )


def new_slice(service: Obj, address_type: str, ports: list[dict[str, Any]], controller: str) -> Obj:
    """Upstream's ``newEndpointSlice``: ``<service>-`` plus a random suffix, owned by the
    Service."""
    slice_: Obj = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "generateName": f"{meta(service).get('name')}-",
            "namespace": meta(service).get("namespace"),
            "ownerReferences": [owner_ref(service, "Service")],
        },
        "addressType": address_type,
        "endpoints": [],
        "ports": copy.deepcopy(ports),
    }
    slice_["metadata"]["labels"] = slice_labels(slice_, service, controller)[0]
    return slice_
