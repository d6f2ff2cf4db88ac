"""The scheduling queue: order, backoff, requeueing on events, gates, in-flight pods."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import pytest

from pocketkube.scheduler.backoff import BackoffQueue
from pocketkube.scheduler.clusterevents import (
    EVENT_UNSCHEDULABLE_TIMEOUT,
    EVENT_WILDCARD,
    InFlight,
    is_pod_updated,
)
from pocketkube.scheduler.framework.fake import make_pod
from pocketkube.scheduler.framework.interface import ActionType, ClusterEvent, QueuedPodInfo
from pocketkube.scheduler.framework.status import Status, unresolvable
from pocketkube.scheduler.framework.types import PodInfo
from pocketkube.scheduler.heap import KeyedHeap
from pocketkube.scheduler.queue import QueueClosed, SchedulingQueue

NODE_ADD = ClusterEvent("Node", ActionType.ADD, "NodeAdd")
NODE_UPDATE = ClusterEvent("Node", ActionType.UPDATE, "NodeUpdate")
PV_ADD = ClusterEvent("PersistentVolume", ActionType.ADD, "PersistentVolumeAdd")
POD_DELETE = ClusterEvent("Pod", ActionType.DELETE, "AssignedPodDelete")

EVENTS = {
    "NodeResourcesFit": [
        ClusterEvent("Node", ActionType.ADD | ActionType.UPDATE),
        ClusterEvent("Pod", ActionType.DELETE | ActionType.UPDATE),
    ],
    "VolumeBinding": [ClusterEvent("PersistentVolume", ActionType.ADD | ActionType.UPDATE)],
    "InterPodAffinity": [ClusterEvent("Pod", ActionType.ALL)],
    "PodTopologySpread": [ClusterEvent("Pod", ActionType.ALL)],
    "DynamicResources": [ClusterEvent("ResourceClaim", ActionType.ALL)],
    "NodeName": [],
}


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def step(self, seconds: float) -> None:
        self.now += seconds


def priority_sort(a: QueuedPodInfo, b: QueuedPodInfo) -> bool:
    """PrioritySort's order: higher priority first, then earlier timestamp."""
    pa, pb = a.pod_info.priority, b.pod_info.priority
    return pa > pb or (pa == pb and a.timestamp < b.timestamp)


def scheduling_gates(pod: PodInfo) -> Status | None:
    """The framework's PreEnqueue run with only the SchedulingGates plugin."""
    gates = pod.spec.get("schedulingGates")
    return unresolvable("gated").with_plugin("SchedulingGates") if gates else None


def new_queue(clock: FakeClock, **kwargs: Any) -> SchedulingQueue:
    return SchedulingQueue(
        less=priority_sort,
        clock=clock,
        pre_enqueue=scheduling_gates,
        plugin_events=kwargs.pop("plugin_events", EVENTS),
        **kwargs,
    )


def uid(name: str) -> str:
    return f"uid-default-{name}"


async def pop(queue: SchedulingQueue) -> QueuedPodInfo:
    return await asyncio.wait_for(queue.pop(), 1)


def fail(
    queue: SchedulingQueue,
    info: QueuedPodInfo,
    plugins: Iterable[str] = (),
    *,
    pending: Iterable[str] = (),
    cycle: int | None = None,
) -> None:
    info.unschedulable_plugins = set(plugins)
    info.pending_plugins = set(pending)
    queue.add_unschedulable_if_not_present(info, queue.scheduling_cycle if cycle is None else cycle)


async def unschedulable(
    queue: SchedulingQueue, clock: FakeClock, name: str, plugins: Iterable[str]
) -> QueuedPodInfo:
    """Add a pod, pop it and fail it with ``plugins``: it lands in the unschedulable set."""
    queue.add(make_pod(name))
    info = await pop(queue)
    fail(queue, info, plugins)
    assert queue.where(uid(name)) == "Unschedulable"
    return info


# -- order ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pods", "order"),
    [
        pytest.param([("a", 0), ("b", 10), ("c", 5)], ["b", "c", "a"], id="priority"),
        pytest.param([("a", 0), ("b", 0), ("c", 0)], ["a", "b", "c"], id="fifo"),
        pytest.param(
            [("a", 1), ("b", 2), ("c", 1), ("d", 2), ("e", None)],
            ["b", "d", "a", "c", "e"],
            id="fifo-within-priority",
        ),
        pytest.param([("a", -5), ("b", 0)], ["b", "a"], id="negative"),
    ],
)
async def test_pop_order(pods: list[tuple[str, int | None]], order: list[str]) -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    for name, priority in pods:
        queue.add(make_pod(name, priority=priority))
        clock.step(1)
    popped = [(await pop(queue)).pod["metadata"]["name"] for _ in pods]
    assert popped == order
    assert queue.scheduling_cycle == len(pods)


async def test_pop_counts_attempts_and_tracks_in_flight() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    queue.add(make_pod("a"))
    info = await pop(queue)
    assert info.attempts == 1
    assert info.initial_attempt_timestamp == 1000.0
    assert [p["metadata"]["name"] for p in queue.in_flight_pods()] == ["a"]
    queue.done(uid("a"))
    assert queue.in_flight_pods() == []
    assert len(queue) == 0


async def test_pop_waits_and_add_wakes_it() -> None:
    queue = new_queue(FakeClock())
    task = asyncio.create_task(queue.pop())
    await asyncio.sleep(0)
    assert not task.done()
    queue.add(make_pod("a"))
    info = await asyncio.wait_for(task, 1)
    assert info.pod["metadata"]["name"] == "a"


async def test_close_wakes_pop() -> None:
    queue = new_queue(FakeClock())
    task = asyncio.create_task(queue.pop())
    await asyncio.sleep(0)
    queue.close()
    with pytest.raises(QueueClosed):
        await asyncio.wait_for(task, 1)
    queue.add(make_pod("a"))
    with pytest.raises(QueueClosed):
        await queue.pop()


# -- backoff ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("initial", "maximum", "attempts", "expected"),
    [
        (1.0, 10.0, 0, 0.0),
        (1.0, 10.0, 1, 1.0),
        (1.0, 10.0, 2, 2.0),
        (1.0, 10.0, 3, 4.0),
        (1.0, 10.0, 4, 8.0),
        (1.0, 10.0, 5, 10.0),
        (1.0, 10.0, 6, 10.0),
        (1.0, 10.0, 100, 10.0),
        (2.0, 5.0, 2, 4.0),
        (2.0, 5.0, 3, 5.0),
    ],
)
def test_backoff_duration(initial: float, maximum: float, attempts: int, expected: float) -> None:
    backoff = BackoffQueue(clock=FakeClock(), initial=initial, maximum=maximum)
    info = QueuedPodInfo(PodInfo(make_pod("a")), timestamp=0.0, attempts=attempts)
    assert backoff.duration(info) == expected


@pytest.mark.parametrize(("attempts", "wait"), [(1, 1.0), (2, 2.0), (3, 4.0), (6, 10.0)])
async def test_error_goes_to_backoff_then_active(attempts: int, wait: float) -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    queue.add(make_pod("a"))
    for _ in range(attempts):
        info = await pop(queue)
        fail(queue, info)  # no rejecting plugin: an error
        assert queue.where(uid("a")) == "Backoff"
        clock.step(queue.backoff_duration(info))
        queue.flush_backoff_completed()
    assert info.attempts == attempts
    # Measured from the last failure: not done a moment before, done at the expiry.
    info = await pop(queue)
    fail(queue, info)
    clock.step(queue.backoff_duration(info) - 0.01)
    queue.flush_backoff_completed()
    assert queue.where(uid("a")) == "Backoff"
    assert queue.backoff_duration(info) == min(2 * wait, 10.0)
    clock.step(0.01)
    queue.flush_backoff_completed()
    assert queue.where(uid("a")) == "Active"


async def test_backoff_flush_moves_only_expired_pods_in_order() -> None:
    clock = FakeClock()
    queue = new_queue(clock, initial_backoff=1.0)
    for name in ("a", "b"):
        queue.add(make_pod(name))
    first, second = await pop(queue), await pop(queue)
    fail(queue, first)
    second.attempts = 3  # 4 s of backoff
    fail(queue, second)
    clock.step(1)
    queue.flush_backoff_completed()
    assert (queue.where(uid("a")), queue.where(uid("b"))) == ("Active", "Backoff")
    clock.step(3)
    queue.flush_backoff_completed()
    assert queue.where(uid("b")) == "Active"


# -- unschedulable pods and cluster events ------------------------------------------------------
@pytest.mark.parametrize(
    ("plugins", "pending", "event", "wait", "expected"),
    [
        pytest.param(["NodeResourcesFit"], [], NODE_ADD, 0, "Backoff", id="relevant-backing-off"),
        pytest.param(["NodeResourcesFit"], [], NODE_UPDATE, 5, "Active", id="backoff-over"),
        pytest.param(["NodeResourcesFit"], [], PV_ADD, 5, "Unschedulable", id="irrelevant"),
        pytest.param(["VolumeBinding"], [], NODE_ADD, 5, "Unschedulable", id="other-plugin"),
        pytest.param(["NodeName"], [], NODE_ADD, 5, "Unschedulable", id="plugin-no-events"),
        pytest.param(["Unknown"], [], NODE_ADD, 5, "Unschedulable", id="unknown-plugin"),
        pytest.param(
            ["NodeResourcesFit", "VolumeBinding"], [], PV_ADD, 5, "Active", id="any-rejector"
        ),
        pytest.param(["NodeName"], [], EVENT_WILDCARD, 0, "Backoff", id="wildcard"),
        pytest.param(
            [],
            ["DynamicResources"],
            ClusterEvent("ResourceClaim", ActionType.UPDATE),
            0,
            "Active",
            id="pending-plugin-skips-backoff",
        ),
        pytest.param(["NodeResourcesFit"], [], POD_DELETE, 0, "Backoff", id="assigned-pod-delete"),
    ],
)
async def test_move_on_event(
    plugins: list[str], pending: list[str], event: ClusterEvent, wait: float, expected: str
) -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    queue.add(make_pod("a"))
    info = await pop(queue)
    fail(queue, info, plugins, pending=pending)
    assert queue.where(uid("a")) == "Unschedulable"
    clock.step(wait)
    queue.move_all_to_active_or_backoff(event)
    assert queue.where(uid("a")) == expected


async def test_pod_failed_without_plugins_moves_on_any_interesting_event() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    info = await unschedulable(queue, clock, "a", ["NodeName"])
    info.unschedulable_plugins.clear()
    clock.step(5)
    queue.move_all_to_active_or_backoff(ClusterEvent("Nobody", ActionType.ADD))
    assert queue.where(uid("a")) == "Unschedulable"  # no plugin cares: not even looked at
    queue.move_all_to_active_or_backoff(PV_ADD)
    assert queue.where(uid("a")) == "Active"


async def test_wildcard_aimed_at_one_pod() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    await unschedulable(queue, clock, "a", ["NodeName"])
    await unschedulable(queue, clock, "b", ["NodeName"])
    clock.step(5)
    queue.move_all_to_active_or_backoff(EVENT_WILDCARD, None, make_pod("b"))
    assert (queue.where(uid("a")), queue.where(uid("b"))) == ("Unschedulable", "Active")


async def test_pre_check_narrows_the_move() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    await unschedulable(queue, clock, "a", ["NodeResourcesFit"])
    await unschedulable(queue, clock, "b", ["NodeResourcesFit"])
    clock.step(5)
    queue.move_all_to_active_or_backoff(
        NODE_ADD, pre_check=lambda pod: pod["metadata"]["name"] == "a"
    )
    assert (queue.where(uid("a")), queue.where(uid("b"))) == ("Active", "Unschedulable")


@pytest.mark.parametrize(
    ("event", "when", "expected"),
    [
        pytest.param(NODE_ADD, "in-flight", "Backoff", id="relevant-during-cycle"),
        pytest.param(PV_ADD, "in-flight", "Unschedulable", id="irrelevant-during-cycle"),
        pytest.param(NODE_ADD, "before-pop", "Unschedulable", id="relevant-before-cycle"),
        pytest.param(EVENT_UNSCHEDULABLE_TIMEOUT, "in-flight", "Backoff", id="wildcard"),
    ],
)
async def test_event_while_in_flight(event: ClusterEvent, when: str, expected: str) -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    queue.add(make_pod("a"))
    queue.add(make_pod("other", priority=1))
    other = await pop(queue)  # keeps events recorded before "a" is popped
    if when == "before-pop":
        queue.move_all_to_active_or_backoff(event)
    info = await pop(queue)
    if when == "in-flight":
        queue.move_all_to_active_or_backoff(event)
    fail(queue, info, ["NodeResourcesFit"])
    assert queue.where(uid("a")) == expected
    assert queue.in_flight_pods() == [other.pod]


async def test_move_request_cycle_for_pod_not_known_in_flight() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    queue.add(make_pod("a"))
    info = await pop(queue)
    cycle = queue.scheduling_cycle
    queue.done(uid("a"))  # forgotten, e.g. after close() or a done() too early
    queue.move_all_to_active_or_backoff(NODE_ADD)
    fail(queue, info, ["NodeResourcesFit"], cycle=cycle)
    assert queue.where(uid("a")) == "Backoff"
    queue.add(make_pod("b"))
    info = await pop(queue)
    cycle = queue.scheduling_cycle
    queue.done(uid("b"))
    fail(queue, info, ["NodeResourcesFit"], cycle=cycle)
    assert queue.where(uid("b")) == "Unschedulable"


async def test_add_unschedulable_ignores_queued_pod() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    queue.add(make_pod("a"))
    info = await pop(queue)
    queue.add(make_pod("a"))  # a stale add while it was being scheduled
    fail(queue, info, ["NodeResourcesFit"])
    assert queue.where(uid("a")) == "Active"
    assert queue.in_flight_pods() == []


@pytest.mark.parametrize(
    ("wait", "expected"),
    [(300.0, "Unschedulable"), (300.5, "Active")],
)
async def test_flush_unschedulable_leftover(wait: float, expected: str) -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    await unschedulable(queue, clock, "a", ["NodeName"])
    queue.add(make_pod("gated", spec={"schedulingGates": [{"name": "g"}]}))
    clock.step(wait)
    queue.flush_unschedulable_leftover()
    assert queue.where(uid("a")) == expected
    assert queue.where(uid("gated")) == "Unschedulable"


async def test_run_flushes_until_closed() -> None:
    clock = FakeClock()
    queue = new_queue(clock, max_unschedulable_duration=60)
    queue.add(make_pod("a"))
    fail(queue, await pop(queue))
    await unschedulable(queue, clock, "b", ["NodeName"])
    clock.step(61)
    runner = asyncio.create_task(queue.run(backoff_period=0.01, leftover_period=0.01))
    await asyncio.sleep(0.05)
    assert (queue.where(uid("a")), queue.where(uid("b"))) == ("Active", "Active")
    queue.close()
    await asyncio.wait_for(runner, 1)


# -- scheduling gates ---------------------------------------------------------------------------
GATED = {"schedulingGates": [{"name": "example.com/a"}, {"name": "example.com/b"}]}


async def test_gated_pod_waits_until_gates_are_removed() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    pod = make_pod("a", spec=GATED)
    queue.add(pod)
    info = queue.get(uid("a"))
    assert info is not None
    assert info.gated
    assert info.unschedulable_plugins == {"SchedulingGates"}
    assert queue.pending_pods()[1] == "activeQ:0; backoffQ:0; unschedulablePods:1"
    # Events, activation and a change that keeps a gate leave it parked.
    queue.move_all_to_active_or_backoff(EVENT_WILDCARD)
    queue.activate([pod])
    one_gate = make_pod("a", spec={"schedulingGates": [{"name": "example.com/b"}]})
    queue.update(pod, one_gate)
    assert queue.where(uid("a")) == "Unschedulable"
    ungated = make_pod("a")
    queue.update(one_gate, ungated)
    assert queue.where(uid("a")) == "Active"
    popped = await pop(queue)
    assert not popped.gated
    assert popped.attempts == 1


async def test_gating_plugin_events_can_move_gated_pods() -> None:
    state = {"gated": True}

    def pre_enqueue(pod: PodInfo) -> Status | None:
        return unresolvable("claim missing").with_plugin("Claims") if state["gated"] else None

    clock = FakeClock()
    events = {"Claims": [ClusterEvent("ResourceClaim", ActionType.ADD)]}
    queue = SchedulingQueue(
        less=priority_sort,
        clock=clock,
        pre_enqueue=pre_enqueue,
        plugin_events=events,
    )
    queue.add(make_pod("a"))
    assert queue.where(uid("a")) == "Unschedulable"
    queue.move_all_to_active_or_backoff(ClusterEvent("ResourceClaim", ActionType.ADD))
    assert queue.where(uid("a")) == "Unschedulable"  # still gated after the recheck
    state["gated"] = False
    queue.move_all_to_active_or_backoff(EVENT_WILDCARD)
    assert queue.where(uid("a")) == "Unschedulable"  # not an event the gate cares about
    queue.move_all_to_active_or_backoff(ClusterEvent("ResourceClaim", ActionType.ADD))
    assert queue.where(uid("a")) == "Active"


# -- update and delete in each place ------------------------------------------------------------
async def place(queue: SchedulingQueue, clock: FakeClock, where: str) -> dict[str, Any]:
    pod = make_pod("a", priority=1)
    queue.add(pod)
    if where != "Active":
        info = await pop(queue)
        fail(queue, info, [] if where == "Backoff" else ["NodeResourcesFit"])
    assert queue.where(uid("a")) == where
    return pod


def changed(pod: dict[str, Any], **labels: str) -> dict[str, Any]:
    new = {**pod, "metadata": {**pod["metadata"], "labels": labels}}
    return new


def status_only(pod: dict[str, Any]) -> dict[str, Any]:
    meta = {**pod["metadata"], "resourceVersion": "7"}
    return {**pod, "metadata": meta, "status": {"conditions": [{"type": "PodScheduled"}]}}


@pytest.mark.parametrize(
    ("where", "update", "wait", "expected"),
    [
        ("Active", "labels", 0, "Active"),
        ("Backoff", "labels", 0, "Backoff"),
        ("Unschedulable", "labels", 0, "Backoff"),
        ("Unschedulable", "labels", 5, "Active"),
        ("Unschedulable", "status", 5, "Unschedulable"),
    ],
)
async def test_update_in_each_queue(where: str, update: str, wait: float, expected: str) -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    pod = await place(queue, clock, where)
    clock.step(wait)
    new = changed(pod, app="web") if update == "labels" else status_only(pod)
    queue.update(pod, new)
    assert queue.where(uid("a")) == expected
    info = queue.get(uid("a"))
    assert info is not None
    assert info.pod is new
    assert len(queue) == 1


async def test_update_changes_priority_order() -> None:
    queue = new_queue(FakeClock())
    a, b = make_pod("a", priority=1), make_pod("b", priority=2)
    queue.add(a)
    queue.add(b)
    queue.update(a, make_pod("a", priority=3))
    assert (await pop(queue)).pod["metadata"]["name"] == "a"


async def test_update_of_unknown_pod_adds_it() -> None:
    queue = new_queue(FakeClock())
    queue.update(None, make_pod("a"))
    assert queue.where(uid("a")) == "Active"


@pytest.mark.parametrize(
    ("update", "expected"), [("labels", "Backoff"), ("status", "Unschedulable")]
)
async def test_update_while_in_flight(update: str, expected: str) -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    pod = make_pod("a")
    queue.add(pod)
    info = await pop(queue)
    queue.update(pod, changed(pod, app="web") if update == "labels" else status_only(pod))
    assert queue.where(uid("a")) is None  # its cycle decides
    fail(queue, info, ["NodeResourcesFit"])
    assert queue.where(uid("a")) == expected


@pytest.mark.parametrize("where", ["Active", "Backoff", "Unschedulable"])
async def test_delete_from_each_queue(where: str) -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    pod = await place(queue, clock, where)
    queue.delete(pod)
    assert queue.where(uid("a")) is None
    assert len(queue) == 0
    assert queue.pending_pods() == ([], "activeQ:0; backoffQ:0; unschedulablePods:0")


async def test_delete_gated_pod() -> None:
    queue = new_queue(FakeClock())
    pod = make_pod("a", spec=GATED)
    queue.add(pod)
    queue.delete(pod)
    assert len(queue) == 0


# -- activation and assigned pods -----------------------------------------------------------------
@pytest.mark.parametrize("where", ["Backoff", "Unschedulable"])
async def test_activate(where: str) -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    pod = await place(queue, clock, where)
    queue.activate([pod])
    assert queue.where(uid("a")) == "Active"


async def test_activate_in_flight_pod_requeues_it_after_its_cycle() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    queue.add(make_pod("a"))
    info = await pop(queue)
    queue.activate([info.pod, make_pod("unknown")])
    fail(queue, info, ["NodeName"])
    assert queue.where(uid("a")) == "Backoff"
    assert queue.where(uid("unknown")) is None


AFFINITY = {
    "affinity": {
        "podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "zone"}
            ]
        }
    }
}


@pytest.mark.parametrize(
    ("labels", "namespace", "expected"),
    [
        ({"app": "db"}, "default", "Active"),
        ({"app": "web"}, "default", "Unschedulable"),
        ({"app": "db"}, "other", "Unschedulable"),
    ],
)
async def test_assigned_pod_added_moves_pods_with_matching_affinity(
    labels: dict[str, str], namespace: str, expected: str
) -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    queue.add(make_pod("a", spec=AFFINITY))
    fail(queue, await pop(queue), ["InterPodAffinity"])
    await unschedulable(queue, clock, "fit", ["NodeResourcesFit"])
    clock.step(5)
    queue.assigned_pod_added(make_pod("db", namespace=namespace, labels=labels, node_name="n1"))
    assert queue.where(uid("a")) == expected
    assert queue.where(uid("fit")) == "Unschedulable"


async def test_assigned_pod_event_moves_spread_pods_in_namespace() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    await unschedulable(queue, clock, "a", ["PodTopologySpread"])
    clock.step(5)
    queue.assigned_pod_added(make_pod("x", namespace="other", node_name="n1"))
    assert queue.where(uid("a")) == "Unschedulable"
    queue.assigned_pod_added(make_pod("x", node_name="n1"))
    assert queue.where(uid("a")) == "Active"


@pytest.mark.parametrize(
    ("before", "after", "expected"), [("2", "1", "Active"), ("1", "2", "Unschedulable")]
)
async def test_assigned_pod_scaled_down(before: str, after: str, expected: str) -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    await unschedulable(queue, clock, "a", ["NodeResourcesFit"])
    clock.step(5)
    old = make_pod("x", cpu=before, node_name="n1")
    queue.assigned_pod_updated(old, make_pod("x", cpu=after, node_name="n1"))
    assert queue.where(uid("a")) == expected


async def test_pending_pods_summary() -> None:
    clock = FakeClock()
    queue = new_queue(clock)
    await place(queue, clock, "Backoff")
    queue.add(make_pod("b"))
    queue.add(make_pod("c", spec=GATED))
    pods, summary = queue.pending_pods()
    assert sorted(p["metadata"]["name"] for p in pods) == ["a", "b", "c"]
    assert summary == "activeQ:1; backoffQ:1; unschedulablePods:1"
    assert len(queue) == 3


# -- building blocks ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "updated"),
    [
        ({"metadata": {"resourceVersion": "2"}}, False),
        ({"metadata": {"generation": 3, "managedFields": [{}], "finalizers": ["x"]}}, False),
        ({"status": {"phase": "Pending", "conditions": [{"type": "PodScheduled"}]}}, False),
        ({"status": {"nominatedNodeName": "n1"}}, False),
        ({"status": {"resourceClaimStatuses": [{"name": "c"}]}}, True),
        ({"status": {"extendedResourceClaimStatus": {"resourceClaimName": "c"}}}, True),
        ({"metadata": {"labels": {"app": "x"}}}, True),
        ({"metadata": {"annotations": {"a": "b"}}}, True),
        ({"spec": {"schedulingGates": []}}, True),
    ],
)
def test_is_pod_updated(change: dict[str, dict[str, Any]], updated: bool) -> None:
    old = make_pod("a")
    new = {key: {**old.get(key, {}), **value} for key, value in change.items()}
    assert is_pod_updated(old, {**old, **new}) is updated


def test_in_flight_keeps_events_back_to_oldest_pod() -> None:
    flight = InFlight()
    assert not flight.record(NODE_ADD, None, None)  # nobody in flight: nothing kept
    flight.start("a", make_pod("a"))
    flight.record(NODE_ADD, None, None)
    flight.start("b", make_pod("b"))
    flight.record(PV_ADD, None, None)
    assert [e.event for e in flight.events_for("a") or []] == [NODE_ADD, PV_ADD]
    assert [e.event for e in flight.events_for("b") or []] == [PV_ADD]
    assert flight.events_for("c") is None
    flight.done("a")
    assert flight.event_count() == 1
    flight.done("b")
    assert flight.event_count() == 0


@pytest.mark.parametrize("seed", range(5))
def test_keyed_heap_against_sorting(seed: int) -> None:
    import random

    rng = random.Random(seed)
    heap: KeyedHeap[tuple[str, int]] = KeyedHeap(key=lambda i: i[0], less=lambda a, b: a[1] < b[1])
    model: dict[str, int] = {}
    for _ in range(300):
        key = f"k{rng.randrange(40)}"
        op = rng.random()
        if op < 0.5:
            heap.add_or_update((key, value := rng.randrange(1000)))
            model[key] = value
        elif op < 0.7:
            assert heap.delete(key) == ((key, model.pop(key)) if key in model else None)
        elif model:
            item = heap.pop()
            assert item[1] == min(model.values())
            del model[item[0]]
        assert len(heap) == len(model)
        assert {k: v for k, v in heap} == model
    assert [heap.pop()[1] for _ in range(len(heap))] == sorted(model.values())
