"""Gathers the facts a node status reports and runs the setters over a node.

The facts are asynchronous and may fail — the runtime's ``Status`` and ``Version``, the image
list, the host's machine info and eviction signals — so they are gathered first, each bounded in
time and reported as missing when it fails (a broken runtime makes the node NotReady; it never
stops the status from being written). The setters then run in upstream's order
(``defaultNodeStatusFuncs``): addresses, machine info, versions, daemon endpoints, images, OS
and architecture, the pressure conditions, Ready, and the schedulable event.

Machine info is read once and kept, as upstream caches cAdvisor's: the machine does not change
under a running kubelet (a failed read is retried at the next update).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from pocketkube.client.clock import Clock
from pocketkube.kubelet.node import conditions, setters
from pocketkube.kubelet.node.capacity import DEFAULT_MAX_PODS, capacity
from pocketkube.kubelet.node.events import (
    NODE_NOT_SCHEDULABLE,
    NODE_REBOOTED,
    NODE_SCHEDULABLE,
    NodeEvents,
)
from pocketkube.kubelet.node.machineinfo import MachineInfo
from pocketkube.kubelet.node.pressure import (
    DISK,
    MEMORY,
    PID,
    PRESSURE_TRANSITION_PERIOD,
    EvictionThresholds,
    HostSignals,
    PressureTracker,
)
from pocketkube.kubelet.node.protocols import ImageLister, Obj, RuntimeInfo
from pocketkube.kubelet.node.runtimeup import RUNTIME_SYNC_THRESHOLD, HealthCheck, RuntimeReadiness

log = logging.getLogger(__name__)

RUNTIME_CALL_TIMEOUT = 10.0
T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class StatusSettings:
    """What the node reports about itself that is configuration, not measurement."""

    node_name: str
    node_ip: str
    hostname: str
    kubelet_port: int = 10250
    kubelet_version: str = ""
    kube_proxy_version: str = ""
    max_pods: int = DEFAULT_MAX_PODS
    max_images: int = setters.MAX_IMAGES


class StatusBuilder:
    """Fills a node's status from the runtime, the image service and the host."""

    def __init__(
        self,
        *,
        settings: StatusSettings,
        events: NodeEvents,
        runtime: RuntimeInfo,
        images: ImageLister,
        machine: Callable[[], MachineInfo],
        clock: Clock,
        wall_clock: Callable[[], float] = time.time,
        signals: Callable[[], HostSignals] | None = None,
        eviction_thresholds: EvictionThresholds | None = None,
        pressure_transition_period: float = PRESSURE_TRANSITION_PERIOD,
        runtime_sync_threshold: float = RUNTIME_SYNC_THRESHOLD,
    ) -> None:
        self.settings = settings
        self._events = events
        self._runtime = runtime
        self._images = images
        self._read_machine = machine
        self._wall = wall_clock
        self._read_signals = signals
        self._pressure = PressureTracker(
            thresholds=eviction_thresholds,
            transition_period=pressure_transition_period,
            clock=clock.now,
        )
        self._readiness = RuntimeReadiness(clock=clock.now, sync_threshold=runtime_sync_threshold)
        self._machine: MachineInfo | None = None
        self._runtime_name = "unknown"
        self._last_unschedulable = False

    def add_health_check(self, name: str, check: HealthCheck) -> None:
        self._readiness.add_health_check(name, check)

    @property
    def platform(self) -> tuple[str, str]:
        """(operating system, architecture) for the labels and nodeInfo."""
        machine = self._machine
        return (machine.operating_system, machine.architecture) if machine else ("linux", "amd64")

    async def machine_info(self) -> MachineInfo | None:
        if self._machine is None:
            try:
                self._machine = await asyncio.to_thread(self._read_machine)
            except Exception as err:
                log.error("error getting machine info: %s", err)
        return self._machine

    async def apply(self, node: Obj, *, poll_runtime: bool) -> None:
        """Run every setter over ``node``; ``poll_runtime`` asks the runtime for its state first
        (registration does not: the node registers before the runtime was checked)."""
        settings = self.settings
        if poll_runtime:
            status = await self._call(self._runtime.status(), "runtime status")
            if status is not None:
                self._readiness.record(status)
        info = await self.machine_info()
        version = await self._call(self._runtime.version(), "runtime version")
        if version is not None:
            self._runtime_name = version.runtime_name
        listed = await self._call(self._images.list_images(), "image list")
        pressure = self._pressure.observe(await self._host_signals())
        now = conditions.rfc3339(self._wall())
        operating_system, architecture = self.platform

        setters.node_address(node, node_ip=settings.node_ip, hostname=settings.hostname)
        setters.machine_info(
            node,
            info=info,
            max_pods=settings.max_pods,
            reserved=self._reserved(info),
            rebooted=self._rebooted,
        )
        setters.version_info(
            node,
            info=info,
            runtime=version,
            runtime_name=self._runtime_name,
            kubelet_version=settings.kubelet_version,
            kube_proxy_version=settings.kube_proxy_version,
        )
        setters.daemon_endpoints(node, kubelet_port=settings.kubelet_port)
        setters.images(node, listed=listed, max_images=settings.max_images)
        setters.go_runtime(node, operating_system=operating_system, architecture=architecture)
        record = self._events.status
        for type_, under in ((MEMORY, pressure.memory), (DISK, pressure.disk), (PID, pressure.pid)):
            conditions.set_pressure_condition(
                node, type_=type_, under_pressure=under, now=now, record=record
            )
        conditions.set_ready_condition(
            node,
            errors=self._readiness.errors(),
            notes=self._readiness.notes,
            now=now,
            record=record,
        )
        self._schedulable_event(node)

    def _reserved(self, info: MachineInfo | None) -> dict[str, int]:
        full = capacity(info, max_pods=self.settings.max_pods) if info is not None else {}
        return self._pressure.thresholds.reserved(full)

    def _rebooted(self, boot_id: str) -> None:
        note = f"Node {self.settings.node_name} has been rebooted, boot id: {boot_id}"
        self._events.post("Warning", NODE_REBOOTED, note)

    def _schedulable_event(self, node: Obj) -> None:
        unschedulable = bool((node.get("spec") or {}).get("unschedulable"))
        if unschedulable != self._last_unschedulable:
            reason = NODE_NOT_SCHEDULABLE if unschedulable else NODE_SCHEDULABLE
            self._events.status("Normal", reason)
            self._last_unschedulable = unschedulable

    async def _host_signals(self) -> HostSignals | None:
        if self._read_signals is None:
            return None
        try:
            return await asyncio.to_thread(self._read_signals)
        except Exception as err:
            log.warning("error measuring eviction signals: %s", err)
            return None

    async def _call(self, call: Awaitable[T], what: str) -> T | None:
        """A runtime call bounded in time; its failure is logged and reported as ``None``."""
        try:
            async with asyncio.timeout(RUNTIME_CALL_TIMEOUT):
                return await call
        except Exception as err:  # a runtime's failure is reported, never fatal here
            log.warning("node %s: error getting %s: %s", self.settings.node_name, what, err)
            return None
