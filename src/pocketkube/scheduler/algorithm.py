"""One pod's scheduling decision: which nodes fit, how they score, which one wins.

Upstream's ``schedulePod``: PreFilter, then Filter over the nodes starting where the previous
cycle stopped and stopping once enough feasible nodes were found (``percentageOfNodesToScore``),
then PreScore/Score over those, and the highest total wins (ties broken at random). A pod that
fits nowhere raises ``FitError``, whose message is the aggregated reason users read in
``FailedScheduling``.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from pocketkube.scheduler.framework.columns import ResourceColumns
from pocketkube.scheduler.framework.cyclestate import CycleState
from pocketkube.scheduler.framework.runtime import FEASIBLE_ROWS, Framework
from pocketkube.scheduler.framework.staticfilter import StaticFilterCache, StaticMask
from pocketkube.scheduler.framework.status import Code, Status
from pocketkube.scheduler.framework.types import NodeInfo, PodInfo

MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5
NO_NODES_AVAILABLE = "no nodes available to schedule pods"
MIN_CHUNK = 16  # nodes filtered together when most of them fail


class NoNodesAvailable(Exception):
    def __str__(self) -> str:
        return NO_NODES_AVAILABLE


@dataclass(slots=True)
class Diagnosis:
    node_statuses: dict[str, Status] = field(default_factory=dict)
    unschedulable_plugins: set[str] = field(default_factory=set)
    pending_plugins: set[str] = field(default_factory=set)
    pre_filter_message: str = ""
    post_filter_message: str = ""


class FitError(Exception):
    """No node fits ``pod``; ``str()`` is upstream's aggregated message."""

    def __init__(self, pod: PodInfo, num_all_nodes: int, diagnosis: Diagnosis) -> None:
        super().__init__()
        self.pod = pod
        self.num_all_nodes = num_all_nodes
        self.diagnosis = diagnosis

    def __str__(self) -> str:
        message = f"0/{self.num_all_nodes} nodes are available:"
        if self.diagnosis.pre_filter_message:
            message += f" {self.diagnosis.pre_filter_message}."
        else:
            reasons: Counter[str] = Counter()
            for status in self.diagnosis.node_statuses.values():
                reasons.update(status.reasons)
            histogram = sorted(f"{count} {reason}" for reason, count in reasons.items())
            if histogram:
                message += f" {', '.join(histogram)}."
        if self.diagnosis.post_filter_message:
            message += f" {self.diagnosis.post_filter_message}."
        return message


@dataclass(slots=True)
class ScheduleResult:
    suggested_host: str
    evaluated_nodes: int
    feasible_nodes: int


def num_feasible_nodes_to_find(num_all_nodes: int, percentage: int | None) -> int:
    """How many feasible nodes are enough (upstream's adaptive percentageOfNodesToScore)."""
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND:
        return num_all_nodes
    if percentage is None or percentage == 0:
        percentage = max(50 - num_all_nodes // 125, MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND)
    if percentage >= 100:
        return num_all_nodes
    return max(num_all_nodes * percentage // 100, MIN_FEASIBLE_NODES_TO_FIND)


def _record(diagnosis: Diagnosis, node: NodeInfo, status: Status) -> None:
    diagnosis.node_statuses[node.name] = status
    if status.code == Code.PENDING:
        diagnosis.pending_plugins.add(status.plugin)
    else:
        diagnosis.unschedulable_plugins.add(status.plugin)


class RowNodes(Sequence[NodeInfo]):
    """The nodes at ``rows`` of ``nodes``, in that order, taken only when asked for: a cycle
    whose score plugins all work on columns touches just the chosen node, not the hundreds of
    feasible ones (each a cold object in memory)."""

    __slots__ = ("_nodes", "_rows", "_taken")

    def __init__(self, nodes: Sequence[NodeInfo], rows: npt.NDArray[np.intp]) -> None:
        self._nodes = nodes
        self._rows = rows
        self._taken: list[NodeInfo] | None = None

    def _all(self) -> list[NodeInfo]:
        if self._taken is None:
            self._taken = list(map(self._nodes.__getitem__, self._rows.tolist()))
        return self._taken

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, index: int) -> NodeInfo: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[NodeInfo]: ...

    def __getitem__(self, index: int | slice) -> NodeInfo | Sequence[NodeInfo]:
        if isinstance(index, slice) or self._taken is not None:
            return self._all()[index]
        return self._nodes[int(self._rows[index])]

    def __iter__(self) -> Iterator[NodeInfo]:
        return iter(self._all())


class Algorithm:
    """Keeps the rotating start index between cycles; otherwise stateless."""

    def __init__(self, *, rng: random.Random | None = None) -> None:
        self.next_start_node_index = 0
        self._rng = rng or random.Random()
        self.static_filters = StaticFilterCache()

    def schedule(self, framework: Framework, state: CycleState, pod: PodInfo) -> ScheduleResult:
        nodes = framework.handle.snapshot.list()
        if not nodes:
            raise NoNodesAvailable()
        feasible, diagnosis = self.find_nodes_that_fit(framework, state, pod)
        if not feasible:
            raise FitError(pod, len(nodes), diagnosis)
        if len(feasible) == 1:
            return ScheduleResult(feasible[0].name, 1 + len(diagnosis.node_statuses), 1)
        totals = self.prioritize(framework, state, pod, feasible)
        host = self.select_host(feasible, totals)
        return ScheduleResult(host, len(feasible) + len(diagnosis.node_statuses), len(feasible))

    def find_nodes_that_fit(
        self, framework: Framework, state: CycleState, pod: PodInfo
    ) -> tuple[Sequence[NodeInfo], Diagnosis]:
        diagnosis = Diagnosis()
        all_nodes = framework.handle.snapshot.list()
        result, status = framework.run_pre_filter_plugins(state, pod)
        if status is not None and not status.success:
            if not status.rejected:
                raise RuntimeError(status.message())
            # Every node fails with the PreFilter's status (upstream).
            diagnosis.pre_filter_message = status.message()
            diagnosis.unschedulable_plugins.add(status.plugin)
            for node in all_nodes:
                diagnosis.node_statuses[node.name] = status
            return [], diagnosis
        nominated = str((pod.pod.get("status") or {}).get("nominatedNodeName") or "")
        if nominated:
            nominated_node = framework.handle.snapshot.get(nominated)
            if nominated_node is not None:
                status = framework.run_filter_plugins_with_nominated_pods(
                    state, pod, nominated_node
                )
                if status.success:
                    return [nominated_node], diagnosis
        candidates: Sequence[NodeInfo] = all_nodes
        if result is not None and result.node_names is not None:
            candidates = [n for n in all_nodes if n.name in result.node_names]
            for node in all_nodes:
                if node.name not in result.node_names:
                    diagnosis.node_statuses[node.name] = Status(
                        Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
                        ["node(s) didn't satisfy plugin(s) from PreFilter"],
                    )
        return self._filter(framework, state, pod, candidates, diagnosis), diagnosis

    def _filter(
        self,
        framework: Framework,
        state: CycleState,
        pod: PodInfo,
        nodes: Sequence[NodeInfo],
        diagnosis: Diagnosis,
    ) -> Sequence[NodeInfo]:
        """Filter from the rotating start until ``wanted`` nodes fit or all were tried.

        Nodes go through in chunks: node-static answers come from the cache, the other
        filters run plugin by plugin over a chunk (``filter_nodes`` when a plugin has it),
        which keeps the per-node cost of a thousand-node cluster down."""
        count = len(nodes)
        if count == 0:
            return []
        wanted = num_feasible_nodes_to_find(count, framework.percentage_of_nodes_to_score)
        start = self.next_start_node_index % count
        feasible: Sequence[NodeInfo]
        if getattr(framework.handle, "has_nominated_pods", lambda: True)():
            feasible, processed = self._filter_with_nominated(
                framework, state, pod, nodes, start, wanted, diagnosis
            )
        else:
            found = self._filter_columns(framework, state, pod, nodes, start, wanted, diagnosis)
            if found is None:
                found = self._filter_in_chunks(
                    framework, state, pod, nodes, start, wanted, diagnosis
                )
            feasible, processed = found
        self.next_start_node_index = (start + processed) % count
        return feasible

    def _filter_columns(
        self,
        framework: Framework,
        state: CycleState,
        pod: PodInfo,
        nodes: Sequence[NodeInfo],
        start: int,
        wanted: int,
        diagnosis: Diagnosis,
    ) -> tuple[Sequence[NodeInfo], int] | None:
        """All nodes at once over the snapshot's resource columns, when every filter after
        the node-static ones can answer as a mask; None sends the caller to the chunked path.
        Same nodes, same order, same rotation as the chunked path."""
        snapshot = framework.handle.snapshot
        columns = getattr(snapshot, "columns", None)
        if columns is None or nodes is not snapshot.list() or len(columns) != len(nodes):
            return None
        static, dynamic = framework.split_filters(state)
        masks = []
        for plugin in dynamic:
            filter_mask = getattr(plugin, "filter_mask", None)
            mask = filter_mask(state, pod, columns) if filter_mask is not None else None
            if mask is None:
                return None
            masks.append(mask)
        count = len(nodes)
        fits = np.ones(count, np.bool_)
        remembered = None
        if static:
            remembered = self.static_filters.mask(framework.profile_name, static, pod.pod, columns)
            for row in remembered.stale_rows(columns).tolist():
                status = framework.run_filter_plugins(state, pod, nodes[row], static)
                if status.code == Code.ERROR:
                    raise RuntimeError(status.message())
                remembered.record(row, int(columns.node_version[row]), status)
            fits &= remembered.ok
        for mask in masks:
            fits &= mask
        rotated = np.concatenate((fits[start:], fits[:start])) if start else fits
        hits = np.flatnonzero(rotated)
        if len(hits) >= wanted:
            hits = hits[:wanted]
            processed = int(hits[-1]) + 1
        else:
            processed = count
        rows = (hits + start) % count
        feasible = RowNodes(nodes, rows)
        state.write(FEASIBLE_ROWS, rows)
        if not feasible:
            # Explain every node: its node-static answer, or the first filter refusing it.
            for row, node in enumerate(nodes):
                if remembered is not None and not remembered.ok[row]:
                    _record(diagnosis, node, remembered.failures[row])
                    continue
                status = framework.run_filter_plugins(state, pod, node, dynamic)
                if status.code == Code.ERROR:
                    raise RuntimeError(status.message())
                if not status.success:
                    _record(diagnosis, node, status)
        return feasible, processed

    def _filter_in_chunks(
        self,
        framework: Framework,
        state: CycleState,
        pod: PodInfo,
        nodes: Sequence[NodeInfo],
        start: int,
        wanted: int,
        diagnosis: Diagnosis,
    ) -> tuple[list[NodeInfo], int]:
        count = len(nodes)
        static, dynamic = framework.split_filters(state)
        columns = getattr(framework.handle.snapshot, "columns", None)
        remembered = (
            self.static_filters.mask(framework.profile_name, static, pod.pod, columns)
            if static and columns is not None
            else None
        )
        feasible: list[NodeInfo] = []
        position = 0
        while position < count and len(feasible) < wanted:
            size = min(max(wanted - len(feasible), MIN_CHUNK), count - position)
            chunk = [nodes[(start + position + i) % count] for i in range(size)]
            position += size
            survivors = []
            for node in chunk:
                status = (
                    self._static_answer(framework, state, pod, node, static, columns, remembered)
                    if static
                    else None
                )
                if status is None or status.success:
                    survivors.append(node)
                else:
                    _record(diagnosis, node, status)
            for plugin in dynamic:
                if not survivors:
                    break
                batch = getattr(plugin, "filter_nodes", None)
                results = (
                    batch(state, pod, survivors)
                    if batch is not None
                    else [plugin.filter(state, pod, node) for node in survivors]
                )
                kept = []
                for node, result in zip(survivors, results, strict=True):
                    if result is None or result.success:
                        kept.append(node)
                        continue
                    if result.code == Code.ERROR:
                        raise RuntimeError(
                            f"running {plugin.name!r} filter plugin: {result.message()}"
                        )
                    _record(diagnosis, node, result.with_plugin(plugin.name))
                survivors = kept
            room = wanted - len(feasible)
            if len(survivors) > room:
                # The chunk found more than needed: count nodes up to the last one kept.
                position -= size - 1 - chunk.index(survivors[room - 1])
                survivors = survivors[:room]
            feasible.extend(survivors)
        return feasible, position

    @staticmethod
    def _static_answer(
        framework: Framework,
        state: CycleState,
        pod: PodInfo,
        node: NodeInfo,
        static: Sequence[Any],
        columns: ResourceColumns | None,
        remembered: StaticMask | None,
    ) -> Status:
        """The node-static filters' answer for ``node``: remembered for its row, or computed
        (and remembered) now."""
        row = columns.index.get(node.name) if columns is not None else None
        if row is None or remembered is None or columns is None:
            return framework.run_filter_plugins(state, pod, node, static)
        version = int(columns.node_version[row])
        status = remembered.answer(row, version)
        if status is None:
            status = framework.run_filter_plugins(state, pod, node, static)
            if status.code != Code.ERROR:
                remembered.record(row, version, status)
        return status

    def _filter_with_nominated(
        self,
        framework: Framework,
        state: CycleState,
        pod: PodInfo,
        nodes: Sequence[NodeInfo],
        start: int,
        wanted: int,
        diagnosis: Diagnosis,
    ) -> tuple[list[NodeInfo], int]:
        count = len(nodes)
        feasible: list[NodeInfo] = []
        processed = 0
        for offset in range(count):
            node = nodes[(start + offset) % count]
            processed += 1
            status = framework.run_filter_plugins_with_nominated_pods(state, pod, node)
            if not status.success:
                if status.code == Code.ERROR:
                    raise RuntimeError(status.message())
                _record(diagnosis, node, status)
                continue
            feasible.append(node)
            if len(feasible) >= wanted:
                break
        return feasible, processed

    def prioritize(
        self, framework: Framework, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> Sequence[int] | npt.NDArray[np.int64]:
        if not framework.points["score"]:
            return [1] * len(nodes)
        status = framework.run_pre_score_plugins(state, pod, nodes)
        if status is not None and not status.success:
            raise RuntimeError(status.message())
        totals, status = framework.run_score_plugins(state, pod, nodes, columns=True, as_array=True)
        if status is not None and not status.success:
            raise RuntimeError(status.message())
        return totals  # type: ignore[no-any-return]

    def select_host(
        self, nodes: Sequence[NodeInfo], totals: Sequence[int] | npt.NDArray[np.int64]
    ) -> str:
        """The best total; among equals, each is picked with equal chance (as upstream's
        reservoir sampling, with one random draw instead of one per tie)."""
        if isinstance(totals, np.ndarray):
            ties: Sequence[int] = np.flatnonzero(totals == totals.max()).tolist()
        else:
            best = max(totals)
            ties = [i for i, score in enumerate(totals) if score == best]
        pick = ties[self._rng.randrange(len(ties))] if len(ties) > 1 else ties[0]
        return nodes[pick].name
