"""daemonset: one pod per eligible node (upstream's ``pkg/controller/daemon``, reporting as
``daemonset-controller``).

``sync(ds)`` (level-triggered, upstream's syncDaemonSet): find the current ControllerRevision
(``history``), then — once the pods it asked for have been seen (expectations) — **manage**:
for every node, ``eligibility.node_should_run_daemon_pod`` says whether a pod belongs there;
a missing one is created (from the template with the daemon tolerations, the
``controller-revision-hash`` and ``pod-template-generation`` labels, pinned to the node by
node affinity for the scheduler to bind), pods on nodes that should not keep them are deleted,
failed ones deleted with a per-node back-off (1 s doubling to 15 min; ``FailedDaemonPod``),
succeeded ones deleted (``SucceededDaemonPod``), extra ones pruned (oldest kept); then the
**rolling update** (``update``) when the strategy is RollingUpdate (OnDelete waits for users
to delete pods); old revisions are cleaned up and the status written.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Callable
from typing import Any

from pocketkube.api.labels import LabelSelector, SelectorError, selector_from_label_selector
from pocketkube.api.timestamps import utcnow
from pocketkube.client import resources
from pocketkube.client.clock import Clock, RealClock
from pocketkube.client.informer import Informer
from pocketkube.client.rest import ApiError, Obj
from pocketkube.client.store import NAMESPACE_INDEX, key_of
from pocketkube.controllers.base import ApiClient, Controller
from pocketkube.controllers.context import Context, Recorder
from pocketkube.controllers.daemonset import history
from pocketkube.controllers.daemonset.common import creation_order, generation, meta
from pocketkube.controllers.daemonset.eligibility import (
    add_daemon_tolerations,
    daemon_pod_spec,
    node_should_run_daemon_pod,
    pin_to_node,
    target_node_name,
)
from pocketkube.controllers.daemonset.revisions import RevisionControl
from pocketkube.controllers.daemonset.status import status_counts, store_status
from pocketkube.controllers.daemonset.update import (
    TEMPLATE_GENERATION_LABEL,
    is_pod_updated,
    rolling_update_plan,
)
from pocketkube.controllers.podcontrol import (
    ControllerExpectations,
    PodControl,
    PodControllerRefManager,
    controller_ref,
    ensure_namespace_index,
    is_pod_available,
    is_pod_ready,
    pod_from_template,
    resolve_controller_ref,
)

log = logging.getLogger(__name__)

NAME = "daemonset"
COMPONENT = "daemonset-controller"
BURST_REPLICAS = 250
BACKOFF_INITIAL, BACKOFF_MAX = 1.0, 15 * 60.0
FAILED_DAEMON_POD = "FailedDaemonPod"
SUCCEEDED_DAEMON_POD = "SucceededDaemonPod"
SELECTING_ALL = "SelectingAll"


class DaemonSetController(Controller):
    name = NAME

    def __init__(
        self,
        *,
        client: ApiClient,
        ds_informer: Informer,
        pod_informer: Informer,
        node_informer: Informer,
        revision_informer: Informer,
        recorder: Recorder,
        workers: int = 2,
        clock: Clock | None = None,
        now: Callable[[], Any] = utcnow,
    ) -> None:
        super().__init__(
            informers=[ds_informer, pod_informer, node_informer, revision_informer],
            workers=workers,
            clock=clock,
        )
        self._client = client
        self._dss = ds_informer.store
        self._pods = pod_informer.store
        self._nodes = node_informer.store
        self._revisions = RevisionControl(client=client, store=revision_informer.store)
        for informer in (ds_informer, pod_informer, revision_informer):
            ensure_namespace_index(informer)
        self._recorder = recorder
        self._pod_control = PodControl(client=client, recorder=recorder)
        self._clock: Clock = clock or RealClock()
        self._now = now
        self.expectations = ControllerExpectations(clock=self._clock)
        self._backoff: dict[str, tuple[float, float]] = {}  # key -> (delay, last update)
        ds_informer.add_handler(
            on_add=self.enqueue, on_update=self.enqueue_update, on_delete=self.enqueue
        )
        pod_informer.add_handler(
            on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_deleted
        )
        node_informer.add_handler(
            on_add=self._enqueue_all, on_update=self._node_updated, on_delete=self._enqueue_all
        )
        revision_informer.add_handler(
            on_add=self._enqueue_owner,
            on_update=lambda old, new: self._enqueue_owner(new),
            on_delete=self._enqueue_owner,
        )

    # -- handlers ------------------------------------------------------------------------------
    def _owner_key(self, obj: Obj) -> str | None:
        ds = resolve_controller_ref(
            self._dss, meta(obj).get("namespace"), controller_ref(obj), "DaemonSet"
        )
        return None if ds is None else key_of(ds)

    def _enqueue_owner(self, obj: Obj) -> None:
        if (key := self._owner_key(obj)) is not None:
            self.queue.add(key)

    def _enqueue_selecting(self, pod: Obj) -> None:
        labels = meta(pod).get("labels") or {}
        for ds in self._dss.by_index(NAMESPACE_INDEX, str(meta(pod).get("namespace"))):
            try:
                selector = selector_from_label_selector((ds.get("spec") or {}).get("selector"))
            except SelectorError:
                continue
            if not selector.empty and selector.matches(labels):
                self.enqueue(ds)

    def _pod_added(self, pod: Obj) -> None:
        if meta(pod).get("deletionTimestamp"):
            self._pod_deleted(pod)
            return
        if controller_ref(pod) is None:
            self._enqueue_selecting(pod)
            return
        if (key := self._owner_key(pod)) is not None:
            self.expectations.creation_observed(key)
            self.queue.add(key)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if controller_ref(old) != controller_ref(new):
            self._enqueue_owner(old)
        if controller_ref(new) is None:
            self._enqueue_selecting(new)
        else:
            self._enqueue_owner(new)

    def _pod_deleted(self, pod: Obj) -> None:
        if (key := self._owner_key(pod)) is not None:
            self.expectations.deletion_observed(key, key_of(pod))
            self.queue.add(key)

    def _enqueue_all(self, _: Obj | None = None) -> None:
        for ds in self._dss.list():
            self.enqueue(ds)

    def _node_updated(self, old: Obj, new: Obj) -> None:
        # Only what decides eligibility: labels, taints, the node's spec (not its status).
        if meta(old).get("labels") != meta(new).get("labels") or old.get("spec") != new.get("spec"):
            self._enqueue_all()

    # -- sync ----------------------------------------------------------------------------------
    async def sync(self, key: str) -> None:
        ds = self._dss.get(key)
        if ds is None:
            self.expectations.delete(key)
            return
        try:
            selector = selector_from_label_selector((ds.get("spec") or {}).get("selector"))
        except SelectorError as err:
            log.warning("%s: %s has an invalid selector: %s", self.name, key, err)
            return
        if selector.empty:
            self._recorder.post(
                ds,
                type="Warning",
                reason=SELECTING_ALL,
                action="Select",
                note="This daemon set is selecting all pods. A non-empty selector is required.",
            )
            return
        if meta(ds).get("deletionTimestamp"):
            return
        nodes = sorted(self._nodes.list(), key=lambda n: str(meta(n).get("name")))
        current, old = await self._revisions.construct(ds, selector)
        hash_ = history.revision_hash(current)
        if not self.expectations.satisfied(key):
            await self._update_status(ds, selector, nodes, hash_, observed=False)
            return
        await self._manage(ds, selector, nodes, hash_)
        strategy = ((ds.get("spec") or {}).get("updateStrategy") or {}).get("type")
        if self.expectations.satisfied(key) and strategy != "OnDelete":
            await self._rolling_update(ds, selector, nodes, hash_)
        await self._cleanup_history(ds, selector, old)
        await self._update_status(ds, selector, nodes, hash_, observed=True)

    async def _nodes_to_daemon_pods(
        self, ds: Obj, selector: LabelSelector, *, include_deleted_terminal: bool = False
    ) -> dict[str, list[Obj]]:
        pods = self._pods.by_index(NAMESPACE_INDEX, str(meta(ds).get("namespace")))
        manager = PodControllerRefManager(
            client=self._client, owner=ds, resource=resources.DAEMON_SETS, selector=selector
        )
        claimed, errors = await manager.claim_pods(pods)
        if errors:
            raise errors[0]
        result: dict[str, list[Obj]] = {}
        for pod in claimed:
            phase = (pod.get("status") or {}).get("phase")
            terminal = phase in ("Succeeded", "Failed")
            if not include_deleted_terminal and terminal and meta(pod).get("deletionTimestamp"):
                continue
            node = target_node_name(pod)
            if node is None:
                continue
            result.setdefault(node, []).append(pod)
        return result

    # -- manage --------------------------------------------------------------------------------
    async def _manage(self, ds: Obj, selector: LabelSelector, nodes: list[Obj], hash_: str) -> None:
        node_to_pods = await self._nodes_to_daemon_pods(ds, selector)
        spec = daemon_pod_spec(ds)
        needing: list[str] = []
        to_delete: list[Obj] = []
        for node in nodes:
            create, delete = self._pods_should_be_on_node(ds, node, node_to_pods, spec, hash_)
            needing += create
            to_delete += delete
        names = {str(meta(n).get("name")) for n in nodes}
        for node_name, pods in node_to_pods.items():
            if node_name not in names:  # never scheduled, its node gone: pod GC cannot help
                to_delete += [p for p in pods if not (p.get("spec") or {}).get("nodeName")]
        await self._sync_nodes(ds, to_delete, needing, hash_)

    def _pods_should_be_on_node(
        self,
        ds: Obj,
        node: Obj,
        node_to_pods: dict[str, list[Obj]],
        spec: dict[str, Any],
        hash_: str,
    ) -> tuple[list[str], list[Obj]]:
        name = str(meta(node).get("name"))
        should_run, should_continue = node_should_run_daemon_pod(node, ds, spec)
        pods = node_to_pods.get(name)
        if should_run and not pods:
            return [name], []
        if not pods:
            return [], []
        if not should_continue:
            return [], [p for p in pods if not meta(p).get("deletionTimestamp")]
        to_delete: list[Obj] = []
        running: list[Obj] = []
        for pod in pods:
            if meta(pod).get("deletionTimestamp"):
                continue
            phase = (pod.get("status") or {}).get("phase")
            pod_name = f"{meta(pod).get('namespace')}/{meta(pod).get('name')}"
            if phase == "Failed":
                backoff_key = f"{meta(ds).get('uid')}/{key_of(ds)}/{name}"
                now = self._clock.now()
                if self._in_backoff(backoff_key, now):
                    self.queue.add_after(key_of(ds), self._backoff[backoff_key][0])
                    continue
                self._next_backoff(backoff_key, now)
                self._recorder.post(
                    ds,
                    type="Warning",
                    reason=FAILED_DAEMON_POD,
                    action="Delete",
                    note=f"Found failed daemon pod {pod_name} on node {name}, will try to kill it",
                )
                to_delete.append(pod)
            elif phase == "Succeeded":
                self._recorder.post(
                    ds,
                    type="Normal",
                    reason=SUCCEEDED_DAEMON_POD,
                    action="Delete",
                    note=(
                        f"Found succeeded daemon pod {pod_name} on node {name}, "
                        "will try to delete it"
                    ),
                )
                to_delete.append(pod)
            else:
                running.append(pod)
        if len(running) <= 1:
            return [], to_delete
        running.sort(key=creation_order)
        if not _surge_allowed(ds):
            return [], to_delete + running[1:]
        oldest_new = oldest_old = None
        for pod in running:
            if is_pod_updated(pod, hash_, generation(ds)):
                if oldest_new is None:
                    oldest_new = pod
                    continue
            elif oldest_old is None:
                oldest_old = pod
                continue
            to_delete.append(pod)
        if oldest_new is not None and oldest_old is not None:
            min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
            if not is_pod_ready(oldest_old) or is_pod_available(oldest_new, min_ready, self._now()):
                to_delete.append(oldest_old)
        return [], to_delete

    def _in_backoff(self, key: str, now: float) -> bool:
        entry = self._backoff.get(key)
        return entry is not None and now - entry[1] < entry[0]

    def _next_backoff(self, key: str, now: float) -> None:
        entry = self._backoff.get(key)
        if entry is None or now - entry[1] > 2 * BACKOFF_MAX:
            delay = BACKOFF_INITIAL
        else:
            delay = min(entry[0] * 2, BACKOFF_MAX)
        self._backoff[key] = (delay, now)

    def pod_template(self, ds: Obj, hash_: str) -> Obj:
        """Upstream's CreatePodTemplate: daemon tolerations, generation and hash labels."""
        template = copy.deepcopy((ds.get("spec") or {}).get("template") or {})
        add_daemon_tolerations(template.setdefault("spec", {}))
        labels = template.setdefault("metadata", {}).setdefault("labels", {})
        if (gen := generation(ds)) is not None:
            labels[TEMPLATE_GENERATION_LABEL] = str(gen)
        if hash_:
            labels[history.REVISION_HASH_LABEL] = hash_
        return template

    async def _sync_nodes(
        self, ds: Obj, to_delete: list[Obj], nodes_needing: list[str], hash_: str
    ) -> None:
        key = key_of(ds)
        creates = nodes_needing[:BURST_REPLICAS]
        deletes = to_delete[:BURST_REPLICAS]
        self.expectations.expect_deletions(key, [key_of(p) for p in deletes])
        self.expectations.lower_expectations(key, add=-len(creates))  # i.e. expect them
        template = self.pod_template(ds, hash_)
        errors: list[BaseException] = []
        pos, batch = 0, 1
        while pos < len(creates):
            chunk = creates[pos : pos + batch]
            results = await asyncio.gather(
                *(self._create_on_node(ds, template, node) for node in chunk),
                return_exceptions=True,
            )
            failed = [r for r in results if isinstance(r, BaseException)]
            pos += len(chunk)
            if failed:
                errors += failed
                # the failed and the never-tried ones will not be observed
                self.expectations.lower_expectations(key, add=len(failed) + len(creates) - pos)
                break
            batch = min(2 * batch, len(creates) - pos)
        for pod in deletes:
            pod_meta = meta(pod)
            try:
                await self._pod_control.delete_pod(
                    str(pod_meta["namespace"]), str(pod_meta["name"]), ds
                )
            except ApiError as err:
                self.expectations.deletion_observed(key, key_of(pod))
                if not err.not_found:
                    errors.append(err)
        if errors:
            raise errors[0]

    async def _create_on_node(self, ds: Obj, template: Obj, node: str) -> None:
        pod = pod_from_template(template, ds, resources.DAEMON_SETS)
        pin_to_node(pod["spec"], node)
        await self._pod_control.create_pod(pod, ds)

    # -- rolling update ------------------------------------------------------------------------
    async def _rolling_update(
        self, ds: Obj, selector: LabelSelector, nodes: list[Obj], hash_: str
    ) -> None:
        node_to_pods = await self._nodes_to_daemon_pods(ds, selector)
        spec = daemon_pod_spec(ds)
        desired = 0
        for node in nodes:
            if node_should_run_daemon_pod(node, ds, spec)[0]:
                desired += 1
                node_to_pods.setdefault(str(meta(node).get("name")), [])
        plan = rolling_update_plan(ds, node_to_pods, desired, hash_, generation(ds), self._now())
        if plan.delete or plan.create:
            await self._sync_nodes(ds, plan.delete, plan.create, hash_)

    # -- history and status --------------------------------------------------------------------
    async def _cleanup_history(self, ds: Obj, selector: LabelSelector, old: list[Obj]) -> None:
        limit = (ds.get("spec") or {}).get("revisionHistoryLimit")
        if len(old) <= (limit if isinstance(limit, int) else 10):
            return
        node_to_pods = await self._nodes_to_daemon_pods(ds, selector, include_deleted_terminal=True)
        live = {
            str((meta(p).get("labels") or {}).get(history.REVISION_HASH_LABEL))
            for pods in node_to_pods.values()
            for p in pods
        }
        await self._revisions.cleanup(ds, old, live)

    async def _update_status(
        self, ds: Obj, selector: LabelSelector, nodes: list[Obj], hash_: str, *, observed: bool
    ) -> None:
        node_to_pods = await self._nodes_to_daemon_pods(ds, selector)
        counts = status_counts(ds, nodes, node_to_pods, hash_, self._now())
        await store_status(self._client, ds, counts, observed=observed)
        min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
        if min_ready > 0 and counts["numberReady"] != counts["numberAvailable"]:
            self.queue.add_after(key_of(ds), float(min_ready))


def _surge_allowed(ds: Obj) -> bool:
    """Upstream's AllowsSurge: a RollingUpdate whose maxSurge is not zero."""
    strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
    if strategy.get("type") != "RollingUpdate":
        return False
    return (strategy.get("rollingUpdate") or {}).get("maxSurge") not in (None, 0, "0", "0%")


def build(ctx: Context) -> Controller:
    return DaemonSetController(
        client=ctx.client,
        ds_informer=ctx.informers.informer(resources.DAEMON_SETS),
        pod_informer=ctx.informers.informer(resources.PODS),
        node_informer=ctx.informers.informer(resources.NODES),
        revision_informer=ctx.informers.informer(resources.CONTROLLER_REVISIONS),
        recorder=ctx.recorder(COMPONENT),
        workers=ctx.options.concurrent_daemonset_syncs,
        clock=ctx.clock,
    )
