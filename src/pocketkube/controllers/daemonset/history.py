"""A DaemonSet's history as ControllerRevisions (upstream's ``pkg/controller/daemon/update.go``
constructHistory / snapshot / cleanupHistory).

A revision stores the strategic merge patch that restores the DaemonSet's pod template
(``{"spec": {"template": {..., "$patch": "replace"}}}``) and is named ``<ds>-<hash>``, the
hash of the template (and ``status.collisionCount``); its ``controller-revision-hash`` label is
what daemon pods are labelled with, so a pod is *updated* when its label equals the current
revision's. The revision matching the template is current (created with number max(old) + 1
if missing, renumbered if older ones overtook it); old ones beyond
``revisionHistoryLimit`` are deleted oldest first, unless a live pod still has their hash.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from pocketkube.client.rest import Obj

REVISION_HASH_LABEL = "controller-revision-hash"
SAFE_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"
_FNV_OFFSET, _FNV_PRIME = 0x811C9DC5, 0x01000193


def _fnv32a(data: bytes) -> int:
    value = _FNV_OFFSET
    for byte in data:
        value = ((value ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
    return value


def safe_encode(text: str) -> str:
    """Upstream's rand.SafeEncodeString: each character mapped into letters that spell no
    words."""
    return "".join(SAFE_ALPHANUMS[ord(c) % len(SAFE_ALPHANUMS)] for c in text)


def compute_hash(template: Any, collision_count: int | None) -> str:
    """FNV-32a over the template (canonical JSON here; upstream hashes a spew dump) and the
    collision count, printed in decimal and safe-encoded, as upstream's ComputeHash."""
    data = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    if collision_count is not None:
        data += str(collision_count).encode()
    return safe_encode(str(_fnv32a(data)))


def template_patch(ds: Obj) -> Obj:
    template = copy.deepcopy((ds.get("spec") or {}).get("template") or {})
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def matches(ds: Obj, revision: Obj) -> bool:
    return revision.get("data") == template_patch(ds)


def revision_number(revision: Obj) -> int:
    try:
        return int(revision.get("revision") or 0)
    except (TypeError, ValueError):
        return 0


def revision_hash(revision: Obj) -> str:
    return str(((revision.get("metadata") or {}).get("labels") or {}).get(REVISION_HASH_LABEL, ""))


def new_revision(ds: Obj, number: int, owner_ref: Obj) -> Obj:
    meta = ds.get("metadata") or {}
    spec = ds.get("spec") or {}
    hash_ = compute_hash(spec.get("template") or {}, (ds.get("status") or {}).get("collisionCount"))
    labels = dict(((spec.get("template") or {}).get("metadata") or {}).get("labels") or {})
    labels[REVISION_HASH_LABEL] = hash_
    revision_meta: Obj = {
        "name": f"{meta.get('name')}-{hash_}",
        "namespace": meta.get("namespace"),
        "labels": labels,
        "ownerReferences": [owner_ref],
    }
    if meta.get("annotations"):
        revision_meta["annotations"] = dict(meta["annotations"])
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": revision_meta,
        "data": template_patch(ds),
        "revision": number,
    }


def revisions_to_delete(old: list[Obj], limit: int, live_hashes: set[str]) -> list[Obj]:
    """The old revisions to delete, oldest first, sparing those live pods still carry."""
    to_kill = len(old) - max(0, limit)
    doomed: list[Obj] = []
    for revision in sorted(old, key=revision_number):
        if to_kill <= 0:
            break
        if revision_hash(revision) in live_hashes:
            continue
        doomed.append(revision)
        to_kill -= 1
    return doomed
