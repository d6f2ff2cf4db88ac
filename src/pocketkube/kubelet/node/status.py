"""The node status manager: registers the Node and keeps its status current.

Upstream's kubelet (pkg/kubelet/kubelet_node_status.go) computes the node's status every
``nodeStatusUpdateFrequency`` (10 s) but sends it only when something other than heartbeats
changed or ``nodeStatusReportFrequency`` (5 min) passed since the last report: liveness is the
Lease's job (``lease.py``), and a status PATCH per node every 10 s is the heaviest write a big
cluster sees. Each round reads the Node from the API (others change it too), runs the setters on
a copy, and patches the difference (``patch.py``), retrying up to 5 times at once.

Facts come from injected sources — the CRI runtime (``Status``, ``Version``), the image service,
a machine-info reader and a host-signals reader — so unit tests drive all of it with fakes and a
fake clock. Registration (``register``) retries with back-off from 100 ms to 7 s until the API
server takes the Node; at registration the runtime has not been polled yet, so the node starts
NotReady ("container runtime status check may not have completed yet") and the first update
(``run`` does one at once) makes it Ready with a ``NodeReady`` event. Until the node is first
Ready, ``run`` also checks every 100 ms whether it just became so and sends only that (upstream's
``fastStatusUpdateOnce``), so a runtime that gets ready late does not cost 10 s. A Node deleted
under a running kubelet is registered again (upstream keeps failing until restarted).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence

from pocketkube.client.clock import Clock, RealClock
from pocketkube.client.resources import NODES
from pocketkube.client.rest import ApiError
from pocketkube.kubelet.node import registration, setters
from pocketkube.kubelet.node.builder import StatusBuilder, StatusSettings
from pocketkube.kubelet.node.capacity import DEFAULT_MAX_PODS
from pocketkube.kubelet.node.conditions import READY, find_condition
from pocketkube.kubelet.node.events import NodeEvents
from pocketkube.kubelet.node.machineinfo import MachineInfo
from pocketkube.kubelet.node.patch import object_patch, status_changed, status_patch
from pocketkube.kubelet.node.pressure import (
    PRESSURE_TRANSITION_PERIOD,
    EvictionThresholds,
    HostSignals,
)
from pocketkube.kubelet.node.protocols import ApiClient, ImageLister, Obj, Recorder, RuntimeInfo
from pocketkube.kubelet.node.runtimeup import RUNTIME_SYNC_THRESHOLD, HealthCheck

log = logging.getLogger(__name__)

UPDATE_FREQUENCY = 10.0  # nodeStatusUpdateFrequency
REPORT_FREQUENCY = 300.0  # nodeStatusReportFrequency
UPDATE_RETRIES = 5  # nodeStatusUpdateRetry
REGISTER_BACKOFF = (0.1, 7.0)
JITTER = 0.04
NODE_READY_GRACE_PERIOD = 120.0
FAST_UPDATE_PERIOD = 0.1


class NodeStatusManager:
    """Registers one Node and keeps its status (``run``), or updates it on demand."""

    def __init__(
        self,
        *,
        client: ApiClient,
        recorder: Recorder,
        node_name: str,
        runtime: RuntimeInfo,
        images: ImageLister,
        machine: Callable[[], MachineInfo],
        node_ip: str,
        kubelet_version: str,
        hostname: str | None = None,
        labels: Mapping[str, str] | None = None,
        register_with_taints: Sequence[Obj] = (),
        register_schedulable: bool = True,
        pod_cidr: str | None = None,
        kubelet_port: int = 10250,
        kube_proxy_version: str = "",
        clock: Clock | None = None,
        wall_clock: Callable[[], float] = time.time,
        update_frequency: float = UPDATE_FREQUENCY,
        report_frequency: float = REPORT_FREQUENCY,
        max_pods: int = DEFAULT_MAX_PODS,
        max_images: int = setters.MAX_IMAGES,
        signals: Callable[[], HostSignals] | None = None,
        eviction_thresholds: EvictionThresholds | None = None,
        pressure_transition_period: float = PRESSURE_TRANSITION_PERIOD,
        runtime_sync_threshold: float = RUNTIME_SYNC_THRESHOLD,
        on_pod_cidr: Callable[[str], None] | None = None,
        jitter: float = JITTER,
    ) -> None:
        self._client = client
        self.node_name = node_name
        self._clock: Clock = clock or RealClock()
        self._events = NodeEvents(recorder=recorder, node_name=node_name)
        self._builder = StatusBuilder(
            settings=StatusSettings(
                node_name=node_name,
                node_ip=node_ip,
                hostname=hostname or node_name,
                kubelet_port=kubelet_port,
                kubelet_version=kubelet_version,
                kube_proxy_version=kube_proxy_version,
                max_pods=max_pods,
                max_images=max_images,
            ),
            events=self._events,
            runtime=runtime,
            images=images,
            machine=machine,
            clock=self._clock,
            wall_clock=wall_clock,
            signals=signals,
            eviction_thresholds=eviction_thresholds,
            pressure_transition_period=pressure_transition_period,
            runtime_sync_threshold=runtime_sync_threshold,
        )
        self._labels = dict(labels or {})
        self._taints = list(register_with_taints)
        self._schedulable = register_schedulable
        self._pod_cidr = pod_cidr
        self._update_frequency = update_frequency
        self._report_frequency = report_frequency
        self._on_pod_cidr = on_pod_cidr
        self._jitter = jitter
        self._lock = asyncio.Lock()
        self._node: Obj | None = None
        self._registered = False
        self._started = False
        self._last_report = -math.inf
        self._seen_pod_cidr = ""

    @property
    def node(self) -> Obj | None:
        """The Node as last read from or written to the API server."""
        return self._node

    @property
    def registered(self) -> bool:
        return self._registered

    def add_health_check(self, name: str, check: HealthCheck) -> None:
        """A check whose failure (a message; ``None`` is healthy) makes the node NotReady with
        "<name> is not healthy: <message>" (upstream's PLEG check is one)."""
        self._builder.add_health_check(name, check)

    # -- registration --------------------------------------------------------------------------
    async def register(self) -> Obj:
        """Create the Node, or reconcile the existing one; retried until it works."""
        async with self._lock:
            return await self._register()

    async def _register(self) -> Obj:
        if not self._started:
            self._started = True
            self._events.starting()
        delay, cap = REGISTER_BACKOFF
        while True:
            try:
                node = await self._try_register()
            except ApiError as err:
                log.warning(
                    "unable to register node %s with the API server: %s", self.node_name, err
                )
            else:
                log.info("registered node %s", self.node_name)
                self._node, self._registered = node, True
                return node
            delay = min(delay * 2, cap)
            await self._clock.sleep(delay)

    async def _try_register(self) -> Obj:
        await self._builder.machine_info()  # the os and arch labels come from it
        initial = registration.initial_node(self._config())
        await self._builder.apply(initial, poll_runtime=False)
        try:
            return await self._client.create(NODES.path(), initial)
        except ApiError as err:
            if not err.already_exists:
                raise
        existing = await self._client.get(NODES.path(name=self.node_name))
        original = copy.deepcopy(existing)
        log.info("node %s was previously registered", self.node_name)
        if registration.reconcile_existing(initial, existing):
            return await self._send(original, existing)
        return existing

    def _config(self) -> registration.NodeConfig:
        operating_system, architecture = self._builder.platform
        return registration.NodeConfig(
            node_name=self.node_name,
            hostname=self._builder.settings.hostname,
            operating_system=operating_system,
            architecture=architecture,
            labels=self._labels,
            taints=self._taints,
            schedulable=self._schedulable,
            pod_cidr=self._pod_cidr,
        )

    # -- status updates ------------------------------------------------------------------------
    async def run(self) -> None:
        """Register if needed, then update the status every ``update_frequency`` seconds
        (with upstream's 4% jitter) until cancelled; meanwhile, until the node is first Ready
        (for at most 2 minutes), check every 100 ms whether it just became so."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._periodic_updates())
            group.create_task(self._fast_update_until_ready())

    async def _periodic_updates(self) -> None:
        while True:
            try:
                await self.update_now()
            except Exception:  # a bug in one round must not end the heartbeat for good
                log.exception("updating the status of node %s failed", self.node_name)
            period = self._update_frequency * (1 + random.random() * self._jitter)
            await self._clock.sleep(period)

    async def _fast_update_until_ready(self) -> None:
        """Upstream's ``fastStatusUpdateOnce``: a runtime that becomes ready a second after
        start makes the node Ready a second after start, not at the next 10 s update. Only the
        update that makes the node Ready is sent."""
        start = self._clock.now()
        while self._clock.now() - start < NODE_READY_GRACE_PERIOD:
            try:
                if await self._fast_update():
                    return
            except ApiError as err:
                log.warning("fast status update of node %s failed: %s", self.node_name, err)
                await self.update_now()
            await self._clock.sleep(FAST_UPDATE_PERIOD)
        log.error("node %s not becoming ready in time after startup", self.node_name)

    async def _fast_update(self) -> bool:
        async with self._lock:
            original = self._node
            if original is None or not self._registered:
                return False
            if _is_ready(original):
                return True
            node = copy.deepcopy(original)
            await self._builder.apply(node, poll_runtime=True)
            if not _is_ready(node):
                return False
            log.info("fast updating node %s status as it just became ready", self.node_name)
            self._node = await self._send(original, node)
            self._last_report = self._clock.now()
            return True

    async def update_now(self) -> bool:
        """One round of upstream's updateNodeStatus; whether the status was sent."""
        async with self._lock:
            if not self._registered:
                await self._register()
            for attempt in range(UPDATE_RETRIES):
                try:
                    return await self._try_update()
                except ApiError as err:
                    if err.not_found:
                        log.warning("node %s is gone: registering it again", self.node_name)
                        self._registered = False
                        return False
                    log.warning(
                        "error updating node %s status (try %d), will retry: %s",
                        self.node_name,
                        attempt + 1,
                        err,
                    )
            log.error("updating node %s status exceeds the retry count", self.node_name)
            return False

    async def _try_update(self) -> bool:
        original = await self._client.get(NODES.path(name=self.node_name))
        node = copy.deepcopy(original)
        changed = self._observe_pod_cidr(node)
        changed = self._ensure_platform_labels(node) or changed
        await self._builder.apply(node, poll_runtime=True)
        changed = changed or status_changed(original.get("status") or {}, node["status"])
        if not changed and self._clock.now() - self._last_report < self._report_frequency:
            self._node = original
            return False
        self._node = await self._send(original, node)
        self._last_report = self._clock.now()
        return True

    async def _send(self, original: Obj, updated: Obj) -> Obj:
        result = updated
        changes = object_patch(original, updated)
        if changes:
            result = await self._client.patch(NODES.path(name=self.node_name), changes)
        status = status_patch(original.get("status") or {}, updated.get("status") or {})
        if status:
            path = NODES.path(name=self.node_name, subresource="status")
            result = await self._client.patch(path, {"status": status}, patch_type="strategic")
        return result

    def _observe_pod_cidr(self, node: Obj) -> bool:
        cidr = (node.get("spec") or {}).get("podCIDR") or ""
        if not cidr or cidr == self._seen_pod_cidr:
            return False
        self._seen_pod_cidr = cidr
        if self._on_pod_cidr is not None:
            self._on_pod_cidr(cidr)
        return True

    def _ensure_platform_labels(self, node: Obj) -> bool:
        """kubernetes.io/os and /arch must be right even if someone removed them."""
        operating_system, architecture = self._builder.platform
        wanted = {registration.LABEL_OS: operating_system, registration.LABEL_ARCH: architecture}
        labels: dict[str, str] = node.setdefault("metadata", {}).setdefault("labels", {})
        missing = {key: value for key, value in wanted.items() if labels.get(key) != value}
        labels.update(missing)
        return bool(missing)


def _is_ready(node: Obj) -> bool:
    ready = find_condition(node, READY)
    return ready is not None and ready.get("status") == "True"
