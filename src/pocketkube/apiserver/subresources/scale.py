"""``<resource>/scale``: the replica count of a workload or custom object as a Scale.

Clients that scale (``kubectl scale``, the horizontal pod autoscaler) need not know the parent's
kind: they read and write an ``autoscaling/v1`` Scale, and the server maps it onto the parent,
as upstream's ``ScaleREST`` does. Where the parent keeps its replica counts is its
:class:`~pocketkube.apiserver.subresources.scaleview.ScaleView`: ``spec.replicas`` for the
built-in workloads, the CRD's JSON paths for a custom resource. A read builds the Scale from the
parent; a write (PUT, or a patch applied to the Scale the write starts from) changes only the
parent's wanted replicas, in one guaranteed update, so a Scale carrying a stale resourceVersion
is a 409 like any other write.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from pocketkube.api import status
from pocketkube.api.status import OPTIMISTIC_LOCK_MESSAGE, StatusError
from pocketkube.apiserver import crds, extensions
from pocketkube.apiserver.extensions import SpecialRequest
from pocketkube.apiserver.query import dry_run
from pocketkube.apiserver.registry import ResourceRegistry
from pocketkube.apiserver.specialbody import read_object, reply
from pocketkube.apiserver.subresources.customscale import CustomResourceScale
from pocketkube.apiserver.subresources.patching import read_patch
from pocketkube.apiserver.subresources.scaleview import (
    API_VERSION,
    KIND,
    WORKLOADS,
    ScaleView,
)
from pocketkube.storage.interface import Obj

NAME = "scale"

# The Scale a write starts from -> the Scale the client wants instead.
ScaleChange = Callable[[Obj], Obj]


def view_for(registry: ResourceRegistry) -> ScaleView | None:
    """How ``registry``'s objects look as a Scale (None: a custom resource without one)."""
    if isinstance(registry, crds.CustomResourceRegistry):
        return CustomResourceScale(registry.scale) if registry.scale is not None else None
    return WORKLOADS


def _check_meta(special: SpecialRequest, desired: Obj, current: Obj) -> None:
    """The Scale's name, uid and resourceVersion must be the parent's (when given)."""
    resource, name = special.resource, special.info.name
    meta: Any = desired.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    if meta.get("name") and meta["name"] != name:
        raise StatusError(
            status.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the "
                f"URL ({name})"
            )
        )
    uid = meta.get("uid")
    if uid and uid != current["metadata"].get("uid"):
        message = (
            f"Precondition failed: UID in precondition: {uid}, "
            f"UID in object meta: {current['metadata'].get('uid', '')}"
        )
        raise StatusError(
            status.conflict(f"{resource.plural}/{NAME}", name, message, resource.group)
        )
    wanted_rv = meta.get("resourceVersion")
    if wanted_rv and wanted_rv != current["metadata"].get("resourceVersion"):
        raise StatusError(
            status.conflict(resource.plural, name, OPTIMISTIC_LOCK_MESSAGE, resource.group)
        )


async def _write(
    special: SpecialRequest, registry: ResourceRegistry, view: ScaleView, change: ScaleChange
) -> Obj:
    async def mutate(current: Obj) -> Obj:
        desired = change(view.current(current))
        _check_meta(special, desired, current)
        view.set_replicas(current, desired, special.info.name)
        return current

    return await registry.update(
        special.info.namespace, special.info.name, mutate, dry_run=dry_run(special.request.query)
    )


async def handle(special: SpecialRequest) -> web.StreamResponse:
    registry = special.registry
    view = view_for(registry) if registry is not None else None
    if registry is None or view is None or not special.info.name:
        raise StatusError(
            status.make_status(
                code=404,
                reason="NotFound",
                message="the server could not find the requested resource",
            )
        )
    verb = special.info.verb
    if verb == "get":
        parent = await registry.get(special.info.namespace, special.info.name)
        return reply(view.scale(parent), 200)
    if verb == "update":
        wanted = await read_object(special, api_version=API_VERSION, kind=KIND)
        return reply(view.scale(await _write(special, registry, view, lambda _: wanted)), 200)
    if verb == "patch":
        patched = await read_patch(special, kind=KIND)
        return reply(view.scale(await _write(special, registry, view, patched)), 200)
    raise StatusError(
        status.method_not_supported(
            f"{special.resource.plural}/{NAME}", verb, special.resource.group
        )
    )


def install() -> None:
    extensions.SUBRESOURCES[NAME] = handle
