"""Reading and writing a DaemonSet's ControllerRevisions (upstream's constructHistory,
snapshot, dedupCurHistories and cleanupHistory; the pure parts are in ``history``)."""

from __future__ import annotations

import copy

from pocketkube.api.labels import LabelSelector
from pocketkube.client import resources
from pocketkube.client.rest import ApiError, Obj
from pocketkube.client.store import NAMESPACE_INDEX, Store, key_of
from pocketkube.controllers.base import ApiClient
from pocketkube.controllers.daemonset import history
from pocketkube.controllers.daemonset.common import ds_path, meta
from pocketkube.controllers.podcontrol import controller_ref, controller_ref_for


class RevisionControl:
    def __init__(self, *, client: ApiClient, store: Store) -> None:
        self._client = client
        self._store = store

    def _path(self, ds: Obj, name: str | None = None) -> str:
        return resources.CONTROLLER_REVISIONS.path(namespace=meta(ds).get("namespace"), name=name)

    async def claim(self, ds: Obj, selector: LabelSelector) -> list[Obj]:
        """The DaemonSet's revisions (upstream's ClaimControllerRevisions): its own that match
        its selector; orphans that match are adopted, its own that stopped matching released."""
        uid = meta(ds).get("uid")
        deleting = bool(meta(ds).get("deletionTimestamp"))
        owned: list[Obj] = []
        for revision in self._store.by_index(NAMESPACE_INDEX, str(meta(ds).get("namespace"))):
            matches = selector.matches(meta(revision).get("labels") or {})
            ref = controller_ref(revision)
            if ref is not None:
                if ref.get("uid") != uid:
                    continue
                if matches:
                    owned.append(revision)
                elif not deleting:
                    await self._patch_owner(ds, revision, [{"$patch": "delete", "uid": uid}])
                continue
            if matches and not deleting and not meta(revision).get("deletionTimestamp"):
                ref = controller_ref_for(ds, resources.DAEMON_SETS)
                if await self._patch_owner(ds, revision, [ref]):
                    owned.append(revision)
        return owned

    async def _patch_owner(self, ds: Obj, revision: Obj, refs: list[Obj]) -> bool:
        patch = {"metadata": {"ownerReferences": refs, "uid": meta(revision).get("uid")}}
        try:
            await self._client.patch(
                self._path(ds, str(meta(revision).get("name"))), patch, patch_type="strategic"
            )
        except ApiError as err:
            if err.not_found or err.status == 422:
                return False
            raise
        return True

    async def construct(self, ds: Obj, selector: LabelSelector) -> tuple[Obj, list[Obj]]:
        """(the current revision, the old ones); creates or renumbers the current one."""
        current: list[Obj] = []
        old: list[Obj] = []
        for revision in await self.claim(ds, selector):
            if not history.revision_hash(revision):  # label it with its name, as upstream
                revision = copy.deepcopy(revision)
                name = str(meta(revision).get("name"))
                revision["metadata"].setdefault("labels", {})[history.REVISION_HASH_LABEL] = name
                revision = await self._client.update(self._path(ds, name), revision)
            (current if history.matches(ds, revision) else old).append(revision)
        number = max((history.revision_number(r) for r in old), default=0) + 1
        if not current:
            return await self._snapshot(ds, number), old
        current.sort(key=history.revision_number)
        cur = current[-1]
        for duplicate in current[:-1]:
            await self.delete(ds, duplicate)
        if history.revision_number(cur) < number:
            cur = copy.deepcopy(cur)
            cur["revision"] = number
            cur = await self._client.update(self._path(ds, str(meta(cur).get("name"))), cur)
        return cur, old

    async def _snapshot(self, ds: Obj, number: int) -> Obj:
        revision = history.new_revision(ds, number, controller_ref_for(ds, resources.DAEMON_SETS))
        name = str(revision["metadata"]["name"])
        try:
            return await self._client.create(self._path(ds), revision)
        except ApiError as err:
            if not err.already_exists:
                raise
            existing = await self._client.get(self._path(ds, name))
            if history.matches(ds, existing):
                return existing
            # a hash collision: bump status.collisionCount so the next hash differs
            fresh = await self._client.get(ds_path(ds))
            count = (fresh.get("status") or {}).get("collisionCount")
            if count != (ds.get("status") or {}).get("collisionCount"):
                raise RuntimeError(
                    f"found a stale collision count of DaemonSet {key_of(ds)}; will retry"
                ) from err
            fresh.setdefault("status", {})["collisionCount"] = (count or 0) + 1
            await self._client.update(ds_path(ds, "status"), fresh)
            raise

    async def delete(self, ds: Obj, revision: Obj) -> None:
        try:
            await self._client.delete(self._path(ds, str(meta(revision).get("name"))))
        except ApiError as err:
            if not err.not_found:
                raise

    async def cleanup(self, ds: Obj, old: list[Obj], live_hashes: set[str]) -> None:
        limit = (ds.get("spec") or {}).get("revisionHistoryLimit")
        for revision in history.revisions_to_delete(
            old, limit if isinstance(limit, int) else 10, live_hashes
        ):
            await self.delete(ds, revision)
