"""taint-eviction-controller: deletes pods from nodes with NoExecute taints they do not
tolerate (upstream's ``pkg/controller/tainteviction/taint_eviction.go``, its own controller
since 1.29, reporting as ``taint-eviction-controller``).

For each pod bound to a node with NoExecute taints: a taint no toleration matches → the pod is
deleted at once; all tolerated, some with ``tolerationSeconds`` → deleted when the shortest runs
out, counted from when this controller first saw the pod under the taints (as upstream; a
toleration without seconds tolerates forever). Taints going away or tolerations changing cancel
a pending deletion (``TaintManagerEviction`` "Cancelling deletion of Pod ns/x"). A deletion is
announced (``TaintManagerEviction`` "Marking for deletion Pod ns/x"), the pod gets the
``DisruptionTarget`` condition (``DeletionByTaintManager``) through /status, then it is deleted.

Keys: ``node:<name>`` re-evaluates every pod on the node, ``pod:<ns>/<name>`` one pod,
``evict:<ns>/<name>`` is the pending deletion coming due (``add_after``).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass

from pocketkube.api.timestamps import rfc3339, utcnow
from pocketkube.client import resources
from pocketkube.client.clock import Clock, RealClock
from pocketkube.client.informer import Informer
from pocketkube.client.rest import ApiError, Obj
from pocketkube.client.store import key_of, split_key
from pocketkube.controllers.base import ApiClient, Controller
from pocketkube.controllers.context import Context, Recorder
from pocketkube.controllers.nodelifecycle.nodeutil import NO_EXECUTE, Now, condition, taints_of
from pocketkube.controllers.nodelifecycle.podindex import ensure_node_name_index, pods_on_node
from pocketkube.controllers.nodelifecycle.tolerations import (
    matching_tolerations,
    min_toleration_seconds,
)

log = logging.getLogger(__name__)

NAME = "taint-eviction-controller"
REASON = "TaintManagerEviction"
DISRUPTION_TARGET = "DisruptionTarget"
DISRUPTION_REASON = "DeletionByTaintManager"
DISRUPTION_MESSAGE = "Taint manager: deleting due to NoExecute taint"
WORKERS = 8


@dataclass(kw_only=True)
class _Eviction:
    created_at: float
    fire_at: float
    fired: bool = False


def no_execute_taints(node: Obj | None) -> list[Obj]:
    return [t for t in taints_of(node or {}) if t.get("effect") == NO_EXECUTE]


class TaintEvictionController(Controller):
    name = NAME

    def __init__(
        self,
        *,
        client: ApiClient,
        node_informer: Informer,
        pod_informer: Informer,
        recorder: Recorder,
        clock: Clock | None = None,
        now: Now = utcnow,
    ) -> None:
        super().__init__(informers=[node_informer, pod_informer], workers=WORKERS, clock=clock)
        self._client = client
        self._nodes = node_informer.store
        self._pods = pod_informer.store
        ensure_node_name_index(pod_informer)
        self._recorder = recorder
        self._clock: Clock = clock or RealClock()
        self._now = now
        self._evictions: dict[str, _Eviction] = {}
        node_informer.add_handler(
            on_add=self._node_key, on_update=self._node_updated, on_delete=self._node_key
        )
        pod_informer.add_handler(
            on_add=self._pod_key, on_update=self._pod_updated, on_delete=self._pod_key
        )

    # -- handlers ------------------------------------------------------------------------------
    def _node_key(self, node: Obj) -> None:
        self.queue.add(f"node:{key_of(node)}")

    def _node_updated(self, old: Obj, new: Obj) -> None:
        if no_execute_taints(old) != no_execute_taints(new):
            self._node_key(new)

    def _pod_key(self, pod: Obj) -> None:
        self.queue.add(f"pod:{key_of(pod)}")

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
        if old_spec.get("nodeName") != new_spec.get("nodeName") or old_spec.get(
            "tolerations"
        ) != new_spec.get("tolerations"):
            self._pod_key(new)

    # -- syncing -------------------------------------------------------------------------------
    @property
    def pending(self) -> dict[str, float]:
        """Pod key -> when its deletion is due (clock seconds), for those not yet fired."""
        return {k: e.fire_at for k, e in self._evictions.items() if not e.fired}

    async def sync(self, key: str) -> None:
        kind, _, rest = key.partition(":")
        if kind == "node":
            self._sync_node(rest)
        elif kind == "pod":
            self._sync_pod(rest)
        elif kind == "evict":
            await self._evict(rest)

    def _sync_node(self, name: str) -> None:
        node = self._nodes.get(name)
        if node is None:
            return
        taints = no_execute_taints(node)
        pods = pods_on_node(self._pods, name)
        now = self._clock.now()
        for pod in pods:
            if not taints:
                self._cancel(key_of(pod))
            else:
                self._process_pod_on_node(pod, taints, now)

    def _sync_pod(self, key: str) -> None:
        pod = self._pods.get(key)
        if pod is None:
            self._cancel(key)
            self._evictions.pop(key, None)
            return
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name:
            return
        taints = no_execute_taints(self._nodes.get(str(node_name)))
        if not taints:
            return  # no taints, or the node is gone: the node's sync cancelled what was pending
        self._process_pod_on_node(pod, taints, self._clock.now())

    def _process_pod_on_node(self, pod: Obj, taints: list[Obj], now: float) -> None:
        key = key_of(pod)
        tolerations = list((pod.get("spec") or {}).get("tolerations") or ())
        used = matching_tolerations(taints, tolerations)
        if used is None:
            log.info("%s: not all taints are tolerated by pod %s; deleting it", self.name, key)
            self._cancel(key)
            self._schedule(key, now, now)
            return
        seconds = min_toleration_seconds(used)
        if seconds < 0:
            self._cancel(key)  # tolerated forever
            return
        start, trigger = now, now + seconds
        existing = self._evictions.get(key)
        if existing is not None:
            if existing.fired:
                return
            start = existing.created_at
            if start + seconds < trigger:
                return
            self._cancel(key)
        self._schedule(key, start, trigger)

    def _schedule(self, key: str, created_at: float, fire_at: float) -> None:
        if key in self._evictions:
            return
        self._evictions[key] = _Eviction(created_at=created_at, fire_at=fire_at)
        self.queue.add_after(f"evict:{key}", fire_at - self._clock.now())

    def _cancel(self, key: str) -> None:
        eviction = self._evictions.get(key)
        if eviction is None or eviction.fired:
            return
        del self._evictions[key]
        self._event(key, f"Cancelling deletion of Pod {key}")

    def _event(self, key: str, note: str) -> None:
        namespace, name = split_key(key)
        ref = {"apiVersion": "v1", "kind": "Pod", "namespace": namespace, "name": name}
        self._recorder.post(ref, type="Normal", reason=REASON, action="Evict", note=note)

    async def _evict(self, key: str) -> None:
        eviction = self._evictions.get(key)
        if eviction is None or eviction.fired:
            return
        left = eviction.fire_at - self._clock.now()
        if left > 0:
            self.queue.add_after(f"evict:{key}", left)
            return
        log.info("%s: deleting pod %s", self.name, key)
        self._event(key, f"Marking for deletion Pod {key}")
        await self._add_condition_and_delete(key)
        eviction.fired = True

    async def _add_condition_and_delete(self, key: str) -> None:
        namespace, name = split_key(key)
        path = resources.PODS.path(namespace=namespace, name=name)
        try:
            pod = await self._client.get(path)
        except ApiError as err:
            if err.not_found:
                return
            raise
        cond = condition(pod.get("status"), DISRUPTION_TARGET)
        wanted = {"status": "True", "reason": DISRUPTION_REASON, "message": DISRUPTION_MESSAGE}
        if cond is None or any(cond.get(k) != v for k, v in wanted.items()):
            updated = copy.deepcopy(pod)
            conditions = updated.setdefault("status", {}).setdefault("conditions", [])
            existing = condition(updated["status"], DISRUPTION_TARGET)
            if existing is None:
                conditions.append(
                    {
                        "type": DISRUPTION_TARGET,
                        **wanted,
                        "lastTransitionTime": rfc3339(self._now()),
                    }
                )
            else:
                if existing.get("status") != "True":
                    existing["lastTransitionTime"] = rfc3339(self._now())
                existing.update(wanted)
            try:
                await self._client.update(
                    resources.PODS.path(namespace=namespace, name=name, subresource="status"),
                    updated,
                )
            except ApiError as err:
                if err.not_found:
                    return
                raise
        try:
            await self._client.delete(path)
        except ApiError as err:
            if not err.not_found:
                raise


def build(ctx: Context) -> Controller:
    return TaintEvictionController(
        client=ctx.client,
        node_informer=ctx.informers.informer(resources.NODES),
        pod_informer=ctx.informers.informer(resources.PODS),
        recorder=ctx.recorder(NAME),
        clock=ctx.clock,
    )
