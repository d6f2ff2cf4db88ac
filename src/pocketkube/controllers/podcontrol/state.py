"""Pod state and ownership helpers shared by the workload controllers (upstream's
``podutil`` and ``metav1.GetControllerOf``)."""

from __future__ import annotations

import contextlib
import datetime as dt

from pocketkube.api.timestamps import parse_time
from pocketkube.client.informer import Informer
from pocketkube.client.resources import Resource
from pocketkube.client.rest import ApiError, Obj
from pocketkube.client.store import NAMESPACE_INDEX, Store, namespace_index

POD_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"


def ensure_namespace_index(informer: Informer) -> None:
    """Index a shared informer's store by namespace (``store.NAMESPACE_INDEX``); the first
    controller to ask adds it, the others find it there."""
    with contextlib.suppress(ValueError):
        informer.add_indexer(NAMESPACE_INDEX, namespace_index)


def describe(err: BaseException) -> str:
    """An error as upstream prints it: an API error's message alone."""
    return err.message if isinstance(err, ApiError) and err.message else str(err)


# -- pods: state -------------------------------------------------------------------------------
def pod_condition(pod: Obj, type_: str) -> Obj | None:
    for condition in (pod.get("status") or {}).get("conditions") or ():
        if isinstance(condition, dict) and condition.get("type") == type_:
            return condition
    return None


def is_pod_active(pod: Obj) -> bool:
    """Not Succeeded or Failed and not being deleted (upstream's IsPodActive)."""
    phase = (pod.get("status") or {}).get("phase")
    deleting = (pod.get("metadata") or {}).get("deletionTimestamp")
    return phase not in ("Succeeded", "Failed") and not deleting


def is_pod_ready(pod: Obj) -> bool:
    condition = pod_condition(pod, "Ready")
    return condition is not None and condition.get("status") == "True"


def ready_since(pod: Obj) -> dt.datetime | None:
    """When the pod's Ready condition last changed (when it became ready, if it is)."""
    return parse_time((pod_condition(pod, "Ready") or {}).get("lastTransitionTime"))


def is_pod_available(pod: Obj, min_ready_seconds: int, now: dt.datetime) -> bool:
    """Ready for at least ``min_ready_seconds`` (upstream's IsPodAvailable)."""
    if not is_pod_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = ready_since(pod)
    return since is not None and since + dt.timedelta(seconds=min_ready_seconds) <= now


def controller_ref(obj: Obj) -> Obj | None:
    """The ``ownerReference`` with ``controller: true``, if any (upstream's GetControllerOf)."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if isinstance(ref, dict) and ref.get("controller"):
            return ref
    return None


def resolve_controller_ref(
    owners: Store, namespace: object, ref: Obj | None, kind: str
) -> Obj | None:
    """The owner ``ref`` names, from the ``owners`` store, when it is of ``kind`` and still the
    object with that uid (upstream's resolveControllerRef); otherwise None."""
    if ref is None or ref.get("kind") != kind:
        return None
    owner = owners.get(f"{namespace}/{ref.get('name')}")
    if owner is None or (owner.get("metadata") or {}).get("uid") != ref.get("uid"):
        return None
    return owner


def controller_ref_for(owner: Obj, resource: Resource) -> Obj:
    """The controller reference a pod of ``owner`` carries (upstream's NewControllerRef)."""
    meta = owner["metadata"]
    return {
        "apiVersion": resource.api_version,
        "kind": resource.kind,
        "name": meta["name"],
        "uid": meta.get("uid", ""),
        "controller": True,
        "blockOwnerDeletion": True,
    }
