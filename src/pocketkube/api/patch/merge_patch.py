"""RFC 7386 JSON Merge Patch (``application/merge-patch+json``).

What ``kubectl label``, ``annotate``, ``scale`` and ``patch --type=merge`` send: objects merge key
by key, ``null`` deletes a key, and anything else (lists included) replaces the target wholesale.
It is the right tool for maps and the wrong one for lists of containers, which is why Kubernetes
also has strategic merge patch (`pocketkube.api.patch.strategic`).
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["apply_merge_patch"]


def apply_merge_patch(doc: Any, patch: Any) -> Any:
    """Return ``doc`` merged with ``patch``; neither argument is modified."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result: dict[str, Any] = dict(doc) if isinstance(doc, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    # Keys the patch did not touch are shared with ``doc``: copy them so callers can mutate freely.
    for key in result.keys() - patch.keys():
        result[key] = copy.deepcopy(result[key])
    return result
