"""Adopting and releasing pods (upstream's ``PodControllerRefManager``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence

from pocketkube.api.labels import LabelSelector
from pocketkube.client import resources
from pocketkube.client.resources import Resource
from pocketkube.client.rest import ApiError, Obj
from pocketkube.controllers.base import ApiClient
from pocketkube.controllers.podcontrol.state import controller_ref, controller_ref_for


class AdoptionError(Exception):
    """The owner may not adopt: it is gone or being deleted (checked live)."""


class PodControllerRefManager:
    """Claims pods for ``owner`` (upstream's PodControllerRefManager.ClaimPods); with
    ``claimed`` another namespaced kind the same way (ControllerRevisions, ReplicaSets)."""

    def __init__(
        self,
        *,
        client: ApiClient,
        owner: Obj,
        resource: Resource,
        selector: LabelSelector,
        can_adopt: Callable[[], Awaitable[None]] | None = None,
        claimed: Resource = resources.PODS,
    ) -> None:
        self._client = client
        self._claimed = claimed
        self._owner = owner
        self._resource = resource
        self._selector = selector
        self._can_adopt = can_adopt or self._recheck_owner
        self._adopt_checked = False
        self._adopt_error: Exception | None = None
        meta = owner["metadata"]
        self._uid = meta.get("uid")
        self._namespace = meta.get("namespace")
        self._owner_deleting = bool(meta.get("deletionTimestamp"))

    async def claim_pods(
        self, pods: Iterable[Obj], *filters: Callable[[Obj], bool]
    ) -> tuple[list[Obj], list[Exception]]:
        """The pods this owner keeps (adopting and releasing as needed) and the errors met."""
        claimed: list[Obj] = []
        errors: list[Exception] = []
        for pod in pods:
            try:
                if await self._claim(pod, filters):
                    claimed.append(pod)
            except Exception as err:  # gathered, as upstream aggregates them
                errors.append(err)
        return claimed, errors

    async def _claim(self, pod: Obj, filters: Sequence[Callable[[Obj], bool]]) -> bool:
        meta = pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        matches = self._selector.matches(labels) and all(f(pod) for f in filters)
        ref = controller_ref(pod)
        if ref is not None:
            if ref.get("uid") != self._uid:
                return False  # another controller's
            if matches:
                return True
            if self._owner_deleting:
                return False  # a dying owner neither adopts nor releases
            await self._release(pod)
            return False
        if not matches or self._owner_deleting or meta.get("deletionTimestamp"):
            return False
        if self._namespace and meta.get("namespace") != self._namespace:
            return False
        return await self._adopt(pod)

    async def _adopt(self, pod: Obj) -> bool:
        if not self._adopt_checked:  # once per claim, as upstream's sync.Once
            self._adopt_checked = True
            try:
                await self._can_adopt()
            except Exception as err:  # kept, raised for every orphan
                self._adopt_error = err
        if isinstance(self._adopt_error, AdoptionError):
            raise AdoptionError(
                f"can't adopt {self._claimed.kind} {_name(pod)}: {self._adopt_error}"
            )
        if self._adopt_error is not None:
            raise self._adopt_error
        ref = controller_ref_for(self._owner, self._resource)
        patch = {"metadata": {"ownerReferences": [ref], "uid": pod["metadata"].get("uid")}}
        try:
            await self._client.patch(self._path(pod), patch, patch_type="strategic")
        except ApiError as err:
            if err.not_found:
                return False  # gone already
            raise
        return True

    async def _release(self, pod: Obj) -> None:
        patch = {
            "metadata": {
                "ownerReferences": [{"$patch": "delete", "uid": self._uid}],
                "uid": pod["metadata"].get("uid"),
            }
        }
        try:
            await self._client.patch(self._path(pod), patch, patch_type="strategic")
        except ApiError as err:
            # gone, or no longer ours / no longer there to patch: nothing to release
            if not (err.not_found or err.status == 422):
                raise

    def _path(self, obj: Obj) -> str:
        meta = obj["metadata"]
        return self._claimed.path(namespace=meta.get("namespace"), name=meta["name"])

    async def _recheck_owner(self) -> None:
        """Upstream's RecheckDeletionTimestamp over a live GET of the owner."""
        meta = self._owner["metadata"]
        path = self._resource.path(namespace=self._namespace, name=meta["name"])
        try:
            fresh = await self._client.get(path)
        except ApiError as err:
            if err.not_found:
                raise AdoptionError(f"original {self._namespace}/{meta['name']} is gone") from err
            raise
        fresh_meta = fresh.get("metadata") or {}
        if fresh_meta.get("uid") != self._uid:
            raise AdoptionError(
                f"original {self._namespace}/{meta['name']} is gone: got uid "
                f"{fresh_meta.get('uid')}, wanted {self._uid}"
            )
        if fresh_meta.get("deletionTimestamp"):
            raise AdoptionError(
                f"{self._namespace}/{meta['name']} has just been deleted at "
                f"{fresh_meta['deletionTimestamp']}"
            )


def _name(pod: Obj) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace')}/{meta.get('name')}"
