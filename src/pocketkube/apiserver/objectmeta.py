"""The metadata the API server owns: what it sets on create and keeps on update.

As upstream's ``rest.BeforeCreate`` / ``rest.BeforeUpdate``: the server assigns ``uid`` and
``creationTimestamp``, expands ``generateName``, starts ``generation`` at 1 for objects with a
spec and bumps it only when the spec changes, and refuses to let an update rewrite any of these.
"""

from __future__ import annotations

import os
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from pocketkube.api import status
from pocketkube.api.jsoncopy import json_copy
from pocketkube.api.status import StatusError
from pocketkube.api.timestamps import second_text

# Upstream's generator alphabet leaves out vowels and look-alike characters (no words, no 0/O).
GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
GENERATED_SUFFIX = 5
MAX_NAME_LENGTH = 63
SERVER_OWNED = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds")


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_rfc3339() -> str:
    return second_text(int(time.time())) + "Z"


def new_uid() -> str:
    """A random (version 4) UUID as text, as ``str(uuid.uuid4())`` without the UUID object."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def generate_name(base: str) -> str:
    base = base[: MAX_NAME_LENGTH - GENERATED_SUFFIX]
    return base + "".join(secrets.choice(GENERATE_ALPHABET) for _ in range(GENERATED_SUFFIX))


def metadata_of(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    if meta is None:
        meta = obj["metadata"] = {}
    if not isinstance(meta, dict):
        raise StatusError(status.bad_request("metadata must be an object"))
    return meta


def prepare_for_create(
    obj: dict[str, Any], *, api_version: str, kind: str, namespace: str, namespaced: bool
) -> dict[str, Any]:
    obj = json_copy(obj)
    obj["apiVersion"], obj["kind"] = api_version, kind
    meta = metadata_of(obj)
    if meta.get("generateName") and not meta.get("name"):
        meta["name"] = generate_name(str(meta["generateName"]))
    if namespaced:
        given = meta.get("namespace") or namespace
        if given != namespace:
            raise StatusError(
                status.bad_request(
                    "the namespace of the provided object does not match the namespace sent on "
                    "the request"
                )
            )
        meta["namespace"] = namespace
    else:
        meta.pop("namespace", None)
    for field in (*SERVER_OWNED, "resourceVersion", "selfLink"):
        meta.pop(field, None)
    meta["uid"] = new_uid()
    meta["creationTimestamp"] = now_rfc3339()
    if "spec" in obj:
        meta["generation"] = 1
    else:
        meta.pop("generation", None)
    return obj


def prepare_for_update(
    new: dict[str, Any], old: dict[str, Any], *, api_version: str, kind: str
) -> dict[str, Any]:
    """``new`` with the server-owned metadata of ``old``; 409 if it claims another uid."""
    new = json_copy(new)
    new["apiVersion"], new["kind"] = api_version, kind
    meta, old_meta = metadata_of(new), old["metadata"]
    if meta.get("uid") and meta["uid"] != old_meta.get("uid"):
        raise StatusError(
            status.conflict(
                "",
                str(old_meta.get("name", "")),
                f"Precondition failed: UID in precondition: {meta['uid']}, "
                f"UID in object meta: {old_meta.get('uid', '')}",
            )
        )
    for field in (*SERVER_OWNED, "namespace", "name", "generation"):
        if field in old_meta:
            meta[field] = old_meta[field]
        else:
            meta.pop(field, None)
    if "spec" in new and new.get("spec") != old.get("spec"):
        meta["generation"] = int(old_meta.get("generation", 0)) + 1
    return new
