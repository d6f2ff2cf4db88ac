"""The Deployment controller's queue, handlers and per-key dispatch (upstream's
``deployment_controller.go``).

Handlers only enqueue Deployments: their own changes, their ReplicaSets' (found by controller
reference; an orphan ReplicaSet enqueues every Deployment in its namespace whose selector matches
it, one of which will adopt it) and, for Recreate Deployments, the deletion of their pods (the
new ReplicaSet waits until the old pods are gone). ``sync`` claims the Deployment's ReplicaSets
(adopting orphans that match, releasing owned ones that stopped matching) and dispatches as
upstream's ``syncDeployment`` does: a Deployment being deleted only gets its status, a paused one
or a scaling event is scaled proportionally, a rollback annotation is served, and otherwise the
strategy rolls out (``rolling``, ``recreate``).
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
from collections.abc import Callable
from typing import ClassVar

from pocketkube.api.labels import LabelSelector, SelectorError, selector_from_label_selector
from pocketkube.api.timestamps import utcnow
from pocketkube.client import resources
from pocketkube.client.clock import Clock
from pocketkube.client.informer import Informer
from pocketkube.client.rest import ApiError, Obj
from pocketkube.client.store import NAMESPACE_INDEX, key_of
from pocketkube.controllers import podcontrol as pc
from pocketkube.controllers.base import ApiClient, Controller
from pocketkube.controllers.context import Recorder
from pocketkube.controllers.deployment import recreate, rollback, rolling, sync
from pocketkube.controllers.deployment import util as du

log = logging.getLogger(__name__)

NAME = "deployment"
COMPONENT = "deployment-controller"


class AdoptionError(Exception):
    """The Deployment may not adopt: it is gone or being deleted (checked live)."""


class DeploymentController(Controller):
    name: ClassVar[str] = NAME

    def __init__(
        self,
        *,
        client: ApiClient,
        recorder: Recorder,
        deployment_informer: Informer,
        replicaset_informer: Informer,
        pod_informer: Informer,
        workers: int = 5,
        clock: Clock | None = None,
        now: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        super().__init__(
            informers=[deployment_informer, replicaset_informer, pod_informer],
            workers=workers,
            clock=clock,
        )
        self.client = client
        self.recorder = recorder
        self.now = now
        for informer in (deployment_informer, replicaset_informer, pod_informer):
            pc.ensure_namespace_index(informer)
        self.deployments = deployment_informer.store
        self.replicasets = replicaset_informer.store
        self.pods = pod_informer.store
        deployment_informer.add_handler(
            on_add=self.enqueue, on_update=self.enqueue_update, on_delete=self.enqueue
        )
        replicaset_informer.add_handler(
            on_add=self._rs_added, on_update=self._rs_updated, on_delete=self._rs_deleted
        )
        pod_informer.add_handler(on_delete=self._pod_deleted)

    # -- handlers ------------------------------------------------------------------------------
    def _resolve(self, namespace: str, ref: Obj | None) -> Obj | None:
        return pc.resolve_controller_ref(self.deployments, namespace, ref, "Deployment")

    def _matching_deployments(self, rs: Obj) -> list[Obj]:
        meta = rs.get("metadata") or {}
        labels = meta.get("labels") or {}
        found = []
        for d in self.deployments.by_index(NAMESPACE_INDEX, str(meta.get("namespace") or "")):
            try:
                selector = selector_from_label_selector(du.spec(d).get("selector"))
            except SelectorError:
                continue
            if not selector.empty and selector.matches(labels):
                found.append(d)
        return found

    def _rs_added(self, rs: Obj) -> None:
        namespace = str((rs.get("metadata") or {}).get("namespace") or "")
        ref = pc.controller_ref(rs)
        if ref is not None:
            d = self._resolve(namespace, ref)
            if d is not None:
                self.enqueue(d)
            return
        if (rs.get("metadata") or {}).get("deletionTimestamp"):
            return
        for d in self._matching_deployments(rs):
            self.enqueue(d)

    def _rs_updated(self, old: Obj, new: Obj) -> None:
        namespace = str((new.get("metadata") or {}).get("namespace") or "")
        old_ref, new_ref = pc.controller_ref(old), pc.controller_ref(new)
        if old_ref is not None and (new_ref is None or old_ref.get("uid") != new_ref.get("uid")):
            d = self._resolve(namespace, old_ref)
            if d is not None:
                self.enqueue(d)
        if new_ref is not None:
            d = self._resolve(namespace, new_ref)
            if d is not None:
                self.enqueue(d)
            return
        labels_changed = (old.get("metadata") or {}).get("labels") != (
            new.get("metadata") or {}
        ).get("labels")
        if labels_changed or old_ref is not None:
            for d in self._matching_deployments(new):
                self.enqueue(d)

    def _rs_deleted(self, rs: Obj) -> None:
        namespace = str((rs.get("metadata") or {}).get("namespace") or "")
        d = self._resolve(namespace, pc.controller_ref(rs))
        if d is not None:
            self.enqueue(d)

    def _pod_deleted(self, pod: Obj) -> None:
        """A Recreate Deployment waits for its old pods to go (upstream's deletePod)."""
        namespace = str((pod.get("metadata") or {}).get("namespace") or "")
        ref = pc.controller_ref(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        rs = self.replicasets.get(f"{namespace}/{ref.get('name')}")
        if rs is None or du.uid(rs) != ref.get("uid"):
            return
        d = self._resolve(namespace, pc.controller_ref(rs))
        if d is not None and du.is_recreate(d):
            self.enqueue(d)

    # -- sync ----------------------------------------------------------------------------------
    async def sync(self, key: str) -> None:
        cached = self.deployments.get(key)
        if cached is None:
            return
        d = copy.deepcopy(cached)
        raw_selector = du.spec(d).get("selector")
        if raw_selector == {}:
            self.recorder.post(
                d,
                type="Warning",
                reason="SelectingAll",
                action="Select",
                note="This deployment is selecting all pods. A non-empty selector is required.",
            )
            generation = (d.get("metadata") or {}).get("generation") or 0
            if du.status_int(d, "observedGeneration") < generation:
                d.setdefault("status", {})["observedGeneration"] = generation
                await self.update_status(d)
            return
        try:
            selector = selector_from_label_selector(raw_selector)
        except SelectorError as err:
            log.warning("deployment %s has an invalid label selector: %s", key, err)
            return
        try:
            await self._sync(key, d, selector)
        except du.FencepostError as err:
            # bad input: nothing to retry until the Deployment changes (which enqueues it)
            log.warning("deployment %s: %s", key, err)

    async def _sync(self, key: str, d: Obj, selector: LabelSelector) -> None:
        rs_list = await self.claim_replica_sets(d, selector)
        if (d.get("metadata") or {}).get("deletionTimestamp"):
            await sync.sync_status_only(self, d, rs_list)
            return
        await sync.check_paused_conditions(self, d)
        if du.spec(d).get("paused"):
            await sync.sync_scale(self, d, rs_list)
            return
        if rollback.rollback_to(d) is not None:
            await rollback.rollback(self, d, rs_list)
            return
        if await sync.is_scaling_event(self, d, rs_list):
            await sync.sync_scale(self, d, rs_list)
            return
        if du.is_recreate(d):
            await recreate.rollout_recreate(self, d, rs_list, self.pod_map(d, selector, rs_list))
        elif du.is_rolling_update(d):
            await rolling.rollout_rolling(self, d, rs_list)
        else:
            strategy = (du.spec(d).get("strategy") or {}).get("type")
            log.warning("deployment %s: unexpected deployment strategy type: %s", key, strategy)

    def pod_map(self, d: Obj, selector: LabelSelector, rs_list: list[Obj]) -> dict[str, list[Obj]]:
        """The Deployment's pods by the uid of the ReplicaSet that controls them."""
        by_uid: dict[str, list[Obj]] = {du.uid(rs): [] for rs in rs_list}
        namespace = str(d["metadata"].get("namespace") or "")
        for pod in self.pods.by_index(NAMESPACE_INDEX, namespace):
            if not selector.matches((pod.get("metadata") or {}).get("labels") or {}):
                continue
            ref = pc.controller_ref(pod)
            if ref is not None and ref.get("uid") in by_uid:
                by_uid[str(ref["uid"])].append(pod)
        return by_uid

    # -- ReplicaSet ownership ------------------------------------------------------------------
    async def claim_replica_sets(self, d: Obj, selector: LabelSelector) -> list[Obj]:
        """Upstream's ClaimReplicaSets: ours that match, plus matching orphans adopted."""
        meta = d["metadata"]
        namespace = str(meta.get("namespace") or "")
        deleting = bool(meta.get("deletionTimestamp"))
        owned: list[Obj] = []
        checked = False
        for rs in self.replicasets.by_index(NAMESPACE_INDEX, namespace):
            rs_meta = rs.get("metadata") or {}
            matches = selector.matches(rs_meta.get("labels") or {})
            ref = pc.controller_ref(rs)
            if ref is not None:
                if ref.get("uid") != du.uid(d):
                    continue
                if matches:
                    owned.append(rs)
                elif not deleting:
                    await self._release(d, rs)
                continue
            if not matches or deleting or rs_meta.get("deletionTimestamp"):
                continue
            if not checked:
                await self._recheck_owner(d)
                checked = True
            adopted = await self._adopt(d, rs)
            if adopted is not None:
                owned.append(adopted)
        return owned

    async def _adopt(self, d: Obj, rs: Obj) -> Obj | None:
        ref = pc.controller_ref_for(d, resources.DEPLOYMENTS)
        patch = {"metadata": {"ownerReferences": [ref], "uid": du.uid(rs)}}
        try:
            return await self.client.patch(rs_path(rs), patch, patch_type="strategic")
        except ApiError as err:
            if err.not_found:
                return None
            raise

    async def _release(self, d: Obj, rs: Obj) -> None:
        patch = {
            "metadata": {
                "ownerReferences": [{"$patch": "delete", "uid": du.uid(d)}],
                "uid": du.uid(rs),
            }
        }
        try:
            await self.client.patch(rs_path(rs), patch, patch_type="strategic")
        except ApiError as err:
            if not (err.not_found or err.status == 422):
                raise

    async def _recheck_owner(self, d: Obj) -> None:
        meta = d["metadata"]
        path = resources.DEPLOYMENTS.path(namespace=meta.get("namespace"), name=meta["name"])
        fresh = await self.client.get(path)
        fresh_meta = fresh.get("metadata") or {}
        if fresh_meta.get("uid") != meta.get("uid"):
            raise AdoptionError(f"original deployment {key_of(d)} is gone")
        if fresh_meta.get("deletionTimestamp"):
            raise AdoptionError(f"deployment {key_of(d)} has just been deleted")

    # -- writes --------------------------------------------------------------------------------
    async def update_status(self, d: Obj) -> None:
        meta = d["metadata"]
        path = resources.DEPLOYMENTS.path(
            namespace=meta.get("namespace"), name=meta["name"], subresource="status"
        )
        answer = await self.client.update(path, d)
        _take_version(d, answer)

    async def save_revision(self, d: Obj, value: str) -> None:
        """Record the new ReplicaSet's revision on the Deployment (upstream writes it along with
        the status; a status write here keeps metadata, so it takes a write of its own)."""
        if not du.set_deployment_revision(d, value):
            return
        meta = d["metadata"]
        path = resources.DEPLOYMENTS.path(namespace=meta.get("namespace"), name=meta["name"])
        answer = await self.client.update(path, d)
        _take_version(d, answer)

    async def update_replica_set(self, rs: Obj) -> Obj:
        return await self.client.update(rs_path(rs), rs)

    def enqueue_after(self, d: Obj, seconds: float) -> None:
        self.queue.add_after(key_of(d), seconds)

    def enqueue_rate_limited(self, d: Obj) -> None:
        self.queue.add_rate_limited(key_of(d))


def _take_version(d: Obj, answer: Obj) -> None:
    version = (answer.get("metadata") or {}).get("resourceVersion")
    if version:
        d["metadata"]["resourceVersion"] = version


def rs_path(rs: Obj) -> str:
    meta = rs["metadata"]
    return resources.REPLICA_SETS.path(namespace=meta.get("namespace"), name=meta["name"])
