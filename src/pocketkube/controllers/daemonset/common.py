"""Small helpers the DaemonSet modules share."""

from __future__ import annotations

from typing import Any

from pocketkube.client import resources
from pocketkube.client.rest import Obj


def meta(obj: Obj) -> dict[str, Any]:
    return obj.get("metadata") or {}


def generation(ds: Obj) -> int | None:
    value = meta(ds).get("generation")
    return int(value) if isinstance(value, int) else None


def creation_order(pod: Obj) -> tuple[int, str, str]:
    """Scheduled pods first, then oldest first (upstream's podByCreationTimestampAndPhase)."""
    scheduled = 0 if (pod.get("spec") or {}).get("nodeName") else 1
    return scheduled, str(meta(pod).get("creationTimestamp") or ""), str(meta(pod).get("name"))


def ds_path(ds: Obj, subresource: str | None = None) -> str:
    m = meta(ds)
    return resources.DAEMON_SETS.path(
        namespace=m.get("namespace"), name=m.get("name"), subresource=subresource
    )
