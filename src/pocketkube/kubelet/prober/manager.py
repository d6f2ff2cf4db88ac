"""The prober manager: a worker per declared probe, and what their results mean for the kubelet.

Upstream's prober_manager.go. ``add_pod`` creates a worker for each startup, readiness and
liveness probe of the pod's containers and sidecar init containers (idempotent: calling it again
with a newer copy of the pod only refreshes the workers' copy, e.g. its deletionTimestamp);
``remove_pod`` stops them. The workers run as tasks of ``run``'s TaskGroup, so cancelling ``run``
stops every probe; pods added before ``run`` starts wait for it.

The kubelet learns about results three ways:

- ``update_pod_status`` fills ``started`` and ``ready`` of the pod's container statuses when the
  kubelet builds its status: started once the startup probe succeeded (at once without one), ready
  once started and the readiness probe succeeded (at once without one). A readiness probe without
  a result yet is run straight away rather than at its next tick;
- ``on_change(pod_uid)`` when a readiness or startup result changes, so that the kubelet rebuilds
  the pod's status (and the Ready condition, which is what takes the pod out of endpoints);
- ``on_failure(pod_uid, container_name, container_id, probe_type, message, grace_period)`` when a
  liveness or startup probe fails ``failureThreshold`` times in a row: the kubelet kills the
  container (event ``Killing`` with ``message`` — ``Container web failed liveness probe`` — plus
  ``, will be restarted`` when the restart policy restarts it) with ``grace_period``, the probe's
  own terminationGracePeriodSeconds, or the pod's when that is ``None``.

Both callbacks are called from a worker and must not block (enqueue work, set an event).
"""

from __future__ import annotations

import asyncio
import logging
import random as _random
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from pocketkube.client.clock import Clock, RealClock
from pocketkube.kubelet.prober.events import EventPoster
from pocketkube.kubelet.prober.execprobe import ExecRuntime
from pocketkube.kubelet.prober.prober import Prober, ProbeRunner
from pocketkube.kubelet.prober.results import Result, ResultsCache
from pocketkube.kubelet.prober.spec import ProbeType, container_probe
from pocketkube.kubelet.prober.worker import StatusSource, Worker

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Key = tuple[str, str, ProbeType]


class FailureCallback(Protocol):
    """Called positionally, so any parameter names will do."""

    def __call__(
        self,
        pod_uid: str,
        container_name: str,
        container_id: str,
        probe_type: ProbeType,
        message: str,
        grace_period: int | None,
        /,
    ) -> None: ...


class PodProber(Protocol):
    """What the kubelet uses of the prober (``ProberManager``, ``fake.FakeProberManager``)."""

    async def run(self) -> None: ...
    def add_pod(self, pod: Obj) -> None: ...
    def remove_pod(self, pod_uid: str) -> None: ...
    def set_terminating(self, pod_uid: str) -> None: ...
    def cleanup_pods(self, active_uids: Iterable[str]) -> None: ...
    def update_pod_status(self, pod: Obj, status: Obj) -> None: ...


def probed_containers(pod: Obj) -> list[Obj]:
    """Containers that can have probes: app containers and sidecar (restartable) init ones."""
    spec = pod.get("spec") or {}
    sidecars = [c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    return [*(spec.get("containers") or []), *sidecars]


class ProberManager:
    def __init__(
        self,
        *,
        runtime: ExecRuntime,
        recorder: EventPoster,
        status_source: StatusSource,
        on_failure: FailureCallback,
        on_change: Callable[[str], None],
        clock: Clock | None = None,
        wall_clock: Callable[[], float] = time.time,
        random: Callable[[], float] = _random.random,
        prober: ProbeRunner | None = None,
    ) -> None:
        self._source = status_source
        self._on_failure = on_failure
        self._on_change = on_change
        self._clock = clock or RealClock()
        self._wall = wall_clock
        self._random = random
        self._prober = prober or Prober(runtime=runtime, recorder=recorder)
        self._results = {kind: ResultsCache() for kind in ProbeType}
        self._workers: dict[Key, Worker] = {}
        self._tasks: dict[Key, asyncio.Task[None]] = {}
        self._terminating: set[str] = set()
        self._group: asyncio.TaskGroup | None = None
        self._started_at = self._clock.now()

    async def run(self) -> None:
        """Run the workers until cancelled; they all end with it (add the pods again to probe
        them under a new ``run``)."""
        async with asyncio.TaskGroup() as group:
            self._group = group
            try:
                for worker in list(self._workers.values()):
                    self._start(worker)
                await asyncio.Future()  # until cancelled
            finally:
                self._group = None

    def add_pod(self, pod: Obj) -> None:
        uid = self._refresh(pod)
        for container in probed_containers(pod):
            for probe_type in (ProbeType.STARTUP, ProbeType.READINESS, ProbeType.LIVENESS):
                spec = container_probe(container, probe_type)
                key = (uid, container["name"], probe_type)
                if spec is None or key in self._workers:
                    continue
                if uid in self._terminating and probe_type is not ProbeType.READINESS:
                    continue  # stopped for good once the pod terminates
                worker = Worker(
                    probe_type=probe_type,
                    spec=spec,
                    pod=pod,
                    container=container,
                    owner=self,
                    prober=self._prober,
                    status_source=self._source,
                    results=self._results[probe_type],
                    clock=self._clock,
                    wall_clock=self._wall,
                    jitter=self._jitter(spec.period),
                )
                self._workers[key] = worker
                self._start(worker)

    def remove_pod(self, pod_uid: str) -> None:
        """Stop every worker of the pod; their results go with them."""
        for key in [k for k in self._workers if k[0] == pod_uid]:
            self._stop(key)
        self._terminating.discard(pod_uid)

    def set_terminating(self, pod_uid: str) -> None:
        """The pod is being deleted: stop liveness and startup probes (nothing more gets killed
        for failing them); readiness keeps probing. Upstream StopLivenessAndStartup."""
        self._terminating.add(pod_uid)
        for key in [k for k in self._workers if k[0] == pod_uid]:
            if key[2] is not ProbeType.READINESS:
                self._stop(key)

    def cleanup_pods(self, active_uids: Iterable[str]) -> None:
        """Stop the workers of every pod not in ``active_uids``."""
        known = {key[0] for key in self._workers} | self._terminating
        for uid in known - set(active_uids):
            self.remove_pod(uid)

    def update_pod_status(self, pod: Obj, status: Obj) -> None:
        """Set ``started`` and ``ready`` of ``status``'s container statuses (in place)."""
        uid = self._refresh(pod)
        for container_status in status.get("containerStatuses") or []:
            self._fill(uid, container_status)
        init_specs = {c.get("name"): c for c in (pod.get("spec") or {}).get("initContainers") or []}
        for container_status in status.get("initContainerStatuses") or []:
            spec = init_specs.get(container_status.get("name"), {})
            if spec.get("restartPolicy") == "Always":
                self._fill(uid, container_status)
                continue
            container_status["started"] = self.container_started(uid, container_status)
            terminated = (container_status.get("state") or {}).get("terminated")
            done = isinstance(terminated, dict) and terminated.get("exitCode") == 0
            container_status["ready"] = done

    def result(self, probe_type: ProbeType, container_id: str) -> Result | None:
        """The current result of a container's probe of that type (``None``: no result)."""
        return self._results[probe_type].get(container_id)

    def worker_keys(self) -> set[Key]:
        return set(self._workers)

    # The worker's owner interface.

    def container_started(self, pod_uid: str, status: Obj) -> bool:
        if (status.get("state") or {}).get("running") is None:
            return False
        result = self._results[ProbeType.STARTUP].get(status.get("containerID") or "")
        if result is not None:
            return result is Result.SUCCESS
        return (pod_uid, status.get("name", ""), ProbeType.STARTUP) not in self._workers

    def result_set(self, worker: Worker, result: Result, *, changed: bool, probed: bool) -> None:
        kind = worker.probe_type
        if changed and kind is not ProbeType.LIVENESS:
            self._on_change(worker.pod_uid)
        if probed and result is Result.FAILURE and kind is not ProbeType.READINESS:
            message = f"Container {worker.name} failed {kind.value.lower()} probe"
            self._on_failure(
                worker.pod_uid,
                worker.name,
                worker.container_id,
                kind,
                message,
                worker.spec.termination_grace_period,
            )

    def worker_done(self, worker: Worker) -> None:
        current = self._workers.get(worker.key)
        if current is worker:
            del self._workers[worker.key]
            self._tasks.pop(worker.key, None)
        if worker.container_id and (current is None or current is worker):
            self._results[worker.probe_type].remove(worker.container_id)

    # Internals.

    def _fill(self, pod_uid: str, status: Obj) -> None:
        started = self.container_started(pod_uid, status)
        status["started"] = started
        ready = False
        if started:
            result = self._results[ProbeType.READINESS].get(status.get("containerID") or "")
            worker = self._workers.get((pod_uid, status.get("name", ""), ProbeType.READINESS))
            ready = result is Result.SUCCESS or worker is None
            if worker is not None and result is not Result.SUCCESS:
                worker.trigger()
        status["ready"] = ready

    def _refresh(self, pod: Obj) -> str:
        """Give the pod's workers this copy of it; note a deletion. The pod's uid."""
        uid: str = pod["metadata"]["uid"]
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            self._terminating.add(uid)
        for key, worker in self._workers.items():
            if key[0] == uid:
                worker.pod = pod
        return uid

    def _jitter(self, period: float) -> float:
        recently = period > self._clock.now() - self._started_at
        return self._random() * period if recently else 0.0

    def _start(self, worker: Worker) -> None:
        if self._group is not None and worker.key not in self._tasks:
            name = f"probe {worker.probe_type.value} {worker.pod_uid}/{worker.name}"
            self._tasks[worker.key] = self._group.create_task(worker.run(), name=name)

    def _stop(self, key: Key) -> None:
        worker = self._workers.pop(key, None)
        task = self._tasks.pop(key, None)
        if task is not None:
            task.cancel()  # its cleanup drops its results
        elif worker is not None and worker.container_id:
            self._results[key[2]].remove(worker.container_id)
