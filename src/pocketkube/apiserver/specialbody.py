"""Request and reply bodies for the extensions (subresources and virtual resources).

Their bodies are not the addressed resource's kind (``serviceaccounts/token`` takes a
TokenRequest), and kubectl sends several of them in protobuf, so each extension says what it
expects and gets the same JSON object whichever encoding arrived.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from pocketkube.api import status
from pocketkube.api.status import StatusError
from pocketkube.apiserver import body as bodies
from pocketkube.apiserver import protobuf
from pocketkube.apiserver.extensions import SpecialRequest


async def read_object(special: SpecialRequest, *, api_version: str, kind: str) -> dict[str, Any]:
    """The body as a JSON object of ``api_version``/``kind`` (400 for another kind)."""
    request = special.request
    media = bodies.media_type(request)
    raw = await bodies.read_body(request)
    if media == bodies.PROTOBUF:
        try:
            obj = protobuf.decode_kubernetes_protobuf(raw, expected=(api_version, kind))
        except protobuf.UnsupportedProtobufKind:
            raise StatusError(status.unsupported_media_type(bodies.OBJECT_TYPES)) from None
        except protobuf.MalformedProtobuf as err:
            raise StatusError(status.bad_request(str(err))) from None
    elif media in bodies.OBJECT_TYPES:
        obj = bodies.parse_object(raw, media)
    else:
        raise StatusError(status.unsupported_media_type(bodies.OBJECT_TYPES))
    given_version, given_kind = obj.get("apiVersion"), obj.get("kind")
    if (given_version and given_version != api_version) or (given_kind and given_kind != kind):
        raise StatusError(
            status.bad_request(
                f"the body of the request must be a {kind} of {api_version}, "
                f"not {given_kind or '?'} of {given_version or '?'}"
            )
        )
    obj["apiVersion"], obj["kind"] = api_version, kind
    if not isinstance(obj.get("metadata"), dict):
        obj["metadata"] = {}
    return obj


def reply(obj: Any, code: int = 201) -> web.Response:
    return web.Response(status=code, body=orjson.dumps(obj), content_type="application/json")
