"""Taints against tolerations, as upstream's ``Toleration.ToleratesTaint`` and the taint
manager's ``GetMatchingTolerations`` / ``getMinTolerationTime``.

An empty toleration effect matches every effect; an empty key with ``Exists`` matches every
taint; an empty operator means ``Equal``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pocketkube.api.nodeaffinity import tolerates
from pocketkube.client.rest import Obj

__all__ = ["matching_tolerations", "min_toleration_seconds", "tolerated", "tolerates"]


def tolerated(taint: Obj, tolerations: Iterable[Obj]) -> bool:
    return any(tolerates(t, taint) for t in tolerations)


def matching_tolerations(taints: Sequence[Obj], tolerations: Sequence[Obj]) -> list[Obj] | None:
    """For each taint the first toleration tolerating it; None when one is not tolerated."""
    used: list[Obj] = []
    for taint in taints:
        match = next((t for t in tolerations if tolerates(t, taint)), None)
        if match is None:
            return None
        used.append(match)
    return used


def min_toleration_seconds(tolerations: Sequence[Obj]) -> float:
    """The shortest ``tolerationSeconds`` (<= 0 counts as 0); -1 when all tolerate forever,
    0 when there are none."""
    if not tolerations:
        return 0.0
    seconds = [
        t["tolerationSeconds"] for t in tolerations if t.get("tolerationSeconds") is not None
    ]
    if not seconds:
        return -1.0
    return float(max(0, min(int(s) for s in seconds)))
