"""Response formats a client can ask for in its Accept header.

kubectl asks for ``application/json;as=Table;v=v1;g=meta.k8s.io`` first and plain JSON after
it; protobuf-first Accept headers list JSON too, and JSON is what we answer.
``as=PartialObjectMetadata`` (and its List) is what metadata-only informers ask for.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Wanted:
    table: bool = False
    partial_metadata: bool = False


def _params(media: str) -> dict[str, str]:
    params = {}
    for part in media.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        params[key.strip().lower()] = value.strip()
    return params


def negotiate(accept: str) -> Wanted:
    """The first form in ``accept`` that we serve; plain JSON when none is special."""
    for media in accept.split(","):
        kind = media.split(";", 1)[0].strip().lower()
        if kind not in ("application/json", "*/*", "application/*"):
            continue
        params = _params(media)
        shape = params.get("as", "")
        if not shape:
            return Wanted()
        if params.get("g") != "meta.k8s.io" or params.get("v") not in ("v1", "v1beta1"):
            continue
        if shape == "Table":
            return Wanted(table=True)
        if shape in ("PartialObjectMetadata", "PartialObjectMetadataList"):
            return Wanted(partial_metadata=True)
    return Wanted()
