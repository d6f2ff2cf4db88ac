"""Reading request bodies safely: size limits, content types, and JSON/YAML that cannot hurt us.

Every failure here is the client's and becomes a Status: 413 for a body over the limit (refused
from Content-Length before anything is read, or as soon as a chunked upload passes it), 415 for a
content type the verb does not accept, 400 for bodies that are not JSON/YAML objects (truncated,
invalid UTF-8, NaN, integers beyond 64 bits, nesting beyond a depth no real object has). YAML is
loaded with the safe loader and without aliases, so "billion laughs" documents are refused at once,
and its nesting is capped while it is scanned: PyYAML's scanner walks every open flow collection on
each token, so 10,000 ``[`` cost it over a second of the event loop before the composer's recursion
failed.
"""

from __future__ import annotations

from typing import Any

import orjson
import yaml
from aiohttp import web

from pocketkube.api import status
from pocketkube.api.status import StatusError

MAX_BODY_BYTES = 3 * 1024 * 1024
MAX_DEPTH = 100

JSON = "application/json"
YAML = "application/yaml"
PROTOBUF = "application/vnd.kubernetes.protobuf"
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

OBJECT_TYPES = (JSON, YAML)
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH)


def media_type(request: web.Request) -> str:
    return request.headers.get("Content-Type", JSON).split(";", 1)[0].strip().lower() or JSON


async def read_body(request: web.Request, *, limit: int = MAX_BODY_BYTES) -> bytes:
    """The whole body, or 413 once it passes ``limit`` (before reading it when declared)."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise StatusError(status.request_entity_too_large(_too_large(limit)))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise StatusError(status.request_entity_too_large(_too_large(limit)))
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> str:
    return f"the request body is larger than the limit of {limit} bytes"


def parse_document(raw: bytes, kind: str) -> Any:
    """``raw`` as JSON (or YAML when ``kind`` is YAML / apply-patch), or a 400 Status."""
    if kind in (YAML, APPLY_PATCH):
        if raw.lstrip()[:1] in (b"{", b"["):
            # JSON is YAML, and what kubectl and client libraries send even as apply-patch+yaml:
            # the C parser first, the pure-Python YAML one only for what is not JSON.
            try:
                doc = orjson.loads(raw)
            except orjson.JSONDecodeError:
                return _parse_yaml(raw)
            _check_depth(doc, raw)
            return doc
        return _parse_yaml(raw)
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise StatusError(status.bad_request(f"error decoding JSON body: {err}")) from None
    _check_depth(doc, raw)
    return doc


def parse_object(raw: bytes, kind: str) -> dict[str, Any]:
    doc = parse_document(raw, kind)
    if not isinstance(doc, dict):
        raise StatusError(status.bad_request("the request body must be a JSON object"))
    return doc


class _NoAliasLoader(yaml.SafeLoader):
    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases are not supported", event.start_mark
            )
        return super().compose_node(parent, index)

    # Open flow collections ('[', '{') and block collections (indents) are the nesting the
    # scanner knows of; refusing past MAX_DEPTH there keeps scanning linear and composing
    # (recursive) shallow.
    def fetch_flow_collection_start(self, token_class: Any) -> None:
        if self.flow_level + len(self.indents) >= MAX_DEPTH:
            raise _too_deep()
        super().fetch_flow_collection_start(token_class)

    def add_indent(self, column: int) -> bool:
        added = super().add_indent(column)
        if added and len(self.indents) > MAX_DEPTH:
            raise _too_deep()
        return bool(added)


def _parse_yaml(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
        doc = yaml.load(text, Loader=_NoAliasLoader)  # a SafeLoader subclass
    except (UnicodeDecodeError, yaml.YAMLError, RecursionError) as err:
        raise StatusError(status.bad_request(f"error decoding YAML body: {err}")) from None
    _check_depth(doc)
    # YAML can carry what JSON cannot (dates, big integers, NaN): insist on a JSON round trip.
    try:
        result: Any = orjson.loads(orjson.dumps(doc))
    except (TypeError, orjson.JSONEncodeError) as err:
        raise StatusError(status.bad_request(f"error decoding YAML body: {err}")) from None
    return result


def _check_depth(doc: Any, raw: bytes | None = None) -> None:
    """400 when some value of ``doc`` lies more than MAX_DEPTH containers deep. A JSON text with
    no more than MAX_DEPTH opening brackets in all cannot (most request bodies): not walked."""
    if raw is not None and raw.count(b"{") + raw.count(b"[") <= MAX_DEPTH:
        return
    if isinstance(doc, (dict, list)) and _nested_too_deep(doc, 0):
        raise _too_deep()


def _nested_too_deep(node: dict[str, Any] | list[Any], depth: int) -> bool:
    """Whether a value below ``node`` (a container ``depth`` deep) is deeper than MAX_DEPTH."""
    if not node:
        return False
    if depth >= MAX_DEPTH:
        return True  # its values are MAX_DEPTH + 1 deep
    values = node.values() if isinstance(node, dict) else node
    for value in values:
        if isinstance(value, (dict, list)) and _nested_too_deep(value, depth + 1):
            return True
    return False


def _too_deep() -> StatusError:
    return StatusError(status.bad_request("the request body is nested too deeply"))
