"""OpenAPI: ``/openapi/v3`` (the index) with one document per served group-version, and
``/openapi/v2``, the Swagger 2.0 document of everything served.

kubectl fetches the v3 index, then the document of each group-version it touches: ``create``,
``apply`` and ``replace`` look there for a ``fieldValidation`` parameter on the kind's PATCH
(then they leave validation to the server), client-side ``apply`` takes its strategic-merge keys
from the schemas, and ``explain`` prints them. The schemas are our own generated data
(``table``); the documents around them are built from the catalog (``documents``) on first
request and cached until the catalog changes. The index carries a content hash in each URL, as
upstream does, so clients may cache a document for as long as its hash stays the same.

kubectl still reads v2 for one thing: the items of a ``kind: List`` are validated client-side
against the models of ``/openapi/v2``, fetched as gnostic protobuf. That document is derived
from the v3 ones (``swagger``), encoded by ``gnostic`` and served with kube-openapi's content
negotiation and validators (``v2``), built lazily and cached the same way.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import orjson
from aiohttp import web

from pocketkube.apiserver.openapi.documents import (
    CatalogSignature,
    CustomSchema,
    catalog_signature,
    document_key,
    group_version_document,
)
from pocketkube.apiserver.resources import Catalog

if TYPE_CHECKING:
    from pocketkube.apiserver.openapi.v2 import SwaggerDocument

__all__ = ["OpenAPIDocuments", "add_openapi_routes"]


class OpenAPIDocuments:
    """The encoded documents and their hashes, rebuilt when the catalog's resources change."""

    def __init__(self, catalog: Catalog, custom: CustomSchema | None = None) -> None:
        self._catalog = catalog
        self._custom = custom
        self._signature: CatalogSignature = ()
        self._bodies: dict[str, bytes | None] = {}
        self._hashes: dict[str, str] = {}

    def _refresh(self) -> None:
        signature = catalog_signature(self._catalog, self._custom)
        if signature != self._signature:
            self._signature = signature
            self._bodies = {}
            self._hashes = {}

    def document_keys(self) -> list[str]:
        self._refresh()
        return [document_key(gv.group, gv.version) for gv in self._catalog.group_versions()]

    def body(self, key: str) -> bytes | None:
        """The JSON of the document at ``api/v1`` or ``apis/<group>/<version>``; None if none."""
        self._refresh()
        if key not in self._bodies:
            self._bodies[key] = self._build(key)
        return self._bodies[key]

    def hash(self, key: str) -> str | None:
        body = self.body(key)
        if body is None:
            return None
        if key not in self._hashes:
            self._hashes[key] = hashlib.sha512(body).hexdigest()[:128].upper()
        return self._hashes[key]

    def index(self) -> dict[str, dict[str, dict[str, str]]]:
        paths = {}
        for key in self.document_keys():
            digest = self.hash(key)
            if digest is not None:
                paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
        return {"paths": paths}

    def _build(self, key: str) -> bytes | None:
        parts = key.split("/")
        if parts[0] == "api" and len(parts) == 2:
            group, version = "", parts[1]
        elif parts[0] == "apis" and len(parts) == 3:
            group, version = parts[1], parts[2]
        else:
            return None
        doc = group_version_document(self._catalog, group, version, self._custom)
        return None if doc is None else orjson.dumps(doc)


def add_openapi_routes(
    app: web.Application, catalog: Catalog, custom: CustomSchema | None = None
) -> None:
    documents = OpenAPIDocuments(catalog, custom)
    swagger: list[SwaggerDocument] = []

    async def index(request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(documents.index()), content_type="application/json")

    async def document(request: web.Request) -> web.Response:
        key = request.match_info["path"].strip("/")
        body = documents.body(key)
        digest = documents.hash(key)
        if body is None or digest is None:
            raise web.HTTPNotFound()
        etag = f'"{digest}"'
        immutable = request.query.get("hash") == digest
        headers = {
            "ETag": etag,
            "Cache-Control": "public, immutable" if immutable else "no-cache, private",
        }
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers=headers)
        return web.Response(body=body, content_type="application/json", headers=headers)

    async def swagger_v2(request: web.Request) -> web.Response:
        # Imported on first use: few clients ever ask, and the server's cold start should not
        # pay for the v2 modules.
        from pocketkube.apiserver.openapi import v2

        if not swagger:
            swagger.append(v2.SwaggerDocument(catalog, custom))
        return await v2.serve(request, swagger[0])

    app.router.add_get("/openapi/v3", index)
    app.router.add_get("/openapi/v3/", index)
    app.router.add_get("/openapi/v3/{path:.+}", document)
    app.router.add_get("/openapi/v2", swagger_v2)
