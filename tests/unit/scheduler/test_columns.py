"""RowMemo: per-row answers kept across cycles equal answers computed afresh, as rows change."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from pocketkube.scheduler.framework.columns import SCALAR_ROWS, ResourceColumns, RowMemo
from pocketkube.scheduler.framework.cyclestate import CycleState
from pocketkube.scheduler.framework.fake import FakeHandle, make_node, make_pod, node_info
from pocketkube.scheduler.framework.types import NodeInfo, PodInfo
from pocketkube.scheduler.plugins import in_tree_registry


def _cluster(rng: random.Random, size: int) -> list[NodeInfo]:
    return [
        node_info(
            make_node(
                f"n{i}",
                cpu=str(rng.choice([0, 1, 2, 4])),
                memory=f"{rng.randint(0, 4)}Gi",
                pods=rng.choice([2, 5, 110]),
            ),
            *[
                make_pod(
                    f"p{i}-{j}", cpu=f"{rng.randint(0, 900)}m", memory=f"{rng.randint(0, 900)}Mi"
                )
                for j in range(rng.randint(0, 3))
            ],
        )
        for i in range(size)
    ]


def _grow(rng: random.Random, nodes: list[NodeInfo], columns: ResourceColumns, count: int) -> None:
    """Add a pod to ``count`` random nodes and rewrite their rows, as the cache does."""
    for node in rng.sample(nodes, count):
        node.add_pod(
            PodInfo(make_pod(f"g{rng.random()}", cpu=f"{rng.randint(0, 700)}m", memory="300Mi"))
        )
        columns.refresh(node)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_remembered_answers_follow_the_rows_that_change(seed: int) -> None:
    rng = random.Random(seed)
    nodes = _cluster(rng, 80)
    columns = ResourceColumns(nodes)
    registry = in_tree_registry()
    handle = FakeHandle(nodes=nodes)
    fit: Any = registry["NodeResourcesFit"]({}, handle)
    balanced: Any = registry["NodeResourcesBalancedAllocation"]({}, handle)
    shapes = [make_pod("a", cpu="300m", memory="256Mi"), make_pod("b"), make_pod("c", cpu="2")]
    rows = np.arange(len(nodes), dtype=np.intp)
    # few changed rows take the row-by-row path, many the vector path
    for changed in (0, 1, 3, SCALAR_ROWS + 5, 2, 40, 1):
        _grow(rng, nodes, columns, changed)
        for shape in shapes:
            info, state = PodInfo(shape), CycleState()
            fit.pre_filter(state, info, nodes)
            fresh_fit: Any = registry["NodeResourcesFit"]({}, handle)
            expected_mask = [fit.filter(state, info, n) is None for n in nodes]
            assert fit.filter_mask(state, info, columns).tolist() == expected_mask
            assert fresh_fit.filter_mask(state, info, columns).tolist() == expected_mask
            for plugin in (fit, balanced):
                plugin.pre_score(state, info, nodes)
                per_node = [plugin.score(state, info, n)[0] for n in nodes]
                assert plugin.score_array(state, info, columns, rows).tolist() == per_node
                some = np.array(sorted(rng.sample(range(len(nodes)), 10)), dtype=np.intp)
                picked = plugin.score_array(state, info, columns, some).tolist()
                assert picked == [per_node[i] for i in some.tolist()]


def test_a_new_layout_and_old_keys_are_forgotten() -> None:
    calls: list[int] = []

    def vector(rows: Any) -> Any:
        calls.append(len(rows))
        return np.zeros(len(rows), np.int64)

    memo = RowMemo(np.int64, limit=2)
    nodes = _cluster(random.Random(5), 10)
    columns = ResourceColumns(nodes)
    for key in ("a", "b", "a"):
        memo.values(columns, key, vector, lambda row: 0)
    assert calls == [10, 10]  # "a" remembered
    memo.values(columns, "c", vector, lambda row: 0)  # "b" is the oldest: dropped
    memo.values(columns, "b", vector, lambda row: 0)
    assert calls == [10, 10, 10, 10]
    memo.values(ResourceColumns(nodes), "b", vector, lambda row: 0)  # a new row order
    assert calls == [10, 10, 10, 10, 10]


def test_a_log_that_no_longer_reaches_back_means_asking_every_row() -> None:
    rng = random.Random(9)
    nodes = _cluster(rng, 30)
    columns = ResourceColumns(nodes)
    columns._log_limit = 4  # a short log: the memo's position falls off its front
    calls: list[int] = []

    def vector(rows: Any) -> Any:
        calls.append(len(rows))
        return columns.pod_count[rows].copy()

    memo = RowMemo(np.int64)
    memo.values(columns, "k", vector, lambda row: int(columns.pod_count[row]))
    _grow(rng, nodes, columns, 2)  # within the log: row by row
    assert memo.values(columns, "k", vector, lambda row: -1).tolist().count(-1) == 2
    assert calls == [30]
    _grow(rng, nodes, columns, 9)  # past it: every row again
    assert memo.values(columns, "k", vector, lambda row: -1).tolist() == columns.pod_count.tolist()
    assert calls == [30, 30]
