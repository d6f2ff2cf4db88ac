"""The events probes and hooks record about a pod, and the names they use for it.

Reasons are upstream's (pkg/kubelet/events): ``Unhealthy`` for a failed or errored probe,
``ProbeWarning`` for a probe that passed with something worth saying (an HTTP redirect to another
host). Both are Warnings. Pods arrive as the API's list items, which carry no ``kind``, so the
reference is built here; ``format_pod`` is upstream's ``format.Pod`` (``name_namespace(uid)``),
which hook failure messages quote.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

Obj = dict[str, Any]

UNHEALTHY = "Unhealthy"
PROBE_WARNING = "ProbeWarning"
LIFECYCLE_HTTP_FALLBACK = "LifecycleHTTPFallback"


class EventPoster(Protocol):
    """What probes need of ``pocketkube.client.events.EventRecorder``: a non-blocking post."""

    def post(
        self,
        regarding: Obj,
        *,
        type: Literal["Normal", "Warning"],
        reason: str,
        action: str,
        note: str,
        related: Obj | None = None,
    ) -> None: ...


def pod_reference(pod: Obj, container: Obj | None = None) -> Obj:
    """The pod as an event's ``regarding`` object (a kind even when the list item had none);
    with ``container``, a reference to that container (``fieldPath: spec.containers{name}``),
    as upstream's container events are."""
    meta = pod.get("metadata") or {}
    if container is None:
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta}
    name = container.get("name", "")
    inits = (pod.get("spec") or {}).get("initContainers") or []
    where = "initContainers" if any(c.get("name") == name for c in inits) else "containers"
    ref: Obj = {"apiVersion": "v1", "kind": "Pod", "name": meta.get("name", "")}
    for key in ("namespace", "uid", "resourceVersion"):
        if meta.get(key):
            ref[key] = meta[key]
    ref["fieldPath"] = f"spec.{where}{{{name}}}"
    return ref


def format_pod(pod: Obj) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('name', '')}_{meta.get('namespace', '')}({meta.get('uid', '')})"
