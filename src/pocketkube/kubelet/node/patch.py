"""What changed in a node, and the patches that send only that.

Upstream's kubelet PATCHes ``nodes/<name>/status`` with a strategic merge patch computed between
the node it read and the node its setters produced (``nodeutil.PatchNodeStatus``), so that
conditions and fields written by others (the node controller's taints, a problem detector's
conditions) survive, and the request stays small. The patch made here has the same shape:

- changed maps recurse, removed keys become ``null``;
- ``conditions`` merge by ``type``: the changed fields of each changed condition with its type,
  ``{"type": t, "$patch": "delete"}`` for removed ones, and ``$setElementOrder/conditions``;
- ``addresses`` are replaced whole (``{"$patch": "replace"}`` first) once the node had any: they
  are tagged merge-by-type, which cannot express two addresses of one type (upstream's
  ``fixupPatchForNodeStatusAddresses``);
- any other list (images, volumesInUse) is replaced.

``status_changed`` ignores heartbeats, so an unchanged node is reported only every
``nodeStatusReportFrequency``. Our API server takes only status from a ``/status`` write, so
labels, annotations and the pod CIDR go in a separate merge patch of the node
(``object_patch``).
"""

from __future__ import annotations

from typing import Any

from pocketkube.kubelet.node.protocols import Obj

_HEARTBEAT = "lastHeartbeatTime"
_MERGE_BY_TYPE = ("conditions",)
_REPLACED_ONCE_SET = ("addresses",)


def _without_heartbeats(conditions: list[Obj] | None) -> list[Obj]:
    return [{k: v for k, v in c.items() if k != _HEARTBEAT} for c in conditions or []]


def status_changed(original: Obj, updated: Obj) -> bool:
    """Whether two NodeStatus differ in more than their conditions' heartbeat times."""
    before, after = dict(original), dict(updated)
    if _without_heartbeats(before.pop("conditions", None)) != _without_heartbeats(
        after.pop("conditions", None)
    ):
        return True
    return before != after


def status_patch(original: Obj, updated: Obj) -> Obj:
    """The strategic merge patch of ``status`` that turns ``original`` into ``updated``."""
    patch: Obj = {key: None for key in original if key not in updated}
    for key, new in updated.items():
        old = original.get(key)
        if old == new:
            continue
        if key in _MERGE_BY_TYPE and isinstance(new, list):
            _merge_list_patch(patch, key, old if isinstance(old, list) else [], new)
        elif key in _REPLACED_ONCE_SET and isinstance(new, list) and old:
            patch[key] = [{"$patch": "replace"}, *new]
        elif isinstance(old, dict) and isinstance(new, dict):
            patch[key] = map_patch(old, new)
        else:
            patch[key] = new
    return patch


def map_patch(original: Obj, updated: Obj) -> Obj:
    """A merge patch between two maps: changed and added keys, ``null`` for removed ones."""
    patch: Obj = {key: None for key in original if key not in updated}
    for key, new in updated.items():
        old = original.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            patch[key] = map_patch(old, new)
        else:
            patch[key] = new
    return patch


def _merge_list_patch(patch: Obj, key: str, old: list[Any], new: list[Any]) -> None:
    before = {item.get("type"): item for item in old if isinstance(item, dict)}
    after_types = [item.get("type") for item in new if isinstance(item, dict)]
    changes: list[Obj] = []
    for item in new:
        previous = before.get(item.get("type"))
        if previous is None:
            changes.append(item)
        elif previous != item:
            changes.append({"type": item.get("type"), **map_patch(previous, item)})
    changes.extend(
        {"type": type_, "$patch": "delete"} for type_ in before if type_ not in after_types
    )
    if changes or [item.get("type") for item in old] != after_types:
        patch[f"$setElementOrder/{key}"] = [{"type": type_} for type_ in after_types]
        patch[key] = changes


def object_patch(original: Obj, updated: Obj) -> Obj:
    """A merge patch of what the kubelet may change outside status — labels, annotations and
    the pod CIDR — empty when none of them changed."""
    patch: Obj = {}
    old_meta, new_meta = original.get("metadata") or {}, updated.get("metadata") or {}
    meta: Obj = {}
    for field in ("labels", "annotations"):
        before, after = old_meta.get(field) or {}, new_meta.get(field) or {}
        if before != after:
            meta[field] = map_patch(before, after)
    if meta:
        patch["metadata"] = meta
    old_spec, new_spec = original.get("spec") or {}, updated.get("spec") or {}
    spec = {
        field: new_spec.get(field)
        for field in ("podCIDR", "podCIDRs")
        if old_spec.get(field) != new_spec.get(field)
    }
    if spec:
        patch["spec"] = spec
    return patch
