"""Rollback through the ``deprecated.deployment.rollback.to`` annotation (upstream's
``rollback.go``, what the extensions/v1beta1 ``rollbackTo`` field became). Today's
``kubectl rollout undo`` rolls back on the client, by copying the old ReplicaSet's template into
the Deployment; the controller then finds that ReplicaSet as the new one and gives it the next
revision (its old number goes to ``deployment.kubernetes.io/revision-history``)."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from pocketkube.client import resources
from pocketkube.client.rest import Obj
from pocketkube.controllers.deployment import util as du
from pocketkube.controllers.deployment.sync import all_replica_sets_and_sync_revision

if TYPE_CHECKING:
    from pocketkube.controllers.deployment.controller import DeploymentController

ROLLBACK_DONE = "DeploymentRollback"
ROLLBACK_REVISION_NOT_FOUND = "DeploymentRollbackRevisionNotFound"
ROLLBACK_TEMPLATE_UNCHANGED = "DeploymentRollbackTemplateUnchanged"


def rollback_to(d: Obj) -> int | None:
    value = du.annotations_of(d).get(du.ROLLBACK_TO)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def last_revision(rs_list: list[Obj]) -> int:
    """The second highest revision: the one before the current."""
    revisions = sorted({du.revision(rs) for rs in rs_list}, reverse=True)
    return revisions[1] if len(revisions) > 1 else 0


async def rollback(dc: DeploymentController, d: Obj, rs_list: list[Obj]) -> None:
    new_rs, all_old = await all_replica_sets_and_sync_revision(dc, d, rs_list, True)
    all_rss = [rs for rs in [new_rs, *all_old] if rs is not None]
    target = rollback_to(d) or 0
    if target == 0:
        target = last_revision(all_rss)
        if target == 0:
            _event(dc, d, "Warning", ROLLBACK_REVISION_NOT_FOUND, "Unable to find last revision.")
            await _clear(dc, d)
            return
    for rs in all_rss:
        if du.revision(rs) != target:
            continue
        if du.equal_ignore_hash(du.spec(d).get("template"), du.spec(rs).get("template")):
            _event(
                dc,
                d,
                "Warning",
                ROLLBACK_TEMPLATE_UNCHANGED,
                "The rollback revision contains the same template as current deployment "
                f'"{du.name(d)}"',
            )
        else:
            template = copy.deepcopy(du.spec(rs).get("template") or {})
            labels = (template.get("metadata") or {}).get("labels")
            if isinstance(labels, dict):
                labels.pop(du.HASH_LABEL, None)
            d["spec"]["template"] = template
            du.copy_deployment_annotations(rs, d)
            _event(
                dc,
                d,
                "Normal",
                ROLLBACK_DONE,
                f'Rolled back deployment "{du.name(d)}" to revision {target}',
            )
        await _clear(dc, d)
        return
    _event(
        dc, d, "Warning", ROLLBACK_REVISION_NOT_FOUND, "Unable to find the revision to rollback to."
    )
    await _clear(dc, d)


def _event(dc: DeploymentController, d: Obj, type_: str, reason: str, note: str) -> None:
    dc.recorder.post(
        d,
        type="Normal" if type_ == "Normal" else "Warning",
        reason=reason,
        action="Rollback",
        note=note,
    )


async def _clear(dc: DeploymentController, d: Obj) -> None:
    d["metadata"].setdefault("annotations", {}).pop(du.ROLLBACK_TO, None)
    meta = d["metadata"]
    path = resources.DEPLOYMENTS.path(namespace=meta.get("namespace"), name=meta["name"])
    await dc.client.update(path, d)
