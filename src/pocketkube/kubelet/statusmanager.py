"""The single source of pods' status, synced to the API server (upstream pkg/kubelet/status).

Pod workers hand it the status they computed; it keeps the newest per pod and a worker patches
``pods/<name>/status`` for each pod whose status changed, at once (pod start latency depends on
it) and, to repair what was lost, every ``resync`` seconds for every pod whose API copy differs.

Only the newest status of a pod is ever written, as upstream's syncBatch does. A status the
pod worker is about to supersede — the one computed before it starts a pod's sandbox and
containers — may be *held* (``set(..., hold=seconds)``): it is written when the worker has
nothing more to do at once (``flush``), or when the hold runs out, unless a newer status
replaced it first. A pod that starts within the hold so goes from Pending to Running in one
write instead of two (with as many watch events and informer updates fewer), while a slow
start (a sandbox failing, a long postStart hook) still shows ContainerCreating after at most
``hold`` seconds. A status set without a hold is written at once, and so is a final one.
The patch is a strategic merge patch carrying ``metadata.uid`` as a precondition, so a status
never lands on a newer pod of the same name. When a deleted pod has stopped everything, the
kubelet asks for the final delete (grace period 0, uid precondition), as upstream's
``canBeDeleted`` path does: only then does the pod leave the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from typing import Protocol

from pocketkube.client.resources import PODS
from pocketkube.client.rest import ApiError, Obj, Params, PatchType

log = logging.getLogger(__name__)

RESYNC = 10.0
CONCURRENCY = 16


class PodPatcher(Protocol):
    async def patch(
        self,
        path: str,
        patch: Obj,
        *,
        patch_type: PatchType = "merge",
        params: Params | None = None,
    ) -> Obj: ...

    async def delete(
        self, path: str, *, body: Obj | None = None, params: Params | None = None
    ) -> Obj: ...


class StatusManager:
    def __init__(
        self,
        *,
        client: PodPatcher,
        api_pod: Callable[[str], Obj | None],
        resync: float = RESYNC,
    ) -> None:
        self._client = client
        self._api_pod = api_pod  # uid -> the pod as the API (informer) has it
        self._resync = resync
        self._statuses: dict[str, Obj] = {}
        self._pods: dict[str, Obj] = {}  # uid -> the pod (for its name and namespace)
        self._sent: dict[str, Obj] = {}  # uid -> the last status the API accepted
        self._dirty: set[str] = set()
        self._in_flight: set[str] = set()  # one patch per pod at a time, so none lands out of order
        self._held: dict[str, float] = {}  # uid -> when its held status is written at the latest
        self._delete: set[str] = set()
        self._wake = asyncio.Event()
        self.patches = 0  # statistics for tests and benchmarks

    def get(self, uid: str) -> Obj | None:
        return self._statuses.get(uid)

    def set(self, pod: Obj, status: Obj, *, hold: float = 0.0) -> None:
        """Make ``status`` the pod's; write it at once, or within ``hold`` seconds unless
        a newer one replaces it first."""
        uid = pod["metadata"]["uid"]
        self._pods[uid] = pod
        if (
            self._statuses.get(uid) == status
            and uid not in self._dirty
            and uid not in self._held
            and self._sent.get(uid) == status
        ):
            return
        self._statuses[uid] = status
        if hold > 0 and uid not in self._dirty:
            due = time.monotonic() + hold
            self._held[uid] = min(self._held.get(uid, due), due)
        else:
            self._held.pop(uid, None)
            self._dirty.add(uid)
        self._wake.set()

    def flush(self, uid: str) -> None:
        """Write the pod's held status now (the worker has nothing more to do at once)."""
        if self._held.pop(uid, None) is not None:
            self._dirty.add(uid)
            self._wake.set()

    def delete_when_synced(self, pod: Obj) -> None:
        """Remove the pod from the API once its final status is written (grace period 0)."""
        uid = pod["metadata"]["uid"]
        self._pods[uid] = pod
        self._delete.add(uid)
        self._held.pop(uid, None)
        self._dirty.add(uid)
        self._wake.set()

    def forget(self, uid: str) -> None:
        for table in (self._statuses, self._pods, self._sent):
            table.pop(uid, None)
        self._dirty.discard(uid)
        self._held.pop(uid, None)
        self._delete.discard(uid)

    async def run(self) -> None:
        semaphore = asyncio.Semaphore(CONCURRENCY)
        loop = asyncio.get_running_loop()
        next_resync = loop.time() + self._resync
        async with asyncio.TaskGroup() as group:
            while True:
                held = min(self._held.values(), default=math.inf) - time.monotonic()
                timeout = max(0.0, min(next_resync - loop.time(), held))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
                self._wake.clear()
                if loop.time() >= next_resync:
                    next_resync = loop.time() + self._resync
                    self._mark_stale()
                now = time.monotonic()
                for uid in [uid for uid, due in self._held.items() if due <= now]:
                    del self._held[uid]
                    self._dirty.add(uid)
                # A pod whose patch is on the way waits for it: two patches of one pod at once
                # could land in either order and leave the older status in the API.
                batch = self._dirty - self._in_flight
                self._dirty -= batch
                for uid in batch:
                    self._in_flight.add(uid)
                    group.create_task(self._sync_one(uid, semaphore))

    def _mark_stale(self) -> None:
        """Pods whose API copy lost what we sent (a restarted API server, a failed patch): what
        we sent counts as not sent, so the patch goes again."""
        for uid, status in self._statuses.items():
            pod = self._api_pod(uid)
            if pod is not None and not _contains(pod.get("status") or {}, status):
                if uid not in self._in_flight:
                    self._sent.pop(uid, None)
                self._dirty.add(uid)

    async def _sync_one(self, uid: str, semaphore: asyncio.Semaphore) -> None:
        try:
            await self._patch_one(uid, semaphore)
        finally:
            self._in_flight.discard(uid)
            if uid in self._dirty:
                self._wake.set()  # what came meanwhile goes next

    async def _patch_one(self, uid: str, semaphore: asyncio.Semaphore) -> None:
        async with semaphore:
            pod = self._pods.get(uid)
            status = self._statuses.get(uid)
            if pod is None:
                return
            meta = pod["metadata"]
            namespace, name = meta.get("namespace", "default"), meta["name"]
            try:
                if status is not None and self._sent.get(uid) != status:
                    await self._client.patch(
                        PODS.path(namespace=namespace, name=name, subresource="status"),
                        {"metadata": {"uid": uid}, "status": patch_body(status)},
                        patch_type="strategic",
                    )
                    self.patches += 1
                    if self._statuses.get(uid) == status:  # an equal one set meanwhile is sent
                        self._sent[uid] = status
                if uid in self._delete:
                    await self._client.delete(
                        PODS.path(namespace=namespace, name=name),
                        body={"gracePeriodSeconds": 0, "preconditions": {"uid": uid}},
                    )
                    self._delete.discard(uid)
            except ApiError as err:
                if err.status in (404, 409):
                    self._delete.discard(uid)  # gone, or a newer pod took the name
                    return
                log.warning("status of pod %s/%s: %s", namespace, name, err)
                self._dirty.add(uid)  # retried at the next wake or resync


CLEARED = ("reason", "message")


def patch_body(status: Obj) -> Obj:
    """The status as a strategic merge patch that also removes what it no longer says.

    Conditions merge by ``type`` and the status itself is merged, so a reason or message that a
    condition (or the pod) no longer has must be sent as null to be deleted; otherwise a Ready
    condition turned True would keep ``ContainersNotReady``. (Upstream computes a two-way merge
    patch against the old status for the same effect.)
    """
    body = dict(status)
    for key in CLEARED:
        body.setdefault(key, None)
    body["conditions"] = [
        {**{key: None for key in CLEARED}, **condition}
        for condition in status.get("conditions") or []
    ]
    return body


def _contains(api: Obj, ours: Obj) -> bool:
    """Whether the API's status already says what we would write (phase and containers)."""
    keys = ("phase", "containerStatuses", "initContainerStatuses", "podIP")
    return all(api.get(key) == ours.get(key) for key in keys)
