"""How objects become stored values and back.

Values are compact JSON without ``metadata.resourceVersion``: the version is the datastore's
revision and is set on every decoded object from the key's ``mod_revision`` (Kubernetes'
``APIObjectVersioner``), so a value never disagrees with its own version.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from pocketkube.storage.errors import InvalidObject, InvalidRequest
from pocketkube.storage.interface import Obj

# Revisions are signed 64-bit integers in etcd and SQLite; one below the top leaves room for +1.
MAX_REVISION = 2**63 - 2


def encode(obj: Obj) -> bytes:
    """The stored form: ``obj`` without its resourceVersion (the caller's dict is not changed)."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        raise InvalidObject("object has no metadata")
    if "resourceVersion" in meta:
        obj = {**obj, "metadata": {k: v for k, v in meta.items() if k != "resourceVersion"}}
    try:
        return orjson.dumps(obj)
    except TypeError as err:
        raise InvalidObject(f"object cannot be encoded as JSON: {err}") from None


def decode(value: bytes, revision: int) -> Obj:
    """A stored value as an object whose resourceVersion is ``revision``."""
    try:
        obj: Any = orjson.loads(value)
    except orjson.JSONDecodeError as err:
        raise InvalidObject(f"stored value is not JSON: {err}") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict):
        raise InvalidObject("stored value is not an object with metadata")
    obj["metadata"]["resourceVersion"] = str(revision)
    return obj


# A stored value as ``encode`` writes it: apiVersion and kind (either, both or neither, as plain
# strings) and then metadata. Up to there every key is at the top level, so the metadata found is
# the object's own and not, say, a pod template's.
_METADATA_OPENING = re.compile(rb'\{(?:"(?:apiVersion|kind)":"[^"\\]*",){0,2}"metadata":\{')


def encode_with_resource_version(value: bytes, revision: int) -> bytes:
    """The JSON of ``decode(value, revision)`` without decoding when the layout allows it: the
    resourceVersion spliced into the stored bytes (a LIST of 10,000 objects is then a join)."""
    opening = _METADATA_OPENING.match(value)
    if opening is None or b'"resourceVersion"' in value:
        return orjson.dumps(decode(value, revision))
    end = opening.end()
    field = b'"resourceVersion":"%d"' % revision
    separator = b"" if value[end : end + 1] == b"}" else b","
    return b"".join((value[:end], field, separator, value[end:]))


def with_resource_version(obj: Obj, revision: int) -> Obj:
    """A shallow copy of ``obj`` whose resourceVersion is ``revision``."""
    return {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(revision)}}


def parse_resource_version(value: str, *, what: str = "resourceVersion") -> int:
    """A resourceVersion string as a revision; InvalidRequest for anything but digits."""
    if value == "":
        return 0
    if not value.isdigit() or len(value) > 19 or int(value) > MAX_REVISION:
        raise InvalidRequest(f"invalid {what}: {value!r}")
    return int(value)
