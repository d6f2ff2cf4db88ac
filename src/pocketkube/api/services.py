"""Services: upstream's defaults and validation (``SetDefaults_Service``, ``ValidateService``).

Address allocation (cluster IPs, node ports) needs the datastore and lives in the API server.
"""

from __future__ import annotations

from typing import Any

from pocketkube.api.validation import (
    FieldError,
    duplicate,
    invalid,
    is_dns1123_label,
    not_supported,
    required,
)

SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
PROTOCOLS = ("TCP", "UDP", "SCTP")
IMMUTABLE = "field is immutable"


def uses_node_ports(spec: dict[str, Any]) -> bool:
    return spec.get("type") in ("NodePort", "LoadBalancer")


def default_service(svc: dict[str, Any]) -> None:
    spec = svc.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if port.get("targetPort") in (None, 0, ""):
                port["targetPort"] = port.get("port")
    if spec["type"] != "ExternalName":
        spec.setdefault("internalTrafficPolicy", "Cluster")
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
    if uses_node_ports(spec):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if spec["type"] == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    svc.setdefault("status", {"loadBalancer": {}})


def validate_service(svc: dict[str, Any], old: dict[str, Any] | None) -> list[FieldError]:
    spec = svc.get("spec")
    if not isinstance(spec, dict):
        return [required("spec")]
    errs: list[FieldError] = []
    kind = spec.get("type")
    if kind not in SERVICE_TYPES:
        errs.append(not_supported("spec.type", kind, SERVICE_TYPES))
    ports = spec.get("ports") or []
    headless = spec.get("clusterIP") == "None"
    if not ports and kind != "ExternalName" and not headless:
        errs.append(required("spec.ports"))
    names: set[str] = set()
    for i, port in enumerate(ports):
        path = f"spec.ports[{i}]"
        if not isinstance(port, dict):
            errs.append(invalid(path, port, "must be an object"))
            continue
        name = port.get("name", "")
        if len(ports) > 1 and not name:
            errs.append(required(f"{path}.name"))
        elif name in names:
            errs.append(duplicate(f"{path}.name", name))
        elif name:
            names.add(name)
            errs.extend(invalid(f"{path}.name", name, m) for m in is_dns1123_label(str(name)))
        number = port.get("port")
        if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= 65535:
            errs.append(invalid(f"{path}.port", number, "must be between 1 and 65535, inclusive"))
        if port.get("protocol") not in PROTOCOLS:
            errs.append(not_supported(f"{path}.protocol", port.get("protocol"), PROTOCOLS))
    if kind == "ExternalName" and not spec.get("externalName"):
        errs.append(required("spec.externalName"))
    if old is not None:
        old_ip = old.get("spec", {}).get("clusterIP")
        if old_ip and old_ip != "None" and spec.get("clusterIP") not in (old_ip, None, ""):
            errs.append(invalid("spec.clusterIPs[0]", spec.get("clusterIP"), IMMUTABLE))
    return errs
