"""RollingUpdate (upstream's ``rolling.go``): grow the new ReplicaSet while the total stays
within ``replicas + maxSurge``, shrink the old ones while the available pods stay at or above
``replicas - maxUnavailable``.

Each sync does one step and reports it: first the new ReplicaSet is scaled up as far as the surge
allows (counting ``spec.replicas`` of every ReplicaSet, so pods still to be created count too);
if nothing was scaled up, old ReplicaSets are scaled down, first their unavailable pods
(``cleanup_unhealthy_replicas``: losing them costs no availability, and they would otherwise
block the rollout), then available ones, oldest ReplicaSet first, by as many as the available
count (from the ReplicaSets' status, which only lags behind pods becoming available, never
ahead) exceeds the minimum. The ReplicaSets' status changes enqueue the next step.
"""

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


async def rollout_rolling(dc: DeploymentController, d: Obj, rs_list: list[Obj]) -> None:
    new_rs, old_rss = await all_replica_sets_and_sync_revision(dc, d, rs_list, True)
    assert new_rs is not None  # created when missing
    all_rss: list[Obj | None] = [*old_rss, new_rs]
    if await reconcile_new_replica_set(dc, all_rss, new_rs, d):
        await progress.sync_rollout_status(dc, all_rss, new_rs, d)
        return
    if await reconcile_old_replica_sets(dc, all_rss, du.filter_active(old_rss), new_rs, d):
        await progress.sync_rollout_status(dc, all_rss, new_rs, d)
        return
    if cond.deployment_complete(d, du.status(d)):
        await cleanup_deployment(dc, old_rss, d)
    await progress.sync_rollout_status(dc, all_rss, new_rs, d)


async def reconcile_new_replica_set(
    dc: DeploymentController, all_rss: list[Obj | None], new_rs: Obj, d: Obj
) -> bool:
    wanted = du.replicas(d)
    if du.replicas(new_rs) == wanted:
        return False
    if du.replicas(new_rs) > wanted:
        scaled, _ = await scale_replica_set_and_record_event(dc, new_rs, wanted, d)
        return scaled
    count = du.new_rs_new_replicas(d, all_rss, new_rs)
    scaled, _ = await scale_replica_set_and_record_event(dc, new_rs, count, d)
    return scaled


async def reconcile_old_replica_sets(
    dc: DeploymentController,
    all_rss: list[Obj | None],
    old_rss: list[Obj],
    new_rs: Obj,
    d: Obj,
) -> bool:
    if du.replica_count(old_rss) == 0:
        return False
    all_pods = du.replica_count(all_rss)
    min_available = du.replicas(d) - du.max_unavailable(d)
    new_unavailable = du.replicas(new_rs) - du.status_int(new_rs, "availableReplicas")
    max_scaled_down = all_pods - min_available - new_unavailable
    if max_scaled_down <= 0:
        return False
    old_rss, cleaned = await cleanup_unhealthy_replicas(dc, old_rss, d, max_scaled_down)
    scaled_down = await scale_down_old_replica_sets(dc, [*old_rss, new_rs], old_rss, d)
    return cleaned + scaled_down > 0


async def cleanup_unhealthy_replicas(
    dc: DeploymentController, old_rss: list[Obj], d: Obj, max_cleanup: int
) -> tuple[list[Obj], int]:
    """Scale old ReplicaSets down by their unavailable pods, oldest first, up to a limit."""
    old_rss = sorted(old_rss, key=du.creation_key)
    total = 0
    for index, rs in enumerate(old_rss):
        if total >= max_cleanup:
            break
        size = du.replicas(rs)
        available = du.status_int(rs, "availableReplicas")
        if size == 0 or size == available:
            continue
        count = min(max_cleanup - total, size - available)
        if count <= 0:
            continue
        _, old_rss[index] = await scale_replica_set_and_record_event(dc, rs, size - count, d)
        total += count
    return old_rss, total


async def scale_down_old_replica_sets(
    dc: DeploymentController, all_rss: list[Obj | None], old_rss: list[Obj], d: Obj
) -> int:
    """Scale old ReplicaSets down by the available pods beyond the minimum, oldest first."""
    min_available = du.replicas(d) - du.max_unavailable(d)
    available = du.available_within_spec(all_rss)
    if available <= min_available:
        return 0
    wanted = available - min_available
    total = 0
    for rs in sorted(old_rss, key=du.creation_key):
        if total >= wanted:
            break
        size = du.replicas(rs)
        if size == 0:
            continue
        count = min(size, wanted - total)
        await scale_replica_set_and_record_event(dc, rs, size - count, d)
        total += count
    return total
