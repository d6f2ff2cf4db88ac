"""nodelifecycle: node health on the controller's clock, Unknown conditions, NoSchedule and
NoExecute taints (swapped, rate limited per zone, removed when Ready), zone states, pods marked
not Ready; the rate-limited queue and its token bucket."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from typing import Any

import pytest

from pocketkube.api import timestamps
from pocketkube.client import resources
from pocketkube.client.clock import FakeClock
from pocketkube.controllers.context import Options
from pocketkube.controllers.nodelifecycle import health, nodeutil
from pocketkube.controllers.nodelifecycle.controller import NodeLifecycleController
from pocketkube.controllers.nodelifecycle.ratelimited import (
    RateLimitedTimedQueue,
    TimedValue,
    TokenBucket,
    ZoneState,
    compute_zone_state,
)
from pocketkube.controllers.nodelifecycle.zones import Rates
from tests.unit.controllers.fakes import NOW, FakeClient, informer

T0 = "2024-05-01T11:59:00Z"


class FakeRecorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, str]] = []

    def post(
        self, regarding: Any, *, type: Any, reason: str, action: str, note: str, related: Any = None
    ) -> None:
        meta = regarding.get("metadata") or regarding
        self.events.append((type, reason, str(meta.get("name")), note))


def cond(type_: str, status: str, hb: str = T0, tr: str = T0, **extra: str) -> dict[str, Any]:
    return {
        "type": type_,
        "status": status,
        "lastHeartbeatTime": hb,
        "lastTransitionTime": tr,
        **extra,
    }


def node(
    name: str = "n1",
    *,
    ready: str | None = "True",
    hb: str = T0,
    zone: str = "",
    taints: list[dict[str, Any]] | None = None,
    unschedulable: bool = False,
    extra: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    conditions = [] if ready is None else [cond("Ready", ready, hb)]
    conditions += extra or []
    labels = {nodeutil.LABEL_ZONE: zone} if zone else {}
    spec: dict[str, Any] = {"taints": taints} if taints else {}
    if unschedulable:
        spec["unschedulable"] = True
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "uid": f"uid-{name}",
            "resourceVersion": "1",
            "creationTimestamp": "2024-05-01T11:00:00Z",
            "labels": labels,
        },
        "spec": spec,
        "status": {"conditions": conditions},
    }


def lease(name: str, renew: str) -> dict[str, Any]:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": name, "renewTime": renew},
    }


def pod(name: str, node_name: str = "n1", ready: str = "True") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
        "spec": {"nodeName": node_name, "containers": [{"name": "c", "image": "x"}]},
        "status": {"phase": "Running", "conditions": [cond("Ready", ready)]},
    }


# -- health.assess ------------------------------------------------------------------------------
GRACE, STARTUP = 50.0, 60.0


def run_assess(
    n: dict[str, Any],
    saved: health.NodeHealth | None,
    mono: float,
    lease_obj: dict[str, Any] | None = None,
) -> health.Assessment:
    wall = NOW + dt.timedelta(seconds=mono)
    return health.assess(
        n, lease_obj, saved, mono=mono, wall=wall, grace=GRACE, startup_grace=STARTUP
    )


def test_fresh_node_is_not_touched_within_grace() -> None:
    first = run_assess(node(), None, 0.0)
    assert not first.write
    assert first.health.probe == 0.0
    second = run_assess(node(), first.health, 50.0)
    assert not second.write


def test_silent_node_becomes_unknown_after_grace() -> None:
    first = run_assess(node(extra=[cond("MemoryPressure", "False")]), None, 0.0)
    later = run_assess(node(extra=[cond("MemoryPressure", "False")]), first.health, 50.5)
    assert later.write
    conds = {c["type"]: c for c in later.node["status"]["conditions"]}
    ready = conds["Ready"]
    assert ready["status"] == "Unknown"
    assert ready["reason"] == "NodeStatusUnknown"
    assert ready["message"] == "Kubelet stopped posting node status."
    assert ready["lastHeartbeatTime"] == T0  # kept
    assert ready["lastTransitionTime"] == timestamps.rfc3339(NOW + dt.timedelta(seconds=50.5))
    assert conds["MemoryPressure"]["status"] == "Unknown"
    # never posted: added with NodeStatusNeverUpdated and the creation time as heartbeat
    assert conds["DiskPressure"]["reason"] == "NodeStatusNeverUpdated"
    assert conds["DiskPressure"]["message"] == "Kubelet never posted node status."
    assert conds["PIDPressure"]["lastHeartbeatTime"] == "2024-05-01T11:00:00Z"
    assert later.observed["status"] == "True"
    assert later.current is not None


@pytest.mark.parametrize(
    ("heartbeat", "lease_renew", "expect_write"),
    [
        (T0, None, True),  # nothing moved
        ("2024-05-01T12:00:30Z", None, False),  # the kubelet posted a heartbeat
        (T0, "2024-05-01T12:00:30.000000Z", False),  # the lease was renewed
    ],
)
def test_heartbeat_or_lease_keeps_node_alive(
    heartbeat: str, lease_renew: str | None, expect_write: bool
) -> None:
    base_lease = lease("n1", "2024-05-01T11:59:00.000000Z")
    first = run_assess(node(), None, 0.0, base_lease)
    lease_obj = lease("n1", lease_renew) if lease_renew else base_lease
    mid = run_assess(node(hb=heartbeat), first.health, 30.0, lease_obj)
    later = run_assess(node(hb=heartbeat), mid.health, 60.0, lease_obj)
    assert later.write is expect_write


def test_node_that_never_posted_ready_gets_the_startup_grace_from_creation() -> None:
    n = node(ready=None)  # created at 11:00, an hour before NOW
    result = run_assess(n, None, 0.0)
    assert result.grace == STARTUP
    assert result.write
    conds = {c["type"]: c for c in result.node["status"]["conditions"]}
    assert conds["Ready"]["reason"] == "NodeStatusNeverUpdated"
    assert conds["Ready"]["lastHeartbeatTime"] == "2024-05-01T11:00:00Z"
    young = copy.deepcopy(n)
    young["metadata"]["creationTimestamp"] = timestamps.rfc3339(NOW)
    assert not run_assess(young, None, 0.0).write
    assert run_assess(young, None, 61.0).write


# -- taints -------------------------------------------------------------------------------------
NS = nodeutil.NO_SCHEDULE


@pytest.mark.parametrize(
    ("n", "add", "remove"),
    [
        (node(), [], []),
        (node(ready="False"), [nodeutil.TAINT_NOT_READY], []),
        (node(ready="Unknown"), [nodeutil.TAINT_UNREACHABLE], []),
        (
            node(ready="Unknown", taints=[{"key": nodeutil.TAINT_NOT_READY, "effect": NS}]),
            [nodeutil.TAINT_UNREACHABLE],
            [nodeutil.TAINT_NOT_READY],
        ),
        (
            node(taints=[{"key": nodeutil.TAINT_NOT_READY, "effect": NS}]),
            [],
            [nodeutil.TAINT_NOT_READY],
        ),
        (
            node(extra=[cond("MemoryPressure", "True"), cond("NetworkUnavailable", "True")]),
            [nodeutil.TAINT_MEMORY_PRESSURE, nodeutil.TAINT_NETWORK_UNAVAILABLE],
            [],
        ),
        (node(unschedulable=True), [nodeutil.TAINT_UNSCHEDULABLE], []),
        # other NoSchedule taints and NoExecute ones are not this pass's business
        (
            node(
                taints=[
                    {"key": "x", "effect": NS},
                    {"key": nodeutil.TAINT_NOT_READY, "effect": "NoExecute"},
                ]
            ),
            [],
            [],
        ),
    ],
)
def test_no_schedule_taints_follow_conditions(
    n: dict[str, Any], add: list[str], remove: list[str]
) -> None:
    to_add, to_remove = nodeutil.no_schedule_diff(n)
    assert [t["key"] for t in to_add] == add
    assert [t["key"] for t in to_remove] == remove
    assert all(t["effect"] == NS for t in to_add)


def test_with_taints_swaps_and_stamps_time_added() -> None:
    n = node(
        taints=[
            {"key": "keep", "effect": NS},
            {"key": nodeutil.TAINT_NOT_READY, "effect": "NoExecute", "timeAdded": T0},
        ]
    )
    out = nodeutil.with_taints(
        n,
        [nodeutil.UNREACHABLE_NO_EXECUTE],
        [nodeutil.NOT_READY_NO_EXECUTE],
        "2024-05-01T12:00:00Z",
    )
    assert out is not None
    assert out["spec"]["taints"] == [
        {"key": "keep", "effect": NS},
        {
            "key": nodeutil.TAINT_UNREACHABLE,
            "effect": "NoExecute",
            "timeAdded": "2024-05-01T12:00:00Z",
        },
    ]
    assert nodeutil.with_taints(out, [nodeutil.UNREACHABLE_NO_EXECUTE], [], "later") is None


@pytest.mark.parametrize(
    ("labels", "key"),
    [
        ({}, ""),
        ({nodeutil.LABEL_ZONE: "a"}, ":\x00:a"),
        ({nodeutil.LABEL_REGION: "r", nodeutil.LABEL_ZONE: "a"}, "r:\x00:a"),
        ({nodeutil.LABEL_ZONE_BETA: "b"}, ":\x00:b"),
    ],
)
def test_zone_key(labels: dict[str, str], key: str) -> None:
    assert nodeutil.zone_key({"metadata": {"labels": labels}}) == key


# -- the rate limiter and zone states -----------------------------------------------------------
def test_token_bucket_burst_one() -> None:
    clock = FakeClock()
    bucket = TokenBucket(0.1, clock=clock)
    assert bucket.try_accept()
    assert not bucket.try_accept()
    clock.advance(9.9)
    assert not bucket.try_accept()
    clock.advance(0.2)
    assert bucket.try_accept()
    assert not TokenBucket(0.0, clock=clock).try_accept()


async def test_rate_limited_queue_takes_one_per_token_and_keeps_done_values_known() -> None:
    clock = FakeClock()
    queue = RateLimitedTimedQueue(1.0, clock=clock)
    assert queue.add("a", "u1")
    assert queue.add("b", "u2")
    assert not queue.add("a", "u1")
    seen: list[str] = []

    async def action(value: TimedValue) -> tuple[bool, float]:
        seen.append(value.value)
        return True, 0.0

    await queue.try_(action)
    assert seen == ["a"]
    await queue.try_(action)
    assert seen == ["a"]
    clock.advance(1.0)
    await queue.try_(action)
    assert seen == ["a", "b"]
    assert len(queue) == 0
    assert "a" in queue
    assert not queue.add("a", "u1")  # known until removed
    assert queue.remove("a")
    assert queue.add("a", "u1")


async def test_rate_limited_queue_retries_after_the_wait() -> None:
    clock = FakeClock()
    queue = RateLimitedTimedQueue(100.0, clock=clock)
    queue.add("a", "u")
    calls: list[float] = []

    async def fail(value: TimedValue) -> tuple[bool, float]:
        calls.append(clock.now())
        return False, 5.0

    await queue.try_(fail)
    clock.advance(1.0)
    await queue.try_(fail)
    assert calls == [0.0]
    clock.advance(4.5)
    await queue.try_(fail)
    assert calls == [0.0, 5.5]


def test_swap_limiter_to_zero_stops() -> None:
    clock = FakeClock()
    queue = RateLimitedTimedQueue(10.0, clock=clock)
    queue.swap_limiter(0.0)
    assert not queue.limiter.try_accept()


R, U = {"status": "True"}, {"status": "Unknown"}


@pytest.mark.parametrize(
    ("conds", "state"),
    [
        ([R, R, R], ZoneState.NORMAL),
        ([U, R, R], ZoneState.NORMAL),
        ([U, U], ZoneState.FULL_DISRUPTION),
        ([None], ZoneState.FULL_DISRUPTION),
        ([U, U, R], ZoneState.NORMAL),  # only 2 unready
        ([U, U, U, R, R], ZoneState.PARTIAL_DISRUPTION),  # 3 of 5 = 0.6
        ([U, U, U, R, R, R], ZoneState.NORMAL),  # 0.5 < 0.55
    ],
)
def test_zone_state(conds: list[dict[str, str] | None], state: ZoneState) -> None:
    assert compute_zone_state(conds, 0.55)[1] == state


# -- the controller -----------------------------------------------------------------------------
@dataclasses.dataclass
class Harness:
    controller: NodeLifecycleController
    client: FakeClient
    clock: FakeClock
    recorder: FakeRecorder
    nodes: Any
    leases: Any
    pods: Any

    def wall(self) -> dt.datetime:
        return NOW + dt.timedelta(seconds=self.clock.now())

    def apply_writes(self) -> None:
        """Let the informers see what the controller wrote."""
        for call in self.client.writes():
            if call.verb == "PUT" and call.path.startswith("/api/v1/nodes/"):
                self.nodes.put(copy.deepcopy(call.body))
            elif call.verb == "PUT" and "/pods/" in call.path:
                self.pods.put(copy.deepcopy(call.body))
        self.client.calls.clear()

    def beat(self, name: str) -> None:
        """The kubelet of ``name`` renews its Lease."""
        renew = self.wall().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self.leases.put(lease(name, renew))

    def node_writes(self) -> list[Any]:
        return [c for c in self.client.writes() if c.path.startswith("/api/v1/nodes/")]


def harness(
    *nodes: dict[str, Any],
    pods: tuple[dict[str, Any], ...] = (),
    leases: tuple[dict[str, Any], ...] = (),
    **opts: Any,
) -> Harness:
    client = FakeClient()
    clock = FakeClock()
    recorder = FakeRecorder()
    node_inf = informer(client, resources.NODES, *nodes)
    lease_inf = informer(client, resources.LEASES, *leases, namespace="kube-node-lease")
    pod_inf = informer(client, resources.PODS, *pods)
    h = Harness(
        None,
        client,
        clock,
        recorder,
        node_inf.store,
        lease_inf.store,  # type: ignore[arg-type]
        pod_inf.store,
    )
    h.controller = NodeLifecycleController(
        client=client,
        node_informer=node_inf,
        lease_informer=lease_inf,
        pod_informer=pod_inf,
        recorder=recorder,
        options=Options(**opts),
        clock=clock,
        now=h.wall,
    )
    return h


async def test_node_goes_unknown_gets_tainted_and_its_pods_marked_not_ready() -> None:
    # n2 stays healthy (else all zones are fully disrupted and nothing is tainted)
    h = harness(node(), node("n2"), pods=(pod("p1"), pod("p2", node_name="n2")))
    h.beat("n2")
    await h.controller.monitor_node_health()
    assert (
        "Normal",
        "RegisteredNode",
        "n1",
        "Node n1 event: Registered Node n1 in Controller",
    ) in h.recorder.events
    assert h.node_writes() == []
    h.clock.advance(51)
    h.beat("n2")
    await h.controller.monitor_node_health()
    (status_write,) = [c for c in h.node_writes() if c.path.endswith("/status")]
    ready = nodeutil.ready_condition(status_write.body)
    assert ready is not None
    assert ready["status"] == "Unknown"
    pod_writes = [c for c in h.client.writes() if "/pods/" in c.path]
    assert [c.path for c in pod_writes] == ["/api/v1/namespaces/default/pods/p1/status"]
    assert nodeutil.ready_condition(pod_writes[0].body)["status"] == "False"  # type: ignore[index]
    assert ("Warning", "NodeNotReady", "p1", "Node is not ready") in h.recorder.events
    assert (
        "Normal",
        "NodeNotReady",
        "n1",
        "Node n1 status is now: NodeNotReady",
    ) in h.recorder.events
    h.apply_writes()
    # next pass: observed Unknown → queued for the NoExecute taint, tainted by the taint pass
    h.clock.advance(5)
    h.beat("n2")
    await h.controller.monitor_node_health()
    await h.controller.no_execute_tainting_pass()
    taint_write = h.node_writes()[-1]
    assert taint_write.body["spec"]["taints"] == [
        {
            "key": nodeutil.TAINT_UNREACHABLE,
            "effect": "NoExecute",
            "timeAdded": timestamps.rfc3339(h.wall()),
        },
    ]
    h.apply_writes()
    # the NoSchedule pass (work queue key) adds unreachable:NoSchedule
    await h.controller.sync("node:n1")
    (ns_write,) = h.node_writes()
    assert {(t["key"], t["effect"]) for t in ns_write.body["spec"]["taints"]} == {
        (nodeutil.TAINT_UNREACHABLE, "NoExecute"),
        (nodeutil.TAINT_UNREACHABLE, "NoSchedule"),
    }
    h.apply_writes()
    # the kubelet comes back: Ready heartbeat moves on → taints removed
    back = copy.deepcopy(h.nodes.get("n1"))
    back["status"]["conditions"] = [
        cond("Ready", "True", hb=timestamps.rfc3339(h.wall()), tr=timestamps.rfc3339(h.wall()))
    ]
    h.nodes.put(back)
    h.clock.advance(5)
    h.beat("n2")
    await h.controller.monitor_node_health()
    (remove,) = h.node_writes()
    assert [t["effect"] for t in remove.body["spec"]["taints"]] == ["NoSchedule"]
    h.apply_writes()
    await h.controller.sync("node:n1")
    assert h.node_writes()[-1].body["spec"]["taints"] == []


async def test_not_ready_taint_is_swapped_at_once_for_unreachable() -> None:
    tainted = node(
        ready="Unknown",
        taints=[{"key": nodeutil.TAINT_NOT_READY, "effect": "NoExecute", "timeAdded": T0}],
    )
    h = harness(tainted, node("n2"))
    h.controller._known.update(n1=tainted, n2=node("n2"))  # seen before: no RegisteredNode reset
    await h.controller.monitor_node_health()
    (swap,) = [c for c in h.node_writes() if not c.path.endswith("/status")]
    assert [(t["key"], t["effect"]) for t in swap.body["spec"]["taints"]] == [
        (nodeutil.TAINT_UNREACHABLE, "NoExecute")
    ]


async def test_new_node_has_controller_taints_removed() -> None:
    tainted = node(taints=[{"key": nodeutil.TAINT_UNREACHABLE, "effect": "NoExecute"}])
    h = harness(tainted)
    await h.controller.monitor_node_health()
    writes = h.node_writes()
    assert writes
    assert all(w.body["spec"]["taints"] == [] for w in writes)


async def test_removed_node_is_announced() -> None:
    h = harness(node())
    await h.controller.monitor_node_health()
    h.nodes.delete("n1")
    await h.controller.monitor_node_health()
    assert (
        "Normal",
        "RemovingNode",
        "n1",
        "Node n1 event: Removing Node n1 from Controller",
    ) in h.recorder.events


async def test_pod_bound_to_unready_node_is_marked_not_ready() -> None:
    h = harness(node(ready="False"), pods=(pod("p1"),))
    h.controller._known["n1"] = h.nodes.get("n1")
    await h.controller.monitor_node_health()  # observed False all along: no transition
    assert not [c for c in h.client.writes() if "/pods/" in c.path]
    await h.controller.sync("pod:default/p1")
    (write,) = [c for c in h.client.writes() if "/pods/" in c.path]
    assert write.path.endswith("/p1/status")


def zone_nodes(zone: str, ready: int, unready: int) -> list[dict[str, Any]]:
    return [node(f"{zone}-r{i}", zone=zone) for i in range(ready)] + [
        node(f"{zone}-u{i}", ready="Unknown", zone=zone) for i in range(unready)
    ]


async def test_zone_states_set_rates() -> None:
    nodes = zone_nodes("a", 1, 3) + zone_nodes("b", 3, 0)
    h = harness(*nodes, large_cluster_size_threshold=3)
    await h.controller.monitor_node_health()
    za, zb = nodeutil.zone_key(nodes[0]), nodeutil.zone_key(nodes[-1])
    assert h.controller.zone_states == {za: ZoneState.PARTIAL_DISRUPTION, zb: ZoneState.NORMAL}
    assert h.controller.zone_rate(za) == 0.01  # 4 nodes > threshold 3: the secondary rate
    assert h.controller.zone_rate(zb) == 0.1


async def test_partial_disruption_in_a_small_zone_stops_tainting() -> None:
    h = harness(*zone_nodes("a", 1, 3))
    await h.controller.monitor_node_health()
    (zone,) = h.controller.zone_states
    assert h.controller.zone_states[zone] == ZoneState.PARTIAL_DISRUPTION
    assert h.controller.zone_rate(zone) == 0.0


async def test_all_zones_fully_disrupted_stops_evictions_and_untaints() -> None:
    nodes = zone_nodes("a", 0, 2) + zone_nodes("b", 0, 1)
    nodes[0]["spec"]["taints"] = [{"key": nodeutil.TAINT_UNREACHABLE, "effect": "NoExecute"}]
    h = harness(*nodes)
    for n in nodes:
        h.controller._known[nodeutil.name_of(n)] = n
    await h.controller.monitor_node_health()
    assert set(h.controller.zone_states.values()) == {ZoneState.FULL_DISRUPTION}
    assert all(h.controller.zone_rate(z) == 0.0 for z in h.controller.zone_states)
    untaint = [c for c in h.node_writes() if c.path == "/api/v1/nodes/a-u0"]
    assert untaint
    assert untaint[-1].body["spec"]["taints"] == []
    # one node Ready again: leave master disruption mode with normal rates
    h.apply_writes()
    h.nodes.put(node("b-r0", zone="b"))
    await h.controller.monitor_node_health()
    states = h.controller.zone_states
    assert states[nodeutil.zone_key(nodes[0])] == ZoneState.FULL_DISRUPTION
    assert states[nodeutil.zone_key(nodes[-1])] == ZoneState.NORMAL
    assert all(h.controller.zone_rate(z) == 0.1 for z in states)


async def test_single_fully_disrupted_zone_keeps_the_normal_rate() -> None:
    nodes = zone_nodes("a", 0, 2) + zone_nodes("b", 2, 0)
    h = harness(*nodes)
    await h.controller.monitor_node_health()
    za = nodeutil.zone_key(nodes[0])
    assert h.controller.zone_states[za] == ZoneState.FULL_DISRUPTION
    assert h.controller.zone_rate(za) == 0.1


async def test_no_execute_taints_are_rate_limited_per_zone() -> None:
    nodes = [node(f"u{i}", ready="Unknown") for i in range(3)] + [node(f"r{i}") for i in range(7)]
    h = harness(*nodes)
    for n in nodes:
        h.controller._known[nodeutil.name_of(n)] = n
    await h.controller.monitor_node_health()
    await h.controller.no_execute_tainting_pass()
    assert len(h.node_writes()) == 1  # one token
    h.clock.advance(5)
    await h.controller.no_execute_tainting_pass()
    assert len(h.node_writes()) == 1
    h.clock.advance(5)
    await h.controller.no_execute_tainting_pass()
    assert len(h.node_writes()) == 2  # 0.1/s: one more after 10 s


@pytest.mark.parametrize(
    ("size", "state", "rate"),
    [
        (10, ZoneState.NORMAL, 0.1),
        (10, ZoneState.FULL_DISRUPTION, 0.1),
        (51, ZoneState.PARTIAL_DISRUPTION, 0.01),
        (50, ZoneState.PARTIAL_DISRUPTION, 0.0),
        (10, ZoneState.INITIAL, None),
    ],
)
def test_zone_rates(size: int, state: ZoneState, rate: float | None) -> None:
    rates = Rates(normal=0.1, secondary=0.01, large_cluster_threshold=50, unhealthy_threshold=0.55)
    assert rates.for_state(size, state) == rate
