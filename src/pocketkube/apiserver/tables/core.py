"""Tables for the core/v1 kinds besides Pod (and discovery's EndpointSlice), as upstream's
``printNode``, ``printService``, ``printEvent``, ``printEndpoints`` and friends compute them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pocketkube.apiserver.conversion import events
from pocketkube.apiserver.tables.common import (
    AGE,
    NAME,
    Cells,
    Column,
    Obj,
    Printer,
    age_of,
    as_int,
    as_list,
    as_map,
    doc,
    format_labels,
    get,
    list_with_more,
    name_of,
    parse_time,
    since,
)

# -- Node -----------------------------------------------------------------------------------------
LABEL_NODE_ROLE_PREFIX = "node-role.kubernetes.io/"
NODE_LABEL_ROLE = "kubernetes.io/role"


def node_roles(labels: Any) -> list[str]:
    """findNodeRoles: ``node-role.kubernetes.io/<role>`` keys and ``kubernetes.io/role`` values."""
    roles: set[str] = set()
    for key, value in as_map(labels).items():
        if key.startswith(LABEL_NODE_ROLE_PREFIX):
            if role := key.removeprefix(LABEL_NODE_ROLE_PREFIX):
                roles.add(role)
        elif key == NODE_LABEL_ROLE and value:
            roles.add(str(value))
    return sorted(roles)


def _node_address(node: Obj, address_type: str) -> str:
    for address in as_list(get(node, "status", "addresses")):
        if get(address, "type") == address_type:
            return str(get(address, "address") or "")
    return "<none>"


def node_cells(node: Obj, now: datetime) -> Cells:
    status: list[str] = []
    for cond in as_list(get(node, "status", "conditions")):
        if get(cond, "type") == "Ready":
            # the last Ready condition wins, as in upstream's condition map
            status = ["Ready" if get(cond, "status") == "True" else "NotReady"]
    if not status:
        status = ["Unknown"]
    if get(node, "spec", "unschedulable") is True:
        status.append("SchedulingDisabled")
    info = as_map(get(node, "status", "nodeInfo"))
    return [
        name_of(node),
        ",".join(status),
        ",".join(node_roles(get(node, "metadata", "labels"))) or "<none>",
        age_of(node, now),
        str(info.get("kubeletVersion") or ""),
        _node_address(node, "InternalIP"),
        _node_address(node, "ExternalIP"),
        str(info.get("osImage") or "<unknown>"),
        str(info.get("kernelVersion") or "<unknown>"),
        str(info.get("containerRuntimeVersion") or "<unknown>"),
    ]


NODE_COLUMNS = (
    NAME,
    Column("Status", "string", "The status of the node"),
    Column("Roles", "string", "The roles of the node"),
    AGE,
    Column("Version", "string", doc("NodeSystemInfo.kubeletVersion")),
    Column("Internal-IP", "string", doc("NodeStatus.addresses"), 1),
    Column("External-IP", "string", doc("NodeStatus.addresses"), 1),
    Column("OS-Image", "string", doc("NodeSystemInfo.osImage"), 1),
    Column("Kernel-Version", "string", doc("NodeSystemInfo.kernelVersion"), 1),
    Column("Container-Runtime", "string", doc("NodeSystemInfo.containerRuntimeVersion"), 1),
)


# -- Service --------------------------------------------------------------------------------------
def service_ports(ports: Any) -> str:
    """makePortString: "80/TCP,443:30443/TCP" (node port after the colon)."""
    pieces = []
    for port in as_list(ports):
        protocol = get(port, "protocol") or "TCP"
        number, node_port = as_int(get(port, "port")), as_int(get(port, "nodePort"))
        if node_port > 0:
            pieces.append(f"{number}:{node_port}/{protocol}")
        else:
            pieces.append(f"{number}/{protocol}")
    return ",".join(pieces)


def _load_balancer_ips(svc: Obj) -> list[str]:
    found = set()
    for ingress in as_list(get(svc, "status", "loadBalancer", "ingress")):
        if address := get(ingress, "ip") or get(ingress, "hostname"):
            found.add(str(address))
    return sorted(found)


def service_external_ip(svc: Obj) -> str:
    """getServiceExternalIP in its wide form (no clipping of long load-balancer lists)."""
    external = [str(ip) for ip in as_list(get(svc, "spec", "externalIPs"))]
    svc_type = get(svc, "spec", "type")
    if svc_type in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if svc_type == "LoadBalancer":
        lb = _load_balancer_ips(svc)
        if external:
            return ",".join(lb + external)
        return ",".join(lb) or "<pending>"
    if svc_type == "ExternalName":
        return str(get(svc, "spec", "externalName") or "")
    return "<unknown>"


def service_cells(svc: Obj, now: datetime) -> Cells:
    spec = as_map(svc.get("spec"))
    cluster_ip = get(spec, "clusterIPs", 0) or spec.get("clusterIP") or "<none>"
    return [
        name_of(svc),
        str(spec.get("type") or ""),
        str(cluster_ip),
        service_external_ip(svc),
        service_ports(spec.get("ports")) or "<none>",
        age_of(svc, now),
        format_labels(spec.get("selector")),
    ]


SERVICE_COLUMNS = (
    NAME,
    Column("Type", "string", doc("ServiceSpec.type")),
    Column("Cluster-IP", "string", doc("ServiceSpec.clusterIP")),
    Column("External-IP", "string", doc("ServiceSpec.externalIPs")),
    Column("Port(s)", "string", doc("ServiceSpec.ports")),
    AGE,
    Column("Selector", "string", doc("ServiceSpec.selector"), 1),
)


# -- Endpoints and EndpointSlice ------------------------------------------------------------------
def _host_port(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def format_endpoints(endpoints: Obj) -> str:
    """formatEndpoints: up to three ip:port pairs and "+ N more..."."""
    subsets = as_list(endpoints.get("subsets"))
    if not subsets:
        return "<none>"
    shown: list[str] = []
    count = 0
    for subset in subsets:
        ips = [str(get(a, "ip") or "") for a in as_list(get(subset, "addresses"))]
        ports = as_list(get(subset, "ports"))
        if not ports:
            # headless services may have no ports
            count += len(ips)
            shown.extend(ips)
            continue
        for port in ports:
            count += len(ips)
            shown.extend(_host_port(ip, as_int(get(port, "port"))) for ip in ips)
    text = ",".join(shown[:3])
    return f"{text} + {count - 3} more..." if len(shown) > 3 else text


def endpoints_cells(endpoints: Obj, now: datetime) -> Cells:
    return [name_of(endpoints), format_endpoints(endpoints), age_of(endpoints, now)]


def endpoint_slice_cells(slice_: Obj, now: datetime) -> Cells:
    ports = []
    for port in as_list(slice_.get("ports")):
        number, name = get(port, "port"), get(port, "name")
        ports.append(str(number) if number is not None else str(name) if name is not None else "*")
    addresses = [
        str(address)
        for endpoint in as_list(slice_.get("endpoints"))
        for address in as_list(get(endpoint, "addresses"))
    ]
    return [
        name_of(slice_),
        str(slice_.get("addressType") or ""),
        list_with_more(ports, len(ports)),
        list_with_more(addresses, len(addresses)),
        age_of(slice_, now),
    ]


# -- Event ----------------------------------------------------------------------------------------
def _event_source(event: Obj) -> str:
    component = get(event, "source", "component") or event.get("reportingComponent") or ""
    host = get(event, "source", "host") or event.get("reportingInstance") or ""
    return f"{component}, {host}" if host else str(component)


def event_cells(event: Obj, now: datetime) -> Cells:
    if event.get("apiVersion") == events.API_VERSION:  # printed as the core Event it is stored as
        event = events.to_storage(event)
    if parse_time(event.get("firstTimestamp")) is not None:
        first = since(event.get("firstTimestamp"), now)
    else:
        first = since(event.get("eventTime"), now)
    last = since(event.get("lastTimestamp"), now)
    if parse_time(event.get("lastTimestamp")) is None:
        last = first
    count = as_int(event.get("count"))
    series = event.get("series")
    if series is not None:
        last = since(get(series, "lastObservedTime"), now)
        count = as_int(get(series, "count"))
    elif count == 0:
        count = 1  # singleton events of the new API carry no count
    kind = str(get(event, "involvedObject", "kind") or "").lower()
    involved_name = get(event, "involvedObject", "name")
    target = f"{kind}/{involved_name}" if involved_name else kind
    return [
        last,
        str(event.get("type") or ""),
        str(event.get("reason") or ""),
        target,
        str(get(event, "involvedObject", "fieldPath") or ""),
        _event_source(event),
        str(event.get("message") or "").strip(),
        first,
        count,
        name_of(event),
    ]


EVENT_COLUMNS = (
    Column("Last Seen", "string", doc("Event.lastTimestamp")),
    Column("Type", "string", doc("Event.type")),
    Column("Reason", "string", doc("Event.reason")),
    Column("Object", "string", doc("Event.involvedObject")),
    Column("Subobject", "string", doc("ObjectReference.fieldPath"), 1),
    Column("Source", "string", doc("Event.source"), 1),
    Column("Message", "string", doc("Event.message")),
    Column("First Seen", "string", doc("Event.firstTimestamp"), 1),
    Column("Count", "string", doc("Event.count"), 1),
    Column("Name", "string", doc("ObjectMeta.name"), 1, "name"),
)


# -- small kinds ----------------------------------------------------------------------------------
def namespace_cells(ns: Obj, now: datetime) -> Cells:
    return [name_of(ns), str(get(ns, "status", "phase") or ""), age_of(ns, now)]


def config_map_cells(cm: Obj, now: datetime) -> Cells:
    data = len(as_map(cm.get("data"))) + len(as_map(cm.get("binaryData")))
    return [name_of(cm), data, age_of(cm, now)]


def secret_cells(secret: Obj, now: datetime) -> Cells:
    data = len(as_map(secret.get("data")))
    return [name_of(secret), str(secret.get("type") or ""), data, age_of(secret, now)]


def service_account_cells(sa: Obj, now: datetime) -> Cells:
    return [name_of(sa), len(as_list(sa.get("secrets"))), age_of(sa, now)]


PRINTERS = {
    "Node": Printer(NODE_COLUMNS, node_cells),
    "Service": Printer(SERVICE_COLUMNS, service_cells),
    "Endpoints": Printer(
        (NAME, Column("Endpoints", "string", doc("Endpoints.subsets")), AGE), endpoints_cells
    ),
    "EndpointSlice": Printer(
        (
            NAME,
            Column("AddressType", "string", doc("EndpointSlice.addressType")),
            Column("Ports", "string", doc("EndpointSlice.ports")),
            Column("Endpoints", "string", doc("EndpointSlice.endpoints")),
            AGE,
        ),
        endpoint_slice_cells,
    ),
    "Event": Printer(EVENT_COLUMNS, event_cells),
    "Namespace": Printer(
        (NAME, Column("Status", "string", "The status of the namespace"), AGE), namespace_cells
    ),
    "ConfigMap": Printer(
        (NAME, Column("Data", "string", doc("ConfigMap.data")), AGE), config_map_cells
    ),
    "Secret": Printer(
        (
            NAME,
            Column("Type", "string", doc("Secret.type")),
            Column("Data", "string", doc("Secret.data")),
            AGE,
        ),
        secret_cells,
    ),
    "ServiceAccount": Printer(
        (NAME, Column("Secrets", "string", doc("ServiceAccount.secrets")), AGE),
        service_account_cells,
    ),
}
