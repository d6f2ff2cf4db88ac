"""Rollout status and the progress deadline (upstream's ``progress.go``).

Besides the counters and the Available condition, a rollout keeps the Progressing condition:
``NewReplicaSetAvailable`` ("ReplicaSet "x" has successfully progressed.") once complete,
``ReplicaSetUpdated`` ("... is progressing.", its lastUpdateTime moved on every sign of
progress), and ``ProgressDeadlineExceeded`` (status False) when no progress was seen for
``progressDeadlineSeconds``; a Deployment without progress is looked at again when its deadline
passes. A ReplicaSet's ``ReplicaFailure`` condition is copied onto the Deployment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pocketkube.api.timestamps import parse_time
from pocketkube.client.rest import Obj
from pocketkube.controllers.deployment import conditions as cond
from pocketkube.controllers.deployment import util as du
from pocketkube.controllers.deployment.sync import calculate_status, status_differs

if TYPE_CHECKING:
    from pocketkube.controllers.deployment.controller import DeploymentController


async def sync_rollout_status(
    dc: DeploymentController, all_rss: list[Obj | None], new_rs: Obj | None, d: Obj
) -> None:
    new_status = calculate_status(dc, all_rss, new_rs, d)
    now = dc.now()
    if not du.has_progress_deadline(d):
        cond.remove_condition(new_status, cond.PROGRESSING)
    current = cond.get_condition(du.status(d), cond.PROGRESSING)
    complete_before = (
        new_status.get("replicas", 0) == new_status.get("updatedReplicas", 0)
        and current is not None
        and current.get("reason") == cond.NEW_RS_AVAILABLE_REASON
    )
    subject = (
        f'ReplicaSet "{du.name(new_rs)}"' if new_rs is not None else f'Deployment "{du.name(d)}"'
    )
    if du.has_progress_deadline(d) and not complete_before:
        if cond.deployment_complete(d, new_status):
            condition = cond.new_condition(
                cond.PROGRESSING,
                "True",
                cond.NEW_RS_AVAILABLE_REASON,
                f"{subject} has successfully progressed.",
                now,
            )
            cond.set_condition(new_status, condition)
        elif cond.deployment_progressing(d, new_status):
            condition = cond.new_condition(
                cond.PROGRESSING, "True", cond.RS_UPDATED_REASON, f"{subject} is progressing.", now
            )
            if current is not None:
                if current.get("status") == "True":
                    condition["lastTransitionTime"] = current.get("lastTransitionTime")
                cond.remove_condition(new_status, cond.PROGRESSING)
            cond.set_condition(new_status, condition)
        elif cond.deployment_timed_out(d, new_status, now):
            condition = cond.new_condition(
                cond.PROGRESSING,
                "False",
                cond.TIMED_OUT_REASON,
                f"{subject} has timed out progressing.",
                now,
            )
            cond.set_condition(new_status, condition)
    failure = replica_failure(all_rss, new_rs)
    if failure is not None:
        cond.set_condition(new_status, failure)
    else:
        cond.remove_condition(new_status, cond.REPLICA_FAILURE)
    if not status_differs(d, new_status):
        requeue_stuck_deployment(dc, d, new_status)
        return
    d["status"] = new_status
    await dc.update_status(d)


def replica_failure(all_rss: list[Obj | None], new_rs: Obj | None) -> Obj | None:
    """The first ReplicaFailure condition of the new ReplicaSet, else of an old one."""
    ordered = [new_rs, *(rs for rs in all_rss if rs is not new_rs)]
    for rs in ordered:
        if rs is None:
            continue
        condition = cond.get_condition(du.status(rs), cond.REPLICA_FAILURE)
        if condition is not None:
            return {
                "type": cond.REPLICA_FAILURE,
                "status": condition.get("status"),
                "lastUpdateTime": condition.get("lastTransitionTime"),
                "lastTransitionTime": condition.get("lastTransitionTime"),
                "reason": condition.get("reason"),
                "message": condition.get("message"),
            }
    return None


def requeue_stuck_deployment(dc: DeploymentController, d: Obj, new_status: Obj) -> float | None:
    """Look again when the progress deadline passes; returns the delay (None: no need)."""
    current = cond.get_condition(du.status(d), cond.PROGRESSING)
    if not du.has_progress_deadline(d) or current is None:
        return None
    if cond.deployment_complete(d, new_status) or current.get("reason") == cond.TIMED_OUT_REASON:
        return None
    since = parse_time(current.get("lastUpdateTime"))
    if since is None:
        return None
    deadline = int(du.spec(d)["progressDeadlineSeconds"])
    after = (since - dc.now()).total_seconds() + deadline
    if after < 1:
        dc.enqueue_rate_limited(d)
        return 0.0
    dc.enqueue_after(d, after + 1)
    return after
