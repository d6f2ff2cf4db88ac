"""DefaultTolerationSeconds: every pod tolerates a not-ready or unreachable node for 300 s.

The node lifecycle controller taints a node that stops reporting with ``not-ready`` or
``unreachable`` (effect NoExecute) and evicts the pods that do not tolerate the taint; these two
tolerations give a pod five minutes before that happens. A pod that already tolerates the taint
(a toleration with that key or no key, and effect NoExecute or none) keeps its own.
"""

from __future__ import annotations

from typing import Any

from pocketkube.apiserver.admission.interface import PODS, Attributes, ObjectReader

NAME = "DefaultTolerationSeconds"
DEFAULT_TOLERATION_SECONDS = 300
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"


def _tolerates(tolerations: list[Any], key: str) -> bool:
    return any(
        isinstance(t, dict)
        and t.get("key", "") in (key, "")
        and t.get("effect", "") in ("NoExecute", "")
        for t in tolerations
    )


def add_default_tolerations(spec: dict[str, Any]) -> None:
    """Add what ``spec`` does not already tolerate, in upstream's order (not-ready first)."""
    tolerations = spec.get("tolerations")
    if tolerations is None:
        tolerations = []
    if not isinstance(tolerations, list):
        return  # validation refuses it
    added = [
        {
            "key": key,
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": DEFAULT_TOLERATION_SECONDS,
        }
        for key in (NOT_READY_TAINT, UNREACHABLE_TAINT)
        if not _tolerates(tolerations, key)
    ]
    if added:
        spec["tolerations"] = [*tolerations, *added]


class DefaultTolerationSeconds:
    """Upstream runs it on pod creates and updates alike (an update cannot drop the
    tolerations: a pod's existing tolerations may not change)."""

    name = NAME

    async def admit(self, attrs: Attributes) -> None:
        spec = attrs.spec()
        if attrs.is_resource(PODS) and spec is not None:
            add_default_tolerations(spec)


def new(reader: ObjectReader) -> DefaultTolerationSeconds:
    """The plugin (it reads nothing)."""
    return DefaultTolerationSeconds()
