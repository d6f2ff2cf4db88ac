"""What the node lifecycle and taint eviction controllers share: node conditions, zone keys,
the controller's taints and how they are written, and marking a node's pods not Ready.

Upstream keeps these in ``pkg/controller/util/node`` and ``pkg/util/taints``. Taints are
compared as upstream's ``MatchTaint`` does (key and effect); a taint the controller adds gets a
``timeAdded``. Node writes start from the informer's copy and, on a 409, read the node again
(upstream's ``AddOrUpdateTaintOnNode``/``RemoveTaintOffNode`` retry loop).
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
from collections.abc import Callable, Iterable, Sequence

from pocketkube.api.timestamps import rfc3339
from pocketkube.client import resources
from pocketkube.client.rest import ApiError, Obj
from pocketkube.controllers.base import ApiClient
from pocketkube.controllers.context import Recorder

log = logging.getLogger(__name__)

Now = Callable[[], dt.datetime]

READY = "Ready"
NO_SCHEDULE = "NoSchedule"
NO_EXECUTE = "NoExecute"

TAINT_NOT_READY = "node.kubernetes.io/not-ready"
TAINT_UNREACHABLE = "node.kubernetes.io/unreachable"
TAINT_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
TAINT_MEMORY_PRESSURE = "node.kubernetes.io/memory-pressure"
TAINT_DISK_PRESSURE = "node.kubernetes.io/disk-pressure"
TAINT_NETWORK_UNAVAILABLE = "node.kubernetes.io/network-unavailable"
TAINT_PID_PRESSURE = "node.kubernetes.io/pid-pressure"

NOT_READY_NO_EXECUTE: Obj = {"key": TAINT_NOT_READY, "effect": NO_EXECUTE}
UNREACHABLE_NO_EXECUTE: Obj = {"key": TAINT_UNREACHABLE, "effect": NO_EXECUTE}

# condition type -> {status: taint key}: upstream's nodeConditionToTaintKeyStatusMap.
CONDITION_TAINTS: dict[str, dict[str, str]] = {
    READY: {"False": TAINT_NOT_READY, "Unknown": TAINT_UNREACHABLE},
    "MemoryPressure": {"True": TAINT_MEMORY_PRESSURE},
    "DiskPressure": {"True": TAINT_DISK_PRESSURE},
    "NetworkUnavailable": {"True": TAINT_NETWORK_UNAVAILABLE},
    "PIDPressure": {"True": TAINT_PID_PRESSURE},
}
CONDITION_TAINT_KEYS = frozenset(k for m in CONDITION_TAINTS.values() for k in m.values())

LABEL_ZONE = "topology.kubernetes.io/zone"
LABEL_REGION = "topology.kubernetes.io/region"
LABEL_ZONE_BETA = "failure-domain.beta.kubernetes.io/zone"
LABEL_REGION_BETA = "failure-domain.beta.kubernetes.io/region"
LABEL_EXCLUDE_DISRUPTION = "node.kubernetes.io/exclude-disruption"

WRITE_RETRIES = 5


def name_of(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def condition(status: Obj | None, type_: str) -> Obj | None:
    for cond in (status or {}).get("conditions") or ():
        if isinstance(cond, dict) and cond.get("type") == type_:
            return cond
    return None


def ready_condition(node: Obj) -> Obj | None:
    return condition(node.get("status"), READY)


def zone_key(node: Obj) -> str:
    """Upstream's ``GetZoneKey``: region and zone (GA labels, else beta), "" when neither."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    region = labels.get(LABEL_REGION) or labels.get(LABEL_REGION_BETA) or ""
    zone = labels.get(LABEL_ZONE) or labels.get(LABEL_ZONE_BETA) or ""
    if not region and not zone:
        return ""
    return f"{region}:\x00:{zone}"


def excluded_from_disruption(node: Obj) -> bool:
    return LABEL_EXCLUDE_DISRUPTION in ((node.get("metadata") or {}).get("labels") or {})


# -- taints ------------------------------------------------------------------------------------
def taints_of(node: Obj) -> list[Obj]:
    return [t for t in (node.get("spec") or {}).get("taints") or () if isinstance(t, dict)]


def match_taint(a: Obj, b: Obj) -> bool:
    return a.get("key") == b.get("key") and (a.get("effect") or "") == (b.get("effect") or "")


def taint_exists(taints: Iterable[Obj], taint: Obj) -> bool:
    return any(match_taint(t, taint) for t in taints)


def no_schedule_taints_wanted(node: Obj) -> list[Obj]:
    """The NoSchedule taints the node's conditions and ``unschedulable`` call for."""
    wanted: list[Obj] = []
    for cond in (node.get("status") or {}).get("conditions") or ():
        key = CONDITION_TAINTS.get(cond.get("type", ""), {}).get(cond.get("status", ""))
        if key:
            wanted.append({"key": key, "effect": NO_SCHEDULE})
    if (node.get("spec") or {}).get("unschedulable"):
        wanted.append({"key": TAINT_UNSCHEDULABLE, "effect": NO_SCHEDULE})
    return wanted


def no_schedule_diff(node: Obj) -> tuple[list[Obj], list[Obj]]:
    """Upstream's doNoScheduleTaintingPass: (taints to add, taints to remove)."""
    wanted = no_schedule_taints_wanted(node)
    have = [
        t
        for t in taints_of(node)
        if t.get("effect") == NO_SCHEDULE
        and (t.get("key") == TAINT_UNSCHEDULABLE or t.get("key") in CONDITION_TAINT_KEYS)
    ]
    to_add = [t for t in wanted if not taint_exists(have, t)]
    to_remove = [t for t in have if not taint_exists(wanted, t)]
    return to_add, to_remove


def with_taints(node: Obj, add: Sequence[Obj], remove: Sequence[Obj], now: str) -> Obj | None:
    """A copy of ``node`` with ``add`` put (timeAdded ``now``) and ``remove`` taken off;
    None when that changes nothing."""
    current = taints_of(node)
    kept = [t for t in current if not taint_exists(remove, t)]
    changed = len(kept) != len(current)
    for taint in add:
        existing = next((t for t in kept if match_taint(t, taint)), None)
        if existing is not None and (existing.get("value") or "") == (taint.get("value") or ""):
            continue
        if existing is not None:
            kept.remove(existing)
        kept.append({**taint, "timeAdded": now})
        changed = True
    if not changed:
        return None
    updated = copy.deepcopy(node)
    updated.setdefault("spec", {})["taints"] = kept
    return updated


async def swap_taints(
    client: ApiClient, node: Obj, *, add: Sequence[Obj], remove: Sequence[Obj], now: Now
) -> bool:
    """Upstream's SwapNodeControllerTaint: add and remove in one write; False on failure."""
    name = name_of(node)
    path = resources.NODES.path(name=name)
    current = node
    for attempt in range(WRITE_RETRIES):
        if attempt:
            try:
                current = await client.get(path)
            except ApiError as err:
                if err.not_found:
                    return False
                continue
        updated = with_taints(current, add, remove, rfc3339(now()))
        if updated is None:
            return True
        try:
            await client.update(path, updated)
            return True
        except ApiError as err:
            if err.not_found:
                return False
            if not err.conflict:
                log.warning("node %s: updating taints failed: %s", name, err)
    return False


# -- pods --------------------------------------------------------------------------------------
async def mark_pods_not_ready(
    client: ApiClient, recorder: Recorder, pods: Iterable[Obj], node_name: str, now: Now
) -> None:
    """Upstream's MarkPodsNotReady: each pod's Ready condition becomes False (via /status),
    then a NodeNotReady event on the pod. Raises the first error after trying every pod."""
    errors: list[Exception] = []
    for pod in pods:
        if (pod.get("spec") or {}).get("nodeName") != node_name:
            continue
        ready = condition(pod.get("status"), READY)
        if ready is None or ready.get("status") == "False":
            continue
        updated = copy.deepcopy(pod)
        cond = condition(updated.get("status"), READY)
        assert cond is not None
        cond["status"] = "False"
        cond["lastTransitionTime"] = rfc3339(now())
        meta = pod.get("metadata") or {}
        path = resources.PODS.path(
            namespace=meta.get("namespace"), name=meta.get("name"), subresource="status"
        )
        try:
            await client.update(path, updated)
        except ApiError as err:
            if not err.not_found:
                errors.append(err)
            continue
        recorder.post(
            pod,
            type="Warning",
            reason="NodeNotReady",
            action="MarkPodNotReady",
            note="Node is not ready",
        )
    if errors:
        raise errors[0]


def node_ref(name: str, uid: str = "") -> Obj:
    ref: Obj = {"apiVersion": "v1", "kind": "Node", "name": name}
    if uid:
        ref["uid"] = uid
    return ref
