"""The latest result of each probe, by container ID (upstream's prober/results manager).

The kubelet asks "is this container ready / started / alive?" by container ID, not by name: a
restarted container has a new ID and must start over from the probe's initial value (readiness
false, liveness success, startup unknown) rather than inherit its predecessor's result. ``set``
says whether the value changed, which is when upstream's manager sends an update (and when ours
tells the kubelet through ``on_change``).
"""

from __future__ import annotations

import enum


class Result(enum.Enum):
    """results.Result: what the kubelet acts on (a probe warning counts as success)."""

    UNKNOWN = "Unknown"
    SUCCESS = "Success"
    FAILURE = "Failure"


class ResultsCache:
    """Container ID -> the result of one kind of probe."""

    def __init__(self) -> None:
        self._results: dict[str, Result] = {}

    def get(self, container_id: str) -> Result | None:
        return self._results.get(container_id)

    def set(self, container_id: str, result: Result) -> bool:
        """Record ``result``; ``True`` when it differs from what was recorded (or was nothing)."""
        changed = self._results.get(container_id) != result
        self._results[container_id] = result
        return changed

    def remove(self, container_id: str) -> None:
        self._results.pop(container_id, None)

    def __len__(self) -> int:
        return len(self._results)
