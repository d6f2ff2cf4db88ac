"""A StatefulSet's ControllerRevisions (upstream's ``controller/history`` and the revision
half of ``stateful_set_utils.go``).

Each distinct pod template the set has had is one ControllerRevision, owned by the set: its
``data`` is the patch ``{"spec": {"template": {..., "$patch": "replace"}}}`` that restores that
template, its ``revision`` a number that grows with each change, its name ``<set>-<hash>`` where
the hash is FNV-1 over the data (and ``status.collisionCount`` when two templates collide),
encoded with upstream's SafeEncodeString alphabet. Pods carry the name in their
``controller-revision-hash`` label, so the set knows which pods run which template. Returning
to an earlier template re-uses its revision with a new number (a rollback); revisions no pod
uses beyond ``revisionHistoryLimit`` are deleted, oldest first.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from pocketkube.client import resources
from pocketkube.client.rest import ApiError, Obj
from pocketkube.controllers import podcontrol as pc
from pocketkube.controllers.base import ApiClient
from pocketkube.controllers.statefulset import identity

log = logging.getLogger(__name__)

SAFE_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"  # apimachinery's rand.SafeEncodeString
FNV32_OFFSET, FNV32_PRIME = 2166136261, 16777619
NAME_PREFIX_LIMIT = 223  # ControllerRevisionName keeps room for the hash


def fnv32(data: bytes) -> int:
    """FNV-1 (multiply, then xor), as Go's hash/fnv.New32."""
    h = FNV32_OFFSET
    for byte in data:
        h = ((h * FNV32_PRIME) & 0xFFFFFFFF) ^ byte
    return h


def safe_encode(text: str) -> str:
    return "".join(SAFE_ALPHANUMS[ord(c) % len(SAFE_ALPHANUMS)] for c in text)


def patch_of(sts: Obj) -> Obj:
    """The data of ``sts``'s revision (upstream's getPatch)."""
    template = copy.deepcopy((sts.get("spec") or {}).get("template") or {})
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def _canonical(data: Obj) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def hash_revision(data: Obj, collision_count: int | None) -> str:
    raw = _canonical(data)
    if collision_count is not None:
        raw += str(collision_count).encode()
    return safe_encode(str(fnv32(raw)))


def revision_name(set_name: str, hash_: str) -> str:
    return f"{set_name[:NAME_PREFIX_LIMIT]}-{hash_}"


def new_revision(sts: Obj, number: int, collision_count: int) -> Obj:
    """The ControllerRevision ``sts``'s current template would be (not yet created)."""
    data = patch_of(sts)
    meta = sts["metadata"]
    labels = (((sts.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels")
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": revision_name(meta["name"], hash_revision(data, collision_count)),
            "namespace": meta.get("namespace"),
            "labels": dict(labels or {}),
            "ownerReferences": [pc.controller_ref_for(sts, resources.STATEFUL_SETS)],
        },
        "data": data,
        "revision": number,
    }


def apply_revision(sts: Obj, revision: Obj) -> Obj:
    """``sts`` as it was at ``revision``: its template restored (upstream's ApplyRevision)."""
    restored = copy.deepcopy(sts)
    template = copy.deepcopy(((revision.get("data") or {}).get("spec") or {}).get("template"))
    if isinstance(template, dict):
        template.pop("$patch", None)
        restored.setdefault("spec", {})["template"] = template
    return restored


def sort_revisions(revisions: Iterable[Obj]) -> list[Obj]:
    def key(rev: Obj) -> tuple[int, str, str]:
        meta = rev.get("metadata") or {}
        return (
            int(rev.get("revision") or 0),
            str(meta.get("creationTimestamp") or ""),
            str(meta.get("name")),
        )

    return sorted(revisions, key=key)


def equal_revisions(a: Obj, b: Obj) -> bool:
    return _canonical(a.get("data") or {}) == _canonical(b.get("data") or {})


@dataclass
class Revisions:
    current: Obj
    update: Obj
    collision_count: int


class History:
    """Reads and writes one set's ControllerRevisions through the client."""

    def __init__(self, *, client: ApiClient) -> None:
        self._client = client

    async def revisions_for(self, sts: Obj, revisions: list[Obj]) -> Revisions:
        """The current and update revisions, creating or renumbering the update revision
        (upstream's getStatefulSetRevisions); ``revisions`` are the set's, in any order."""
        revisions = sort_revisions(revisions)
        status = sts.get("status") or {}
        collision_count = int(status.get("collisionCount") or 0)
        next_number = int(revisions[-1].get("revision") or 0) + 1 if revisions else 1
        update = new_revision(sts, next_number, collision_count)
        equal = [rev for rev in revisions if equal_revisions(rev, update)]
        if equal and equal[-1] is revisions[-1]:
            update = revisions[-1]  # the template has not changed
        elif equal:
            update = await self._renumber(equal[-1], next_number)  # a rollback
        else:
            update, collision_count = await self._create(sts, update, collision_count)
        current = next(
            (r for r in revisions if r["metadata"]["name"] == status.get("currentRevision")),
            update,
        )
        return Revisions(current=current, update=update, collision_count=collision_count)

    async def _renumber(self, revision: Obj, number: int) -> Obj:
        if revision.get("revision") == number:
            return revision
        updated = copy.deepcopy(revision)
        updated["revision"] = number
        meta = revision["metadata"]
        path = resources.CONTROLLER_REVISIONS.path(
            namespace=meta.get("namespace"), name=meta["name"]
        )
        return await self._client.update(path, updated)

    async def _create(self, sts: Obj, revision: Obj, collision_count: int) -> tuple[Obj, int]:
        """Create ``revision``; on a name taken by different data, count a collision and
        try the next hash (upstream's CreateControllerRevision)."""
        namespace = sts["metadata"].get("namespace")
        path = resources.CONTROLLER_REVISIONS.path(namespace=namespace)
        for _ in range(100):
            try:
                return await self._client.create(path, revision), collision_count
            except ApiError as err:
                if not err.already_exists:
                    raise
            name = revision["metadata"]["name"]
            existing = await self._client.get(
                resources.CONTROLLER_REVISIONS.path(namespace=namespace, name=name)
            )
            if equal_revisions(existing, revision):
                return existing, collision_count
            collision_count += 1
            revision = new_revision(sts, int(revision["revision"]), collision_count)
        raise RuntimeError(f"too many ControllerRevision name collisions for {name}")

    async def truncate(
        self, sts: Obj, pods: list[Obj], revisions: list[Obj], current: Obj, update: Obj
    ) -> None:
        """Delete the oldest revisions no pod uses beyond ``revisionHistoryLimit``."""
        live = {identity.revision_of(p) for p in pods}
        live |= {current["metadata"]["name"], update["metadata"]["name"]}
        history = [r for r in sort_revisions(revisions) if r["metadata"]["name"] not in live]
        limit = (sts.get("spec") or {}).get("revisionHistoryLimit")
        limit = limit if isinstance(limit, int) and limit >= 0 else 10
        for rev in history[: max(0, len(history) - limit)]:
            meta = rev["metadata"]
            try:
                await self._client.delete(
                    resources.CONTROLLER_REVISIONS.path(
                        namespace=meta.get("namespace"), name=meta["name"]
                    )
                )
            except ApiError as err:
                if not err.not_found:
                    raise
