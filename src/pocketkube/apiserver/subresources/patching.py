"""PATCH bodies for subresources: read once, applied to the view the subresource serves.

A subresource patch is applied to what a GET of the subresource returns (a Scale for
``scale``, the whole Pod for ``pods/ephemeralcontainers``), then written back by the
subresource's own rules. The body is read and checked before the write starts, and the
returned function is pure, so a write that retries on a conflict applies it again to the fresh
object.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pocketkube.api import status
from pocketkube.api.patch import (
    PatchError,
    apply_json_patch,
    apply_merge_patch,
    apply_strategic_merge_patch,
    schema_for_kind,
)
from pocketkube.api.status import StatusError
from pocketkube.apiserver import body as bodies
from pocketkube.apiserver.extensions import SpecialRequest
from pocketkube.storage.interface import Obj

PATCH_TYPES = (bodies.JSON_PATCH, bodies.MERGE_PATCH, bodies.STRATEGIC_PATCH)
MAX_JSON_PATCH_OPERATIONS = 10_000

# The view as it is now -> the view as the client wants it.
Patcher = Callable[[Obj], Obj]


async def read_patch(special: SpecialRequest, *, kind: str) -> Patcher:
    """The request's patch as a function on objects of ``kind`` (415/400/413 for bad bodies)."""
    media = bodies.media_type(special.request)
    if media not in PATCH_TYPES:
        raise StatusError(status.unsupported_media_type(PATCH_TYPES))
    patch = bodies.parse_document(await bodies.read_body(special.request), media)
    if media == bodies.JSON_PATCH:
        if not isinstance(patch, list):
            raise StatusError(status.bad_request("json patch must be a JSON array of operations"))
        if len(patch) > MAX_JSON_PATCH_OPERATIONS:
            raise StatusError(
                status.request_entity_too_large(
                    "The allowed maximum operations in a JSON patch is "
                    f"{MAX_JSON_PATCH_OPERATIONS}, got {len(patch)}"
                )
            )
    elif not isinstance(patch, dict):
        raise StatusError(status.bad_request("the patch must be a JSON object"))

    def apply(obj: Obj) -> Obj:
        patched: Any
        try:
            if media == bodies.JSON_PATCH:
                patched = apply_json_patch(obj, patch)
            elif media == bodies.MERGE_PATCH:
                patched = apply_merge_patch(obj, patch)
            else:
                patched = apply_strategic_merge_patch(obj, patch, schema_for_kind(kind))
        except PatchError as err:
            code = 400 if err.bad_request else 422
            raise StatusError(
                status.make_status(
                    code=code, reason="BadRequest" if code == 400 else "Invalid", message=str(err)
                )
            ) from None
        if not isinstance(patched, dict):
            raise StatusError(status.bad_request("the patched object is not a JSON object"))
        return patched

    return apply
