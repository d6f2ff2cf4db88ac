"""The garbage collector's decisions (upstream's ``garbagecollector.go``).

Two kinds of work share one rate-limited queue: ``delete/<uid>`` (upstream's attemptToDelete)
and ``orphan/<uid>`` (attemptToOrphan); the node is read from the graph when a worker takes it.

*attemptToDelete* of a node, as upstream's ``attemptToDeleteItem``:

- an object being deleted without ``foregroundDeletion`` is left alone;
- the object is read live; gone (or replaced: another uid) → a virtual delete event for the
  graph, which removes a virtual node and sends its dependents to be looked at;
- an object deleting its dependents (foreground) loses its ``foregroundDeletion`` finalizer
  once no dependent blocks it (blockOwnerDeletion=true), else its blocking dependents are
  queued;
- otherwise its owners are classified by live lookups (cached when absent): **dangling** (not
  found, another uid, or in another namespace), **waiting for dependents deletion**
  (deleting with ``foregroundDeletion``) or **solid**. With a solid owner the dangling and
  waiting references are removed by a patch; with none solid and an owner waiting, it is
  deleted in the foreground (after unblocking its own references if one of its dependents is
  deleting too, a cycle); with no owner left it is deleted with the policy its finalizers ask
  for (orphan → Orphan, foregroundDeletion → Foreground, else Background).

A virtual node that exists is retried until its informer observes it. *attemptToOrphan* of an
owner removes its reference from every dependent, then its ``orphan`` finalizer.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

from pocketkube.client.clock import Clock
from pocketkube.client.informer import ListWatcher
from pocketkube.client.resources import Resource
from pocketkube.client.rest import ApiError, Obj
from pocketkube.controllers.base import ApiClient, Controller, IgnorableError
from pocketkube.controllers.context import Recorder
from pocketkube.controllers.garbagecollector import discovery
from pocketkube.controllers.garbagecollector.graph import (
    FOREGROUND_FINALIZER,
    ORPHAN_FINALIZER,
    EventType,
    Graph,
    Identity,
    Node,
    OwnerRef,
    has_finalizer,
    owner_refs,
)
from pocketkube.controllers.garbagecollector.monitors import Monitors
from pocketkube.controllers.garbagecollector.operations import Operations

log = logging.getLogger(__name__)

NAME = "garbagecollector"
RESYNC_PERIOD = 30.0  # kube-controller-manager's garbageCollector.Sync period
INITIAL_SYNC_TIMEOUT = 30.0
DISCOVERY_RETRY = 1.0
MIN_REDISCOVERY_INTERVAL = 1.0


class _VirtualDeleteEnqueued(Exception):
    pass


class _NamespacedOwnerOfClusterScopedObject(Exception):
    pass


class GarbageCollector(Controller):
    name = NAME

    def __init__(
        self,
        *,
        client: ApiClient,
        list_watcher: ListWatcher,
        recorder: Recorder | None = None,
        workers: int = 20,
        clock: Clock | None = None,
        resync_period: float = RESYNC_PERIOD,
        initial_sync_timeout: float = INITIAL_SYNC_TIMEOUT,
    ) -> None:
        super().__init__(informers=(), workers=workers, clock=clock)
        self._client = client
        self._recorder = recorder
        self._resync_period = resync_period
        self._initial_sync_timeout = initial_sync_timeout
        self.discovered = discovery.Discovered()
        self.ops = Operations(client=client, mapper=self._map)
        self.graph = Graph(
            attempt_to_delete=self._queue_delete,
            attempt_to_orphan=lambda node: self.queue.add(f"orphan/{node.identity.uid}"),
            attempt_to_delete_later=lambda n: self.queue.add_rate_limited(
                f"delete/{n.identity.uid}"
            ),
            report_invalid_namespace=self._report_invalid_namespace,
        )
        self.monitors = Monitors(client=list_watcher, handler=self._on_event)
        self._rediscover = asyncio.Event()

    # -- plumbing --------------------------------------------------------------------------------
    def _queue_delete(self, node: Node) -> None:
        self.queue.add(f"delete/{node.identity.uid}")

    def _map(self, api_version: str, kind: str) -> Resource:
        try:
            return self.discovered.resource_for(api_version, kind)
        except discovery.MappingError:
            self._rediscover.set()
            raise

    def _on_event(self, event: EventType, resource: Resource, obj: Obj, old: Obj | None) -> None:
        meta = obj.get("metadata") or {}
        old_meta = (old.get("metadata") or {}) if old is not None else None
        self.graph.process(event, resource.api_version, resource.kind, meta, old_meta)
        # The graph holds the references now; the informer's stored copy (this very dict) does
        # not need them: relists and deletes only need the key, uid and resourceVersion.
        meta.pop("ownerReferences", None)

    def _report_invalid_namespace(self, node: Node, ref: OwnerRef) -> None:
        if self._recorder is None:
            return
        invalid = ref.identity(node.identity.namespace)
        ident = node.identity
        regarding = {
            "apiVersion": ident.api_version,
            "kind": ident.kind,
            "metadata": {"name": ident.name, "namespace": ident.namespace, "uid": ident.uid},
        }
        if not ident.namespace:
            del regarding["metadata"]["namespace"]  # type: ignore[attr-defined]
        note = f'ownerRef {invalid} does not exist in namespace "{ident.namespace}"'
        self._recorder.post(
            regarding,
            type="Warning",
            reason="OwnerRefInvalidNamespace",
            action="OwnerRefInvalidNamespace",
            note=note,
        )

    # -- running -----------------------------------------------------------------------------------
    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            first = asyncio.Event()
            group.create_task(self._discovery_loop(group, first))
            await first.wait()
            try:
                async with asyncio.timeout(self._initial_sync_timeout):
                    await self.monitors.wait_synced()
                log.info("garbage collector: all resource monitors have synced")
            except TimeoutError:
                log.info("garbage collector: not all resource monitors synced, proceeding")
            await super().run()

    async def _discovery_loop(self, group: asyncio.TaskGroup, first: asyncio.Event) -> None:
        """Discover deletable resources now and every ``resync_period`` (sooner when an
        ownerReference named a kind not yet known), adjusting the informers."""
        while True:
            self._rediscover.clear()
            try:
                found = await discovery.discover(self._client)
            except ApiError as err:
                log.info("garbage collector: discovery failed: %s", err)
                await asyncio.sleep(DISCOVERY_RETRY * random.uniform(1.0, 1.5))
                continue
            self.discovered = found
            wanted = discovery.keep_failed(found, self.monitors.resources)
            if wanted and wanted != self.monitors.resources:
                self.monitors.sync(wanted, group)
            first.set()
            await asyncio.sleep(MIN_REDISCOVERY_INTERVAL)
            try:
                async with asyncio.timeout(self._resync_period - MIN_REDISCOVERY_INTERVAL):
                    await self._rediscover.wait()
            except TimeoutError:
                pass

    # -- work ------------------------------------------------------------------------------------
    async def sync(self, key: str) -> None:
        queue, _, uid = key.partition("/")
        node = self.graph.get(uid)
        if node is None:
            return
        if queue == "orphan":
            await self.attempt_to_orphan(node)
            return
        try:
            await self.attempt_to_delete_item(node)
        except (_VirtualDeleteEnqueued, _NamespacedOwnerOfClusterScopedObject):
            return
        except discovery.MappingError as err:
            raise IgnorableError(str(err)) from None
        if node.virtual:
            raise IgnorableError(f"item {node.identity} hasn't been observed via informer yet")

    def _virtual_delete(self, identity: Identity) -> None:
        meta = {"name": identity.name, "namespace": identity.namespace, "uid": identity.uid}
        self.graph.process("delete", identity.api_version, identity.kind, meta, virtual=True)
        raise _VirtualDeleteEnqueued

    async def attempt_to_delete_item(self, node: Node) -> None:
        if node.being_deleted and not node.deleting_dependents:
            return
        try:
            latest = await self.ops.get(node.identity)
        except ApiError as err:
            if err.not_found:
                self._virtual_delete(node.identity)
            raise
        meta: dict[str, Any] = latest.get("metadata") or {}
        if meta.get("uid") != node.identity.uid:
            self._virtual_delete(node.identity)
        if node.deleting_dependents:
            await self._process_deleting_dependents(node)
            return
        refs = owner_refs(meta)
        if not refs:
            return
        solid, dangling, waiting = await self._classify(node, refs)
        if solid:
            if not dangling and not waiting:
                return
            uids = [ref.uid for ref in (*dangling, *waiting)]
            log.info("garbage collector: removing dangling ownerReferences %s from %s",
                     uids, node.identity)  # fmt: skip
            await self.ops.remove_owner_refs(node, uids)
            return
        if waiting and node.dependents:
            if any(dep.deleting_dependents for dep in list(node.dependents)):
                await self.ops.unblock_owner_refs(node)
            await self._delete(node, "Foreground")
            return
        if has_finalizer(meta, ORPHAN_FINALIZER):
            policy = "Orphan"
        elif has_finalizer(meta, FOREGROUND_FINALIZER):
            policy = "Foreground"
        else:
            policy = "Background"
        await self._delete(node, policy)

    async def _delete(self, node: Node, policy: str) -> None:
        log.info("garbage collector: deleting %s with propagation policy %s", node.identity, policy)
        await self.ops.delete(node.identity, policy)

    async def _classify(
        self, node: Node, refs: tuple[OwnerRef, ...]
    ) -> tuple[list[OwnerRef], list[OwnerRef], list[OwnerRef]]:
        solid: list[OwnerRef] = []
        dangling: list[OwnerRef] = []
        waiting: list[OwnerRef] = []
        for ref in refs:
            owner = await self._live_owner(ref, node)
            if owner is None:
                dangling.append(ref)
                continue
            owner_meta = owner.get("metadata") or {}
            if owner_meta.get("deletionTimestamp") and has_finalizer(
                owner_meta, FOREGROUND_FINALIZER
            ):
                waiting.append(ref)
            else:
                solid.append(ref)
        return solid, dangling, waiting

    async def _live_owner(self, ref: OwnerRef, node: Node) -> Obj | None:
        """The owner ``ref`` names, or None when it is dangling (upstream's ``isDangling``)."""
        namespace = node.identity.namespace
        cluster_key = ref.identity("")
        if cluster_key in self.graph.absent_owners:
            return None
        key = ref.identity(namespace)
        if key in self.graph.absent_owners:
            return None
        resource = self._map(ref.api_version, ref.kind)
        if not resource.namespaced:
            key = cluster_key
        elif not namespace:
            log.info("garbage collector: %s is cluster-scoped but refers to a namespaced owner "
                     "of type %s/%s", node.identity, ref.api_version, ref.kind)  # fmt: skip
            raise _NamespacedOwnerOfClusterScopedObject
        path = resource.path(namespace=namespace if resource.namespaced else None, name=ref.name)
        try:
            owner = await self._client.get(path)
        except ApiError as err:
            if not err.not_found:
                raise
            self.graph.absent_owners.add(key)
            return None
        if (owner.get("metadata") or {}).get("uid") != ref.uid:
            self.graph.absent_owners.add(key)
            return None
        return owner

    async def _process_deleting_dependents(self, node: Node) -> None:
        blocking = node.blocking_dependents()
        if not blocking:
            log.info("garbage collector: removing the %s finalizer of %s",
                     FOREGROUND_FINALIZER, node.identity)  # fmt: skip
            await self.ops.remove_finalizer(node, FOREGROUND_FINALIZER)
            return
        for dep in blocking:
            if not dep.deleting_dependents:
                self._queue_delete(dep)

    async def attempt_to_orphan(self, owner: Node) -> None:
        dependents = list(owner.dependents)
        results = await asyncio.gather(
            *(self.ops.remove_owner_refs(dep, [owner.identity.uid]) for dep in dependents),
            return_exceptions=True,
        )
        for dep, result in zip(dependents, results, strict=True):
            if isinstance(result, ApiError) and result.not_found:
                continue
            if isinstance(result, BaseException):
                raise ApiError(0, "", f"orphaning {dep.identity} failed, {result}") from result
        await self.ops.remove_finalizer(owner, ORPHAN_FINALIZER)
