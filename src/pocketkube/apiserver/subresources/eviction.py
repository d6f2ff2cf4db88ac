"""``pods/<name>/eviction``: a pod delete that respects PodDisruptionBudgets (``kubectl drain``).

As upstream's ``EvictionREST``: a pod that is not running (Pending, Succeeded, Failed) or already
being deleted is deleted at once, since evicting it disrupts nothing. Otherwise the one budget
in the namespace whose selector matches the pod must allow a disruption: it is then spent (the
budget's ``status.disruptionsAllowed`` drops and the pod is recorded in ``disruptedPods`` so the
disruption controller does not count it twice) in a guaranteed update that re-checks the budget,
so two concurrent evictions cannot both take the last disruption. With none left the answer is
``429 TooManyRequests``, which drain retries. The pod gets a ``DisruptionTarget`` condition and
is deleted with the Eviction's deleteOptions (gracefully); the answer is ``201`` with a Success
Status.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aiohttp import web

from pocketkube.api import status
from pocketkube.api.labels import SelectorError, selector_from_label_selector
from pocketkube.api.status import StatusError
from pocketkube.apiserver import extensions
from pocketkube.apiserver.errors import status_error_from_storage
from pocketkube.apiserver.extensions import SpecialRequest
from pocketkube.apiserver.objectmeta import now_rfc3339
from pocketkube.apiserver.query import delete_options, dry_run
from pocketkube.apiserver.registry import DeleteOptions, ResourceRegistry
from pocketkube.apiserver.resources import Resource
from pocketkube.apiserver.resources_builtin import BUILTIN_RESOURCES
from pocketkube.apiserver.specialbody import read_object, reply
from pocketkube.apiserver.subresources.podstatus import update_pod_condition
from pocketkube.storage.errors import NotFound, StorageError
from pocketkube.storage.interface import ListOptions, Obj, Preconditions
from pocketkube.storage.store import check_preconditions

PDBS: Resource = next(
    r for r in BUILTIN_RESOURCES if r.gvr == ("policy", "v1", "poddisruptionbudgets")
)
VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget."
DISRUPTION_BUDGET_CAUSE = "DisruptionBudget"
# Upstream refuses to grow disruptedPods past this: the controller is not keeping up.
MAX_DISRUPTED_PODS = 2000


def _too_many_requests(message: str, retry_after_seconds: int) -> StatusError:
    return StatusError(
        status.make_status(
            code=429,
            reason="TooManyRequests",
            message=VIOLATION,
            causes=[status.cause(reason=DISRUPTION_BUDGET_CAUSE, message=message)],
            retry_after_seconds=retry_after_seconds,
        )
    )


def _forbidden(pdb_name: str, why: str) -> StatusError:
    return StatusError(
        status.make_status(
            code=403,
            reason="Forbidden",
            message=f'poddisruptionbudget.policy "{pdb_name}" is forbidden: {why}',
            name=pdb_name,
            group="policy",
            kind="poddisruptionbudget",
        )
    )


def _can_ignore_budget(pod: Obj) -> bool:
    """A pod that runs nothing (yet or any more), or is already going, disrupts nothing."""
    phase = pod.get("status", {}).get("phase")
    return phase in ("Pending", "Succeeded", "Failed") or bool(
        pod["metadata"].get("deletionTimestamp")
    )


def _is_ready(pod: Obj) -> bool:
    for condition in pod.get("status", {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return bool(condition.get("status") == "True")
    return False


async def _budgets_for(pdbs: ResourceRegistry, pod: Obj) -> list[Obj]:
    namespace = pod["metadata"].get("namespace", "")
    labels = pod["metadata"].get("labels") or {}
    matching = []
    for pdb in (await pdbs.list(namespace, ListOptions())).items:
        try:
            selector = selector_from_label_selector(pdb.get("spec", {}).get("selector"))
        except SelectorError:
            continue
        # a nil or empty selector matches nothing here, as upstream's eviction does
        if selector.empty or not selector.matches(labels):
            continue
        matching.append(pdb)
    return matching


def _spend_disruption(pdb: Obj, pod_name: str) -> Obj:
    """Check the budget allows one more disruption and take it (upstream checkAndDecrement)."""
    name = pdb["metadata"]["name"]
    pdb_status = pdb.setdefault("status", {})
    if pdb_status.get("observedGeneration", 0) < pdb["metadata"].get("generation", 0):
        raise _too_many_requests(
            f"The disruption budget {name} is still being processed by the server.", 10
        )
    allowed = int(pdb_status.get("disruptionsAllowed", 0))
    if allowed < 0:
        raise _forbidden(name, "pdb disruptions allowed is negative")
    disrupted = pdb_status.get("disruptedPods") or {}
    if len(disrupted) > MAX_DISRUPTED_PODS:
        raise _forbidden(
            name,
            "DisruptedPods map too big - too many evictions not confirmed by PDB controller",
        )
    if allowed == 0:
        raise _too_many_requests(
            f"The disruption budget {name} needs {pdb_status.get('desiredHealthy', 0)} healthy "
            f"pods and has {pdb_status.get('currentHealthy', 0)} currently",
            0,
        )
    pdb_status["disruptionsAllowed"] = allowed - 1
    pdb_status["disruptedPods"] = {**disrupted, pod_name: now_rfc3339()}
    if allowed - 1 == 0:
        _set_insufficient(pdb)
    return pdb


def _set_insufficient(pdb: Obj) -> None:
    """The DisruptionAllowed condition once the last disruption is spent."""
    pdb_status = pdb["status"]
    condition = {
        "type": "DisruptionAllowed",
        "status": "False",
        "observedGeneration": pdb_status.get("observedGeneration", 0),
        "lastTransitionTime": now_rfc3339(),
        "reason": "InsufficientPods",
        "message": "",
    }
    conditions = [c for c in pdb_status.get("conditions") or [] if isinstance(c, dict)]
    for index, old in enumerate(conditions):
        if old.get("type") == "DisruptionAllowed":
            if old.get("status") == "False":
                condition["lastTransitionTime"] = old.get("lastTransitionTime")
            conditions[index] = condition
            break
    else:
        conditions.append(condition)
    pdb_status["conditions"] = conditions


async def _check_budget(special: SpecialRequest, pod: Obj, options: DeleteOptions) -> DeleteOptions:
    """Spend a disruption of the pod's budget, if it has one; the options to delete with."""
    pdbs = special.registry_for(PDBS)
    if pdbs is None:
        return options
    budgets = await _budgets_for(pdbs, pod)
    if not budgets:
        return options
    if len(budgets) > 1:
        raise StatusError(
            status.internal_error(
                "This pod has more than one PodDisruptionBudget, which the eviction subresource "
                "does not support."
            )
        )
    pdb = budgets[0]
    if not _is_ready(pod):
        policy = pdb.get("spec", {}).get("unhealthyPodEvictionPolicy")
        pdb_status = pdb.get("status", {})
        desired = pdb_status.get("desiredHealthy", 0)
        if policy == "AlwaysAllow" or (
            desired > 0 and pdb_status.get("currentHealthy", 0) >= desired
        ):
            # an unready pod counts for nothing; delete it only while it is still that pod
            rv = pod["metadata"].get("resourceVersion")
            pre = options.preconditions or Preconditions()
            return replace(options, preconditions=Preconditions(uid=pre.uid, resource_version=rv))
    if options.dry_run:
        _spend_disruption(pdb, pod["metadata"]["name"])
        return options

    async def spend(current: Obj) -> Obj:
        return _spend_disruption(current, pod["metadata"]["name"])

    await pdbs.update(
        pdb["metadata"].get("namespace", ""), pdb["metadata"]["name"], spend, dry_run=False
    )
    return options


async def _mark_and_delete(
    pods: ResourceRegistry, namespace: str, name: str, options: DeleteOptions
) -> None:
    """Add the DisruptionTarget condition, then delete the pod as the options say."""
    if not options.dry_run:
        key = pods.key(namespace, name)

        async def mark(pod: Obj | None) -> Obj:
            if pod is None:
                raise NotFound(f"{name} not found")
            update_pod_condition(
                pod,
                "DisruptionTarget",
                "True",
                reason="EvictionByEvictionAPI",
                message="Eviction API: evicting",
            )
            return pod

        try:
            marked = await pods.storage.guaranteed_update(
                key, mark, preconditions=options.preconditions
            )
        except StorageError as err:
            raise status_error_from_storage(err, resource="pods", name=name) from None
        pre = options.preconditions
        if pre is not None and pre.resource_version:
            # our own write moved the resourceVersion on
            new_rv = marked["metadata"].get("resourceVersion")
            options = replace(
                options, preconditions=Preconditions(uid=pre.uid, resource_version=new_rv)
            )
    await pods.delete(namespace, name, options)


async def handle(special: SpecialRequest) -> web.StreamResponse:
    """``POST /api/v1/namespaces/<ns>/pods/<name>/eviction`` with a policy/v1 Eviction."""
    info = special.info
    pods = special.registry
    if info.verb != "create" or pods is None:
        raise StatusError(status.method_not_supported("pods/eviction", info.verb))
    eviction = await read_object(special, api_version="policy/v1", kind="Eviction")
    meta: dict[str, Any] = eviction["metadata"]
    if meta.get("name", "") != info.name:
        raise StatusError(status.bad_request("name in URL does not match name in Eviction object"))
    raw_options = eviction.get("deleteOptions") or {}
    if not isinstance(raw_options, dict):
        raise StatusError(status.bad_request("deleteOptions must be an object"))
    options, _ = delete_options({}, raw_options)
    if dry_run(special.request.query) and not options.dry_run:
        options = replace(options, dry_run=True)
    pod = await pods.get(info.namespace, info.name)
    try:
        check_preconditions(pods.key(info.namespace, info.name), pod, options.preconditions)
    except StorageError as err:
        raise status_error_from_storage(err, resource="pods", name=info.name) from None
    if not _can_ignore_budget(pod):
        options = await _check_budget(special, pod, options)
    await _mark_and_delete(pods, info.namespace, info.name, options)
    return reply(status.success(code=201), 201)


def install() -> None:
    extensions.SUBRESOURCES["eviction"] = handle
