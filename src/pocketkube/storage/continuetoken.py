"""List continue tokens, in the wire format of ``k8s.io/apiserver/pkg/storage/continue.go``.

A token is unpadded URL-safe base64 of ``{"v":"meta.k8s.io/v1","rv":<revision>,"start":<key>}``
where ``start`` is the next key to read, relative to the listed prefix. Every page is read at
``rv``, which keeps a paged list consistent; once ``rv`` is compacted the token is Expired (410).
"""

from __future__ import annotations

import base64
import binascii

import orjson

from pocketkube.storage.errors import InvalidRequest

TOKEN_VERSION = "meta.k8s.io/v1"


def encode_continue(key: str, prefix: str, revision: int) -> str:
    """A token resuming the list of ``prefix`` at ``key`` as of ``revision``."""
    relative = key[len(prefix) :] if key.startswith(prefix) else key
    raw = orjson.dumps({"v": TOKEN_VERSION, "rv": revision, "start": relative})
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_continue(token: str, prefix: str) -> tuple[str, int]:
    """(next key, revision) from a token; InvalidRequest (400) for anything malformed."""
    try:
        padded = token + "=" * (-len(token) % 4)
        data = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, orjson.JSONDecodeError, UnicodeEncodeError) as err:
        raise InvalidRequest(f"continue key is not valid: {err}") from None
    if not isinstance(data, dict) or data.get("v") != TOKEN_VERSION:
        raise InvalidRequest("continue key is not valid: incorrect encoded start resourceVersion")
    revision = data.get("rv")
    start = data.get("start")
    if not isinstance(revision, int) or isinstance(revision, bool) or revision <= 0:
        raise InvalidRequest("continue key is not valid: incorrect encoded start resourceVersion")
    if not isinstance(start, str) or not start:
        raise InvalidRequest("continue key is not valid: encoded start key empty")
    # The start key must stay inside the listed prefix: no absolute path, no '.' or '..' segment
    # (names such as "a..b" are fine).
    if start.startswith("/") or any(part in (".", "..") for part in start.split("/")):
        raise InvalidRequest(f"continue key is not valid: {start!r} leaves the listed prefix")
    return prefix + start, revision
