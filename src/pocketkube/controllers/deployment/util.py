"""Deployment arithmetic and bookkeeping (upstream's ``pkg/controller/deployment/util``): the
revision and replica annotations, maxSurge/maxUnavailable, which ReplicaSet is new, and how a
scale is shared out between ReplicaSets (conditions are in ``conditions``).

Everything here is pure: objects are the API's JSON (dicts) and the functions either read them
or change the copy they are given.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Sequence
from typing import Any

Obj = dict[str, Any]

HASH_LABEL = "pod-template-hash"  # apps.DefaultDeploymentUniqueLabelKey
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
ROLLBACK_TO = "deprecated.deployment.rollback.to"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
ANNOTATIONS_TO_SKIP = frozenset(
    {LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS, ROLLBACK_TO}
)
MAX_REV_HISTORY_LENGTH = 2000  # characters of revision-history kept
MAX_INT32 = 2**31 - 1


class FencepostError(ValueError):
    """maxSurge or maxUnavailable is neither an integer nor a percentage."""


# -- reading objects ---------------------------------------------------------------------------
def spec(obj: Obj) -> Obj:
    value = obj.get("spec")
    return value if isinstance(value, dict) else {}


def status(obj: Obj) -> Obj:
    value = obj.get("status")
    return value if isinstance(value, dict) else {}


def annotations_of(obj: Obj) -> dict[str, str]:
    value = (obj.get("metadata") or {}).get("annotations")
    return value if isinstance(value, dict) else {}


def replicas(obj: Obj) -> int:
    """``spec.replicas`` (upstream's ``*(x.Spec.Replicas)``; defaulted to 1 by the server)."""
    value = spec(obj).get("replicas")
    return int(value) if isinstance(value, int) else 1


def status_int(obj: Obj, field: str) -> int:
    value = status(obj).get(field)
    return int(value) if isinstance(value, int) else 0


def uid(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("uid") or "")


def name(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def creation_key(rs: Obj) -> tuple[str, str]:
    """Upstream's ReplicaSetsByCreationTimestamp: by creation time, then by name."""
    meta = rs.get("metadata") or {}
    return (str(meta.get("creationTimestamp") or ""), str(meta.get("name") or ""))


def is_rolling_update(d: Obj) -> bool:
    return bool((spec(d).get("strategy") or {}).get("type", "RollingUpdate") == "RollingUpdate")


def is_recreate(d: Obj) -> bool:
    return bool((spec(d).get("strategy") or {}).get("type") == "Recreate")


def has_progress_deadline(d: Obj) -> bool:
    value = spec(d).get("progressDeadlineSeconds")
    return isinstance(value, int) and value != MAX_INT32


def has_revision_history_limit(d: Obj) -> bool:
    value = spec(d).get("revisionHistoryLimit")
    return isinstance(value, int) and value != MAX_INT32


# -- maxSurge / maxUnavailable -----------------------------------------------------------------
def scaled_value(value: Any, total: int, *, round_up: bool) -> int:
    """intstr's ``GetScaledValueFromIntOrPercent``: an int, or ``N%`` of ``total``."""
    if value is None:
        return 0
    if isinstance(value, bool):
        raise FencepostError(f"invalid value for IntOrString: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.endswith("%"):
        try:
            percent = int(value[:-1])
        except ValueError:
            raise FencepostError(f"invalid value for IntOrString: {value!r}") from None
        exact = percent * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    raise FencepostError("invalid value for IntOrString: invalid type: string is not a percentage")


def resolve_fenceposts(max_surge: Any, max_unavailable: Any, desired: int) -> tuple[int, int]:
    """Upstream's ResolveFenceposts: surge rounded up, unavailable down; both 0 means 1
    unavailable (surging may be impossible under a quota)."""
    surge = scaled_value(max_surge, desired, round_up=True)
    unavailable = scaled_value(max_unavailable, desired, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _rolling(d: Obj) -> Obj:
    value = (spec(d).get("strategy") or {}).get("rollingUpdate")
    return value if isinstance(value, dict) else {}


def max_surge(d: Obj) -> int:
    if not is_rolling_update(d):
        return 0
    rolling = _rolling(d)
    surge, _ = resolve_fenceposts(
        rolling.get("maxSurge"), rolling.get("maxUnavailable"), replicas(d)
    )
    return surge


def max_unavailable(d: Obj) -> int:
    if not is_rolling_update(d) or replicas(d) == 0:
        return 0
    rolling = _rolling(d)
    _, unavailable = resolve_fenceposts(
        rolling.get("maxSurge"), rolling.get("maxUnavailable"), replicas(d)
    )
    return min(unavailable, replicas(d))


# -- revisions and annotations -----------------------------------------------------------------
def revision(obj: Obj) -> int:
    try:
        return int(annotations_of(obj).get(REVISION, "0") or "0")
    except ValueError:
        return 0


def max_revision(rs_list: Iterable[Obj]) -> int:
    return max((revision(rs) for rs in rs_list), default=0)


def set_deployment_revision(d: Obj, value: str) -> bool:
    meta = d.setdefault("metadata", {})
    notes = meta.setdefault("annotations", {})
    if notes.get(REVISION) == value:
        return False
    notes[REVISION] = value
    return True


def _int_annotation(rs: Obj, key: str) -> int | None:
    try:
        return int(annotations_of(rs)[key])
    except (KeyError, ValueError):
        return None


def desired_replicas_annotation(rs: Obj) -> int | None:
    return _int_annotation(rs, DESIRED_REPLICAS)


def max_replicas_annotation(rs: Obj) -> int | None:
    return _int_annotation(rs, MAX_REPLICAS)


def replicas_annotations_need_update(rs: Obj, desired: int, maximum: int) -> bool:
    notes = annotations_of(rs)
    return notes.get(DESIRED_REPLICAS) != str(desired) or notes.get(MAX_REPLICAS) != str(maximum)


def set_replicas_annotations(rs: Obj, desired: int, maximum: int) -> bool:
    notes = rs.setdefault("metadata", {}).setdefault("annotations", {})
    changed = False
    for key, value in ((DESIRED_REPLICAS, str(desired)), (MAX_REPLICAS, str(maximum))):
        if notes.get(key) != value:
            notes[key] = value
            changed = True
    return changed


def copy_deployment_annotations(d: Obj, rs: Obj) -> bool:
    """Copy the Deployment's annotations (but the skipped ones) onto ``rs``."""
    notes = rs.setdefault("metadata", {}).setdefault("annotations", {})
    changed = False
    for key, value in annotations_of(d).items():
        if key in ANNOTATIONS_TO_SKIP or notes.get(key) == value:
            continue
        notes[key] = value
        changed = True
    return changed


def set_new_replica_set_annotations(d: Obj, rs: Obj, new_revision: str, *, exists: bool) -> bool:
    """Upstream's SetNewReplicaSetAnnotations: the Deployment's annotations, the revision (never
    lowered; a raised one on an existing ReplicaSet is a rollback, so the old number goes to
    revision-history) and, for a ReplicaSet about to be created, the replica annotations."""
    changed = copy_deployment_annotations(d, rs)
    notes = rs["metadata"]["annotations"]
    old = notes.get(REVISION)
    had_revision = old is not None
    try:
        old_int = int(old) if old else 0
        new_int = int(new_revision)
    except ValueError:
        return False
    if old_int < new_int:
        notes[REVISION] = new_revision
        changed = True
        if had_revision:
            _record_history(notes, str(old))
    if not exists:
        wanted = replicas(d)
        if set_replicas_annotations(rs, wanted, wanted + max_surge(d)):
            changed = True
    return changed


def _record_history(notes: dict[str, str], old: str) -> None:
    history = notes.get(REVISION_HISTORY, "")
    if not history:
        notes[REVISION_HISTORY] = old
        return
    revisions = history.split(",")
    total, start = len(history) + len(old) + 1, 0
    while total > MAX_REV_HISTORY_LENGTH and start < len(revisions):
        total -= len(revisions[start]) + 1
        start += 1
    if total <= MAX_REV_HISTORY_LENGTH:
        notes[REVISION_HISTORY] = ",".join([*revisions[start:], old])


# -- templates and ReplicaSets -----------------------------------------------------------------
def _pruned(value: Any) -> Any:
    """A JSON value without nulls and empty maps/lists (Go's nil and empty compare equal)."""
    if isinstance(value, dict):
        pruned = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_pruned(item) for item in value]
    return value


def template_without_hash(template: Any) -> Any:
    template = copy.deepcopy(template) if isinstance(template, dict) else {}
    labels = (template.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return _pruned(template)


def equal_ignore_hash(a: Any, b: Any) -> bool:
    """Upstream's EqualIgnoreHash: the templates agree but for the pod-template-hash label."""
    return bool(template_without_hash(a) == template_without_hash(b))


def find_new_replica_set(d: Obj, rs_list: Sequence[Obj]) -> Obj | None:
    """The oldest ReplicaSet whose template is the Deployment's."""
    template = spec(d).get("template")
    for rs in sorted(rs_list, key=creation_key):
        if equal_ignore_hash(spec(rs).get("template"), template):
            return rs
    return None


def find_old_replica_sets(d: Obj, rs_list: Sequence[Obj], new_rs: Obj | None) -> list[Obj]:
    new_uid = uid(new_rs) if new_rs is not None else None
    return [rs for rs in rs_list if uid(rs) != new_uid]


def filter_active(rs_list: Iterable[Obj | None]) -> list[Obj]:
    return [rs for rs in rs_list if rs is not None and replicas(rs) > 0]


def replica_count(rs_list: Iterable[Obj | None]) -> int:
    """The sum of ``spec.replicas`` (GetReplicaCountForReplicaSets)."""
    return sum(replicas(rs) for rs in rs_list if rs is not None)


def actual_replica_count(rs_list: Iterable[Obj | None]) -> int:
    return sum(status_int(rs, "replicas") for rs in rs_list if rs is not None)


def ready_replica_count(rs_list: Iterable[Obj | None]) -> int:
    return sum(status_int(rs, "readyReplicas") for rs in rs_list if rs is not None)


def available_replica_count(rs_list: Iterable[Obj | None]) -> int:
    return sum(status_int(rs, "availableReplicas") for rs in rs_list if rs is not None)


def available_within_spec(rs_list: Iterable[Obj | None]) -> int:
    """Available pods, counting no more than each ReplicaSet's ``spec.replicas``: a ReplicaSet
    just scaled down still reports the pods its controller is about to delete, and counting
    them would let a rollout take away more than maxUnavailable allows (upstream counts
    ``status.availableReplicas`` as it is)."""
    return sum(
        min(replicas(rs), status_int(rs, "availableReplicas")) for rs in rs_list if rs is not None
    )


def find_active_or_latest(new_rs: Obj | None, old_rss: Sequence[Obj]) -> Obj | None:
    """The only active ReplicaSet, or the newest when none is active, else None."""
    if new_rs is None and not old_rss:
        return None
    newest_first = sorted(old_rss, key=creation_key, reverse=True)
    active = filter_active([*newest_first, new_rs])
    if not active:
        return new_rs if new_rs is not None else newest_first[0]
    return active[0] if len(active) == 1 else None


def is_saturated(d: Obj, rs: Obj | None) -> bool:
    if rs is None:
        return False
    wanted = replicas(d)
    return (
        replicas(rs) == wanted
        and desired_replicas_annotation(rs) == wanted
        and status_int(rs, "availableReplicas") == wanted
    )


def new_rs_new_replicas(d: Obj, all_rss: Sequence[Obj | None], new_rs: Obj) -> int:
    """How big the new ReplicaSet may be now (upstream's NewRSNewReplicas)."""
    if is_recreate(d):
        return replicas(d)
    rolling = _rolling(d)
    surge = scaled_value(rolling.get("maxSurge"), replicas(d), round_up=True)
    # Upstream counts spec.replicas alone; a ReplicaSet just scaled down may still have its pods
    # until its controller deletes them, so they count too: pods never exceed the surge.
    current = sum(max(replicas(rs), status_int(rs, "replicas")) for rs in all_rss if rs is not None)
    max_total = replicas(d) + surge
    if current >= max_total:
        return replicas(new_rs)
    scale_up = min(max_total - current, replicas(d) - replicas(new_rs))
    return replicas(new_rs) + scale_up


def _round(value: float) -> int:
    """Go's math.Round: halves away from zero."""
    return math.floor(abs(value) + 0.5) * (1 if value >= 0 else -1)


def replica_set_fraction(rs: Obj, d: Obj) -> int:
    if replicas(d) == 0:
        return -replicas(rs)
    deployment_max = replicas(d) + max_surge(d)
    before = max_replicas_annotation(rs)
    if not before:
        before = status_int(d, "replicas")
        if before == 0:
            return 0
    return _round(replicas(rs) * deployment_max / before) - replicas(rs)


def proportion(rs: Obj | None, d: Obj, to_add: int, added: int) -> int:
    """Upstream's GetProportion: this ReplicaSet's share of a scale, within what is left."""
    if rs is None or replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    fraction = replica_set_fraction(rs, d)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)
