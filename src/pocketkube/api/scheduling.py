"""PriorityClasses (scheduling.k8s.io/v1): the two system classes every cluster has, upstream's
defaulting and its validation (pkg/apis/scheduling/validation/validation.go), with its messages.

A class maps a name to the integer priority pods naming it get (the Priority admission plugin
copies it into ``spec.priority`` on create). Values above one billion are reserved for the system
classes, which are created when the API server starts and whose names, with every other name
starting with ``system-``, nobody else may take. A class's ``value`` and ``preemptionPolicy``
never change: pods already carry them.
"""

from __future__ import annotations

from typing import Any, TypeGuard

from pocketkube.api.validation import (
    FIELD_IMMUTABLE_ERROR_MSG,
    FieldError,
    forbidden,
    invalid,
    not_supported,
    required,
)

Obj = dict[str, Any]

HIGHEST_USER_DEFINABLE_PRIORITY = 1_000_000_000
SYSTEM_CRITICAL_PRIORITY = 2 * HIGHEST_USER_DEFINABLE_PRIORITY
DEFAULT_PRIORITY_WHEN_NO_DEFAULT_CLASS_EXISTS = 0
SYSTEM_PRIORITY_CLASS_PREFIX = "system-"
SYSTEM_CLUSTER_CRITICAL = "system-cluster-critical"
SYSTEM_NODE_CRITICAL = "system-node-critical"
PREEMPT_LOWER_PRIORITY = "PreemptLowerPriority"
PREEMPTION_POLICIES = (PREEMPT_LOWER_PRIORITY, "Never")
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

# name -> (value, description), as upstream's SystemPriorityClasses (neither is globalDefault).
SYSTEM_PRIORITY_CLASSES: dict[str, tuple[int, str]] = {
    SYSTEM_NODE_CRITICAL: (
        SYSTEM_CRITICAL_PRIORITY + 1000,
        "Used for system critical pods that must not be moved from their current node.",
    ),
    SYSTEM_CLUSTER_CRITICAL: (
        SYSTEM_CRITICAL_PRIORITY,
        "Used for system critical pods that must run in the cluster, but can be moved to another "
        "node if necessary.",
    ),
}


def system_priority_classes() -> list[Obj]:
    """Fresh copies of the system classes, ready to create."""
    return [
        {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": name},
            "value": value,
            "description": description,
        }
        for name, (value, description) in SYSTEM_PRIORITY_CLASSES.items()
    ]


def _known_system_class_error(name: str, value: Any, global_default: bool) -> str:
    """Why ``name`` may not be used as given (upstream's IsKnownSystemPriorityClass), or ""."""
    known = SYSTEM_PRIORITY_CLASSES.get(name)
    if known is None:
        return f"{name} is not a known system priority class"
    if value != known[0]:
        return f"value of {name} PriorityClass must be {known[0]}"
    if global_default:
        return f"globalDefault of {name} PriorityClass must be false"
    return ""


def default_priority_class(pc: Obj) -> None:
    """``value`` is not optional in v1 (a missing one reads as 0); the policy defaults to
    PreemptLowerPriority (SetDefaults_PriorityClass)."""
    pc.setdefault("value", 0)
    pc.setdefault("preemptionPolicy", PREEMPT_LOWER_PRIORITY)


def _is_int32(value: Any) -> TypeGuard[int]:
    return (
        isinstance(value, int) and not isinstance(value, bool) and INT32_MIN <= value <= INT32_MAX
    )


def validate_priority_class(pc: Obj, old: Obj | None) -> list[FieldError]:
    """ValidatePriorityClass, plus ValidatePriorityClassUpdate when ``old`` is given."""
    errs: list[FieldError] = []
    name = str((pc.get("metadata") or {}).get("name") or "")
    value = pc.get("value")
    if not _is_int32(value):
        errs.append(invalid("value", value, "must be a 32-bit integer"))
    elif name.startswith(SYSTEM_PRIORITY_CLASS_PREFIX):
        why = _known_system_class_error(name, value, pc.get("globalDefault") is True)
        if why:
            errs.append(
                forbidden(
                    "metadata.name",
                    f"priority class names with '{SYSTEM_PRIORITY_CLASS_PREFIX}' prefix are "
                    f"reserved for system use only. error: {why}",
                )
            )
    elif value > HIGHEST_USER_DEFINABLE_PRIORITY:
        errs.append(
            forbidden(
                "value",
                "maximum allowed value of a user defined priority is "
                f"{HIGHEST_USER_DEFINABLE_PRIORITY}",
            )
        )
    policy = pc.get("preemptionPolicy")
    if policy == "":
        errs.append(required("preemptionPolicy"))
    elif policy is not None and policy not in PREEMPTION_POLICIES:
        errs.append(not_supported("preemptionPolicy", policy, PREEMPTION_POLICIES))
    if old is not None:
        if value != old.get("value"):
            errs.append(forbidden("value", "may not be changed in an update."))
        if policy != old.get("preemptionPolicy"):
            errs.append(invalid("preemptionPolicy", policy, FIELD_IMMUTABLE_ERROR_MSG))
    return errs
