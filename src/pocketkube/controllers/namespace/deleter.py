"""Emptying a terminating namespace (upstream's ``deletion/namespaced_resources_deleter.go``).

One pass over a namespace with a deletionTimestamp: make sure its phase says Terminating, then
for every namespaced resource discovery lists as deletable, delete the collection
(``deletecollection`` with Background propagation, so the garbage collector adds no ``orphan``
finalizer) or, where that verb is missing, list and delete each object; then list what is left.
Pods get their grace period: before deleting them the pass estimates the longest
``terminationGracePeriodSeconds`` of the namespace's non-terminal pods (0 once that much time has
passed since the namespace's deletion); objects held by finalizers get 15 s. Leftovers with
neither reason are an error ("unexpected items still remain"). The five NamespaceDeletion*
conditions record the pass. When nothing is left, the ``kubernetes`` finalizer is taken off
``spec.finalizers`` through ``namespaces/<name>/finalize`` and the API server removes the
namespace once no finalizer remains.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from pocketkube.client import resources
from pocketkube.client.rest import ApiError, Obj
from pocketkube.controllers.base import ApiClient
from pocketkube.controllers.namespace.conditions import ConditionUpdater
from pocketkube.controllers.namespace.discovery import CachedDiscovery, DeletableResource

log = logging.getLogger(__name__)

FINALIZER_TOKEN = "kubernetes"
FINALIZER_ESTIMATE_SECONDS = 15
CONFLICT_RETRIES = 5
BACKGROUND = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}


class ResourcesRemaining(Exception):
    """Content is still going away; look again in about ``estimate`` seconds."""

    def __init__(self, estimate: int) -> None:
        super().__init__(
            f"some content remains in the namespace, estimate {estimate} seconds before it is "
            "removed"
        )
        self.estimate = estimate


class DeletionFailed(Exception):
    """Some step of the pass failed (the conditions say which); the pass is retried."""


@dataclass
class _Leftovers:
    estimate: int = 0
    remaining: dict[str, int] = field(default_factory=dict)
    finalizers: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)


def _parse_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _rfc3339(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _not_supported(err: ApiError) -> bool:
    return err.status in (404, 405)


class NamespacedResourcesDeleter:
    def __init__(
        self,
        *,
        client: ApiClient,
        discovery: CachedDiscovery,
        now: Callable[[], dt.datetime],
    ) -> None:
        self._client = client
        self._discovery = discovery
        self._now = now

    async def delete(self, name: str) -> None:
        """One pass; raises ResourcesRemaining while content goes, other errors to retry."""
        path = resources.NAMESPACES.path(name=name)
        try:
            namespace = await self._client.get(path)
        except ApiError as err:
            if err.not_found:
                return
            raise
        meta = namespace.get("metadata") or {}
        if not meta.get("deletionTimestamp"):
            return
        if (namespace.get("status") or {}).get("phase") != "Terminating":
            try:
                namespace = await self._update_status(namespace, phase="Terminating")
            except ApiError as err:
                if err.not_found:
                    return
                raise
        if not (namespace.get("spec") or {}).get("finalizers"):
            return
        estimate = await self._delete_all_content(namespace)
        if estimate > 0:
            raise ResourcesRemaining(estimate)
        await self._finalize(namespace)

    async def _update_status(self, namespace: Obj, *, phase: str | None = None) -> Obj:
        updated = copy.deepcopy(namespace)
        if phase is not None:
            updated.setdefault("status", {})["phase"] = phase
        path = resources.NAMESPACES.path(name=namespace["metadata"]["name"], subresource="status")
        return await self._client.update(path, updated)

    async def _finalize(self, namespace: Obj) -> None:
        """Take our token off ``spec.finalizers``; a conflict is retried on a fresh read of the
        same namespace (upstream's retryOnConflictError)."""
        name = namespace["metadata"]["name"]
        path = resources.NAMESPACES.path(name=name, subresource="finalize")
        for _ in range(CONFLICT_RETRIES):
            wanted = copy.deepcopy(namespace)
            finalizers = (wanted.get("spec") or {}).get("finalizers") or []
            wanted.setdefault("spec", {})["finalizers"] = sorted(
                {f for f in finalizers if f != FINALIZER_TOKEN}
            )
            try:
                await self._client.update(path, wanted)
                return
            except ApiError as err:
                if err.not_found:  # removed already: life is good
                    return
                if not err.conflict:
                    raise
            try:
                latest = await self._client.get(resources.NAMESPACES.path(name=name))
            except ApiError as err:
                if err.not_found:
                    return
                raise
            if latest["metadata"].get("uid") != namespace["metadata"].get("uid"):
                raise DeletionFailed("namespace uid has changed across retries")
            namespace = latest
        raise DeletionFailed(f"namespace {name}: finalize kept conflicting")

    async def _delete_all_content(self, namespace: Obj) -> int:
        name = namespace["metadata"]["name"]
        deleted_at = _parse_time(namespace["metadata"]["deletionTimestamp"])
        conditions = ConditionUpdater(now=_rfc3339(self._now()))
        errors: list[str] = []
        deletable: list[DeletableResource] = []
        try:
            found = await self._discovery.get()
        except ApiError as err:
            errors.append(err.message or str(err))
            conditions.discovery_failed(err.message or str(err))
        else:
            deletable = found.resources
            failed = found.discovery_error()
            if failed:
                errors.append(failed)
                conditions.discovery_failed(
                    f"Discovery failed for some groups, {len(found.failed)} failing: {failed}"
                )
            if found.unparsable:
                message = ", ".join(
                    f"unexpected GroupVersion string: {gv}" for gv in found.unparsable
                )
                errors.append(message)
                conditions.group_version_failed(message)
        left = _Leftovers()
        for resource in deletable:
            await self._delete_resource(resource, name, deleted_at, left)
        for message in left.errors:
            errors.append(message)
            conditions.delete_content_failed(message)
        conditions.content_totals(left.remaining, left.finalizers)
        status = copy.deepcopy(namespace.get("status") or {})
        if conditions.update(status):
            try:
                await self._update_status({**namespace, "status": status})
            except ApiError as err:
                log.warning("couldn't update status condition for namespace %q: %s", name, err)
        if errors:
            raise DeletionFailed("; ".join(errors))
        return left.estimate

    async def _delete_resource(
        self, res: DeletableResource, namespace: str, deleted_at: dt.datetime, left: _Leftovers
    ) -> None:
        """Delete one resource's objects in ``namespace`` and account for what remains."""
        collection = res.resource.path(namespace=namespace)
        try:
            estimate = 0
            if res.resource.group == "" and res.resource.plural == "pods":
                estimate = await self._estimate_pods(collection, deleted_at)
            await self._delete_collection(res, collection)
            if "list" not in res.verbs:
                left.estimate = max(left.estimate, estimate)
                return
            items = await self._list(collection)
        except ApiError as err:
            left.errors.append(err.message or str(err))
            return
        if items is None or not items:
            return
        held = Counter(
            f for item in items for f in (item.get("metadata") or {}).get("finalizers") or []
        )
        left.remaining[res.gvr] = len(items)
        left.finalizers.update(held)
        if estimate:
            left.estimate = max(left.estimate, estimate)
        elif held:
            left.estimate = max(left.estimate, FINALIZER_ESTIMATE_SECONDS)
        else:
            r = res.resource
            gvr = f"{r.group}/{r.version}, Resource={r.plural}"
            left.errors.append(
                f"unexpected items still remain in namespace: {namespace} for gvr: {gvr}"
            )

    async def _delete_collection(self, res: DeletableResource, collection: str) -> None:
        if "deletecollection" in res.verbs:
            try:
                await self._client.delete(collection, body=BACKGROUND)
                return
            except ApiError as err:
                if not _not_supported(err):
                    raise
        if "list" not in res.verbs:
            return
        for item in await self._list(collection) or []:
            item_name = (item.get("metadata") or {}).get("name")
            if not item_name:
                continue
            try:
                await self._client.delete(f"{collection}/{item_name}", body=BACKGROUND)
            except ApiError as err:
                if not _not_supported(err):
                    raise

    async def _list(self, collection: str) -> list[Obj] | None:
        """The collection's objects, or None when the server does not list it."""
        try:
            listed = await self._client.get(collection)
        except ApiError as err:
            if _not_supported(err):
                return None
            raise
        return list(listed.get("items") or [])

    async def _estimate_pods(self, collection: str, deleted_at: dt.datetime) -> int:
        """The longest grace period of the non-terminal pods, or 0 once it has passed."""
        estimate = 0
        for pod in await self._list(collection) or []:
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
            if isinstance(grace, int) and grace > estimate:
                estimate = grace
        if (self._now() - deleted_at).total_seconds() >= estimate:
            return 0
        return estimate
