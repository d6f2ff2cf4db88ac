"""``<workload>/scale``: the replica count of a workload as an ``autoscaling/v1`` Scale.

Clients that scale (``kubectl scale``, the horizontal pod autoscaler) need not know the parent's
kind: they read and write a Scale, and the server maps it onto the parent, as upstream's
``ScaleREST`` does. A read builds the Scale from the parent (its name, namespace, uid,
resourceVersion and creationTimestamp; ``spec.replicas``; ``status.replicas`` and the label
selector as a string). A write (PUT, or a patch applied to that Scale) changes only the parent's
``spec.replicas``, in one guaranteed update, so a Scale carrying a stale resourceVersion is a 409
like any other write.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from pocketkube.api import status
from pocketkube.api.labels import (
    SelectorError,
    selector_from_label_selector,
    selector_from_set,
)
from pocketkube.api.patch import (
    PatchError,
    apply_json_patch,
    apply_merge_patch,
    apply_strategic_merge_patch,
    schema_for_kind,
)
from pocketkube.api.status import OPTIMISTIC_LOCK_MESSAGE, StatusError
from pocketkube.api.validation import FieldError, invalid
from pocketkube.apiserver import body as bodies
from pocketkube.apiserver import extensions
from pocketkube.apiserver.extensions import SpecialRequest
from pocketkube.apiserver.query import dry_run
from pocketkube.apiserver.registry import ResourceRegistry
from pocketkube.apiserver.specialbody import read_object, reply
from pocketkube.storage.interface import Obj

NAME = "scale"
API_VERSION = "autoscaling/v1"
KIND = "Scale"
PATCH_TYPES = (bodies.JSON_PATCH, bodies.MERGE_PATCH, bodies.STRATEGIC_PATCH)

# The Scale we make of the stored parent, and the Scale the client wants instead.
ScaleChange = Callable[[Obj], Awaitable[Any]]


def selector_string(parent: Obj) -> str:
    """The parent's selector in label-selector syntax, e.g. ``app=web``. A
    ReplicationController's selector is a plain map of labels; the others' a LabelSelector."""
    selector = parent.get("spec", {}).get("selector")
    if parent.get("kind") == "ReplicationController":
        return str(selector_from_set(selector or {}))
    try:
        return str(selector_from_label_selector(selector))
    except SelectorError as err:
        raise StatusError(status.internal_error(str(err))) from None


def scale_of(parent: Obj) -> Obj:
    """The Scale view of a stored workload (upstream's ``scaleFrom<Kind>``)."""
    meta = parent.get("metadata", {})
    scale_meta = {
        key: meta[key]
        for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
        if meta.get(key)
    }
    spec: dict[str, Any] = {}
    replicas = parent.get("spec", {}).get("replicas")
    if replicas:  # ScaleSpec.replicas is omitempty: 0 leaves it out
        spec["replicas"] = replicas
    scale_status: dict[str, Any] = {"replicas": parent.get("status", {}).get("replicas", 0)}
    selector = selector_string(parent)
    if selector:
        scale_status["selector"] = selector
    return {
        "kind": KIND,
        "apiVersion": API_VERSION,
        "metadata": scale_meta,
        "spec": spec,
        "status": scale_status,
    }


def _validate(scale: Obj, name: str) -> int:
    """The replicas the Scale asks for, or 422 as upstream's ValidateScale."""
    errors: list[FieldError] = []
    spec = scale.get("spec")
    replicas: Any = spec.get("replicas", 0) if isinstance(spec, dict) else 0
    if not isinstance(replicas, int) or isinstance(replicas, bool):
        errors.append(invalid("spec.replicas", replicas, "must be an integer"))
    elif replicas < 0:
        errors.append(invalid("spec.replicas", replicas, "must be greater than or equal to 0"))
    elif replicas > 2**31 - 1:
        errors.append(invalid("spec.replicas", replicas, "must be a 32-bit integer"))
    if errors:
        raise StatusError(status.invalid(KIND, name, errors, "autoscaling"))
    return int(replicas)


async def _write(special: SpecialRequest, registry: ResourceRegistry, change: ScaleChange) -> Obj:
    info, resource = special.info, special.resource
    name = info.name

    async def mutate(current: Obj) -> Obj:
        old_scale = scale_of(current)
        desired = await change(old_scale)
        if not isinstance(desired, dict):
            raise StatusError(status.bad_request("the patched object is not a JSON object"))
        meta = desired.get("metadata") if isinstance(desired.get("metadata"), dict) else {}
        assert isinstance(meta, dict)
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
        current.setdefault("spec", {})["replicas"] = _validate(desired, name)
        return current

    return await registry.update(
        info.namespace, name, mutate, dry_run=dry_run(special.request.query)
    )


async def _put(special: SpecialRequest, registry: ResourceRegistry) -> Obj:
    wanted = await read_object(special, api_version=API_VERSION, kind=KIND)

    async def replace(_: Obj) -> Obj:
        return wanted

    return await _write(special, registry, replace)


async def _patch(special: SpecialRequest, registry: ResourceRegistry) -> Obj:
    media = bodies.media_type(special.request)
    if media not in PATCH_TYPES:
        raise StatusError(status.unsupported_media_type(PATCH_TYPES))
    patch = bodies.parse_document(await bodies.read_body(special.request), media)
    if media == bodies.JSON_PATCH and not isinstance(patch, list):
        raise StatusError(status.bad_request("json patch must be a JSON array of operations"))
    if media != bodies.JSON_PATCH and not isinstance(patch, dict):
        raise StatusError(status.bad_request("the patch must be a JSON object"))

    async def patched(scale: Obj) -> Any:
        try:
            if media == bodies.JSON_PATCH:
                return apply_json_patch(scale, patch)
            if media == bodies.MERGE_PATCH:
                return apply_merge_patch(scale, patch)
            return apply_strategic_merge_patch(scale, patch, schema_for_kind(KIND))
        except PatchError as err:
            code = 400 if err.bad_request else 422
            raise StatusError(
                status.make_status(
                    code=code, reason="BadRequest" if code == 400 else "Invalid", message=str(err)
                )
            ) from None

    return await _write(special, registry, patched)


async def handle(special: SpecialRequest) -> web.StreamResponse:
    registry = special.registry
    if registry is None or not special.info.name:
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
        return reply(scale_of(parent), 200)
    if verb == "update":
        return reply(scale_of(await _put(special, registry)), 200)
    if verb == "patch":
        return reply(scale_of(await _patch(special, registry)), 200)
    raise StatusError(
        status.method_not_supported(
            f"{special.resource.plural}/{NAME}", verb, special.resource.group
        )
    )


def install() -> None:
    extensions.SUBRESOURCES[NAME] = handle
