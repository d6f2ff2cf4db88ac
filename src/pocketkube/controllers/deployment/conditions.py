"""Deployment conditions (upstream's ``DeploymentCondition`` helpers and the rollout
predicates of ``deployment_util.go``): ``Available`` and ``Progressing`` with upstream's reasons,
set as upstream's ``SetDeploymentCondition`` does (a condition whose status and reason did not
change is kept as it is; one whose status did not change keeps its lastTransitionTime), and
whether a rollout is complete, progressing or past its progress deadline."""

from __future__ import annotations

import datetime as dt

from pocketkube.api.timestamps import parse_time, rfc3339
from pocketkube.controllers.deployment.util import (
    Obj,
    has_progress_deadline,
    replicas,
    spec,
    status,
)

# condition types and reasons
AVAILABLE = "Available"
PROGRESSING = "Progressing"
REPLICA_FAILURE = "ReplicaFailure"
MINIMUM_REPLICAS_AVAILABLE = "MinimumReplicasAvailable"
MINIMUM_REPLICAS_UNAVAILABLE = "MinimumReplicasUnavailable"
NEW_RS_REASON = "NewReplicaSetCreated"
FOUND_NEW_RS_REASON = "FoundNewReplicaSet"
NEW_RS_AVAILABLE_REASON = "NewReplicaSetAvailable"
RS_UPDATED_REASON = "ReplicaSetUpdated"
TIMED_OUT_REASON = "ProgressDeadlineExceeded"
PAUSED_REASON = "DeploymentPaused"
RESUMED_REASON = "DeploymentResumed"
FAILED_RS_CREATE_REASON = "ReplicaSetCreateError"


def deployment_complete(d: Obj, new_status: Obj) -> bool:
    wanted = replicas(d)
    generation = (d.get("metadata") or {}).get("generation") or 0
    return bool(
        new_status.get("updatedReplicas", 0) == wanted
        and new_status.get("replicas", 0) == wanted
        and new_status.get("availableReplicas", 0) == wanted
        and new_status.get("observedGeneration", 0) >= generation
    )


def deployment_progressing(d: Obj, new_status: Obj) -> bool:
    old = status(d)
    old_old = old.get("replicas", 0) - old.get("updatedReplicas", 0)
    new_old = new_status.get("replicas", 0) - new_status.get("updatedReplicas", 0)
    return bool(
        new_status.get("updatedReplicas", 0) > old.get("updatedReplicas", 0)
        or new_old < old_old
        or new_status.get("readyReplicas", 0) > old.get("readyReplicas", 0)
        or new_status.get("availableReplicas", 0) > old.get("availableReplicas", 0)
    )


def deployment_timed_out(d: Obj, new_status: Obj, now: dt.datetime) -> bool:
    if not has_progress_deadline(d):
        return False
    condition = get_condition(new_status, PROGRESSING)
    if condition is None or condition.get("reason") == NEW_RS_AVAILABLE_REASON:
        return False
    if condition.get("reason") == TIMED_OUT_REASON:
        return True
    since = parse_time(condition.get("lastUpdateTime"))
    if since is None:
        return False
    deadline = dt.timedelta(seconds=int(spec(d)["progressDeadlineSeconds"]))
    return since + deadline < now


# -- conditions --------------------------------------------------------------------------------
def new_condition(type_: str, status_: str, reason: str, message: str, now: dt.datetime) -> Obj:
    stamp = rfc3339(now)
    return {
        "type": type_,
        "status": status_,
        "lastUpdateTime": stamp,
        "lastTransitionTime": stamp,
        "reason": reason,
        "message": message,
    }


def get_condition(st: Obj, type_: str) -> Obj | None:
    for condition in st.get("conditions") or ():
        if isinstance(condition, dict) and condition.get("type") == type_:
            return condition
    return None


def set_condition(st: Obj, condition: Obj) -> None:
    """Upstream's SetDeploymentCondition: same status and reason is no change; same status
    keeps the transition time."""
    current = get_condition(st, condition["type"])
    if current is not None and current.get("status") == condition["status"]:
        if current.get("reason") == condition["reason"]:
            return
        condition["lastTransitionTime"] = current.get("lastTransitionTime")
    remove_condition(st, condition["type"])
    st.setdefault("conditions", []).append(condition)


def remove_condition(st: Obj, type_: str) -> None:
    conditions = [c for c in st.get("conditions") or () if c.get("type") != type_]
    if conditions:
        st["conditions"] = conditions
    else:
        st.pop("conditions", None)
