"""Finding or creating the new ReplicaSet, scaling, history cleanup and status (upstream's
``sync.go``).

The new ReplicaSet is the one whose template equals the Deployment's (ignoring the
pod-template-hash label); it gets revision ``max(old revisions) + 1`` and the Deployment records
that number. One that does not exist yet is created as ``<deployment>-<pod-template-hash>`` with
the hash added to its selector, template labels and labels; a name taken by a ReplicaSet with
another template is a hash collision: ``status.collisionCount`` goes up and the next sync tries
another name. ``sync_scale`` serves scaling events and paused Deployments: the only active
ReplicaSet takes the whole count, otherwise (RollingUpdate) the change is shared out in
proportion to the ReplicaSets' sizes, leftovers to the largest.
"""

from __future__ import annotations

import contextlib
import copy
from typing import TYPE_CHECKING

from pocketkube.client import resources
from pocketkube.client.rest import ApiError, Obj
from pocketkube.controllers import podcontrol as pc
from pocketkube.controllers.deployment import conditions as cond
from pocketkube.controllers.deployment import util as du
from pocketkube.controllers.deployment.hashing import compute_hash

if TYPE_CHECKING:
    from pocketkube.controllers.deployment.controller import DeploymentController


async def all_replica_sets_and_sync_revision(
    dc: DeploymentController, d: Obj, rs_list: list[Obj], create: bool
) -> tuple[Obj | None, list[Obj]]:
    """The new ReplicaSet (created when asked and missing) and all the old ones."""
    old_rss = du.find_old_replica_sets(d, rs_list, du.find_new_replica_set(d, rs_list))
    new_rs = await get_new_replica_set(dc, d, rs_list, old_rss, create)
    return new_rs, old_rss


async def get_new_replica_set(
    dc: DeploymentController, d: Obj, rs_list: list[Obj], old_rss: list[Obj], create: bool
) -> Obj | None:
    existing = du.find_new_replica_set(d, rs_list)
    new_revision = str(du.max_revision(old_rss) + 1)
    min_ready = int(du.spec(d).get("minReadySeconds") or 0)
    if existing is not None:
        rs = copy.deepcopy(existing)
        changed = du.set_new_replica_set_annotations(d, rs, new_revision, exists=True)
        if changed or int(du.spec(rs).get("minReadySeconds") or 0) != min_ready:
            rs["spec"]["minReadySeconds"] = min_ready
            return await dc.update_replica_set(rs)
        await dc.save_revision(d, du.annotations_of(rs).get(du.REVISION, ""))
        if (
            du.has_progress_deadline(d)
            and cond.get_condition(du.status(d), cond.PROGRESSING) is None
        ):
            condition = cond.new_condition(
                cond.PROGRESSING,
                "True",
                cond.FOUND_NEW_RS_REASON,
                f'Found new replica set "{du.name(rs)}"',
                dc.now(),
            )
            cond.set_condition(d.setdefault("status", {}), condition)
            await dc.update_status(d)
        return rs
    if not create:
        return None
    return await _create_new_replica_set(dc, d, old_rss, new_revision, min_ready)


def new_replica_set(d: Obj, collision_count: int | None, min_ready: int) -> Obj:
    """The ReplicaSet a Deployment's template makes, still with 0 replicas."""
    template = copy.deepcopy(du.spec(d).get("template") or {})
    template_hash = compute_hash(template, collision_count)
    template_meta = template.setdefault("metadata", {})
    labels = {**(template_meta.get("labels") or {}), du.HASH_LABEL: template_hash}
    template_meta["labels"] = labels
    selector = copy.deepcopy(du.spec(d).get("selector") or {})
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}), du.HASH_LABEL: template_hash}
    meta = d["metadata"]
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{meta['name']}-{template_hash}",
            "namespace": meta.get("namespace"),
            "ownerReferences": [pc.controller_ref_for(d, resources.DEPLOYMENTS)],
            "labels": dict(labels),
        },
        "spec": {
            "replicas": 0,
            "minReadySeconds": min_ready,
            "selector": selector,
            "template": template,
        },
    }


async def _create_new_replica_set(
    dc: DeploymentController, d: Obj, old_rss: list[Obj], new_revision: str, min_ready: int
) -> Obj:
    collision_count = du.status(d).get("collisionCount")
    rs = new_replica_set(
        d, collision_count if isinstance(collision_count, int) else None, min_ready
    )
    count = du.new_rs_new_replicas(d, [*old_rss, rs], rs)
    rs["spec"]["replicas"] = count
    du.set_new_replica_set_annotations(d, rs, new_revision, exists=False)
    namespace = d["metadata"].get("namespace")
    created: Obj
    exists = False
    try:
        created = await dc.client.create(resources.REPLICA_SETS.path(namespace=namespace), rs)
    except ApiError as err:
        if err.already_exists:
            found = dc.replicasets.get(f"{namespace}/{du.name(rs)}")
            if found is None:
                raise
            ref = pc.controller_ref(found)
            if (
                ref is not None
                and ref.get("uid") == du.uid(d)
                and du.equal_ignore_hash(du.spec(d).get("template"), du.spec(found).get("template"))
            ):
                created, exists = found, True
            else:
                # a hash collision: another template has this name; try the next one
                st = d.setdefault("status", {})
                st["collisionCount"] = int(st.get("collisionCount") or 0) + 1
                await dc.update_status(d)
                raise
        else:
            message = f'Failed to create new replica set "{du.name(rs)}": {pc.describe(err)}'
            if du.has_progress_deadline(d) and err.status != 403:
                condition = cond.new_condition(
                    cond.PROGRESSING, "False", cond.FAILED_RS_CREATE_REASON, message, dc.now()
                )
                cond.set_condition(d.setdefault("status", {}), condition)
                with contextlib.suppress(ApiError):  # the failure to create is the news
                    await dc.update_status(d)
            dc.recorder.post(
                d,
                type="Warning",
                reason=cond.FAILED_RS_CREATE_REASON,
                action="Create",
                note=message,
            )
            raise
    if not exists and count > 0:
        record_scaling(dc, d, f"Scaled up replica set {du.name(created)} from 0 to {count}")
    await dc.save_revision(d, new_revision)
    if not exists and du.has_progress_deadline(d):
        condition = cond.new_condition(
            cond.PROGRESSING,
            "True",
            cond.NEW_RS_REASON,
            f'Created new replica set "{du.name(created)}"',
            dc.now(),
        )
        cond.set_condition(d.setdefault("status", {}), condition)
        await dc.update_status(d)
    return created


def record_scaling(dc: DeploymentController, d: Obj, note: str) -> None:
    dc.recorder.post(d, type="Normal", reason="ScalingReplicaSet", action="Scale", note=note)


# -- scaling -----------------------------------------------------------------------------------
async def scale_replica_set_and_record_event(
    dc: DeploymentController, rs: Obj, new_scale: int, d: Obj
) -> tuple[bool, Obj]:
    if du.replicas(rs) == new_scale:
        return False, rs
    operation = "up" if du.replicas(rs) < new_scale else "down"
    return await scale_replica_set(dc, rs, new_scale, d, operation)


async def scale_replica_set(
    dc: DeploymentController, rs: Obj, new_scale: int, d: Obj, operation: str
) -> tuple[bool, Obj]:
    """Set the size and the replica annotations; an event when the size changed."""
    wanted = du.replicas(d)
    maximum = wanted + du.max_surge(d)
    resize = du.replicas(rs) != new_scale
    if not resize and not du.replicas_annotations_need_update(rs, wanted, maximum):
        return False, rs
    old_scale = du.replicas(rs)
    updated = copy.deepcopy(rs)
    updated.setdefault("spec", {})["replicas"] = new_scale
    du.set_replicas_annotations(updated, wanted, maximum)
    answer = await dc.update_replica_set(updated)
    if resize:
        note = f"Scaled {operation} replica set {du.name(rs)} from {old_scale} to {new_scale}"
        record_scaling(dc, d, note)
    return resize, answer


async def scale(dc: DeploymentController, d: Obj, new_rs: Obj | None, old_rss: list[Obj]) -> None:
    """Upstream's scale: a scaling event shared out between the ReplicaSets."""
    wanted = du.replicas(d)
    only = du.find_active_or_latest(new_rs, old_rss)
    if only is not None:
        if du.replicas(only) != wanted:
            await scale_replica_set_and_record_event(dc, only, wanted, d)
        return
    if du.is_saturated(d, new_rs):
        for old in du.filter_active(old_rss):
            await scale_replica_set_and_record_event(dc, old, 0, d)
        return
    if not du.is_rolling_update(d):
        return
    active = du.filter_active([*old_rss, new_rs])
    allowed = wanted + du.max_surge(d) if wanted > 0 else 0
    to_add = allowed - du.replica_count(active)
    operation = ""
    if to_add > 0:  # largest first; among equals, newer first
        active.sort(key=du.creation_key, reverse=True)
        active.sort(key=du.replicas, reverse=True)
        operation = "up"
    elif to_add < 0:  # largest first; among equals, older first
        active.sort(key=du.creation_key)
        active.sort(key=du.replicas, reverse=True)
        operation = "down"
    added = 0
    sizes: dict[str, int] = {}
    for rs in active:
        if to_add != 0:
            share = du.proportion(rs, d, to_add, added)
            sizes[du.name(rs)] = du.replicas(rs) + share
            added += share
        else:
            sizes[du.name(rs)] = du.replicas(rs)
    for index, rs in enumerate(active):
        if index == 0 and to_add != 0:
            sizes[du.name(rs)] = max(0, sizes[du.name(rs)] + to_add - added)
        await scale_replica_set(dc, rs, sizes[du.name(rs)], d, operation)


async def is_scaling_event(dc: DeploymentController, d: Obj, rs_list: list[Obj]) -> bool:
    """Whether an active ReplicaSet was sized for another ``spec.replicas``."""
    new_rs, old_rss = await all_replica_sets_and_sync_revision(dc, d, rs_list, False)
    for rs in du.filter_active([*old_rss, new_rs]):
        desired = du.desired_replicas_annotation(rs)
        if desired is not None and desired != du.replicas(d):
            return True
    return False


async def sync_scale(dc: DeploymentController, d: Obj, rs_list: list[Obj]) -> None:
    """Upstream's sync: scale (a scaling event, or a paused Deployment) and report status."""
    new_rs, old_rss = await all_replica_sets_and_sync_revision(dc, d, rs_list, False)
    await scale(dc, d, new_rs, old_rss)
    if du.spec(d).get("paused"):
        await cleanup_deployment(dc, old_rss, d)
    await sync_deployment_status(dc, [*old_rss, new_rs], new_rs, d)


async def sync_status_only(dc: DeploymentController, d: Obj, rs_list: list[Obj]) -> None:
    new_rs, old_rss = await all_replica_sets_and_sync_revision(dc, d, rs_list, False)
    await sync_deployment_status(dc, [*old_rss, new_rs], new_rs, d)


async def check_paused_conditions(dc: DeploymentController, d: Obj) -> None:
    """Progressing becomes Unknown with DeploymentPaused / DeploymentResumed, so a Deployment
    paused for longer than its deadline does not time out when resumed."""
    if not du.has_progress_deadline(d):
        return
    condition = cond.get_condition(du.status(d), cond.PROGRESSING)
    if condition is not None and condition.get("reason") == cond.TIMED_OUT_REASON:
        return
    paused_recorded = condition is not None and condition.get("reason") == cond.PAUSED_REASON
    paused = bool(du.spec(d).get("paused"))
    if paused and not paused_recorded:
        new = cond.new_condition(
            cond.PROGRESSING, "Unknown", cond.PAUSED_REASON, "Deployment is paused", dc.now()
        )
    elif not paused and paused_recorded:
        new = cond.new_condition(
            cond.PROGRESSING, "Unknown", cond.RESUMED_REASON, "Deployment is resumed", dc.now()
        )
    else:
        return
    cond.set_condition(d.setdefault("status", {}), new)
    await dc.update_status(d)


async def cleanup_deployment(dc: DeploymentController, old_rss: list[Obj], d: Obj) -> None:
    """Delete the oldest empty ReplicaSets beyond ``revisionHistoryLimit``."""
    if not du.has_revision_history_limit(d):
        return
    alive = [rs for rs in old_rss if not (rs.get("metadata") or {}).get("deletionTimestamp")]
    diff = len(alive) - int(du.spec(d)["revisionHistoryLimit"])
    if diff <= 0:
        return
    alive.sort(key=lambda rs: (du.revision(rs), du.creation_key(rs)))
    for rs in alive[:diff]:
        generation = (rs.get("metadata") or {}).get("generation") or 0
        if (
            du.status_int(rs, "replicas") != 0
            or du.replicas(rs) != 0
            or generation > du.status_int(rs, "observedGeneration")
        ):
            continue
        try:
            meta = rs["metadata"]
            path = resources.REPLICA_SETS.path(namespace=meta.get("namespace"), name=meta["name"])
            await dc.client.delete(path)
        except ApiError as err:
            if not err.not_found:
                raise


# -- status ------------------------------------------------------------------------------------
def calculate_status(
    dc: DeploymentController, all_rss: list[Obj | None], new_rs: Obj | None, d: Obj
) -> Obj:
    available = du.available_replica_count(all_rss)
    unavailable = max(0, du.replica_count(all_rss) - available)
    old = du.status(d)
    new: Obj = {
        "observedGeneration": (d.get("metadata") or {}).get("generation") or 0,
        "replicas": du.actual_replica_count(all_rss),
        "updatedReplicas": du.actual_replica_count([new_rs]),
        "readyReplicas": du.ready_replica_count(all_rss),
        "availableReplicas": available,
        "unavailableReplicas": unavailable,
    }
    new = {key: value for key, value in new.items() if value}  # omitempty, as upstream
    if "collisionCount" in old:
        new["collisionCount"] = old["collisionCount"]
    if old.get("conditions"):
        new["conditions"] = [dict(c) for c in old["conditions"]]
    if available >= du.replicas(d) - du.max_unavailable(d):
        condition = cond.new_condition(
            cond.AVAILABLE,
            "True",
            cond.MINIMUM_REPLICAS_AVAILABLE,
            "Deployment has minimum availability.",
            dc.now(),
        )
    else:
        condition = cond.new_condition(
            cond.AVAILABLE,
            "False",
            cond.MINIMUM_REPLICAS_UNAVAILABLE,
            "Deployment does not have minimum availability.",
            dc.now(),
        )
    cond.set_condition(new, condition)
    return new


def status_differs(d: Obj, new_status: Obj) -> bool:
    """Whether ``new_status`` says anything the stored status does not (zeros are omitted)."""
    old = du.status(d)

    def strip(st: Obj) -> Obj:
        return {k: v for k, v in st.items() if v not in (0, None, [])}

    return strip(old) != strip(new_status)


async def sync_deployment_status(
    dc: DeploymentController, all_rss: list[Obj | None], new_rs: Obj | None, d: Obj
) -> None:
    new_status = calculate_status(dc, all_rss, new_rs, d)
    if not status_differs(d, new_status):
        return
    d["status"] = new_status
    await dc.update_status(d)
