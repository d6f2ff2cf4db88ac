"""The zones' states and their tainting queues (upstream's handleDisruption, setLimiterInZone,
ReducedQPSFunc/HealthyQPSFunc); the controller performs what a change asks for.

Each pass, the Ready conditions of a zone's nodes give its new state (``compute_zone_state``).
Unless every zone was and is fully disrupted: when all zones become fully disrupted every
queue's rate drops to 0 and the controller removes every NoExecute taint (``ENTERED``); when
leaving that mode every zone gets its state's rate and the controller resets its probe times
(``EXITED``); otherwise each zone whose state changed gets its state's rate: Normal and
FullDisruption the normal rate, PartialDisruption the secondary rate in zones of more than
``--large-cluster-size-threshold`` nodes and 0 in smaller ones.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pocketkube.client.clock import Clock
from pocketkube.client.rest import Obj
from pocketkube.controllers.nodelifecycle.ratelimited import (
    RateLimitedTimedQueue,
    ZoneState,
    compute_zone_state,
)

log = logging.getLogger(__name__)


class Disruption(enum.Enum):
    UNCHANGED = "unchanged"
    ENTERED = "entered"  # every zone is fully disrupted now
    EXITED = "exited"  # some zone is not any more


@dataclass(frozen=True, kw_only=True)
class Rates:
    normal: float
    secondary: float
    large_cluster_threshold: int
    unhealthy_threshold: float

    def for_state(self, size: int, state: ZoneState) -> float | None:
        if state in (ZoneState.NORMAL, ZoneState.FULL_DISRUPTION):
            return self.normal
        if state == ZoneState.PARTIAL_DISRUPTION:
            return self.secondary if size > self.large_cluster_threshold else 0.0
        return None


class Zones:
    def __init__(self, *, rates: Rates, clock: Clock) -> None:
        self._rates = rates
        self._clock = clock
        self.states: dict[str, ZoneState] = {}
        self.tainters: dict[str, RateLimitedTimedQueue] = {}

    def tainter(self, zone: str) -> RateLimitedTimedQueue:
        """The zone's queue, made (with state Initial) the first time the zone is seen."""
        tainter = self.tainters.get(zone)
        if tainter is None:
            self.states[zone] = ZoneState.INITIAL
            tainter = RateLimitedTimedQueue(self._rates.normal, clock=self._clock)
            self.tainters[zone] = tainter
        return tainter

    def rate(self, zone: str) -> float:
        return self.tainters[zone].limiter.qps

    def _set_rate(self, zone: str, size: int, state: ZoneState) -> None:
        rate = self._rates.for_state(size, state)
        if rate is not None:
            self.tainter(zone).swap_limiter(rate)

    def handle(self, zone_conditions: Mapping[str, Sequence[Obj | None]]) -> Disruption:
        new_states: dict[str, ZoneState] = {}
        all_are_full = True
        for zone, conds in zone_conditions.items():
            _, state = compute_zone_state(conds, self._rates.unhealthy_threshold)
            all_are_full = all_are_full and state == ZoneState.FULL_DISRUPTION
            new_states[zone] = state
            self.tainter(zone)
            self.states.setdefault(zone, ZoneState.INITIAL)
        all_were_full = True
        for zone, state in list(self.states.items()):
            if zone not in zone_conditions:
                del self.states[zone]
                continue
            if state != ZoneState.FULL_DISRUPTION:
                all_were_full = False
                break
        if all_are_full and all_were_full:
            return Disruption.UNCHANGED
        if all_are_full:
            for zone in self.states:
                self.tainter(zone).swap_limiter(0.0)
                self.states[zone] = ZoneState.FULL_DISRUPTION
            return Disruption.ENTERED
        if all_were_full:
            for zone in list(self.states):
                if zone in new_states:
                    self._set_rate(zone, len(zone_conditions[zone]), new_states[zone])
                    self.states[zone] = new_states[zone]
            return Disruption.EXITED
        for zone, state in list(self.states.items()):
            new = new_states.get(zone)
            if new is None or new == state:
                continue
            log.info("node lifecycle: zone %r is now %s", zone, new)
            self._set_rate(zone, len(zone_conditions[zone]), new)
            self.states[zone] = new
        return Disruption.UNCHANGED
