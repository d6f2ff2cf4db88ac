"""Preemption's dry run: which pods to evict on a node, and which node costs the least.

Upstream's ``framework/preemption`` with DefaultPreemption's victim selection. On one node,
every pod of lower priority than the preemptor is taken away at once (a cheap test that
preemption could help there at all), then put back one by one, most important first, keeping
each that still leaves room: the pods that stay out are the victims. Pods whose eviction
would break a PodDisruptionBudget are put back first so that they are the last to go. Among
the nodes where that works, the cheapest is chosen by a fixed sequence of tie-breakers.
Everything here runs on clones of the cycle state and the node, never on the snapshot.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pocketkube.api.labels import LabelSelector, SelectorError, selector_from_label_selector
from pocketkube.scheduler.framework.cyclestate import CycleState
from pocketkube.scheduler.framework.status import Status, error, unresolvable
from pocketkube.scheduler.framework.types import NodeInfo, PodInfo

NO_VICTIMS = "No preemption victims found for incoming pod"
NOT_HELPFUL = "Preemption is not helpful for scheduling"

# Added to every victim's priority before summing, so that negative priorities cannot make
# a node with more victims look cheaper (upstream adds MaxInt32 + 1).
_PRIORITY_SHIFT = 2**31


class FilterRunner(Protocol):
    """The parts of the Framework (runtime.py) a dry run needs."""

    def run_filter_plugins_with_nominated_pods(
        self, state: CycleState, pod: PodInfo, node: NodeInfo
    ) -> Status: ...

    def run_pre_filter_extension_add_pod(
        self, state: CycleState, pod: PodInfo, to_add: PodInfo, node: NodeInfo
    ) -> Status | None: ...

    def run_pre_filter_extension_remove_pod(
        self, state: CycleState, pod: PodInfo, to_remove: PodInfo, node: NodeInfo
    ) -> Status | None: ...


@dataclass(slots=True)
class Candidate:
    """A node the preemptor fits on once ``victims`` (most important first) are gone."""

    node_name: str
    victims: list[PodInfo]
    num_pdb_violations: int = 0


@dataclass(slots=True)
class Budget:
    """A PodDisruptionBudget as the dry run reads it."""

    namespace: str
    selector: LabelSelector
    disruptions_allowed: int
    disrupted_pods: frozenset[str] = field(default_factory=frozenset)


def budgets(pdbs: Iterable[Mapping[str, Any]]) -> list[Budget]:
    """Parse policy/v1 PDBs; one with an invalid, nil or empty selector protects nothing."""
    result = []
    for pdb in pdbs:
        meta = pdb.get("metadata") or {}
        status = pdb.get("status") or {}
        try:
            selector = selector_from_label_selector((pdb.get("spec") or {}).get("selector"))
        except SelectorError:
            continue
        if selector.nothing or selector.empty:
            continue
        result.append(
            Budget(
                namespace=str(meta.get("namespace", "")),
                selector=selector,
                disruptions_allowed=int(status.get("disruptionsAllowed") or 0),
                disrupted_pods=frozenset(status.get("disruptedPods") or ()),
            )
        )
    return result


def start_time(pod: PodInfo) -> float:
    """``status.startTime`` in seconds; a pod that has not started counts as starting now,
    which is later than any real start time."""
    value = (pod.pod.get("status") or {}).get("startTime")
    if not value:
        return math.inf
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return math.inf


def importance(pod: PodInfo) -> tuple[int, float]:
    """Sort key, most important first: higher priority, then the one running longer."""
    return (-pod.priority, start_time(pod))


def split_by_pdb_violation(
    pods: Sequence[PodInfo], pdbs: Sequence[Budget]
) -> tuple[list[PodInfo], list[PodInfo]]:
    """(violating, non-violating), each in the given order. Budgets are spent as pods are
    counted, so only the pods past a budget's allowance violate it; a pod the API server
    already recorded in ``disruptedPods`` has been paid for and spends nothing."""
    allowed = [pdb.disruptions_allowed for pdb in pdbs]
    violating: list[PodInfo] = []
    non_violating: list[PodInfo] = []
    for pod in pods:
        violated = False
        labels = pod.labels
        if labels:
            name = str((pod.pod.get("metadata") or {}).get("name", ""))
            for index, pdb in enumerate(pdbs):
                if pdb.namespace != pod.namespace or not pdb.selector.matches(labels):
                    continue
                if name in pdb.disrupted_pods:
                    continue
                allowed[index] -= 1
                if allowed[index] < 0:
                    violated = True
        (violating if violated else non_violating).append(pod)
    return violating, non_violating


def select_victims_on_node(
    framework: FilterRunner,
    state: CycleState,
    pod: PodInfo,
    node: NodeInfo,
    pdbs: Sequence[Budget],
) -> tuple[list[PodInfo], int, Status]:
    """The fewest lower-priority pods to evict from ``node`` for ``pod`` to fit, and how many
    of them break a PDB. ``state`` and ``node`` are clones: this mutates them."""

    def remove(victim: PodInfo) -> Status | None:
        node.remove_pod(victim.key)
        return framework.run_pre_filter_extension_remove_pod(state, pod, victim, node)

    potential = [p for p in node.pods if p.priority < pod.priority]
    if not potential:
        return [], 0, unresolvable(NO_VICTIMS)
    for victim in potential:
        status = remove(victim)
        if status is not None and not status.success:
            return [], 0, error(status.message())
    # Only if the pod fits with every candidate victim gone is this node worth the work
    # below; affinity of the preemptor to its own victims is deliberately not supported.
    status = framework.run_filter_plugins_with_nominated_pods(state, pod, node)
    if not status.success:
        return [], 0, status
    potential.sort(key=importance)
    violating, non_violating = split_by_pdb_violation(potential, pdbs)
    victims: list[PodInfo] = []
    num_violating = 0
    for group, breaks_pdb in ((violating, True), (non_violating, False)):
        for candidate in group:
            node.add_pod(candidate)
            added = framework.run_pre_filter_extension_add_pod(state, pod, candidate, node)
            if added is not None and not added.success:
                return [], 0, error(added.message())
            if framework.run_filter_plugins_with_nominated_pods(state, pod, node).success:
                continue
            status = remove(candidate)
            if status is not None and not status.success:
                return [], 0, error(status.message())
            victims.append(candidate)
            if breaks_pdb:
                num_violating += 1
    if violating and non_violating:
        victims.sort(key=importance)
    return victims, num_violating, Status()


def _earliest_start_of_most_important(victims: Sequence[PodInfo]) -> float:
    top = max(v.priority for v in victims)
    return min(start_time(v) for v in victims if v.priority == top)


def pick_one_node(candidates: Sequence[Candidate]) -> Candidate:
    """The cheapest candidate: fewest PDB violations, then the lowest top victim priority,
    then the lowest (shifted) priority sum, then the fewest victims, then the node whose most
    important victims started last (they lose the least work), then the first."""

    def fewest_violations(c: Candidate) -> float:
        return -c.num_pdb_violations

    def lowest_top_priority(c: Candidate) -> float:
        return -c.victims[0].priority

    def lowest_priority_sum(c: Candidate) -> float:
        return -sum(v.priority + _PRIORITY_SHIFT for v in c.victims)

    def fewest_victims(c: Candidate) -> float:
        return -len(c.victims)

    def latest_start(c: Candidate) -> float:
        return _earliest_start_of_most_important(c.victims)

    remaining = list(candidates)
    for score in (
        fewest_violations,
        lowest_top_priority,
        lowest_priority_sum,
        fewest_victims,
        latest_start,
    ):
        best = max(score(c) for c in remaining)
        remaining = [c for c in remaining if score(c) == best]
        if len(remaining) == 1:
            break
    return remaining[0]


def no_candidate_message(num_nodes: int, failures: Mapping[str, Status]) -> str:
    """Upstream's FitError text for preemption: reasons counted over nodes and sorted as
    strings (count included), nodes never tried counted as not helped by preemption."""
    counts: dict[str, int] = {}
    for status in failures.values():
        for reason in status.reasons:
            counts[reason] = counts.get(reason, 0) + 1
    if len(failures) < num_nodes:
        counts[NOT_HELPFUL] = counts.get(NOT_HELPFUL, 0) + num_nodes - len(failures)
    message = f"0/{num_nodes} nodes are available:"
    if counts:
        message += " " + ", ".join(sorted(f"{n} {reason}" for reason, n in counts.items())) + "."
    return message


def aggregate(statuses: Sequence[Status]) -> str:
    """Error messages joined as upstream's utilerrors aggregate prints them."""
    messages = [s.message() for s in statuses]
    return messages[0] if len(messages) == 1 else "[" + ", ".join(messages) + "]"
