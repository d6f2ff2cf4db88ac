"""One probe of one container, run every ``periodSeconds`` (upstream's prober/worker.go).

A worker belongs to (pod, container name, probe type) and outlives the container's restarts: each
time it finds a new container ID in the pod's status it starts over — the previous result is
dropped, the cache gets the probe's initial value (readiness Failure: not ready until proven;
liveness Success: not killed until proven dead; startup Unknown) and the consecutive-result count
restarts. Then, on every tick:

- a container that is not running reads as Failure (quietly: nothing is killed for it); the worker
  ends if it terminated and the pod never restarts containers;
- while the pod terminates, liveness and startup record Success and stop: a container on its way
  out is not killed again (readiness keeps probing, as upstream: ``kubectl get pods`` shows
  ``1/1 Terminating`` and the endpoints mark the pod terminating themselves);
- nothing is probed during ``initialDelaySeconds`` after the container's ``startedAt``; liveness
  and readiness wait for the startup probe to succeed, and startup stops once it has;
- a probe result only becomes *the* result after ``failureThreshold`` failures or
  ``successThreshold`` successes in a row; an errored probe is not counted at all;
- after a liveness failure (the kubelet will restart the container) or a startup verdict either
  way, the worker holds until a new container ID appears.

The first probe waits a random part of the period when the kubelet has just started, so that a
restarted kubelet does not probe every container at the same instant. ``trigger`` runs a probe
at once (the manager does so when a readiness result is still missing) and restarts the period.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from pocketkube.client.clock import Clock
from pocketkube.kubelet.prober.prober import ProbeRunner
from pocketkube.kubelet.prober.results import Result, ResultsCache
from pocketkube.kubelet.prober.spec import ProbeSpec, ProbeType

log = logging.getLogger(__name__)

Obj = dict[str, Any]

INITIAL_RESULT = {
    ProbeType.READINESS: Result.FAILURE,
    ProbeType.LIVENESS: Result.SUCCESS,
    ProbeType.STARTUP: Result.UNKNOWN,
}


class StatusSource(Protocol):
    """The kubelet's current view of its pods (its status manager's cache), read synchronously.

    ``get_container_status`` returns the API ``ContainerStatus`` dict of the named container —
    app container or (sidecar) init container — with ``containerID`` and ``state``
    (``state.running.startedAt`` as RFC 3339), or ``None`` while it has none."""

    def get_container_status(self, pod_uid: str, name: str) -> Obj | None: ...

    def get_pod_ip(self, pod_uid: str) -> str | None: ...


class WorkerOwner(Protocol):
    """What a worker reports to (the manager)."""

    def container_started(self, pod_uid: str, status: Obj) -> bool: ...

    def result_set(self, worker: Worker, result: Result, *, changed: bool, probed: bool) -> None:
        """``result`` was recorded for the worker's container; ``probed`` is False for the
        bookkeeping values (initial value, not running, terminating)."""
        ...

    def worker_done(self, worker: Worker) -> None: ...


def parse_time(value: Any) -> float | None:
    """Seconds since the epoch of an RFC 3339 time, ``None`` if absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class Worker:
    def __init__(
        self,
        *,
        probe_type: ProbeType,
        spec: ProbeSpec,
        pod: Obj,
        container: Obj,
        owner: WorkerOwner,
        prober: ProbeRunner,
        status_source: StatusSource,
        results: ResultsCache,
        clock: Clock,
        wall_clock: Callable[[], float],
        jitter: float = 0.0,
    ) -> None:
        self.probe_type = probe_type
        self.spec = spec
        self.pod = pod  # replaced by the manager when a newer copy arrives
        self.container = container
        self.pod_uid: str = pod["metadata"]["uid"]
        self.name: str = container["name"]
        self.container_id = ""
        self.last_result: Result | None = None
        self.result_run = 0
        self.on_hold = False
        self._owner = owner
        self._prober = prober
        self._source = status_source
        self._results = results
        self._clock = clock
        self._wall = wall_clock
        self._jitter = jitter
        self._trigger = asyncio.Event()

    @property
    def key(self) -> tuple[str, str, ProbeType]:
        return (self.pod_uid, self.name, self.probe_type)

    def trigger(self) -> None:
        """Probe at the next chance instead of at the next tick."""
        self._trigger.set()

    async def run(self) -> None:
        """Probe until the container ends for good or the task is cancelled."""
        try:
            if self._jitter > 0:
                await self._clock.sleep(self._jitter)
            next_tick = self._clock.now()
            while await self._step():
                next_tick = max(next_tick + self.spec.period, self._clock.now())
                if await self._wait(next_tick - self._clock.now()):
                    next_tick = self._clock.now()  # a manual run restarts the period
        finally:
            self._owner.worker_done(self)  # drops this worker's results

    async def _step(self) -> bool:
        try:
            return await self.do_probe()
        except Exception:  # a broken probe must not stop the others (upstream HandleCrash)
            kind = self.probe_type.value
            log.exception("%s probe of %s/%s crashed", kind, self.pod_uid, self.name)
            return True

    async def _wait(self, seconds: float) -> bool:
        """Sleep ``seconds`` or until triggered; whether it was a trigger."""
        if not self._trigger.is_set():
            sleeper = asyncio.ensure_future(self._clock.sleep(max(seconds, 0.0)))
            waiter = asyncio.ensure_future(self._trigger.wait())
            try:
                await asyncio.wait((sleeper, waiter), return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                waiter.cancel()
                await asyncio.gather(sleeper, waiter, return_exceptions=True)
        triggered = self._trigger.is_set()
        self._trigger.clear()
        return triggered

    async def do_probe(self) -> bool:
        """One tick: probe if it is time to and record what it means; whether to go on."""
        status = self._source.get_container_status(self.pod_uid, self.name)
        container_id = (status or {}).get("containerID") or ""
        if status is None or not container_id:
            return True  # not created yet, or gone: wait for news
        if container_id != self.container_id:
            if self.container_id:
                self._results.remove(self.container_id)
            self.container_id = container_id
            self.on_hold = False
            self.last_result, self.result_run = None, 0
            self._set(INITIAL_RESULT[self.probe_type], probed=False)
        if self.on_hold:
            return True
        state = status.get("state") or {}
        running = state.get("running")
        if running is None:
            self._set(Result.FAILURE, probed=False)
            never = (self.pod.get("spec") or {}).get("restartPolicy") == "Never"
            return "terminated" not in state or not never
        if self.probe_type is not ProbeType.READINESS and self._pod_terminating():
            self._set(Result.SUCCESS, probed=False)  # a quiet end: no kill while terminating
            return False
        started_at = parse_time(running.get("startedAt"))
        if started_at is not None and int(self._wall() - started_at) < self.spec.initial_delay:
            return True
        started = self._owner.container_started(self.pod_uid, status)
        if started == (self.probe_type is ProbeType.STARTUP):
            return True  # startup is done once started; the others wait for it
        result = await self._prober.probe(
            self.probe_type,
            self.spec,
            pod=self.pod,
            container=self.container,
            container_id=self.container_id,
            pod_ip=self._source.get_pod_ip(self.pod_uid) or "",
        )
        if result is None:
            return True  # errored: thrown away
        return self._count(result)

    def _count(self, result: Result) -> bool:
        if result == self.last_result:
            self.result_run += 1
        else:
            self.last_result, self.result_run = result, 1
        if (result is Result.FAILURE and self.result_run < self.spec.failure_threshold) or (
            result is Result.SUCCESS and self.result_run < self.spec.success_threshold
        ):
            return True
        self._set(result, probed=True)
        if self.probe_type is ProbeType.STARTUP or (
            self.probe_type is ProbeType.LIVENESS and result is Result.FAILURE
        ):
            self.on_hold, self.result_run = True, 0
        return True

    def _pod_terminating(self) -> bool:
        return bool((self.pod.get("metadata") or {}).get("deletionTimestamp"))

    def _set(self, result: Result, *, probed: bool) -> None:
        changed = self._results.set(self.container_id, result)
        self._owner.result_set(self, result, changed=changed, probed=probed)
