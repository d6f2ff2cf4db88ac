"""Indexed Jobs: completion indexes and their compressed interval lists (upstream's
``indexed_job_utils.go``).

``status.completedIndexes`` and ``status.failedIndexes`` list indexes as ordered, merged
intervals written ``"1,3-5,7"`` (two neighbours are written ``"3,4"``, three or more as a
range). A pod's index is its ``batch.kubernetes.io/job-completion-index`` annotation;
``batch.kubernetes.io/job-index-failure-count`` (and ``...-ignored-failure-count``) carry how
many pods of the index failed before it, for ``backoffLimitPerIndex``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from pocketkube.client.rest import Obj
from pocketkube.controllers.podcontrol import deletion_rank_key

log = logging.getLogger(__name__)

COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
INDEX_FAILURE_COUNT = "batch.kubernetes.io/job-index-failure-count"
INDEX_IGNORED_FAILURE_COUNT = "batch.kubernetes.io/job-index-ignored-failure-count"
COMPLETION_INDEX_ENV = "JOB_COMPLETION_INDEX"
MAX_GENERATED_NAME_LENGTH = 58  # upstream's names.MaxGeneratedNameLength
INT32_MAX = 2**31 - 1

Intervals = list[tuple[int, int]]


def parse_intervals(text: str | None, completions: int) -> Intervals:
    """``"1,3-5"`` as ordered intervals, cut at ``completions``; corrupt parts are skipped."""
    result: Intervals = []
    for part in (text or "").split(",") if text else ():
        bounds = part.split("-")
        try:
            first = int(bounds[0])
            last = int(bounds[1]) if len(bounds) > 1 else first
        except ValueError:
            log.info("corrupted indexes interval %r, ignoring", part)
            continue
        if first >= completions:
            break
        last = min(last, completions - 1)
        if result and result[-1][1] == first - 1:
            result[-1] = (result[-1][0], last)
        else:
            result.append((first, last))
    return result


def format_intervals(intervals: Intervals) -> str:
    parts = []
    for first, last in intervals:
        if last == first:
            parts.append(str(first))
        elif last == first + 1:
            parts.append(f"{first},{last}")
        else:
            parts.append(f"{first}-{last}")
    return ",".join(parts)


def merge(a: Intervals, b: Intervals) -> Intervals:
    result: Intervals = []
    for first, last in sorted(a + b):
        if result and first <= result[-1][1] + 1:
            if last > result[-1][1]:
                result[-1] = (result[-1][0], last)
        else:
            result.append((first, last))
    return result


def with_indexes(intervals: Intervals, indexes: Iterable[int]) -> Intervals:
    return merge(intervals, [(i, i) for i in sorted(set(indexes))])


def total(intervals: Intervals) -> int:
    return sum(last - first + 1 for first, last in intervals)


def has(intervals: Intervals, index: int) -> bool:
    return any(first <= index <= last for first, last in intervals)


def completion_index(pod: Obj) -> int | None:
    """The pod's completion index, or None (absent, unparseable or negative)."""
    value = ((pod.get("metadata") or {}).get("annotations") or {}).get(COMPLETION_INDEX)
    try:
        index = int(value) if value is not None else -1
    except ValueError:
        return None
    return index if index >= 0 else None


def valid_index(pod: Obj, completions: int) -> int | None:
    index = completion_index(pod)
    return index if index is not None and index < completions else None


def _annotation_int(pod: Obj, key: str) -> int:
    value = ((pod.get("metadata") or {}).get("annotations") or {}).get(key)
    if value is None:
        return 0
    try:
        number = int(value)
    except ValueError:
        return 0
    return number if 0 <= number <= INT32_MAX else 0


def index_failure_count(pod: Obj) -> int:
    return _annotation_int(pod, INDEX_FAILURE_COUNT)


def index_ignored_failure_count(pod: Obj) -> int:
    return _annotation_int(pod, INDEX_IGNORED_FAILURE_COUNT)


def first_pending_indexes(
    count: int, completions: int, non_pending: Intervals, busy: Iterable[int]
) -> list[int]:
    """The first ``count`` indexes below ``completions`` in neither ``non_pending`` nor
    ``busy`` (indexes with an active, or a terminating, pod)."""
    taken = with_indexes(non_pending, busy)
    result: list[int] = []
    candidate = 0
    for first, last in taken:
        while candidate < completions and len(result) < count and candidate < first:
            result.append(candidate)
            candidate += 1
        candidate = max(candidate, last + 1)
    while candidate < completions and len(result) < count:
        result.append(candidate)
        candidate += 1
    return result


def duplicated_index_pods(pods: Sequence[Obj], completions: int) -> tuple[list[Obj], list[Obj]]:
    """Active pods to remove (no index, an index out of range, or all but the best pod of a
    repeated index) and those left."""
    remove: list[Obj] = []
    per_index: dict[int, list[Obj]] = {}
    for pod in pods:
        index = completion_index(pod)
        if index is None or index >= completions:
            remove.append(pod)
        else:
            per_index.setdefault(index, []).append(pod)
    left: list[Obj] = []
    for index in sorted(per_index):
        group = sorted(per_index[index], key=deletion_rank_key)
        remove.extend(group[:-1])
        left.append(group[-1])
    return remove, left


def generate_name(job_name: str, index: int) -> str:
    """``<job>-<index>-``, the job name cut so the prefix fits a generated name."""
    suffix = f"-{index}-"
    prefix = job_name + suffix
    if len(prefix) > MAX_GENERATED_NAME_LENGTH:
        prefix = job_name[: MAX_GENERATED_NAME_LENGTH - len(suffix)] + suffix
    return prefix


def add_index_env(spec: Obj) -> None:
    """``JOB_COMPLETION_INDEX`` in every (init) container, from the pod's index label."""
    for field in ("initContainers", "containers"):
        for container in spec.get(field) or ():
            env = container.setdefault("env", [])
            if any(v.get("name") == COMPLETION_INDEX_ENV for v in env):
                continue
            env.append(
                {
                    "name": COMPLETION_INDEX_ENV,
                    "valueFrom": {
                        "fieldRef": {
                            "apiVersion": "v1",
                            "fieldPath": f"metadata.labels['{COMPLETION_INDEX}']",
                        }
                    },
                }
            )
