"""disruption: keeps each PodDisruptionBudget's status, which the eviction subresource spends.

Upstream's ``pkg/controller/disruption``. For a budget it counts the pods its selector picks in
its namespace (a missing selector picks none, an empty one all):

- ``expectedPods``: with an integer ``minAvailable``, the number of those pods; with a
  percentage or with ``maxUnavailable``, the sum of their controllers' scales (a ReplicaSet,
  Deployment, ReplicationController or StatefulSet's ``spec.replicas`` from the informers, any
  other controller's ``/scale`` subresource). Pods without a controller are left out of the sum
  (an ``UnmanagedPods`` warning); a pod whose controller cannot be found or cannot scale fails
  the sync;
- ``desiredHealthy``: ``minAvailable`` (a percentage of the expected pods rounded up) or the
  expected pods less ``maxUnavailable`` (likewise scaled, never below 0);
- ``currentHealthy``: the Ready pods that are neither being deleted nor recently evicted;
- ``disruptionsAllowed``: ``currentHealthy - desiredHealthy`` (0 if negative or nothing is
  expected), with the ``DisruptionAllowed`` condition (``SufficientPods``/``InsufficientPods``);
- ``disruptedPods``: the eviction subresource's record of pods it let go; an entry is dropped
  once the pod is being deleted, or after 2 minutes if it never was (a ``NotDeleted`` event),
  and the budget is looked at again when the next entry expires.

A sync that fails (a bad selector, a pod whose controller is unknown) sets
``disruptionsAllowed`` to 0 with ``DisruptionAllowed`` False, reason ``SyncFailed``, so that no
eviction is let through on a guess. Conflicts are simply retried.

Pods whose ``DisruptionTarget`` condition has stood for 2 minutes without the pod being
deleted (an eviction that never happened) get it reset to False, as upstream does.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from pocketkube.api.labels import SelectorError, selector_from_label_selector
from pocketkube.api.timestamps import parse_time, rfc3339, utcnow
from pocketkube.client import resources
from pocketkube.client.clock import Clock
from pocketkube.client.informer import Informer
from pocketkube.client.rest import ApiError, Obj
from pocketkube.client.store import NAMESPACE_INDEX, key_of, namespace_index, split_key
from pocketkube.controllers.base import ApiClient, Controller
from pocketkube.controllers.context import Context, Recorder
from pocketkube.controllers.disruptionbudget import (
    SyncError,
    allowed_condition,
    condition_up_to_date,
    is_ready,
    scaled_value,
    set_condition,
)
from pocketkube.controllers.disruptionscales import ScaleFinder, controller_of

log = logging.getLogger(__name__)

NAME = "disruption"  # upstream: disruption-controller
DELETION_TIMEOUT = 120.0  # how long an evicted pod may take to be deleted
STALE_DISRUPTION_TIMEOUT = 120.0
POD_KEY_PREFIX = "pod:"


class DisruptionController(Controller):
    name = NAME

    def __init__(
        self,
        *,
        client: ApiClient,
        pdb_informer: Informer,
        pod_informer: Informer,
        scales: ScaleFinder,
        recorder: Recorder | None = None,
        workers: int = 1,
        clock: Clock | None = None,
        now: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        super().__init__(
            informers=[pdb_informer, pod_informer, *scales.informers], workers=workers, clock=clock
        )
        self._client = client
        self._pdbs = pdb_informer.store
        self._pods = pod_informer.store
        for informer in (pdb_informer, pod_informer):
            # a shared informer another controller may have indexed already
            with contextlib.suppress(ValueError):
                informer.add_indexer(NAMESPACE_INDEX, namespace_index)
        self._scales = scales
        self._recorder = recorder
        self._now = now
        pdb_informer.add_handler(
            on_add=self.enqueue, on_update=self.enqueue_update, on_delete=self.enqueue
        )
        pod_informer.add_handler(
            on_add=self._pod_changed,
            on_update=lambda old, new: self._pod_changed(new),
            on_delete=self._pod_deleted,
        )

    # -- handlers ---------------------------------------------------------------------------
    def _budgets_for(self, pod: Obj) -> list[Obj]:
        meta = pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        found = []
        for pdb in self._pdbs.by_index(NAMESPACE_INDEX, str(meta.get("namespace") or "")):
            try:
                selector = selector_from_label_selector((pdb.get("spec") or {}).get("selector"))
            except SelectorError:
                continue
            if selector.matches(labels):
                found.append(pdb)
        return found

    def _pod_deleted(self, pod: Obj) -> None:
        for pdb in self._budgets_for(pod):
            self.enqueue(pdb)

    def _pod_changed(self, pod: Obj) -> None:
        self._pod_deleted(pod)
        wait = self._stale_disruption_wait(pod)
        if wait is not None:
            self.queue.add_after(POD_KEY_PREFIX + key_of(pod), wait)

    # -- syncing ----------------------------------------------------------------------------
    async def sync(self, key: str) -> None:
        if key.startswith(POD_KEY_PREFIX):
            await self._sync_stale_disruption(key.removeprefix(POD_KEY_PREFIX))
            return
        pdb = self._pdbs.get(key)
        if pdb is None:
            return
        try:
            await self._try_sync(key, pdb)
        except ApiError as err:
            if err.conflict:
                raise  # someone else wrote: the queue retries with the newer copy
            await self._fail_safe(pdb, str(err))
            raise  # and try again: the API server may answer next time
        except SyncError as err:
            log.warning("%s: failed to sync PDB %s: %s", self.name, key, err)
            await self._fail_safe(pdb, str(err))

    async def _try_sync(self, key: str, pdb: Obj) -> None:
        spec = pdb.get("spec") or {}
        namespace = str(pdb["metadata"].get("namespace") or "")
        try:
            selector = selector_from_label_selector(spec.get("selector"))
        except SelectorError as err:
            self._event(pdb, "Warning", "NoPods", f"Failed to get pods: {err}")
            raise SyncError(str(err)) from None
        pods = [
            pod
            for pod in self._pods.by_index(NAMESPACE_INDEX, namespace)
            if selector.matches(pod["metadata"].get("labels") or {})
        ]
        if not pods:
            self._event(pdb, "Normal", "NoPods", "No matching pods found")
        try:
            expected, desired, unmanaged = await self._expected_pod_count(spec, pods, namespace)
        except SyncError as err:
            note = f"Failed to calculate the number of expected pods: {err}"
            self._event(pdb, "Warning", "CalculateExpectedPodCountFailed", note)
            raise
        if unmanaged:
            self._event(
                pdb,
                "Warning",
                "UnmanagedPods",
                f"Pods selected by this PodDisruptionBudget (selector: {spec.get('selector')}) "
                "were found to be unmanaged. As a result, the status of the PDB cannot be "
                "calculated correctly, which may result in undefined behavior. To account for "
                'these pods please set ".spec.minAvailable" field of the PDB to an integer value.',
            )
        now = self._now()
        disrupted, recheck = self._disrupted_pods(pdb, pods, now)
        healthy = sum(
            1
            for pod in pods
            if not pod["metadata"].get("deletionTimestamp")
            and pod["metadata"]["name"] not in disrupted
            and is_ready(pod)
        )
        await self._update_status(pdb, healthy, desired, expected, disrupted, now)
        if recheck is not None:
            self.queue.add_after(key, max(0.0, (recheck - now).total_seconds()))

    async def _expected_pod_count(
        self, spec: Obj, pods: list[Obj], namespace: str
    ) -> tuple[int, int, list[str]]:
        """(expectedPods, desiredHealthy, unmanaged pod names), upstream's rules."""
        max_unavailable, min_available = spec.get("maxUnavailable"), spec.get("minAvailable")
        if max_unavailable is not None:
            expected, unmanaged = await self._expected_scale(pods, namespace)
            desired = max(0, expected - scaled_value(max_unavailable, expected))
            return expected, desired, unmanaged
        if isinstance(min_available, int):
            return len(pods), min_available, []
        if min_available is not None:
            expected, unmanaged = await self._expected_scale(pods, namespace)
            return expected, scaled_value(min_available, expected), unmanaged
        return 0, 0, []

    async def _expected_scale(self, pods: list[Obj], namespace: str) -> tuple[int, list[str]]:
        """The sum of the scales of the pods' controllers, each counted once."""
        scales: dict[str, int] = {}
        unmanaged = []
        for pod in pods:
            ref = controller_of(pod)
            if ref is None:
                unmanaged.append(str(pod["metadata"]["name"]))
                continue
            if str(ref.get("uid")) in scales:
                continue
            try:
                found = await self._scales.find(ref, namespace)
            except ValueError as err:
                raise SyncError(str(err)) from None
            if found is None:
                raise SyncError(f"found no controllers for pod {pod['metadata']['name']!r}")
            uid, replicas = found
            scales[uid] = replicas
        return sum(scales.values()), unmanaged

    def _disrupted_pods(
        self, pdb: Obj, pods: list[Obj], now: dt.datetime
    ) -> tuple[dict[str, str], dt.datetime | None]:
        """The eviction records still pending, and when the first of them expires."""
        recorded = (pdb.get("status") or {}).get("disruptedPods") or {}
        kept: dict[str, str] = {}
        recheck: dt.datetime | None = None
        for pod in pods:
            name = str(pod["metadata"]["name"])
            if pod["metadata"].get("deletionTimestamp") or name not in recorded:
                continue
            when = parse_time(recorded[name])
            if when is None:
                continue
            expected_deletion = when + dt.timedelta(seconds=DELETION_TIMEOUT)
            if expected_deletion < now:
                meta = pdb["metadata"]
                self._event(
                    pod,
                    "Warning",
                    "NotDeleted",
                    f"Pod was expected by PDB {meta.get('namespace')}/{meta['name']} to be "
                    "deleted but it wasn't",
                )
            else:
                kept[name] = recorded[name]
                if recheck is None or expected_deletion < recheck:
                    recheck = expected_deletion
        return kept, recheck

    async def _update_status(
        self,
        pdb: Obj,
        healthy: int,
        desired: int,
        expected: int,
        disrupted: dict[str, str],
        now: dt.datetime,
    ) -> None:
        allowed = healthy - desired
        if expected <= 0 or allowed <= 0:
            allowed = 0
        status = pdb.get("status") or {}
        generation = int(pdb["metadata"].get("generation") or 0)
        wanted = {
            "currentHealthy": healthy,
            "desiredHealthy": desired,
            "expectedPods": expected,
            "disruptionsAllowed": allowed,
            "observedGeneration": generation,
        }
        if (
            all(int(status.get(field) or 0) == value for field, value in wanted.items())
            and (status.get("disruptedPods") or {}) == disrupted
            and condition_up_to_date(status, allowed, generation)
        ):
            return
        updated = copy.deepcopy(pdb)
        new_status: Obj = {**wanted, "conditions": copy.deepcopy(status.get("conditions") or [])}
        if disrupted:
            new_status["disruptedPods"] = disrupted
        reason = "SufficientPods" if allowed > 0 else "InsufficientPods"
        wanted_condition = allowed_condition(allowed > 0, reason, "", generation)
        set_condition(new_status["conditions"], wanted_condition, now)
        updated["status"] = new_status
        await self._write_status(updated)

    async def _fail_safe(self, pdb: Obj, message: str) -> None:
        """At least stop evictions: no disruptions allowed, ``SyncFailed``."""
        updated = copy.deepcopy(pdb)
        status = updated.setdefault("status", {})
        status["disruptionsAllowed"] = 0
        conditions = status.setdefault("conditions", [])
        generation = int(status.get("observedGeneration") or 0)
        set_condition(
            conditions, allowed_condition(False, "SyncFailed", message, generation), self._now()
        )
        await self._write_status(updated)

    async def _write_status(self, pdb: Obj) -> None:
        meta = pdb["metadata"]
        path = resources.POD_DISRUPTION_BUDGETS.path(
            namespace=meta.get("namespace"), name=meta["name"], subresource="status"
        )
        await self._client.update(path, pdb)

    # -- stale DisruptionTarget conditions ----------------------------------------------------
    def _stale_disruption_wait(self, pod: Obj) -> float | None:
        """Seconds until the pod's DisruptionTarget condition is stale, or None if it has none
        that can go stale (kubelet's, or on a pod being deleted or finished)."""
        if pod["metadata"].get("deletionTimestamp"):
            return None
        status = pod.get("status") or {}
        if status.get("phase") in ("Succeeded", "Failed"):
            return None
        for condition in status.get("conditions") or ():
            if condition.get("type") != "DisruptionTarget":
                continue
            if condition.get("status") != "True" or condition.get("reason") == (
                "TerminationByKubelet"
            ):
                return None
            since = parse_time(condition.get("lastTransitionTime")) or self._now()
            elapsed = (self._now() - since).total_seconds()
            return max(0.0, STALE_DISRUPTION_TIMEOUT - elapsed)
        return None

    async def _sync_stale_disruption(self, key: str) -> None:
        pod = self._pods.get(key)
        if pod is None:
            return
        wait = self._stale_disruption_wait(pod)
        if wait is None:
            return
        if wait > 0:
            self.queue.add_after(POD_KEY_PREFIX + key, wait)
            return
        updated = copy.deepcopy(pod)
        for condition in updated["status"]["conditions"]:
            if condition.get("type") == "DisruptionTarget":
                condition["status"] = "False"
                condition["lastTransitionTime"] = rfc3339(self._now())
                condition.pop("reason", None)
                condition.pop("message", None)
        namespace, name = split_key(key)
        log.info("resetting the stale DisruptionTarget condition of pod %s", key)
        await self._client.update(
            resources.PODS.path(namespace=namespace, name=name, subresource="status"), updated
        )

    def _event(self, obj: Obj, type: Any, reason: str, note: str) -> None:
        if self._recorder is not None:
            self._recorder.post(obj, type=type, reason=reason, action=reason, note=note)


def build(ctx: Context) -> Controller:
    informers = ctx.informers
    return DisruptionController(
        client=ctx.client,
        pdb_informer=informers.informer(resources.POD_DISRUPTION_BUDGETS),
        pod_informer=informers.informer(resources.PODS),
        scales=ScaleFinder(
            client=ctx.client,
            replica_sets=informers.informer(resources.REPLICA_SETS),
            deployments=informers.informer(resources.DEPLOYMENTS),
            replication_controllers=informers.informer(resources.REPLICATION_CONTROLLERS),
            stateful_sets=informers.informer(resources.STATEFUL_SETS),
        ),
        recorder=ctx.recorder("controllermanager"),
        workers=ctx.options.concurrent_disruption_syncs,
        clock=ctx.clock,
    )
