"""The downward API: a pod's own fields and its containers' resources, as text.

Environment variables (``valueFrom.fieldRef`` / ``resourceFieldRef``) and downwardAPI volume files
show a container facts about its pod that only exist once it runs on a node (its IP, the node's
name, its limits). Both paths read them here so that they format alike, as upstream's kubelet
shares ``pkg/fieldpath`` and ``pkg/api/v1/resource`` between ``makeEnvironmentVariables`` and the
downwardAPI volume plugin:

- ``metadata_field`` is upstream's ``ExtractFieldPathAsString``: metadata only (what a volume may
  show), whole label/annotation maps as ``key="value"`` lines with Go's ``%q`` quoting;
- ``pod_field`` is the kubelet's ``podFieldSelectorRuntimeValue``: also spec.nodeName,
  spec.serviceAccountName and the pod's and host's IPs, which only the kubelet knows;
- ``resource_field`` is ``ExtractContainerResourceValue``: a request or limit divided by the
  divisor and rounded up, where an unset (or zero) limit means the node's allocatable amount
  (``MergeContainerResourceLimits``), because that is what the container can really use.

Errors raise ``FieldPathError`` with upstream's messages; the kubelet shows them in
CreateContainerConfigError or a FailedMount event.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

from pocketkube.api.quantity import QuantityError, parse_quantity

Obj = dict[str, Any]

# What ConvertDownwardAPIFieldLabel accepts for apiVersion v1 (spec.host is an old alias).
SUPPORTED_FIELDS = frozenset(
    {
        "metadata.annotations",
        "metadata.labels",
        "metadata.name",
        "metadata.namespace",
        "metadata.uid",
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.serviceAccountName",
        "spec.schedulerName",
        "status.phase",
        "status.hostIP",
        "status.hostIPs",
        "status.podIP",
        "status.podIPs",
    }
)
LIMITED_RESOURCES = ("cpu", "memory", "ephemeral-storage")
_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_GO_ESCAPES |= {"\v": "\\v", '"': '\\"', "\\": "\\\\"}


class FieldPathError(ValueError):
    """A field or resource reference the kubelet cannot resolve (upstream's message)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def go_quote(text: str) -> str:
    """Go's ``%q`` of a string (``strconv.Quote``): printable characters kept, others escaped."""
    out = ['"']
    for char in text:
        if char in _GO_ESCAPES:
            out.append(_GO_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) < 0x10000:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    out.append('"')
    return "".join(out)


def format_map(values: Mapping[str, str]) -> str:
    """Labels or annotations as a file shows them: sorted ``key="value"`` lines."""
    return "\n".join(f"{key}={go_quote(values[key])}" for key in sorted(values))


def split_subscript(path: str) -> tuple[str, str] | None:
    """``metadata.labels['app']`` → ("metadata.labels", "app"); None when not subscripted."""
    if not path.endswith("']"):
        return None
    head, sep, key = path[:-2].partition("['")
    if not sep or not head:
        return None
    return head, key


def metadata_field(pod: Obj, path: str) -> str:
    """A metadata field of the pod (what a downwardAPI volume file may hold)."""
    meta = pod.get("metadata") or {}
    subscripted = split_subscript(path)
    if subscripted is not None:
        head, key = subscripted
        if head in ("metadata.labels", "metadata.annotations"):
            return str((meta.get(head.removeprefix("metadata.")) or {}).get(key, ""))
        raise FieldPathError(f"fieldPath {go_quote(path)} does not support subscript")
    if path in ("metadata.labels", "metadata.annotations"):
        return format_map(meta.get(path.removeprefix("metadata.")) or {})
    if path in ("metadata.name", "metadata.namespace", "metadata.uid"):
        return str(meta.get(path.removeprefix("metadata."), ""))
    raise FieldPathError(f"unsupported fieldPath: {path}")


def _checked_field_path(field_ref: Obj) -> str:
    version = field_ref.get("apiVersion") or "v1"
    path = str(field_ref.get("fieldPath", ""))
    if version != "v1":
        raise FieldPathError(f"unsupported pod version: {version}")
    subscripted = split_subscript(path)
    if subscripted is not None:
        if subscripted[0] not in ("metadata.labels", "metadata.annotations"):
            raise FieldPathError(f"field label does not support subscript: {path}")
        return path
    if path == "spec.host":
        return "spec.nodeName"
    if path not in SUPPORTED_FIELDS:
        raise FieldPathError(f"field label not supported: {path}")
    return path


def pod_field(
    pod: Obj,
    field_ref: Obj,
    *,
    pod_ips: Sequence[str],
    host_ips: Sequence[str],
) -> str:
    """The value of a ``fieldRef`` for an environment variable."""
    path = _checked_field_path(field_ref)
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    if path == "spec.nodeName":
        return str(spec.get("nodeName", ""))
    if path == "spec.serviceAccountName":
        return str(spec.get("serviceAccountName", ""))
    if path in ("status.hostIP", "status.hostIPs"):
        if not host_ips:
            raise FieldPathError("can't get hostIP, node IP is unknown")
        return host_ips[0] if path == "status.hostIP" else ",".join(host_ips)
    if path == "status.podIP":
        return pod_ips[0] if pod_ips else ""
    if path == "status.podIPs":
        return ",".join(pod_ips)
    if path in ("spec.restartPolicy", "spec.schedulerName"):
        return str(spec.get(path.removeprefix("spec."), ""))
    if path == "status.phase":
        return str(status.get("phase", ""))
    return metadata_field(pod, path)


def find_container(pod: Obj, name: str) -> Obj:
    spec = pod.get("spec") or {}
    for container in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        if container.get("name") == name:
            return dict(container)
    raise FieldPathError(f"container {name} not found")


def with_default_limits(container: Obj, node_allocatable: Mapping[str, object]) -> Obj:
    """A copy of the container whose unset or zero cpu/memory/ephemeral-storage limits are the
    node's allocatable amounts (hugepages are never overcommitted, so never defaulted)."""
    resources = dict(container.get("resources") or {})
    limits = dict(resources.get("limits") or {})
    for name in LIMITED_RESOURCES:
        if (name not in limits or _quantity(limits[name]) == 0) and name in node_allocatable:
            limits[name] = node_allocatable[name]
    resources["limits"] = limits
    return {**container, "resources": resources}


def resource_field(
    field_ref: Obj,
    pod: Obj,
    container: Obj | None,
    node_allocatable: Mapping[str, object],
) -> str:
    """The value of a ``resourceFieldRef``: of ``containerName`` if given, else of ``container``
    (an environment variable's own container)."""
    name = field_ref.get("containerName")
    if name or container is None:
        container = find_container(pod, str(name or ""))
    container = with_default_limits(container, node_allocatable)
    resource = str(field_ref.get("resource", ""))
    kind, _, resource_name = resource.partition(".")
    divisor = _quantity(field_ref.get("divisor") or 0) or Fraction(1)
    if kind in ("limits", "requests") and (
        resource_name in LIMITED_RESOURCES or resource_name.startswith("hugepages-")
    ):
        amounts = (container.get("resources") or {}).get(kind) or {}
        amount = _quantity(amounts.get(resource_name, 0))
        if resource_name == "cpu":
            return str(math.ceil(math.ceil(amount * 1000) / math.ceil(divisor * 1000)))
        return str(math.ceil(math.ceil(amount) / math.ceil(divisor)))
    raise FieldPathError(f"unsupported container resource : {resource}")


def _quantity(value: object) -> Fraction:
    try:
        return parse_quantity(value)
    except QuantityError as err:
        raise FieldPathError(str(err)) from None
