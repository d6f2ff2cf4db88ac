"""``certificatesigningrequests/<name>/approval``: approving or denying a certificate request.

``kubectl certificate approve|deny`` reads the request, adds an ``Approved`` or ``Denied``
condition and PUTs the whole object here (the csrapproving controller does the same). The body
is a CertificateSigningRequest (a PUT, or a patch applied to the stored one); of it only
``status.conditions`` and the metadata are kept — the registry's approval path
(:mod:`pocketkube.apiserver.csrs`) puts the stored spec and certificate back and validates with
the power to add approval conditions. GET answers with the request, and so do the writes.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from aiohttp import web

from pocketkube.api import certificates, status
from pocketkube.api.status import OPTIMISTIC_LOCK_MESSAGE, StatusError
from pocketkube.apiserver import extensions, fieldmanager
from pocketkube.apiserver.extensions import SpecialRequest
from pocketkube.apiserver.query import dry_run
from pocketkube.apiserver.registry import ResourceRegistry
from pocketkube.apiserver.specialbody import read_object, reply
from pocketkube.apiserver.subresources.patching import read_patch
from pocketkube.storage.interface import Obj

NAME = "approval"
PLURAL = "certificatesigningrequests"
# The stored request -> the request the client wants.
Change = Callable[[Obj], Obj]


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
        raise StatusError(
            status.conflict(PLURAL, name, OPTIMISTIC_LOCK_MESSAGE, certificates.GROUP)
        )


async def _write(special: SpecialRequest, csrs: ResourceRegistry, change: Change) -> Obj:
    name = special.info.name

    async def mutate(current: Obj) -> Obj:
        desired = change(copy.deepcopy(current))
        _check_meta(desired, current, name)
        if not isinstance(desired.get("metadata"), dict):
            desired["metadata"] = {}
        return desired

    return await csrs.for_subresource(NAME).update(
        "", name, mutate, dry_run=dry_run(special.request.query)
    )


async def handle(special: SpecialRequest) -> web.StreamResponse:
    """GET, PUT and PATCH (JSON, merge, strategic) of a request's approval conditions."""
    csrs, info = special.registry, special.info
    if csrs is None or not info.name or special.resource.plural != PLURAL:
        raise StatusError(status.method_not_supported(f"{info.resource}/{NAME}", info.verb))
    if info.verb == "get":
        return reply(await csrs.get("", info.name), 200)
    if info.verb == "update":
        fieldmanager.validate_manager(special.request.query, "UpdateOptions")
        wanted = await read_object(
            special, api_version=certificates.API_VERSION, kind=certificates.KIND
        )
        return reply(await _write(special, csrs, lambda _: copy.deepcopy(wanted)), 200)
    if info.verb == "patch":
        fieldmanager.validate_patch_options(special.request.query, apply_patch=False)
        patched = await read_patch(special, kind=certificates.KIND)
        return reply(await _write(special, csrs, patched), 200)
    raise StatusError(
        status.method_not_supported(f"{PLURAL}/{NAME}", info.verb, certificates.GROUP)
    )


def install() -> None:
    extensions.SUBRESOURCES[NAME] = handle
