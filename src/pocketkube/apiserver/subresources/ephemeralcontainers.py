"""``pods/<name>/ephemeralcontainers``: adding debugging containers to a running pod.

This is what ``kubectl debug`` writes to. A pod's spec is otherwise immutable, so the write goes
through its own strategy (upstream's ``EphemeralContainersREST`` with
``podEphemeralContainersStrategy``): the request is a whole Pod (a PUT, or a patch applied to
the stored pod), but only its ``spec.ephemeralContainers`` is kept; everything else is copied
from the stored pod, including the labels, annotations, finalizers and owner references
(``ResetObjectMetaForStatus``), so a stale copy cannot undo other writes. New ephemeral
containers get the container defaults; validation (``ephemeralvalidation``) replaces the pod
update rule that freezes the spec. GET answers with the pod, and so do the writes.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from aiohttp import web

from pocketkube.api import status
from pocketkube.api.pods import validate_pod_spec
from pocketkube.api.status import OPTIMISTIC_LOCK_MESSAGE, StatusError
from pocketkube.api.validation import name_is_dns_subdomain, validate_object_meta
from pocketkube.apiserver import extensions, fieldmanager
from pocketkube.apiserver.extensions import SpecialRequest
from pocketkube.apiserver.query import dry_run
from pocketkube.apiserver.registry import ResourceRegistry
from pocketkube.apiserver.specialbody import read_object, reply
from pocketkube.apiserver.subresources import ephemeralvalidation
from pocketkube.apiserver.subresources.patching import read_patch
from pocketkube.storage.interface import Obj

NAME = "ephemeralcontainers"
# The stored pod -> the Pod the client wants.
PodChange = Callable[[Obj], Obj]


def keep_ephemeral_containers(desired: Obj, current: Obj) -> Obj:
    """``current`` with ``desired``'s ephemeral containers (and the uid and managedFields it
    carries, which the registry checks and the field manager reads)."""
    pod = copy.deepcopy(current)
    spec: Any = desired.get("spec")
    wanted = spec.get("ephemeralContainers") if isinstance(spec, dict) else None
    pod_spec = pod.setdefault("spec", {})
    if wanted is None:
        pod_spec.pop("ephemeralContainers", None)
    else:
        pod_spec["ephemeralContainers"] = copy.deepcopy(wanted)
    meta: Any = desired.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    for key in ("uid", "managedFields"):
        if key in meta:
            pod["metadata"][key] = copy.deepcopy(meta[key])
    return pod


class EphemeralContainersRegistry(ResourceRegistry):
    """The pods registry as this endpoint writes through it: the pod update rule that
    freezes the spec is replaced by the ephemeral containers' rules."""

    def _validate(self, obj: Obj, old: Obj | None = None) -> None:
        if old is not None and ephemeralvalidation.is_static_pod(old):
            errors = [ephemeralvalidation.STATIC_POD]
        else:
            errors = validate_object_meta(
                obj["metadata"], namespaced=True, name_validator=name_is_dns_subdomain
            )
            errors += validate_pod_spec(obj.get("spec"))
            if old is not None:
                errors += ephemeralvalidation.validate_update(obj, old)
        if errors:
            name = str(obj["metadata"].get("name", ""))
            raise StatusError(status.invalid("Pod", name, errors))


def _check_meta(desired: Obj, current: Obj, name: str) -> None:
    meta: Any = desired.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    if meta.get("name") and meta["name"] != name:
        raise StatusError(
            status.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL "
                f"({name})"
            )
        )
    wanted_rv = meta.get("resourceVersion")
    if wanted_rv and wanted_rv != current["metadata"].get("resourceVersion"):
        raise StatusError(status.conflict("pods", name, OPTIMISTIC_LOCK_MESSAGE))


async def _write(special: SpecialRequest, pods: ResourceRegistry, change: PodChange) -> Obj:
    name = special.info.name

    async def mutate(current: Obj) -> Obj:
        desired = change(copy.deepcopy(current))
        _check_meta(desired, current, name)
        return keep_ephemeral_containers(desired, current)

    registry = EphemeralContainersRegistry(info=pods.info, storage=pods.storage)
    return await registry.update(
        special.info.namespace, name, mutate, dry_run=dry_run(special.request.query)
    )


async def handle(special: SpecialRequest) -> web.StreamResponse:
    """GET, PUT and PATCH (JSON, merge, strategic) of a pod's ephemeral containers."""
    pods, info = special.registry, special.info
    if pods is None or not info.name:
        raise StatusError(status.method_not_supported(f"pods/{NAME}", info.verb))
    if info.verb == "get":
        return reply(await pods.get(info.namespace, info.name), 200)
    if info.verb == "update":
        fieldmanager.validate_manager(special.request.query, "UpdateOptions")
        wanted = await read_object(special, api_version="v1", kind="Pod")
        return reply(await _write(special, pods, lambda _: wanted), 200)
    if info.verb == "patch":
        fieldmanager.validate_patch_options(special.request.query, apply_patch=False)
        patched = await read_patch(special, kind="Pod")
        return reply(await _write(special, pods, patched), 200)
    raise StatusError(status.method_not_supported(f"pods/{NAME}", info.verb))


def install() -> None:
    extensions.SUBRESOURCES[NAME] = handle
