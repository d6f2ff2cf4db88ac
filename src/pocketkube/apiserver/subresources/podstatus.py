"""Pod conditions as upstream's ``podutil.UpdatePodCondition`` sets them: a condition whose
status is unchanged keeps its lastTransitionTime; any other change stamps the time of now."""

from __future__ import annotations

from typing import Any

from pocketkube.apiserver.objectmeta import now_rfc3339
from pocketkube.storage.interface import Obj


def update_pod_condition(
    pod: Obj, kind: str, condition_status: str, *, reason: str = "", message: str = ""
) -> bool:
    """Set condition ``kind`` of ``pod`` in place; whether anything changed."""
    condition: dict[str, Any] = {
        "type": kind,
        "status": condition_status,
        "lastProbeTime": None,
        "lastTransitionTime": now_rfc3339(),
    }
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    conditions = pod.setdefault("status", {}).setdefault("conditions", [])
    for index, old in enumerate(conditions):
        if old.get("type") != kind:
            continue
        if old.get("status") == condition_status:
            condition["lastTransitionTime"] = old.get("lastTransitionTime")
        same = all(old.get(key) == condition.get(key) for key in ("status", "reason", "message"))
        conditions[index] = condition
        return not same
    conditions.append(condition)
    return True
