"""nodelifecycle: notices nodes that stopped reporting and taints them (upstream's
``pkg/controller/nodelifecycle/node_lifecycle_controller.go``, reporting as ``node-controller``).

Three loops share the informers (Nodes, kube-node-lease Leases, Pods):

- **monitor** (every ``--node-monitor-period``): new nodes are announced (``RegisteredNode``)
  and their controller taints dropped, vanished ones ``RemovingNode``; each node's health is
  assessed (``health.assess``) and written back as Unknown conditions past the grace period; a
  node whose Ready was False/Unknown is queued in its zone for a NoExecute taint (``not-ready``
  / ``unreachable``, swapped at once if the other one is there), a Ready node loses both; on a
  Ready → not Ready change the node gets a ``NodeNotReady`` event and its pods Ready=False;
  finally the zones' states set their queues' rates (``ratelimited``).
- **NoExecute tainting** (every 100 ms): each zone's queue taints the nodes its rate allows.
- **the work queue**: ``node:<name>`` keeps the NoSchedule taints in line with the node's
  conditions and ``unschedulable`` (doNoScheduleTaintingPass); ``pod:<ns>/<name>``, a pod newly
  bound to a node known not Ready, is marked not Ready.

Evicting the pods of tainted nodes is the taint eviction controller's (``tainteviction``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import replace

from pocketkube.api.timestamps import utcnow
from pocketkube.client import resources
from pocketkube.client.clock import Clock, RealClock
from pocketkube.client.informer import Informer
from pocketkube.client.rest import ApiError, Obj
from pocketkube.controllers.base import ApiClient, Controller, IgnorableError
from pocketkube.controllers.context import Context, Options, Recorder
from pocketkube.controllers.nodelifecycle.health import Assessment, NodeHealth, after_write, assess
from pocketkube.controllers.nodelifecycle.nodeutil import (
    NOT_READY_NO_EXECUTE,
    READY,
    UNREACHABLE_NO_EXECUTE,
    Now,
    condition,
    excluded_from_disruption,
    mark_pods_not_ready,
    name_of,
    no_schedule_diff,
    node_ref,
    ready_condition,
    swap_taints,
    taint_exists,
    taints_of,
    zone_key,
)
from pocketkube.controllers.nodelifecycle.podindex import ensure_node_name_index, pods_on_node
from pocketkube.controllers.nodelifecycle.ratelimited import (
    RateLimitedTimedQueue,
    TimedValue,
    ZoneState,
)
from pocketkube.controllers.nodelifecycle.zones import Disruption, Rates, Zones

log = logging.getLogger(__name__)

NAME = "nodelifecycle"
COMPONENT = "node-controller"
NODE_LEASE_NAMESPACE = "kube-node-lease"
NODE_EVICTION_PERIOD = 0.1  # upstream's scheduler.NodeEvictionPeriod
HEALTH_UPDATE_RETRIES = 5
RETRY_SLEEP = 0.02
NODE_UPDATE_WORKERS = 8


class NodeLifecycleController(Controller):
    name = NAME

    def __init__(
        self,
        *,
        client: ApiClient,
        node_informer: Informer,
        lease_informer: Informer,
        pod_informer: Informer,
        recorder: Recorder,
        options: Options,
        clock: Clock | None = None,
        now: Now = utcnow,
    ) -> None:
        super().__init__(
            informers=[node_informer, lease_informer, pod_informer], workers=4, clock=clock
        )
        self._client = client
        self._nodes = node_informer.store
        self._leases = lease_informer.store
        self._pods = pod_informer.store
        ensure_node_name_index(pod_informer)
        self._recorder = recorder
        self._opts = options
        self._clock: Clock = clock or RealClock()
        self._now = now
        self._known: dict[str, Obj] = {}
        self._health: dict[str, NodeHealth] = {}
        self._zones = Zones(
            rates=Rates(
                normal=options.node_eviction_rate,
                secondary=options.secondary_node_eviction_rate,
                large_cluster_threshold=options.large_cluster_size_threshold,
                unhealthy_threshold=options.unhealthy_zone_threshold,
            ),
            clock=self._clock,
        )
        self._nodes_to_retry: set[str] = set()
        node_informer.add_handler(on_add=self._node_changed, on_update=self._node_updated)
        pod_informer.add_handler(on_add=self._pod_added, on_update=self._pod_updated)

    # -- handlers ------------------------------------------------------------------------------
    def _node_changed(self, node: Obj) -> None:
        self.queue.add(f"node:{name_of(node)}")

    def _node_updated(self, old: Obj, new: Obj) -> None:
        self._node_changed(new)

    def _pod_added(self, pod: Obj) -> None:
        self._pod_updated(None, pod)

    def _pod_updated(self, old: Obj | None, new: Obj) -> None:
        node = (new.get("spec") or {}).get("nodeName")
        if node and (old is None or (old.get("spec") or {}).get("nodeName") != node):
            meta = new.get("metadata") or {}
            self.queue.add(f"pod:{meta.get('namespace')}/{meta.get('name')}")

    # -- running -------------------------------------------------------------------------------
    async def run(self) -> None:
        for informer in self._informers:
            await informer.wait_synced()
        async with asyncio.TaskGroup() as group:
            group.create_task(super().run())
            group.create_task(self._every(self._opts.node_monitor_period, self.monitor_node_health))
            group.create_task(self._every(NODE_EVICTION_PERIOD, self.no_execute_tainting_pass))

    async def _every(self, period: float, fn: Callable[[], Awaitable[None]]) -> None:
        while True:
            try:
                await fn()
            except Exception:
                log.exception("%s: %s failed", self.name, getattr(fn, "__name__", fn))
            await self._clock.sleep(period)

    async def sync(self, key: str) -> None:
        kind, _, rest = key.partition(":")
        if kind == "node":
            await self._no_schedule_tainting_pass(rest)
        elif kind == "pod":
            await self._process_pod(rest)

    # -- NoSchedule taints and pods (the work queue) --------------------------------------------
    async def _no_schedule_tainting_pass(self, name: str) -> None:
        node = self._nodes.get(name)
        if node is None:
            return
        to_add, to_remove = no_schedule_diff(node)
        if not to_add and not to_remove:
            return
        if not await swap_taints(self._client, node, add=to_add, remove=to_remove, now=self._now):
            raise RuntimeError(f"failed to swap the NoSchedule taints of node {name}")

    async def _process_pod(self, key: str) -> None:
        pod = self._pods.get(key)
        if pod is None:
            return
        node_name = str((pod.get("spec") or {}).get("nodeName") or "")
        health = self._health.get(node_name)
        if health is None:
            return  # not seen by the monitor yet, or gone
        if node_name not in self._nodes:
            raise IgnorableError(f"node {node_name} is not in the informer yet")
        ready = condition(health.status, READY)
        if ready is None or ready.get("status") == "True":
            return
        await mark_pods_not_ready(self._client, self._recorder, [pod], node_name, self._now)

    # -- the monitor pass ----------------------------------------------------------------------
    async def monitor_node_health(self) -> None:
        nodes = sorted(self._nodes.list(), key=name_of)
        names = {name_of(n) for n in nodes}
        for node in nodes:
            name = name_of(node)
            if name in self._known:
                self._ensure_zone(node)
                continue
            log.info("%s: observed a new node %s", self.name, name)
            self._node_event(node, "RegisteredNode", f"Registered Node {name} in Controller")
            self._known[name] = node
            self._ensure_zone(node)
            await self._mark_node_as_reachable(node)
        for name in sorted(set(self._known) - names):
            gone = self._known.pop(name)
            log.info("%s: observed a node deletion %s", self.name, name)
            self._node_event(gone, "RemovingNode", f"Removing Node {name} from Controller")
            self._health.pop(name, None)
            self._nodes_to_retry.discard(name)

        zone_conditions: dict[str, list[Obj | None]] = defaultdict(list)
        limit = asyncio.Semaphore(NODE_UPDATE_WORKERS)

        async def update(node: Obj) -> None:
            async with limit:
                await self._update_node(node, zone_conditions)

        async with asyncio.TaskGroup() as group:
            for node in nodes:
                group.create_task(update(node))
        await self.handle_disruption(dict(zone_conditions), nodes)

    async def _update_node(self, node: Obj, zone_conditions: dict[str, list[Obj | None]]) -> None:
        name = name_of(node)
        assessment: Assessment | None = None
        for attempt in range(HEALTH_UPDATE_RETRIES):
            try:
                assessment = await self._try_update_node_health(node)
                break
            except ApiError as err:
                log.warning("%s: updating the health of node %s: %s", self.name, name, err)
                if attempt + 1 == HEALTH_UPDATE_RETRIES:
                    break
                await asyncio.sleep(RETRY_SLEEP)
                try:
                    node = await self._client.get(resources.NODES.path(name=name))
                except ApiError:
                    log.warning("%s: node %s could not be read again; skipping", self.name, name)
                    return
        if assessment is None:
            return
        node = assessment.node
        if not excluded_from_disruption(node):
            zone_conditions[zone_key(node)].append(assessment.current)
        current, observed = assessment.current, assessment.observed
        if current is not None:
            await self._process_taint_based_eviction(node, observed)
            was_ready = observed.get("status") == "True"
            if current.get("status") != "True" and was_ready:
                self._node_event(node, "NodeNotReady", f"Node {name} status is now: NodeNotReady")
            if (current.get("status") != "True" and was_ready) or (
                name in self._nodes_to_retry and not was_ready
            ):
                try:
                    await mark_pods_not_ready(
                        self._client,
                        self._recorder,
                        pods_on_node(self._pods, name),
                        name,
                        self._now,
                    )
                except ApiError as err:
                    log.warning("%s: marking pods on %s not ready: %s", self.name, name, err)
                    self._nodes_to_retry.add(name)
                    return
        self._nodes_to_retry.discard(name)

    async def _try_update_node_health(self, node: Obj) -> Assessment:
        name = name_of(node)
        assessment = assess(
            node,
            self._leases.get(f"{NODE_LEASE_NAMESPACE}/{name}"),
            self._health.get(name),
            mono=self._clock.now(),
            wall=self._now(),
            grace=self._opts.node_monitor_grace_period,
            startup_grace=self._opts.node_startup_grace_period,
        )
        self._health[name] = assessment.health
        if assessment.write:
            await self._client.update(
                resources.NODES.path(name=name, subresource="status"), assessment.node
            )
            self._health[name] = after_write(assessment, mono=self._clock.now())
        return assessment

    async def _process_taint_based_eviction(self, node: Obj, observed: Obj) -> None:
        status = observed.get("status")
        taints = taints_of(node)
        if status in ("False", "Unknown"):
            want, other = (
                (NOT_READY_NO_EXECUTE, UNREACHABLE_NO_EXECUTE)
                if status == "False"
                else (UNREACHABLE_NO_EXECUTE, NOT_READY_NO_EXECUTE)
            )
            if taint_exists(taints, other):
                if not await swap_taints(
                    self._client, node, add=[want], remove=[other], now=self._now
                ):
                    log.warning("%s: swapping the NoExecute taint of %s failed", self.name, node)
            else:
                self._mark_node_for_tainting(node, want)
        elif status == "True":
            await self._mark_node_as_reachable(node)

    def _ensure_zone(self, node: Obj) -> RateLimitedTimedQueue:
        return self._zones.tainter(zone_key(node))

    def _mark_node_for_tainting(self, node: Obj, taint: Obj) -> bool:
        tainter = self._ensure_zone(node)
        name = name_of(node)
        if not taint_exists(taints_of(node), taint):
            tainter.remove(name)
        return tainter.add(name, str((node.get("metadata") or {}).get("uid", "")))

    async def _mark_node_as_reachable(self, node: Obj) -> bool:
        removed = await swap_taints(
            self._client,
            node,
            add=[],
            remove=[UNREACHABLE_NO_EXECUTE, NOT_READY_NO_EXECUTE],
            now=self._now,
        )
        if not removed:
            log.warning("%s: removing the NoExecute taints of %s failed", self.name, name_of(node))
            return False
        return self._ensure_zone(node).remove(name_of(node))

    def _node_event(self, node: Obj, reason: str, event: str) -> None:
        meta = node.get("metadata") or {}
        name = str(meta.get("name", ""))
        note = event if reason == "NodeNotReady" else f"Node {name} event: {event}"
        self._recorder.post(
            node_ref(name, str(meta.get("uid", ""))),
            type="Normal",
            reason=reason,
            action=reason,
            note=note,
        )

    # -- NoExecute tainting, rate limited per zone ---------------------------------------------
    async def no_execute_tainting_pass(self) -> None:
        for zone in sorted(self._zones.tainters):
            await self._zones.tainters[zone].try_(self._taint_one)

    async def _taint_one(self, value: TimedValue) -> tuple[bool, float]:
        node = self._nodes.get(value.value)
        if node is None:
            return True, 0.0
        ready = ready_condition(node)
        if ready is None:
            return False, 0.05
        if ready.get("status") == "False":
            want, other = NOT_READY_NO_EXECUTE, UNREACHABLE_NO_EXECUTE
        elif ready.get("status") == "Unknown":
            want, other = UNREACHABLE_NO_EXECUTE, NOT_READY_NO_EXECUTE
        else:
            return True, 0.0  # Ready again: nothing to taint
        done = await swap_taints(self._client, node, add=[want], remove=[other], now=self._now)
        return done, 0.0

    # -- zones ---------------------------------------------------------------------------------
    @property
    def zone_states(self) -> dict[str, ZoneState]:
        return dict(self._zones.states)

    def zone_rate(self, zone: str) -> float:
        return self._zones.rate(zone)

    async def handle_disruption(
        self, zone_conditions: dict[str, list[Obj | None]], nodes: list[Obj]
    ) -> None:
        """Upstream's handleDisruption: zone states, their rates, and the all-disrupted stop."""
        change = self._zones.handle(zone_conditions)
        if change == Disruption.ENTERED:
            log.info("%s: all nodes are not Ready; entering master disruption mode", self.name)
            for node in nodes:
                await self._mark_node_as_reachable(node)
        elif change == Disruption.EXITED:
            log.info("%s: some nodes are Ready; exiting master disruption mode", self.name)
            now = self._clock.now()
            for node in nodes:
                health = self._health.get(name_of(node))
                if health is not None:
                    self._health[name_of(node)] = replace(health, probe=now, ready_transition=now)


def build(ctx: Context) -> Controller:
    return NodeLifecycleController(
        client=ctx.client,
        node_informer=ctx.informers.informer(resources.NODES),
        lease_informer=ctx.informers.informer(resources.LEASES, namespace=NODE_LEASE_NAMESPACE),
        pod_informer=ctx.informers.informer(resources.PODS),
        recorder=ctx.recorder(COMPONENT),
        options=ctx.options,
        clock=ctx.clock,
    )
