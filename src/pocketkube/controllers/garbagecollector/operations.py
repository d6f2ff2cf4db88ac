"""The garbage collector's writes (upstream's ``operations.go`` and ``patch.go``).

Objects are addressed by a node's identity, mapped to a resource through discovery: a
namespaced kind is read in the identity's namespace, a cluster-scoped one without it.

- deletes carry a uid precondition and the chosen propagation policy;
- ownerReferences are removed (or unblocked) with a strategic merge patch keyed by uid that
  names the dependent's uid (the API server refuses it if the object was replaced); resources
  without strategic merge (custom resources: 415) get a JSON merge patch of the remaining list
  with the resourceVersion as precondition instead;
- a finalizer is removed by a merge patch of the remaining finalizers with the
  resourceVersion, retried on conflict (upstream's ``retry.DefaultBackoff``: 5 attempts).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from typing import Any

from pocketkube.client.resources import Resource
from pocketkube.client.rest import ApiError, Obj
from pocketkube.controllers.base import ApiClient
from pocketkube.controllers.garbagecollector.graph import Identity, Node, OwnerRef

log = logging.getLogger(__name__)

CONFLICT_RETRIES = 5
CONFLICT_BACKOFF = (0.01, 0.05, 0.25, 1.25, 6.25)  # seconds, as retry.DefaultBackoff


class Operations:
    def __init__(self, *, client: ApiClient, mapper: Callable[[str, str], Resource]) -> None:
        self._client = client
        self._mapper = mapper

    def path(self, identity: Identity) -> str:
        resource = self._mapper(identity.api_version, identity.kind)
        namespace = identity.namespace if resource.namespaced else None
        if resource.namespaced and not namespace:
            raise ApiError(404, "NotFound", f"{identity}: a namespaced kind without a namespace")
        return resource.path(namespace=namespace, name=identity.name)

    def is_namespaced(self, api_version: str, kind: str) -> bool:
        return self._mapper(api_version, kind).namespaced

    async def get(self, identity: Identity) -> Obj:
        return await self._client.get(self.path(identity))

    async def get_owner(self, ref: OwnerRef, namespace: str) -> Obj:
        """The owner an ownerReference names, looked up by name (namespaced kinds in
        ``namespace``, the dependent's)."""
        return await self.get(ref.identity(namespace))

    async def delete(self, identity: Identity, policy: str) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "preconditions": {"uid": identity.uid},
            "propagationPolicy": policy,
        }
        await self._client.delete(self.path(identity), body=body)

    async def _patch(self, node: Node, strategic: Obj, merge: Callable[[Obj], Obj | None]) -> None:
        path = self.path(node.identity)
        try:
            await self._client.patch(path, strategic, patch_type="strategic")
            return
        except ApiError as err:
            if err.status != 415:
                raise
        current = await self._client.get(path)
        patch = merge(current)
        if patch is not None:
            await self._client.patch(path, patch, patch_type="merge")

    async def remove_owner_refs(self, node: Node, owner_uids: Collection[str]) -> None:
        """Drop the references to ``owner_uids`` from ``node``'s object."""
        strategic = {
            "metadata": {
                "ownerReferences": [{"$patch": "delete", "uid": uid} for uid in owner_uids],
                "uid": node.identity.uid,
            }
        }

        def merge(current: Obj) -> Obj | None:
            meta = current.get("metadata") or {}
            refs = meta.get("ownerReferences") or []
            kept = [r for r in refs if r.get("uid") not in owner_uids]
            if len(kept) == len(refs):
                return None
            return {"metadata": {"resourceVersion": meta.get("resourceVersion"),
                                 "ownerReferences": kept or None}}  # fmt: skip

        await self._patch(node, strategic, merge)

    async def unblock_owner_refs(self, node: Node) -> None:
        """Set blockOwnerDeletion=false on every blocking reference of ``node``'s object."""
        refs = [
            {"uid": ref.uid, "blockOwnerDeletion": False} for ref in node.unblocked_owner_refs()
        ]
        strategic = {"metadata": {"ownerReferences": refs, "uid": node.identity.uid}}

        def merge(current: Obj) -> Obj | None:
            meta = current.get("metadata") or {}
            out: list[dict[str, Any]] = []
            for ref in meta.get("ownerReferences") or []:
                ref = dict(ref)
                if ref.get("blockOwnerDeletion"):
                    ref["blockOwnerDeletion"] = False
                out.append(ref)
            return {"metadata": {"resourceVersion": meta.get("resourceVersion"),
                                 "ownerReferences": out}}  # fmt: skip

        await self._patch(node, strategic, merge)

    async def remove_finalizer(self, node: Node, finalizer: str) -> None:
        """Remove ``finalizer`` from the object (nothing to do if it is gone or lacks it)."""
        path = self.path(node.identity)
        for attempt in range(CONFLICT_RETRIES):
            try:
                current = await self._client.get(path)
            except ApiError as err:
                if err.not_found:
                    return
                raise
            meta = current.get("metadata") or {}
            finalizers = list(meta.get("finalizers") or [])
            if finalizer not in finalizers or meta.get("uid") != node.identity.uid:
                return
            kept = [f for f in finalizers if f != finalizer]
            patch = {
                "metadata": {
                    "resourceVersion": meta.get("resourceVersion"),
                    "finalizers": kept or None,
                }
            }
            try:
                await self._client.patch(path, patch, patch_type="merge")
                return
            except ApiError as err:
                if err.not_found:
                    return
                if not err.conflict or attempt == CONFLICT_RETRIES - 1:
                    raise
            await asyncio.sleep(CONFLICT_BACKOFF[attempt])
