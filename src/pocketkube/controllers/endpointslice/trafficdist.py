"""Zone hints for ``spec.trafficDistribution: PreferClose`` (upstream's
``staging/src/k8s.io/endpointslice/trafficdist``).

With PreferClose every ready endpoint that has a zone is hinted for its own zone (and one
without a zone carries no hint); otherwise no endpoint carries hints. Slices about to be
written get the hints; an unchanged slice whose hints are wrong joins the updates.
"""

from __future__ import annotations

import copy
from typing import Any

from pocketkube.client.rest import Obj
from pocketkube.controllers.endpointslice.reconciler import Plan
from pocketkube.controllers.endpointslice.util import meta

PREFER_CLOSE = "PreferClose"


def _ready(endpoint: dict[str, Any]) -> bool:
    return (endpoint.get("conditions") or {}).get("ready") is True


def _needs_update(slice_: Obj, prefer_close: bool) -> bool:
    for endpoint in slice_.get("endpoints") or []:
        hints = (endpoint.get("hints") or {}).get("forZones") or []
        if not prefer_close:
            if endpoint.get("hints") is not None:
                return True
            continue
        if not _ready(endpoint):
            continue
        zone = endpoint.get("zone")
        if zone and [h.get("name") for h in hints] != [zone]:
            return True
        if not zone and hints:
            return True
    return False


def _update(slice_: Obj, prefer_close: bool) -> None:
    for endpoint in slice_.get("endpoints") or []:
        if not prefer_close:
            endpoint.pop("hints", None)
        elif _ready(endpoint):
            if endpoint.get("zone"):
                endpoint["hints"] = {"forZones": [{"name": endpoint["zone"]}]}
            else:
                endpoint.pop("hints", None)


def reconcile_hints(traffic_distribution: str | None, plan: Plan, existing: list[Obj]) -> None:
    """Upstream's ``ReconcileHints`` on ``plan``, in place; ``existing`` are the slices of
    this address type as the informer has them (the ones ``plan`` leaves alone stay so unless
    their hints are wrong)."""
    prefer_close = traffic_distribution == PREFER_CLOSE
    touched = {meta(s).get("name") for s in plan.update + plan.delete}
    for current in existing:
        if meta(current).get("name") not in touched and _needs_update(current, prefer_close):
            plan.update.append(copy.deepcopy(current))
    for slice_ in plan.create + plan.update:
        _update(slice_, prefer_close)
