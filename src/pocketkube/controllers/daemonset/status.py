"""A DaemonSet's status (upstream's updateDaemonSetStatus / storeDaemonSetStatus).

Per node that should run the pod: desired; with a pod, current; its oldest pod ready, available
(ready for minReadySeconds) and updated (current revision) are counted; a node that should not
run it but has one is misscheduled. Written through /status only when something changed
(observedGeneration included), retried once on a conflict with a fresh read.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Mapping, Sequence

from pocketkube.client.rest import ApiError, Obj
from pocketkube.controllers.base import ApiClient
from pocketkube.controllers.daemonset.common import creation_order, ds_path, generation, meta
from pocketkube.controllers.daemonset.eligibility import (
    daemon_pod_spec,
    node_should_run_daemon_pod,
)
from pocketkube.controllers.daemonset.update import is_pod_updated
from pocketkube.controllers.podcontrol import is_pod_available, is_pod_ready


def status_counts(
    ds: Obj,
    nodes: Sequence[Obj],
    node_to_pods: Mapping[str, Sequence[Obj]],
    hash_: str,
    now: dt.datetime,
) -> dict[str, int]:
    spec = daemon_pod_spec(ds)
    min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
    desired = current = misscheduled = ready = updated = available = 0
    for node in nodes:
        should_run, _ = node_should_run_daemon_pod(node, ds, spec)
        pods = node_to_pods.get(str(meta(node).get("name"))) or []
        if not should_run:
            misscheduled += 1 if pods else 0
            continue
        desired += 1
        if not pods:
            continue
        current += 1
        pod = sorted(pods, key=creation_order)[0]
        if is_pod_ready(pod):
            ready += 1
            if is_pod_available(pod, min_ready, now):
                available += 1
        if is_pod_updated(pod, hash_, generation(ds)):
            updated += 1
    return {
        "desiredNumberScheduled": desired,
        "currentNumberScheduled": current,
        "numberMisscheduled": misscheduled,
        "numberReady": ready,
        "updatedNumberScheduled": updated,
        "numberAvailable": available,
        "numberUnavailable": desired - available,
    }


async def store_status(
    client: ApiClient, ds: Obj, counts: Mapping[str, int], *, observed: bool
) -> None:
    status = ds.get("status") or {}
    gen = generation(ds) or 0
    if (
        all(int(status.get(k) or 0) == v for k, v in counts.items())
        and int(status.get("observedGeneration") or 0) >= gen
    ):
        return
    to_update = copy.deepcopy(ds)
    for attempt in range(2):
        new_status = to_update.setdefault("status", {})
        if observed:
            new_status["observedGeneration"] = gen
        new_status.update(counts)
        try:
            await client.update(ds_path(ds, "status"), to_update)
            return
        except ApiError as err:
            if attempt == 1 or err.not_found:
                raise
            to_update = await client.get(ds_path(ds))
