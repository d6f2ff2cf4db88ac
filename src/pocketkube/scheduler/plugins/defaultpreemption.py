"""DefaultPreemption: when no node fits a pod, evict lower-priority pods to make room.

Upstream's PostFilter plugin of the same name. It runs only after every node failed Filter,
and only nodes that failed with ``UNSCHEDULABLE`` are tried (``UNSCHEDULABLE_AND_UNRESOLVABLE``
says no eviction can help there). A dry run (``preemption.py``) finds, per node, the fewest
victims; to bound the work on big clusters it stops once it has
``max(minCandidateNodesPercentage% of the nodes, minCandidateNodesAbsolute)`` candidates, one
of them breaking no PDB, starting at a random node so that preemptors spread over the
cluster. On the chosen node every victim is marked ``DisruptionTarget`` and deleted
gracefully, and lower-priority pods nominated to that node lose their nomination (they may no
longer fit there). The scheduler then nominates the preemptor to the node; the pod is
scheduled in a later cycle, once the victims are gone.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pocketkube.scheduler.framework.cyclestate import CycleState
from pocketkube.scheduler.framework.interface import ClusterEvent, Handle, PostFilterResult
from pocketkube.scheduler.framework.status import Code, Status, error, unschedulable
from pocketkube.scheduler.framework.types import PodInfo
from pocketkube.scheduler.plugins.preemption import (
    Budget,
    Candidate,
    FilterRunner,
    aggregate,
    budgets,
    no_candidate_message,
    pick_one_node,
    select_victims_on_node,
)

NAME = "DefaultPreemption"

log = logging.getLogger(__name__)

DISRUPTION_TARGET = "DisruptionTarget"
PREEMPTION_BY_SCHEDULER = "PreemptionByScheduler"
DEFAULT_SCHEDULER_NAME = "default-scheduler"
NEVER = "not eligible due to preemptionPolicy=Never."
TERMINATING = "not eligible due to a terminating pod on the nominated node."

Obj = dict[str, Any]


def _pod_path(pod: Obj, subresource: str = "") -> str:
    meta = pod.get("metadata") or {}
    path = f"/api/v1/namespaces/{meta.get('namespace', '')}/pods/{meta.get('name', '')}"
    return f"{path}/{subresource}" if subresource else path


def _terminating_by_preemption(pod: Obj) -> bool:
    """Deleted after a scheduler marked it: a preemption of ours still in progress."""
    if not (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    for condition in (pod.get("status") or {}).get("conditions") or ():
        if condition.get("type") == DISRUPTION_TARGET:
            return bool(
                condition.get("status") == "True"
                and condition.get("reason") == PREEMPTION_BY_SCHEDULER
            )
    return False


def _not_found(exc: BaseException) -> bool:
    # Duck-typed pocketkube.client.ApiError: the victim is already gone, which is the goal.
    return getattr(exc, "status", None) == 404


class DefaultPreemption:
    name = NAME

    def __init__(
        self, args: Mapping[str, Any], handle: Handle, *, rng: random.Random | None = None
    ) -> None:
        self.handle = handle
        self.min_candidate_nodes_percentage = int(args.get("minCandidateNodesPercentage", 10))
        self.min_candidate_nodes_absolute = int(args.get("minCandidateNodesAbsolute", 100))
        problems = []
        if not 0 <= self.min_candidate_nodes_percentage <= 100:
            problems.append(
                f"minCandidateNodesPercentage: Invalid value: "
                f"{self.min_candidate_nodes_percentage}: not in valid range [0, 100]"
            )
        if self.min_candidate_nodes_absolute < 0:
            problems.append(
                f"minCandidateNodesAbsolute: Invalid value: "
                f"{self.min_candidate_nodes_absolute}: not in valid range [0, inf)"
            )
        if self.min_candidate_nodes_percentage == 0 and self.min_candidate_nodes_absolute == 0:
            problems.append(
                "minCandidateNodesPercentage: Invalid value: 0: cannot be zero at the same "
                "time as minCandidateNodesAbsolute"
            )
        if problems:
            raise ValueError("; ".join(problems))
        self.rng = rng or random.Random()

    def events_to_register(self) -> list[ClusterEvent]:
        # Preemption never rejects a pod by itself: the filters that did say when to retry.
        return []

    async def post_filter(
        self, state: CycleState, pod: PodInfo, statuses: Mapping[str, Status]
    ) -> tuple[PostFilterResult | None, Status]:
        result, status = await self._preempt(state, pod, statuses)
        if status.reasons:
            status = Status(status.code, [f"preemption: {status.message()}"], NAME)
        return result, status

    # -- the steps of one preemption -------------------------------------------------------
    async def _preempt(
        self, state: CycleState, pod: PodInfo, statuses: Mapping[str, Status]
    ) -> tuple[PostFilterResult | None, Status]:
        reason = self._not_eligible(pod, statuses)
        if reason:
            return None, unschedulable(reason)
        nodes = self.handle.snapshot.list()
        if not nodes:
            return None, error("no nodes available")
        candidates, failures = self._find_candidates(state, pod, statuses)
        errors = [s for s in failures.values() if s.code == Code.ERROR]
        if not candidates:
            if errors:
                return None, error(aggregate(errors))
            # An empty nomination tells the scheduler to clear the pod's nominated node.
            return PostFilterResult(""), unschedulable(no_candidate_message(len(nodes), failures))
        best = pick_one_node(candidates)
        status = await self._prepare(best, pod)
        if not status.success:
            return None, status
        return PostFilterResult(best.node_name), Status()

    def _not_eligible(self, pod: PodInfo, statuses: Mapping[str, Status]) -> str:
        """Why ``pod`` may not preempt now ("" when it may): its policy forbids it, or an
        earlier preemption of its own is still terminating victims on its nominated node."""
        if pod.spec.get("preemptionPolicy") == "Never":
            return NEVER
        nominated = (pod.pod.get("status") or {}).get("nominatedNodeName")
        if not nominated:
            return ""
        node_status = statuses.get(nominated)
        # A node absent from the statuses was ruled out before Filter, as if unresolvable;
        # then the old nomination is useless and the pod may preempt elsewhere.
        if node_status is None or node_status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
            return ""
        node = self.handle.snapshot.get(nominated)
        if node is None:
            return ""
        for other in node.pods:
            if other.priority < pod.priority and _terminating_by_preemption(other.pod):
                return TERMINATING
        return ""

    def num_candidates(self, num_nodes: int) -> int:
        wanted = num_nodes * self.min_candidate_nodes_percentage // 100
        return min(max(wanted, self.min_candidate_nodes_absolute), num_nodes)

    def _find_candidates(
        self, state: CycleState, pod: PodInfo, statuses: Mapping[str, Status]
    ) -> tuple[list[Candidate], dict[str, Status]]:
        """Dry-run preemption on the nodes where it may help, from a random offset, until
        enough candidates are found; also returns why each tried node failed."""
        potential = [
            node
            for node in self.handle.snapshot.list()
            if (s := statuses.get(node.name)) is not None and s.code == Code.UNSCHEDULABLE
        ]
        failures: dict[str, Status] = {}
        if not potential:
            return [], failures
        framework: FilterRunner = self.handle.framework()
        pdbs: list[Budget] = budgets(self.handle.lister("poddisruptionbudgets").list())
        offset = self.rng.randrange(len(potential))
        wanted = self.num_candidates(len(potential))
        non_violating: list[Candidate] = []
        violating: list[Candidate] = []
        for index in range(len(potential)):
            node = potential[(offset + index) % len(potential)]
            victims, num_violations, status = select_victims_on_node(
                framework, state.clone(), pod, node.clone(), pdbs
            )
            if status.success and victims:
                found = violating if num_violations else non_violating
                if len(found) < wanted:
                    found.append(Candidate(node.name, victims, num_violations))
                if non_violating and len(non_violating) + len(violating) >= wanted:
                    break
                continue
            if status.success:
                status = error(f'expected at least one victim pod on node "{node.name}"')
            failures[node.name] = status
        return non_violating + violating, failures

    async def _prepare(self, candidate: Candidate, pod: PodInfo) -> Status:
        """Evict the victims, then drop lower-priority nominations to the node (best effort:
        a failure there only delays those pods)."""
        victims = [
            v
            for v in candidate.victims
            if not (v.pod.get("metadata") or {}).get("deletionTimestamp")
        ]
        failures: list[BaseException] = []
        try:
            # Concurrent, and the first failure cancels the rest, as upstream's parallel
            # eviction does: the pod is retried in a later cycle anyway.
            async with asyncio.TaskGroup() as group:
                for victim in victims:
                    group.create_task(self._preempt_victim(candidate.node_name, pod, victim))
        except* Exception as failed:
            failures.extend(failed.exceptions)
        if failures:
            return error(str(failures[0]))
        for other in self.handle.nominated_pods_for_node(candidate.node_name):
            if other.priority >= pod.priority:
                continue
            if not (other.pod.get("status") or {}).get("nominatedNodeName"):
                continue
            try:
                await self.handle.client.patch(
                    _pod_path(other.pod, "status"),
                    {"status": {"nominatedNodeName": None}},
                    patch_type="strategic",
                )
            except Exception:
                log.warning("cannot clear the nominated node of %s", other.key, exc_info=True)
        return Status()

    async def _preempt_victim(self, node_name: str, pod: PodInfo, victim: PodInfo) -> None:
        """Reject the victim if it waits at Permit; otherwise mark it as disrupted by the
        scheduler (so the kubelet and controllers know why it goes) and delete it gracefully."""
        framework = self.handle.framework()
        waiting = getattr(framework, "waiting_pods", {}).get(victim.key)
        if waiting is not None:
            waiting.reject(NAME, "preempted")
        else:
            try:
                await self._mark_disruption_target(pod, victim)
                await self.handle.client.delete(
                    _pod_path(victim.pod),
                    body={
                        "kind": "DeleteOptions",
                        "apiVersion": "v1",
                        "preconditions": {"uid": (victim.pod.get("metadata") or {}).get("uid")},
                    },
                )
            except Exception as exc:
                if not _not_found(exc):
                    raise
                log.info("victim %s of %s is already gone", victim.key, pod.key)
                return
        meta = pod.pod.get("metadata") or {}
        self.handle.recorder.post(
            victim.pod,
            type="Normal",
            reason="Preempted",
            action="Preempting",
            note=f"Preempted by pod {meta.get('uid', '')} on node {node_name}",
            related=pod.pod,
        )

    async def _mark_disruption_target(self, pod: PodInfo, victim: PodInfo) -> None:
        scheduler = pod.spec.get("schedulerName") or DEFAULT_SCHEDULER_NAME
        condition = {
            "type": DISRUPTION_TARGET,
            "status": "True",
            "reason": PREEMPTION_BY_SCHEDULER,
            "message": f"{scheduler}: preempting to accommodate a higher priority pod",
        }
        for existing in (victim.pod.get("status") or {}).get("conditions") or ():
            if existing.get("type") == DISRUPTION_TARGET:
                if all(existing.get(k) == v for k, v in condition.items()):
                    return
                if existing.get("status") == condition["status"]:
                    condition["lastTransitionTime"] = existing.get("lastTransitionTime")
                break
        condition.setdefault("lastTransitionTime", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        await self.handle.client.patch(
            _pod_path(victim.pod, "status"),
            {"status": {"conditions": [condition]}},
            patch_type="strategic",
        )


def new(args: Mapping[str, Any], handle: Handle) -> DefaultPreemption:
    return DefaultPreemption(args, handle)
