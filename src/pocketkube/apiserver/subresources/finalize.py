"""``namespaces/<name>/finalize``: the one way to change a namespace's ``spec.finalizers``.

A namespace being deleted waits for its spec finalizers (``kubernetes``: the namespace
controller has emptied it); whoever finished its part takes its name off with a PUT of the
Namespace here. As upstream's ``FinalizeREST`` with ``namespaceFinalizeStrategy``: the request is
a whole Namespace written as an update whose status stays as stored (the strategy resets nothing
else, so the metadata sent along is written as by any update; it is upstream's main-resource
update that keeps ``spec.finalizers`` as they were), each spec finalizer must be a qualified
name, and one without a ``/`` must be a standard finalizer (``kubernetes``, ``orphan``,
``foregroundDeletion``). Once a namespace with a deletionTimestamp has neither spec nor metadata
finalizers left it is deleted, as upstream's namespace registry does during the update
(``ShouldDeleteNamespaceDuringUpdate``); the answer is the Namespace.
"""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from pocketkube.api import status
from pocketkube.api.status import OPTIMISTIC_LOCK_MESSAGE, StatusError
from pocketkube.api.validation import FieldError, invalid, is_qualified_name, type_invalid
from pocketkube.apiserver import extensions, fieldmanager
from pocketkube.apiserver.extensions import SpecialRequest
from pocketkube.apiserver.query import dry_run
from pocketkube.apiserver.registry import ResourceRegistry
from pocketkube.apiserver.specialbody import read_object, reply
from pocketkube.storage.interface import Obj

NAME = "finalize"
# helper.IsStandardFinalizerName: the legacy finalizers that need no domain prefix.
STANDARD_FINALIZERS = ("kubernetes", "orphan", "foregroundDeletion")
NOT_QUALIFIED = "name is neither a standard finalizer name nor is it fully qualified"


def validate_finalizers(finalizers: Any) -> list[FieldError]:
    """Upstream's ValidateNamespaceFinalizeUpdate on ``spec.finalizers``."""
    if not isinstance(finalizers, list):
        return [type_invalid("spec.finalizers", finalizers, "must be of type array")]
    errors: list[FieldError] = []
    for index, finalizer in enumerate(finalizers):
        path = f"spec.finalizers[{index}]"
        if not isinstance(finalizer, str):
            errors.append(type_invalid(path, finalizer, "must be of type string"))
            continue
        errors.extend(invalid(path, finalizer, msg) for msg in is_qualified_name(finalizer))
        if "/" not in finalizer and finalizer not in STANDARD_FINALIZERS:
            errors.append(invalid(path, finalizer, NOT_QUALIFIED))
    return errors


def finalize_update(wanted: Obj, current: Obj) -> Obj:
    """The namespace to store: the request's, with the stored status (the strategy's
    PrepareForUpdate), or 422 for finalizer names upstream refuses."""
    desired = copy.deepcopy(wanted)
    spec = desired.get("spec")
    if not isinstance(spec, dict):
        spec = desired["spec"] = {}
    # An empty list, not a missing one: the Namespace defaults would add "kubernetes" back.
    finalizers = spec["finalizers"] = spec.get("finalizers") or []
    errors = validate_finalizers(finalizers)
    if errors:
        name = str(current["metadata"].get("name", ""))
        raise StatusError(status.invalid("Namespace", name, errors))
    if "status" in current:
        desired["status"] = copy.deepcopy(current["status"])
    else:
        desired.pop("status", None)
    return desired


class FinalizeRegistry(ResourceRegistry):
    """The namespaces registry as the finalize endpoint writes through it: an update that
    leaves a deleted namespace without metadata finalizers removes it only once its spec
    finalizers are gone too (upstream's ShouldDeleteNamespaceDuringUpdate)."""

    async def _finish_if_finalized(self, namespace: str, obj: Obj) -> Obj:
        if (obj.get("spec") or {}).get("finalizers"):
            return obj
        return await super()._finish_if_finalized(namespace, obj)


async def handle(special: SpecialRequest) -> web.StreamResponse:
    """``PUT /api/v1/namespaces/<name>/finalize`` with a v1 Namespace."""
    namespaces, name = special.registry, special.info.name
    if special.info.verb != "update" or namespaces is None or not name:
        raise StatusError(status.method_not_supported(f"namespaces/{NAME}", special.info.verb))
    query = special.request.query
    fieldmanager.validate_manager(query, "UpdateOptions")
    wanted = await read_object(special, api_version="v1", kind="Namespace")
    meta: dict[str, Any] = wanted["metadata"]
    if meta.get("name") and meta["name"] != name:
        raise StatusError(
            status.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL "
                f"({name})"
            )
        )
    wanted_rv = meta.get("resourceVersion")

    async def mutate(current: Obj) -> Obj:
        if wanted_rv and wanted_rv != current["metadata"].get("resourceVersion"):
            raise StatusError(status.conflict("namespaces", name, OPTIMISTIC_LOCK_MESSAGE))
        return finalize_update(wanted, current)

    registry = FinalizeRegistry(info=namespaces.info, storage=namespaces.storage)
    return reply(await registry.update("", name, mutate, dry_run=dry_run(query)), 200)


def install() -> None:
    extensions.SUBRESOURCES[NAME] = handle
