"""The NamespaceDeletion* conditions the namespace controller keeps on a terminating namespace.

Upstream's ``deletion/status_condition_utils.go``: every pass sets all five condition types —
True with a failure reason and message when that step went wrong, else False with the "ok"
reason and message — and the namespace's status is written only when one of them changed (a
condition's lastTransitionTime moves only when its status flips).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DISCOVERY_FAILURE = "NamespaceDeletionDiscoveryFailure"
GV_PARSING_FAILURE = "NamespaceDeletionGroupVersionParsingFailure"
CONTENT_FAILURE = "NamespaceDeletionContentFailure"
CONTENT_REMAINING = "NamespaceContentRemaining"
FINALIZERS_REMAINING = "NamespaceFinalizersRemaining"

CONDITION_TYPES = (
    DISCOVERY_FAILURE,
    GV_PARSING_FAILURE,
    CONTENT_FAILURE,
    CONTENT_REMAINING,
    FINALIZERS_REMAINING,
)
OK = {
    DISCOVERY_FAILURE: ("ResourcesDiscovered", "All resources successfully discovered"),
    GV_PARSING_FAILURE: ("ParsedGroupVersions", "All legacy kube types successfully parsed"),
    CONTENT_FAILURE: (
        "ContentDeleted",
        "All content successfully deleted, may be waiting on finalization",
    ),
    CONTENT_REMAINING: ("ContentRemoved", "All content successfully removed"),
    FINALIZERS_REMAINING: ("ContentHasNoFinalizers", "All content-preserving finalizers finished"),
}


@dataclass
class ConditionUpdater:
    """Collects one pass's failures, then folds them into a namespace's status."""

    now: str
    failures: dict[str, tuple[str, str]] = field(default_factory=dict)
    content_errors: list[str] = field(default_factory=list)

    def discovery_failed(self, message: str) -> None:
        self.failures[DISCOVERY_FAILURE] = ("DiscoveryFailed", message)

    def group_version_failed(self, message: str) -> None:
        self.failures[GV_PARSING_FAILURE] = ("GroupVersionParsingFailed", message)

    def delete_content_failed(self, message: str) -> None:
        self.content_errors.append(message)

    def content_totals(self, remaining: Mapping[str, int], finalizers: Mapping[str, int]) -> None:
        left = sorted(f"{gvr} has {n} resource instances" for gvr, n in remaining.items() if n)
        if left:
            message = "Some resources are remaining: " + ", ".join(left)
            self.failures[CONTENT_REMAINING] = ("SomeResourcesRemain", message)
        held = sorted(f"{name} in {n} resource instances" for name, n in finalizers.items() if n)
        if held:
            message = "Some content in the namespace has finalizers remaining: " + ", ".join(held)
            self.failures[FINALIZERS_REMAINING] = ("SomeFinalizersRemain", message)

    def update(self, status: dict[str, Any]) -> bool:
        """Set the five conditions on ``status`` (changed in place); whether anything changed."""
        if self.content_errors and CONTENT_FAILURE not in self.failures:
            errors = sorted(self.content_errors)
            message = f"Failed to delete all resource types, {len(errors)} remaining: " + ", ".join(
                errors
            )
            self.failures[CONTENT_FAILURE] = ("ContentDeletionFailed", message)
        conditions: list[dict[str, Any]] = status.setdefault("conditions", [])
        changed = False
        for kind in CONDITION_TYPES:
            if kind in self.failures:
                state, (reason, message) = "True", self.failures[kind]
            else:
                state, (reason, message) = "False", OK[kind]
            old = next((c for c in conditions if c.get("type") == kind), None)
            if old is None:
                conditions.append(
                    {
                        "type": kind,
                        "status": state,
                        "lastTransitionTime": self.now,
                        "reason": reason,
                        "message": message,
                    }
                )
                changed = True
            elif (old.get("status"), old.get("reason"), old.get("message")) != (
                state,
                reason,
                message,
            ):
                if old.get("status") != state:
                    old["lastTransitionTime"] = self.now
                old.update(status=state, reason=reason, message=message)
                changed = True
        return changed
