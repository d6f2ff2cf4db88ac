"""The disruption controller's arithmetic: percentages of pods, readiness, and the
``DisruptionAllowed`` condition (upstream's ``intstr`` scaling, ``apimeta.SetStatusCondition``
and ``pdbhelper``)."""

from __future__ import annotations

import datetime as dt
import math

from pocketkube.api.timestamps import rfc3339
from pocketkube.client.rest import Obj

CONDITION = "DisruptionAllowed"


class SyncError(Exception):
    """A budget whose status cannot be computed: it fails safe."""


def scaled_value(value: int | str, total: int) -> int:
    """intstr.GetScaledValueFromIntOrPercent, rounding up."""
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.endswith("%"):
        try:
            percent = int(value[:-1])
        except ValueError:
            pass
        else:
            return math.ceil(percent * total / 100)
    raise SyncError(f"invalid value for IntOrString: invalid value {value!r}: not a percentage")


def is_ready(pod: Obj) -> bool:
    for condition in (pod.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Ready":
            return bool(condition.get("status") == "True")
    return False


def set_condition(conditions: list[Obj], condition: Obj, now: dt.datetime) -> None:
    """apimeta.SetStatusCondition: the transition time moves only when the status does."""
    for existing in conditions:
        if existing.get("type") == condition["type"]:
            if existing.get("status") != condition["status"]:
                existing["status"] = condition["status"]
                existing["lastTransitionTime"] = rfc3339(now)
            for field in ("reason", "message", "observedGeneration"):
                existing[field] = condition[field]
            return
    conditions.append({**condition, "lastTransitionTime": rfc3339(now)})


def allowed_condition(allowed: bool, reason: str, message: str, generation: int) -> Obj:
    return {
        "type": CONDITION,
        "status": "True" if allowed else "False",
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
    }


def condition_up_to_date(status: Obj, allowed: int, generation: int) -> bool:
    for condition in status.get("conditions") or ():
        if condition.get("type") != CONDITION:
            continue
        if int(condition.get("observedGeneration") or 0) != generation:
            return False
        if allowed > 0:
            return bool(
                condition.get("status") == "True" and condition.get("reason") == "SufficientPods"
            )
        return bool(
            condition.get("status") == "False" and condition.get("reason") == "InsufficientPods"
        )
    return False
