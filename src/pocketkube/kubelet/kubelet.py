"""The kubelet's sync loop: make the runtime match the pods bound to this node, report status.

Pods come from an informer on ``spec.nodeName=<node>``; every change to a pod, every container
event the PLEG notices, every probe verdict and a 2-second housekeeping pass wake the pod's
worker (``podworkers.py``), which runs ``sync`` for that pod, level-triggered:

- a pod the API no longer has: stop and remove whatever the runtime holds for it;
- a pod being deleted, or one whose phase is terminal, or past its ``activeDeadlineSeconds``:
  stop its containers within the grace period (preStop, SIGTERM, SIGKILL), report the final
  status, and for a deleted pod remove it and confirm the deletion (grace 0);
- any other pod: report its status, mount its volumes, compute the actions (``actions.py``) and
  carry them out (``runtimemanager.py``). The status reported before the actions is *held*
  (``STATUS_HOLD``): when they change something, the worker syncs again at once and reports
  the outcome, which replaces it, so a pod that starts quickly is written once, Running; the
  newest status goes out as soon as the worker has nothing more to do at once.
A pod is never moved: it runs here until it ends or is deleted.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import logging
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from pocketkube.client.events import EventType
from pocketkube.kubelet import actions as pod_actions
from pocketkube.kubelet import podstatus, podutil, runtimestate
from pocketkube.kubelet.backoff import Backoff
from pocketkube.kubelet.pleg import PLEG
from pocketkube.kubelet.podstatus import StatusInputs, WaitingReason
from pocketkube.kubelet.podutil import Obj
from pocketkube.kubelet.podworkers import DONE, WAIT, PodWorkers
from pocketkube.kubelet.runtimemanager import RuntimeManager, container_ref
from pocketkube.kubelet.runtimestate import ContainerRecord, PodRuntimeStatus
from pocketkube.kubelet.statusmanager import StatusManager
from pocketkube.kubelet.volumes.manager import VolumeError

log = logging.getLogger(__name__)

HOUSEKEEPING = 2.0
MOUNT_RETRY = 2.0
ORPHAN_GRACE = 2
STATUS_HOLD = 1.0  # seconds a status about to be superseded by a start may wait (statusmanager)


class Prober(Protocol):
    def add_pod(self, pod: Obj) -> None: ...
    def remove_pod(self, pod_uid: str) -> None: ...
    def set_terminating(self, pod_uid: str) -> None: ...
    def cleanup_pods(self, active_uids: Iterable[str]) -> None: ...
    def update_pod_status(self, pod: Obj, status: Obj) -> None: ...


class Volumes(Protocol):
    async def mount_pod(self, pod: Obj) -> dict[str, str]: ...
    async def unmount_pod(self, pod_uid: str) -> None: ...


class Recorder(Protocol):
    def post(
        self, regarding: Obj, *, type: EventType, reason: str, action: str, note: str
    ) -> None: ...


class PodSource(Protocol):
    def by_uid(self, uid: str) -> Obj | None: ...
    def uids(self) -> list[str]: ...


class Kubelet:
    def __init__(
        self,
        *,
        node_name: str,
        host_ip: str,
        pods: PodSource,
        runtime_manager: RuntimeManager,
        status_manager: StatusManager,
        prober: Prober,
        volumes: Volumes,
        recorder: Recorder,
        volume_paths: dict[str, dict[str, str]],
        termination_message: Callable[[ContainerRecord], str],
        runtime_scheme: str = podstatus.CONTAINER_ID_SCHEME,
        pleg_period: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.node_name = node_name
        self.host_ip = host_ip
        self.pods = pods
        self.runtime_manager = runtime_manager
        self.runtime = runtime_manager.runtime
        self.status_manager = status_manager
        self.prober = prober
        self.volumes = volumes
        self.recorder = recorder
        self.volume_paths = volume_paths  # uid -> volume name -> host path (for the configs)
        self.termination_message = termination_message
        self.runtime_scheme = runtime_scheme
        self.backoff: Backoff = runtime_manager.backoff
        self.workers = PodWorkers(sync=self.sync)
        self.pleg = PLEG(runtime=self.runtime, on_change=self.workers.update, period=pleg_period)
        self._clock = clock
        self._reasons: dict[str, dict[str, WaitingReason]] = {}
        self._probe_failures: dict[str, str] = {}  # container id -> "Liveness" / "Startup"
        self._deadline_reported: set[str] = set()

    # -- what wakes a pod --------------------------------------------------------------------

    def pod_changed(self, pod: Obj) -> None:
        self.workers.update(podutil.uid(pod))

    def pod_updated(self, old: Obj, new: Obj) -> None:
        """An update of the pod in the API. As upstream (HandlePodReconcile), one that changed
        only the status — most often our own status write coming back — does not sync the
        pod, unless the status may change what we report: a readiness gate's condition, or a
        phase that is not ours (e.g. another component ended the pod)."""
        if podutil.differ_semantically(old, new) or self._status_concerns_us(new):
            self.pod_changed(new)

    def _status_concerns_us(self, pod: Obj) -> bool:
        ours = self.status_manager.get(podutil.uid(pod))
        if ours is None or pod.get("spec", {}).get("readinessGates"):
            return True
        return (pod.get("status") or {}).get("phase") != ours.get("phase")

    def probe_failed(self, pod_uid: str, container_id: str, probe: str) -> None:
        """A liveness or startup probe gave up on a container: restart it (by policy)."""
        self._probe_failures[container_id] = probe
        self.workers.update(pod_uid)

    def probe_changed(self, pod_uid: str) -> None:
        """A readiness or startup result changed: report it now, then let the worker resync."""
        pod = self.pods.by_uid(pod_uid)
        current = self.status_manager.get(pod_uid)
        if pod is not None and current is not None:
            status = copy.deepcopy(current)
            self.prober.update_pod_status(pod, status)
            status = podstatus.refresh_readiness(pod, status, int(self._clock() * 1e9))
            if status != current:
                self.status_manager.set(pod, status)
        self.workers.update(pod_uid)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self.workers.run())
            group.create_task(self.pleg.run())
            group.create_task(self._housekeeping())

    async def _housekeeping(self) -> None:
        await self.pleg.wait_first_relist()
        while True:
            known = self.workers.known()
            for uid in set(self.pods.uids()) | set(self.pleg.pods):
                if uid not in known:
                    self.workers.update(uid)
            self.backoff.gc()
            self.prober.cleanup_pods(self.pods.uids())
            await asyncio.sleep(HOUSEKEEPING)

    # -- sync --------------------------------------------------------------------------------

    async def sync(self, uid: str) -> float | None:
        pod = self.pods.by_uid(uid)
        status = (await runtimestate.inspect(self.runtime, uid))[uid]
        if pod is None:
            return await self._remove_orphan(uid, status)
        if pod.get("spec", {}).get("nodeName") != self.node_name:
            return WAIT
        if podutil.is_terminating(pod) or podutil.is_terminal(pod) or self._past_deadline(pod):
            return await self._terminate(pod, status)
        again: float | None = None
        try:
            again = await self._sync_running(pod, status)
        finally:
            if again != 0:  # not syncing again at once: what it held goes out now
                self.status_manager.flush(uid)
        return again

    async def _sync_running(self, pod: Obj, status: PodRuntimeStatus) -> float | None:
        uid = podutil.uid(pod)
        self.prober.add_pod(pod)
        api_status = self._status(pod, status)
        if api_status["phase"] in ("Succeeded", "Failed") and not status.running_containers():
            self.status_manager.set(pod, api_status)
            return await self._terminate(pod, status)
        self.status_manager.set(pod, api_status, hold=STATUS_HOLD)
        try:
            self.volume_paths[uid] = await self.volumes.mount_pod(pod)
        except VolumeError as err:  # one FailedMount event per volume that failed
            for note in err.messages:
                self.recorder.post(
                    container_ref(pod, None),
                    type="Warning",
                    reason="FailedMount",
                    action="MountVolume",
                    note=note,
                )
            return MOUNT_RETRY
        plan = pod_actions.compute(
            pod, status, probe_failed=self._probe_failures.get, started=self._started(uid)
        )
        if plan.nothing:
            return self._until_deadline(pod)
        result = await self.runtime_manager.sync_pod(pod, status, plan)
        reasons = self._reasons.setdefault(uid, {})
        for container in plan.init_to_start + plan.containers_to_start:
            reasons.pop(container["name"], None)
        reasons.update(result.reasons)
        if result.changed:
            return 0
        if result.reasons:
            self.status_manager.set(pod, self._status(pod, status))
        retry = result.retry_after if result.retry_after is not None else WAIT
        return min(retry, self._until_deadline(pod))

    async def _terminate(self, pod: Obj, status: PodRuntimeStatus) -> float | None:
        uid = podutil.uid(pod)
        if status.running_containers() or status.ready_sandbox() is not None:
            # Liveness and startup probes stop; readiness goes on, as upstream (an app that
            # fails its readiness on SIGTERM leaves endpoints before it exits).
            self.prober.add_pod(pod)
            self.prober.set_terminating(uid)
            self.status_manager.set(pod, self._status(pod, status))
            await self.runtime_manager.kill_pod(pod, status)
            status = (await runtimestate.inspect(self.runtime, uid))[uid]
        self.prober.remove_pod(uid)
        self.status_manager.set(pod, self._status(pod, status, terminal=True))
        if not podutil.is_terminating(pod):
            return WAIT  # a finished pod keeps its containers (and logs) until it is deleted
        await self.runtime_manager.remove_pod(status)
        await self.volumes.unmount_pod(uid)
        self.volume_paths.pop(uid, None)
        self.status_manager.delete_when_synced(pod)
        return WAIT

    async def _remove_orphan(self, uid: str, status: PodRuntimeStatus) -> float | None:
        """A pod gone from the API (deleted, or bound elsewhere): nothing of it may keep running."""
        if not status.empty:
            orphan: Obj = {
                "metadata": {"uid": uid, "name": status.name, "namespace": status.namespace},
                "spec": {"terminationGracePeriodSeconds": ORPHAN_GRACE},
            }
            await self.runtime_manager.kill_pod(orphan, status, grace_override=ORPHAN_GRACE)
            await self.runtime_manager.remove_pod(status)
        self.prober.remove_pod(uid)
        await self.volumes.unmount_pod(uid)
        self.volume_paths.pop(uid, None)
        self.status_manager.forget(uid)
        self.backoff.forget(f"{uid}/")
        self._reasons.pop(uid, None)
        for cid in [c.id for c in status.containers]:
            self._probe_failures.pop(cid, None)
        return DONE

    # -- helpers -----------------------------------------------------------------------------

    def _status(self, pod: Obj, status: PodRuntimeStatus, *, terminal: bool = False) -> Obj:
        uid = podutil.uid(pod)
        old = self.status_manager.get(uid) or pod.get("status") or {}
        generated = podstatus.generate(
            StatusInputs(
                pod=pod,
                runtime=status,
                old=old,
                reasons=self._reasons.get(uid, {}),
                host_ip=self.host_ip,
                now_ns=int(self._clock() * 1e9),
                terminal=terminal,
                runtime_scheme=self.runtime_scheme,
                termination_message=self.termination_message,
                update_probes=self.prober.update_pod_status,
            )
        )
        # Failed by the deadline only once stopped: no terminal phase beside running containers.
        if terminal and self._past_deadline(pod) and generated["phase"] != "Succeeded":
            generated["phase"] = "Failed"
            generated["reason"] = "DeadlineExceeded"
            generated["message"] = "Pod was active on the node longer than the specified deadline"
        return generated

    def _deadline(self, pod: Obj) -> float | None:
        """When the pod's activeDeadlineSeconds runs out (seconds since the epoch), if it has one
        and has started."""
        deadline = pod.get("spec", {}).get("activeDeadlineSeconds")
        start = (self.status_manager.get(podutil.uid(pod)) or pod.get("status") or {}).get(
            "startTime"
        )
        if deadline is None or not start:
            return None
        started = datetime.datetime.strptime(start, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.UTC
        )
        return started.timestamp() + int(deadline)

    def _past_deadline(self, pod: Obj) -> bool:
        deadline = self._deadline(pod)
        if deadline is None or self._clock() < deadline:
            return False
        if pod.get("status", {}).get("reason") != "DeadlineExceeded":
            self._deadline_event(pod)
        return True

    def _until_deadline(self, pod: Obj) -> float:
        """Seconds until the deadline (a sync is due then), or WAIT without one."""
        deadline = self._deadline(pod)
        return WAIT if deadline is None else max(0.0, deadline - self._clock()) + 0.05

    def _deadline_event(self, pod: Obj) -> None:
        uid = podutil.uid(pod)
        if uid in self._deadline_reported:
            return
        self._deadline_reported.add(uid)
        self.recorder.post(
            container_ref(pod, None),
            type="Normal",
            reason="DeadlineExceeded",
            action="Killing",
            note="Pod was active on the node longer than the specified deadline",
        )

    def _started(self, uid: str) -> Callable[[str], bool]:
        """Whether a running container has passed its startup probe (the status says so)."""
        current = self.status_manager.get(uid) or {}
        started = {
            str(s.get("containerID", "")).split("://")[-1]
            for key in ("initContainerStatuses", "containerStatuses")
            for s in current.get(key) or []
            if s.get("started")
        }
        return lambda container_id: container_id in started
