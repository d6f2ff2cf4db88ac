"""The ``autoscaling/v1`` Scale view of a scalable object, and how built-in workloads map onto it.

Every ``scale`` subresource answers with the same Scale (the parent's name, namespace, uid,
resourceVersion and creationTimestamp; the wanted and the current replica count; the label
selector as a string) and takes a Scale back. Only where the replica counts live differs: a
built-in workload keeps them in ``spec.replicas`` / ``status.replicas`` (upstream's
``scaleFrom<Kind>``), a custom resource where its CRD says (``customscale``). A
:class:`ScaleView` is that difference.
"""

from __future__ import annotations

from typing import Any, Protocol

from pocketkube.api import status
from pocketkube.api.labels import SelectorError, selector_from_label_selector, selector_from_set
from pocketkube.api.status import StatusError
from pocketkube.api.validation import FieldError, invalid
from pocketkube.storage.interface import Obj

API_VERSION = "autoscaling/v1"
KIND = "Scale"
INT32_MAX = 2**31 - 1


class ScaleView(Protocol):
    """How objects of one resource look as a Scale."""

    def scale(self, parent: Obj) -> Obj:
        """The Scale a read answers with."""
        ...

    def current(self, parent: Obj) -> Obj:
        """The Scale a write (PUT, or a patch) starts from."""
        ...

    def set_replicas(self, parent: Obj, scale: Obj, name: str) -> None:
        """Write the replicas ``scale`` asks for into ``parent``, or raise (400/422)."""
        ...


def new_scale(parent: Obj, *, replicas: int, status_replicas: int, selector: str) -> Obj:
    """A Scale of ``parent`` with these counts (0 replicas and an empty selector left out, as
    their Go fields are ``omitempty``)."""
    meta = parent.get("metadata", {})
    scale_meta = {
        key: meta[key]
        for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
        if meta.get(key)
    }
    spec: dict[str, Any] = {"replicas": replicas} if replicas else {}
    scale_status: dict[str, Any] = {"replicas": status_replicas}
    if selector:
        scale_status["selector"] = selector
    return {
        "kind": KIND,
        "apiVersion": API_VERSION,
        "metadata": scale_meta,
        "spec": spec,
        "status": scale_status,
    }


def requested_replicas(scale: Obj) -> Any:
    """``spec.replicas`` of a Scale a client sent (0 when left out, as Go decodes it)."""
    spec = scale.get("spec")
    return spec.get("replicas", 0) if isinstance(spec, dict) else 0


def is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def selector_string(parent: Obj) -> str:
    """The parent's selector in label-selector syntax, e.g. ``app=web``. A
    ReplicationController's selector is a plain map of labels; the others' a LabelSelector."""
    selector = parent.get("spec", {}).get("selector")
    if parent.get("kind") == "ReplicationController":
        return str(selector_from_set(selector or {}))
    try:
        return str(selector_from_label_selector(selector))
    except SelectorError as err:
        raise StatusError(status.internal_error(str(err))) from None


def validate_replicas(scale: Obj, name: str) -> int:
    """The replicas the Scale asks for, or 422 as upstream's ValidateScale."""
    errors: list[FieldError] = []
    replicas = requested_replicas(scale)
    if not is_integer(replicas):
        errors.append(invalid("spec.replicas", replicas, "must be an integer"))
    elif replicas < 0:
        errors.append(invalid("spec.replicas", replicas, "must be greater than or equal to 0"))
    elif replicas > INT32_MAX:
        errors.append(invalid("spec.replicas", replicas, "must be a 32-bit integer"))
    if errors:
        raise StatusError(status.invalid(KIND, name, errors, "autoscaling"))
    return int(replicas)


class WorkloadScale:
    """Deployments, ReplicaSets, StatefulSets and ReplicationControllers: ``spec.replicas``,
    ``status.replicas`` and ``spec.selector``."""

    def scale(self, parent: Obj) -> Obj:
        return new_scale(
            parent,
            replicas=parent.get("spec", {}).get("replicas") or 0,
            status_replicas=parent.get("status", {}).get("replicas", 0),
            selector=selector_string(parent),
        )

    def current(self, parent: Obj) -> Obj:
        return self.scale(parent)

    def set_replicas(self, parent: Obj, scale: Obj, name: str) -> None:
        parent.setdefault("spec", {})["replicas"] = validate_replicas(scale, name)


WORKLOADS = WorkloadScale()
