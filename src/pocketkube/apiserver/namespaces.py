"""The Namespace registry: deleting a namespace is a phase, not an instant.

As upstream's ``pkg/registry/core/namespace/storage``: the first DELETE of a namespace only marks
it — ``metadata.deletionTimestamp``, ``status.phase: Terminating`` and the garbage collector's
``orphan``/``foregroundDeletion`` finalizer when the propagation policy (or
``orphanDependents``) asks for one — and answers 200 with the Namespace. The namespace controller
then empties it and takes ``kubernetes`` off ``spec.finalizers`` (``namespaces/<name>/finalize``).
A later DELETE removes it only once ``spec.finalizers`` is empty (then ``metadata.finalizers``
must be gone too), and any update that leaves a deleted namespace with neither kind of finalizer
removes it (upstream's ``ShouldDeleteNamespaceDuringUpdate``). Updates of the main resource keep
``spec.finalizers`` as stored (the namespace strategy's PrepareForUpdate): only ``finalize``
changes them.

NamespaceLifecycle's refusal to delete ``default``, ``kube-system`` and ``kube-public`` (403
"this namespace may not be deleted") is enforced here, since our admission chain sees only
creates and updates.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from pocketkube.api import status
from pocketkube.api.status import StatusError
from pocketkube.apiserver.objectmeta import rfc3339
from pocketkube.apiserver.registry import DeleteOptions, ResourceRegistry
from pocketkube.storage.errors import NotFound, StorageError
from pocketkube.storage.interface import Obj, Preconditions
from pocketkube.storage.store import check_preconditions

IMMORTAL_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})
ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"


def immortal_refusal(name: str) -> StatusError:
    """403 as ``admission.NewForbidden`` words NamespaceLifecycle's refusal."""
    return StatusError(
        status.make_status(
            code=403,
            reason="Forbidden",
            message=f'namespaces "{name}" is forbidden: this namespace may not be deleted',
            name=name,
            kind="namespaces",
        )
    )


def propagation_finalizers(finalizers: list[str], options: DeleteOptions) -> list[str]:
    """``metadata.finalizers`` after a delete with ``options`` (upstream's
    shouldHaveOrphanFinalizer / shouldHaveDeleteDependentsFinalizer): an explicit policy adds
    its finalizer and drops the other one; no policy leaves them as they are."""
    policy = options.propagation_policy
    if not policy:
        return finalizers
    wanted = {ORPHAN: policy == "Orphan", FOREGROUND: policy == "Foreground"}
    result = [f for f in finalizers if f not in wanted]
    result.extend(f for f, keep in wanted.items() if keep)
    return result


def mark_terminating(namespace: Obj, options: DeleteOptions) -> Obj:
    """The namespace as the first DELETE leaves it."""
    meta = namespace["metadata"]
    meta.setdefault("deletionTimestamp", rfc3339(datetime.now(UTC)))
    finalizers = propagation_finalizers(list(meta.get("finalizers") or []), options)
    if finalizers:
        meta["finalizers"] = finalizers
    else:
        meta.pop("finalizers", None)
    namespace.setdefault("status", {})["phase"] = "Terminating"
    return namespace


class NamespaceRegistry(ResourceRegistry):
    async def update(
        self, namespace: str, name: str, mutate: Callable[[Obj], Awaitable[Obj]], *, dry_run: bool
    ) -> Obj:
        async def keep_spec_finalizers(current: Obj) -> Obj:
            stored = (current.get("spec") or {}).get("finalizers")
            desired = await mutate(copy.deepcopy(current))
            spec = desired.get("spec")
            if not isinstance(spec, dict):
                spec = desired["spec"] = {}
            spec["finalizers"] = copy.deepcopy(stored) if stored is not None else []
            return desired

        return await super().update(namespace, name, keep_spec_finalizers, dry_run=dry_run)

    async def _finish_if_finalized(self, namespace: str, obj: Obj) -> Obj:
        if (obj.get("spec") or {}).get("finalizers"):
            return obj
        return await super()._finish_if_finalized(namespace, obj)

    async def delete(
        self, namespace: str, name: str, options: DeleteOptions | None = None
    ) -> tuple[Obj, bool]:
        if name in IMMORTAL_NAMESPACES:
            raise immortal_refusal(name)
        options = options or DeleteOptions()
        key = self.key("", name)
        try:
            current = await self.storage.get(key)
            check_preconditions(key, current, options.preconditions)
            # Always guarded by the UID seen, so a namespace recreated meanwhile is left alone.
            guard = Preconditions(
                uid=current["metadata"].get("uid"),
                resource_version=(
                    options.preconditions.resource_version if options.preconditions else None
                ),
            )
            meta = current["metadata"]
            if not meta.get("deletionTimestamp"):
                return await self._start_termination(key, guard, options), False
            if (current.get("spec") or {}).get("finalizers"):
                return current, False
            return await self._finish(key, current, guard, options)
        except StorageError as err:
            raise self._fail(err, name) from None

    async def _start_termination(
        self, key: str, guard: Preconditions, options: DeleteOptions
    ) -> Obj:
        async def mark(obj: Obj | None) -> Obj:
            if obj is None:
                raise NotFound(f"{key} not found")
            return mark_terminating(obj, options)

        if options.dry_run:
            return await mark(copy.deepcopy(await self.storage.get(key)))
        return await self.storage.guaranteed_update(key, mark, preconditions=guard)

    async def _finish(
        self, key: str, current: Obj, guard: Preconditions, options: DeleteOptions
    ) -> tuple[Obj, bool]:
        """The generic store's delete of a namespace already terminating and finalized: it
        waits for its metadata finalizers (updated for the propagation policy), else goes."""
        meta = current["metadata"]
        finalizers = propagation_finalizers(list(meta.get("finalizers") or []), options)
        if finalizers:
            if options.dry_run or finalizers == list(meta.get("finalizers") or []):
                return current, False

            async def set_finalizers(obj: Obj | None) -> Obj:
                if obj is None:
                    raise NotFound(f"{key} not found")
                obj["metadata"]["finalizers"] = finalizers
                return obj

            updated = await self.storage.guaranteed_update(key, set_finalizers, preconditions=guard)
            return updated, False
        if options.dry_run:
            return current, True
        return await self.storage.delete(key, preconditions=guard), True
