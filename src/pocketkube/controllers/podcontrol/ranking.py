"""Which pods to delete first (upstream's ``ActivePodsWithRanks`` and
``getPodsToDelete``): the first pods of the order are the cheapest to lose."""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Iterable, Sequence
from typing import Any

from pocketkube.api.timestamps import parse_time
from pocketkube.client.rest import Obj
from pocketkube.controllers.podcontrol.state import (
    POD_DELETION_COST,
    is_pod_active,
    is_pod_ready,
    pod_condition,
    ready_since,
)

_PHASE_ORDER = {"Pending": 0, "Unknown": 1, "Running": 2}


def _newer_first(value: Any) -> tuple[int, float]:
    """Empty time < newer < older (upstream's afterOrZero as a sort key)."""
    when = parse_time(value)
    return (0, 0.0) if when is None else (1, -when.timestamp())


def _deletion_cost(pod: Obj) -> int:
    value = ((pod.get("metadata") or {}).get("annotations") or {}).get(POD_DELETION_COST)
    try:
        return int(value) if value is not None else 0
    except ValueError:
        return 0


def _max_restarts(pod: Obj) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or ()
    return max((int(s.get("restartCount") or 0) for s in statuses), default=0)


def deletion_rank_key(pod: Obj, rank: int = 0) -> tuple[Any, ...]:
    """Upstream's ActivePodsWithRanks order: unassigned < assigned; Pending < Unknown <
    Running; not ready < ready; lower pod-deletion-cost first; more pods on the same node
    (``rank``) first; ready for less time first; more restarts first; newer first."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    ready = is_pod_ready(pod)
    ready_since = (pod_condition(pod, "Ready") or {}).get("lastTransitionTime") if ready else None
    return (
        1 if spec.get("nodeName") else 0,
        _PHASE_ORDER.get(str(status.get("phase")), 0),
        1 if ready else 0,
        _deletion_cost(pod),
        -rank,
        _newer_first(ready_since) if ready else (0, 0.0),
        -_max_restarts(pod),
        _newer_first((pod.get("metadata") or {}).get("creationTimestamp")),
        str((pod.get("metadata") or {}).get("name", "")),
    )


def _log_rank(when: dt.datetime, now: dt.datetime) -> int:
    nanos = (now - when) / dt.timedelta(microseconds=1) * 1000
    return int(math.log2(nanos)) if nanos > 0 else -1


def _compare_times(
    t1: dt.datetime | None, t2: dt.datetime | None, now: dt.datetime, a: Obj, b: Obj
) -> int | None:
    """Upstream's LogarithmicScaleDown comparison: times in the same power-of-two age bucket
    are equal and the UID decides; None when the times are the same (look further)."""
    if t1 == t2:
        return None
    if t1 is None or t2 is None:
        return -1 if t1 is None else 1
    diff = _log_rank(t1, now) - _log_rank(t2, now)
    if diff == 0:
        uid1, uid2 = (str(p["metadata"].get("uid", "")) for p in (a, b))
        return (uid1 > uid2) - (uid1 < uid2)
    return -1 if diff < 0 else 1


def _ranked_compare(a: Obj, b: Obj, rank_a: int, rank_b: int, now: dt.datetime) -> int:
    head_a, head_b = deletion_rank_key(a, rank_a)[:5], deletion_rank_key(b, rank_b)[:5]
    if head_a != head_b:
        return -1 if head_a < head_b else 1
    if is_pod_ready(a) and is_pod_ready(b):
        result = _compare_times(ready_since(a), ready_since(b), now, a, b)
        if result is not None:
            return result
    restarts_a, restarts_b = _max_restarts(a), _max_restarts(b)
    if restarts_a != restarts_b:
        return -1 if restarts_a > restarts_b else 1
    created = [parse_time((p.get("metadata") or {}).get("creationTimestamp")) for p in (a, b)]
    result = _compare_times(created[0], created[1], now, a, b)
    if result is not None:
        return result
    name_a, name_b = (str(p["metadata"].get("name", "")) for p in (a, b))
    return (name_a > name_b) - (name_a < name_b)


def get_pods_to_delete(
    pods: Sequence[Obj], diff: int, related: Iterable[Obj] = (), now: dt.datetime | None = None
) -> list[Obj]:
    """The ``diff`` pods to delete first; a pod's rank is how many of ``related`` (active pods
    of the same owner and its siblings; ``pods`` when empty) share its node. With ``now``,
    ready and creation times compare by power-of-two age buckets, then UID, as upstream's
    LogarithmicScaleDown (on by default) does, so scale-down spreads over ages."""
    if diff >= len(pods):
        return list(pods)
    per_node: dict[str, int] = {}
    for pod in related or pods:
        node = (pod.get("spec") or {}).get("nodeName")
        if node and is_pod_active(pod):
            per_node[node] = per_node.get(node, 0) + 1

    def rank(pod: Obj) -> int:
        node = (pod.get("spec") or {}).get("nodeName")
        return per_node.get(node, 0) if node else 0

    if now is None:
        return sorted(pods, key=lambda pod: deletion_rank_key(pod, rank(pod)))[:diff]
    at = now

    def compare(a: Obj, b: Obj) -> int:
        return _ranked_compare(a, b, rank(a), rank(b), at)

    return sorted(pods, key=functools.cmp_to_key(compare))[:diff]
