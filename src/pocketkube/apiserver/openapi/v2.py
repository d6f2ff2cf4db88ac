"""``GET /openapi/v2``: the Swagger 2.0 document, as JSON or as gnostic protobuf.

Content negotiation, validators and caching follow kube-openapi's handler (``pkg/handler``):
the ``Accept`` clauses, sorted by quality and specificity, are tried in order against JSON,
the deprecated ``...spec.v2@v1.0+protobuf`` and ``...spec.v2.v1.0+protobuf`` (both answered as
the latter); nothing acceptable is 406. Both encodings share one ETag, the uppercase hex
SHA-512 of the JSON, and ``Last-Modified`` is when the document last changed; Go's
``http.ServeContent`` then answers ``If-None-Match`` (or, without it, ``If-Modified-Since``)
with 304. Bodies are gzip-compressed for clients that ask, as upstream's gzip handler does.

Nothing is built at startup: the first request builds the JSON (and the protobuf, when asked
for), and both stay cached until the catalog changes (a CRD added, changed or removed).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from email.utils import formatdate, parsedate_to_datetime
from typing import Any

import orjson
from aiohttp import web
from isal import igzip

from pocketkube.apiserver.compression import accepts_gzip
from pocketkube.apiserver.openapi.documents import CustomSchema, catalog_signature
from pocketkube.apiserver.openapi.gnostic import encode_document
from pocketkube.apiserver.openapi.swagger import swagger_document
from pocketkube.apiserver.resources import Catalog

JSON = "application/json"
PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
PROTOBUF_DEPRECATED = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
# (type, subtype) served, in kube-openapi's order, with the Content-Type each is answered with.
SERVED = (
    ("application", "json", JSON),
    ("application", PROTOBUF_DEPRECATED.split("/")[1], PROTOBUF),
    ("application", PROTOBUF.split("/")[1], PROTOBUF),
)


class SwaggerDocument:
    """The encoded v2 document, rebuilt when the catalog's resources change."""

    def __init__(
        self,
        catalog: Catalog,
        custom: CustomSchema | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._catalog = catalog
        self._custom = custom
        self._clock = clock
        self._signature: object = None
        self._document: dict[str, Any] | None = None
        self._bodies: dict[tuple[str, bool], bytes] = {}  # (content type, gzipped) -> body
        self._etag = ""
        self.last_modified = 0.0

    def _refresh(self) -> None:
        signature = catalog_signature(self._catalog, self._custom)
        if signature != self._signature:
            self._signature = signature
            self._document = None
            self._bodies = {}
            self.last_modified = float(int(self._clock()))  # HTTP dates have whole seconds

    def document(self) -> dict[str, Any]:
        self._refresh()
        if self._document is None:
            self._document = swagger_document(self._catalog, self._custom)
        return self._document

    def body(self, content_type: str = JSON, *, gzipped: bool = False) -> bytes:
        document = self.document()
        key = (content_type, gzipped)
        if key not in self._bodies:
            if gzipped:
                self._bodies[key] = igzip.compress(self.body(content_type), compresslevel=1)
            elif content_type == JSON:
                self._bodies[key] = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
                self._etag = hashlib.sha512(self._bodies[key]).hexdigest().upper()
            else:  # from the JSON, as upstream: same order, same values
                self._bodies[key] = encode_document(orjson.loads(self.body(JSON)))
        return self._bodies[key]

    def etag(self) -> str:
        self.body(JSON)
        return self._etag


def negotiate(accept: str) -> str | None:
    """The Content-Type to answer ``accept`` with (goautoneg's parse and order, kube-openapi's
    matching: a clause's parameters other than ``q`` are ignored, even ``q=0`` matches)."""
    clauses: list[tuple[float, bool, bool, str, str]] = []
    for part in (accept or "*/*").split(","):
        media, *params = part.strip().split(";")
        kind, _, subtype = media.strip().partition("/")
        kind, subtype = kind.strip(), subtype.strip()
        if not subtype:
            if kind != "*" or "/" in media:
                continue
            subtype = "*"
        quality = 1.0
        for param in params:
            name, eq, value = param.partition("=")
            if eq and name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        clauses.append((-quality, kind == "*", subtype == "*", kind, subtype))
    for *_, kind, subtype in sorted(clauses, key=lambda c: c[:3]):
        for served_type, served_subtype, content_type in SERVED:
            if kind in (served_type, "*") and subtype in (served_subtype, "*"):
                return content_type
    return None


def _not_modified(request: web.Request, etag: str, last_modified: float) -> bool:
    """Go's ``http.ServeContent`` preconditions for a GET: If-None-Match (weak comparison,
    ``*`` matches), or, only when that is absent, If-Modified-Since."""
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        for candidate in if_none_match.split(","):
            candidate = candidate.strip()
            if candidate == "*" or candidate.removeprefix("W/") == f'"{etag}"':
                return True
        return False
    since = request.headers.get("If-Modified-Since")
    if since is None or request.method not in ("GET", "HEAD"):
        return False
    try:
        return last_modified <= parsedate_to_datetime(since).timestamp()
    except (TypeError, ValueError):
        return False


async def serve(request: web.Request, document: SwaggerDocument) -> web.Response:
    content_type = negotiate(request.headers.get("Accept", ""))
    if content_type is None:
        return web.Response(status=406, headers={"Vary": "Accept"})
    etag = document.etag()
    headers = {
        "Vary": "Accept",
        "ETag": f'"{etag}"',
        "Last-Modified": formatdate(document.last_modified, usegmt=True),
    }
    if _not_modified(request, etag, document.last_modified):
        del headers["Last-Modified"]  # as Go's writeNotModified, when there is an ETag
        return web.Response(status=304, headers=headers)
    gzipped = accepts_gzip(request.headers.get("Accept-Encoding", ""))
    if gzipped:
        headers["Content-Encoding"] = "gzip"
        headers["Vary"] = "Accept, Accept-Encoding"
    body = document.body(content_type, gzipped=gzipped)
    headers["Content-Type"] = content_type
    return web.Response(body=body, headers=headers)
