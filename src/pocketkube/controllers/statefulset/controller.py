"""The StatefulSet controller's queue side: informers, handlers and ``sync`` (upstream's
``stateful_set.go``), the status it writes, and ``build``."""

from __future__ import annotations

import copy
import datetime as dt
import logging
from collections.abc import Callable

from pocketkube.api.labels import SelectorError, selector_from_label_selector
from pocketkube.api.timestamps import utcnow
from pocketkube.client import resources
from pocketkube.client.clock import Clock
from pocketkube.client.informer import Informer
from pocketkube.client.rest import ApiError, Obj
from pocketkube.client.store import NAMESPACE_INDEX, key_of, split_key
from pocketkube.controllers import podcontrol as pc
from pocketkube.controllers.base import ApiClient, Controller
from pocketkube.controllers.context import Context, Recorder
from pocketkube.controllers.statefulset import control as ctl
from pocketkube.controllers.statefulset import history as hist
from pocketkube.controllers.statefulset import identity as ident

log = logging.getLogger(__name__)

NAME = "statefulset"
COMPONENT = "statefulset-controller"
KIND = resources.STATEFUL_SETS.kind


def compute_status(sts: Obj, pods: list[Obj], revisions: hist.Revisions, now: dt.datetime) -> Obj:
    """Upstream's computeReplicaStatus + completeRollingUpdate over the set's pods."""
    min_ready = int((sts.get("spec") or {}).get("minReadySeconds") or 0)
    current = revisions.current["metadata"]["name"]
    update = revisions.update["metadata"]["name"]
    counts = dict.fromkeys(
        ("replicas", "readyReplicas", "availableReplicas", "currentReplicas", "updatedReplicas"),
        0,
    )
    for pod in pods:
        created = ctl.is_created(pod)
        counts["replicas"] += created
        if ctl.is_running_and_ready(pod):
            counts["readyReplicas"] += 1
            counts["availableReplicas"] += pc.is_pod_available(pod, min_ready, now)
        if created and not ctl.is_terminating(pod):
            counts["currentReplicas"] += ident.revision_of(pod) == current
            counts["updatedReplicas"] += ident.revision_of(pod) == update
    status: Obj = {**counts, "currentRevision": current, "updateRevision": update}
    strategy = ((sts.get("spec") or {}).get("updateStrategy") or {}).get("type", "RollingUpdate")
    if strategy == "RollingUpdate" and (
        counts["updatedReplicas"] == counts["replicas"] == counts["readyReplicas"]
    ):
        status["currentReplicas"] = counts["updatedReplicas"]
        status["currentRevision"] = update
    if sts["metadata"].get("generation") is not None:
        status["observedGeneration"] = sts["metadata"]["generation"]
    if revisions.collision_count:
        status["collisionCount"] = revisions.collision_count
    for key in ("readyReplicas", "currentReplicas", "updatedReplicas"):
        if not status[key]:
            del status[key]  # omitempty, as the API returns them
    old = sts.get("status") or {}
    return {**{k: v for k, v in old.items() if k == "conditions"}, **status}


class StatefulSetController(Controller):
    name = NAME

    def __init__(
        self,
        *,
        client: ApiClient,
        set_informer: Informer,
        pod_informer: Informer,
        revision_informer: Informer,
        claim_informer: Informer,
        recorder: Recorder,
        workers: int = 5,
        clock: Clock | None = None,
        now: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        informers = [set_informer, pod_informer, revision_informer, claim_informer]
        super().__init__(informers=informers, workers=workers, clock=clock)
        self._client = client
        self._sets = set_informer.store
        self._pods = pod_informer.store
        self._revisions = revision_informer.store
        self._now = now
        self._history = hist.History(client=client)
        pod_control = ctl.StatefulPodControl(
            client=client, recorder=recorder, claims=claim_informer.store
        )
        self.control = ctl.StatefulSetControl(pods=pod_control, now=now)
        for informer in (set_informer, pod_informer, revision_informer):
            pc.ensure_namespace_index(informer)
        set_informer.add_handler(
            on_add=self.enqueue, on_update=self.enqueue_update, on_delete=self.enqueue
        )
        pod_informer.add_handler(
            on_add=self._owned_changed, on_update=self._pod_updated, on_delete=self._owner_only
        )
        revision_informer.add_handler(
            on_add=self._owner_only,
            on_update=lambda old, new: self._owner_only(new),
            on_delete=self._owner_only,
        )

    # -- handlers ------------------------------------------------------------------------------
    def _owner_key(self, obj: Obj) -> str | None:
        owner = pc.resolve_controller_ref(
            self._sets, obj["metadata"].get("namespace"), pc.controller_ref(obj), KIND
        )
        return None if owner is None else key_of(owner)

    def _owner_only(self, obj: Obj) -> None:
        key = self._owner_key(obj)
        if key is not None:
            self.queue.add(key)

    def _owned_changed(self, pod: Obj) -> None:
        if pc.controller_ref(pod) is not None:
            self._owner_only(pod)
            return
        labels = pod["metadata"].get("labels") or {}
        for sts in self._sets.by_index(NAMESPACE_INDEX, str(pod["metadata"].get("namespace"))):
            try:
                selector = selector_from_label_selector((sts.get("spec") or {}).get("selector"))
            except SelectorError:
                continue
            if not selector.empty and selector.matches(labels):
                self.queue.add(key_of(sts))

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if old["metadata"].get("resourceVersion") == new["metadata"].get("resourceVersion"):
            return
        if pc.controller_ref(old) != pc.controller_ref(new):
            self._owner_only(old)
        self._owned_changed(new)

    # -- sync ----------------------------------------------------------------------------------
    async def sync(self, key: str) -> None:
        sts = self._sets.get(key)
        if sts is None:
            return
        try:
            selector = selector_from_label_selector((sts.get("spec") or {}).get("selector"))
        except SelectorError as err:
            log.warning("statefulset %s has an invalid selector: %s", key, err)
            return
        namespace, _ = split_key(key)
        refs = pc.PodControllerRefManager(
            client=self._client, owner=sts, resource=resources.STATEFUL_SETS, selector=selector
        )
        candidates = self._pods.by_index(NAMESPACE_INDEX, str(namespace))
        pods, errors = await refs.claim_pods(candidates, lambda pod: ident.is_member_of(sts, pod))
        if errors:
            raise errors[0]
        revision_refs = pc.PodControllerRefManager(
            client=self._client,
            owner=sts,
            resource=resources.STATEFUL_SETS,
            selector=selector,
            claimed=resources.CONTROLLER_REVISIONS,
        )
        revisions, errors = await revision_refs.claim_pods(
            self._revisions.by_index(NAMESPACE_INDEX, str(namespace))
        )
        if errors:
            raise errors[0]
        revs = await self._history.revisions_for(sts, revisions)
        plan = ctl.Plan(
            current_set=hist.apply_revision(sts, revs.current),
            update_set=hist.apply_revision(sts, revs.update),
            current_revision=revs.current["metadata"]["name"],
            update_revision=revs.update["metadata"]["name"],
        )
        outcome = await self.control.update(sts, plan, pods)
        await self._write_status(sts, compute_status(sts, pods, revs, self._now()))
        await self._history.truncate(sts, pods, revisions, revs.current, revs.update)
        if outcome.requeue_after is not None:
            self.queue.add_after(key, max(0.0, outcome.requeue_after) + 0.01)
        if outcome.errors:
            raise outcome.errors[0]

    async def _write_status(self, sts: Obj, status: Obj) -> None:
        if status == (sts.get("status") or {}):
            return
        meta = sts["metadata"]
        path = resources.STATEFUL_SETS.path(
            namespace=meta.get("namespace"), name=meta["name"], subresource="status"
        )
        updated = copy.deepcopy(sts)
        updated["status"] = status
        try:
            await self._client.update(path, updated)
        except ApiError as err:
            if not err.not_found:
                raise  # a conflict: the queue retries with the newer copy


def build(ctx: Context) -> Controller:
    return StatefulSetController(
        client=ctx.client,
        set_informer=ctx.informers.informer(resources.STATEFUL_SETS),
        pod_informer=ctx.informers.informer(resources.PODS),
        revision_informer=ctx.informers.informer(resources.CONTROLLER_REVISIONS),
        claim_informer=ctx.informers.informer(resources.PERSISTENT_VOLUME_CLAIMS),
        recorder=ctx.recorder(COMPONENT),
        workers=ctx.options.concurrent_statefulset_syncs,
        clock=ctx.clock,
    )
