"""Recreate (upstream's ``recreate.go``): scale every old ReplicaSet to 0, wait until none of
their pods is left running (pod deletions enqueue the Deployment), and only then create or scale
up the new ReplicaSet, so old and new pods never run together."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pocketkube.client.rest import Obj
from pocketkube.controllers.deployment import conditions as cond
from pocketkube.controllers.deployment import progress
from pocketkube.controllers.deployment import util as du
from pocketkube.controllers.deployment.sync import (
    all_replica_sets_and_sync_revision,
    cleanup_deployment,
    scale_replica_set_and_record_event,
)

if TYPE_CHECKING:
    from pocketkube.controllers.deployment.controller import DeploymentController


async def rollout_recreate(
    dc: DeploymentController, d: Obj, rs_list: list[Obj], pod_map: dict[str, list[Obj]]
) -> None:
    # no new ReplicaSet yet: scaling up must wait for the old pods to go
    new_rs, old_rss = await all_replica_sets_and_sync_revision(dc, d, rs_list, False)
    all_rss: list[Obj | None] = [*old_rss, new_rs]
    scaled_down = False
    for rs in du.filter_active(old_rss):
        scaled, _ = await scale_replica_set_and_record_event(dc, rs, 0, d)
        scaled_down = scaled_down or scaled
    if scaled_down:
        await progress.sync_rollout_status(dc, all_rss, new_rs, d)
        return
    if old_pods_running(new_rs, old_rss, pod_map):
        await progress.sync_rollout_status(dc, all_rss, new_rs, d)
        return
    if new_rs is None:
        new_rs, old_rss = await all_replica_sets_and_sync_revision(dc, d, rs_list, True)
        all_rss = [*old_rss, new_rs]
    assert new_rs is not None
    await scale_replica_set_and_record_event(dc, new_rs, du.replicas(d), d)
    if cond.deployment_complete(d, du.status(d)):
        await cleanup_deployment(dc, old_rss, d)
    await progress.sync_rollout_status(dc, all_rss, new_rs, d)


def old_pods_running(new_rs: Obj | None, old_rss: list[Obj], pod_map: dict[str, list[Obj]]) -> bool:
    """Whether an old ReplicaSet still reports pods, or one of its pods is not terminated."""
    if du.actual_replica_count(old_rss) > 0:
        return True
    new_uid = du.uid(new_rs) if new_rs is not None else None
    for rs_uid, pods in pod_map.items():
        if rs_uid == new_uid:
            continue
        for pod in pods:
            if (pod.get("status") or {}).get("phase") not in ("Failed", "Succeeded"):
                return True
    return False
