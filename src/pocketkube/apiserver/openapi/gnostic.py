"""The Swagger 2.0 document as a gnostic ``openapi.v2.Document`` protobuf.

client-go's ``OpenAPISchema()`` (kubectl's client-side validation of a ``kind: List``) asks for
``/openapi/v2`` in this encoding only. Upstream parses its JSON document with gnostic and
marshals the result; we write the same messages straight from the JSON-shaped document, with the
message and field numbers of gnostic's ``openapiv2/OpenAPIv2.proto``. As there, every ``x-``
key becomes a ``NamedAny`` whose ``Any.yaml`` holds the value's text (JSON, which is YAML), and
``default``, ``enum`` and ``example`` values travel the same way.

Each message is a table: JSON key -> (field number, how to write the value). Fields are written
in field-number order with proto3's rules: a zero scalar outside a ``oneof`` is left out, and a
message that is present is written even when empty (kube-openapi tells ``properties: {}`` from
no properties). Keys a message does not know are skipped; so are the parts of Swagger 2.0 our
documents never use (OAuth2 security schemes, file schemas, response headers, XML hints).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from pocketkube.apiserver.openapi.wire import FIXED64, VARINT, encode_varint, length_delimited, tag

Write = Callable[[int, Any], bytes]  # (field number, JSON value) -> the field's records
Encode = Callable[[Any], bytes]  # JSON value -> a message's bytes


# --- field writers ------------------------------------------------------------------------------


def _string(number: int, value: Any) -> bytes:
    return length_delimited(number, str(value).encode()) if value else b""


def _strings(number: int, value: Any) -> bytes:
    items = [value] if isinstance(value, str) else value
    return b"".join(length_delimited(number, str(item).encode()) for item in items)


def _bool(number: int, value: Any) -> bytes:
    return tag(number, VARINT) + b"\x01" if value is True else b""


def _int(number: int, value: Any) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value:
        return b""
    return tag(number, VARINT) + encode_varint(int(value))


def _double(number: int, value: Any) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value:
        return b""
    return tag(number, FIXED64) + struct.pack("<d", float(value))


def _any(number: int, value: Any) -> bytes:
    """An ``Any`` (``google.protobuf.Any value = 1; string yaml = 2``) holding ``value`` as YAML
    text: JSON, a subset of the YAML kube-openapi reads it with."""
    return length_delimited(number, length_delimited(2, orjson.dumps(value)))


def _anys(number: int, value: Any) -> bytes:
    return b"".join(_any(number, item) for item in value) if isinstance(value, list) else b""


def _sub(encode: Callable[[], Encode]) -> Write:
    """A present sub-message; ``encode`` is looked up late (a Schema holds Schemas)."""
    return lambda number, value: length_delimited(number, encode()(value))


def _repeated(encode: Callable[[], Encode]) -> Write:
    return lambda number, value: b"".join(length_delimited(number, encode()(v)) for v in value)


def _named(encode: Callable[[], Encode]) -> Encode:
    """A JSON object as the payload of gnostic's ``repeated Named<Value> ... = 1`` wrappers
    (Definitions, Properties, ...): one (name = 1, value = 2) pair per key."""

    def write(value: Any) -> bytes:
        if not isinstance(value, Mapping):
            return b""
        return b"".join(
            length_delimited(1, _string(1, name) + length_delimited(2, encode()(item)))
            for name, item in value.items()
        )

    return write


def _extensions(number: int, value: Mapping[str, Any]) -> bytes:
    """The ``x-`` keys of a JSON object as ``repeated NamedAny``."""
    return b"".join(
        length_delimited(number, _string(1, key) + _any(2, item))
        for key, item in value.items()
        if key.startswith("x-")
    )


def message(fields: Mapping[str, tuple[int, Write]], extensions: int | None = None) -> Encode:
    """An encoder for a message whose JSON keys map to ``fields``; ``x-`` keys go to the
    ``repeated NamedAny vendor_extension`` numbered ``extensions``."""
    table = dict(fields)

    def encode(value: Any) -> bytes:
        if not isinstance(value, Mapping):
            return b""
        # A schema has a handful of its thirty fields: walk the value, then order by number
        # (a stable sort keeps repeated extensions in document order).
        out: list[tuple[int, bytes]] = []
        for key, item in value.items():
            field = table.get(key)
            if field is not None:
                out.append((field[0], field[1](field[0], item)))
            elif extensions is not None and key.startswith("x-"):
                named = _string(1, key) + _any(2, item)
                out.append((extensions, length_delimited(extensions, named)))
        out.sort(key=_number)
        return b"".join(record for _, record in out)

    return encode


def _number(record: tuple[int, bytes]) -> int:
    return record[0]


# --- schemas ------------------------------------------------------------------------------------

_EXTERNAL_DOCS = message({"description": (1, _string), "url": (2, _string)}, 3)


def _additional_properties(value: Any) -> bytes:
    """AdditionalPropertiesItem: oneof schema = 1, boolean = 2 (a oneof's false is written)."""
    if isinstance(value, bool):
        return tag(2, VARINT) + encode_varint(int(value))
    return length_delimited(1, SCHEMA(value))


def _items(value: Any) -> bytes:
    """ItemsItem: repeated Schema schema = 1 (v2 allows one schema or a list of them)."""
    schemas = value if isinstance(value, list) else [value]
    return b"".join(length_delimited(1, SCHEMA(s)) for s in schemas)


def _type(value: Any) -> bytes:
    """TypeItem: repeated string value = 1."""
    return _strings(1, value)


_PROPERTIES: Encode = _named(lambda: SCHEMA)  # Properties and Definitions alike
SCHEMA: Encode = message(
    {
        "$ref": (1, _string),
        "format": (2, _string),
        "title": (3, _string),
        "description": (4, _string),
        "default": (5, _any),
        "multipleOf": (6, _double),
        "maximum": (7, _double),
        "exclusiveMaximum": (8, _bool),
        "minimum": (9, _double),
        "exclusiveMinimum": (10, _bool),
        "maxLength": (11, _int),
        "minLength": (12, _int),
        "pattern": (13, _string),
        "maxItems": (14, _int),
        "minItems": (15, _int),
        "uniqueItems": (16, _bool),
        "maxProperties": (17, _int),
        "minProperties": (18, _int),
        "required": (19, _strings),
        "enum": (20, _anys),
        "additionalProperties": (21, _sub(lambda: _additional_properties)),
        "type": (22, _sub(lambda: _type)),
        "items": (23, _sub(lambda: _items)),
        "allOf": (24, _repeated(lambda: SCHEMA)),
        "properties": (25, _sub(lambda: _PROPERTIES)),
        "discriminator": (26, _string),
        "readOnly": (27, _bool),
        "externalDocs": (29, _sub(lambda: _EXTERNAL_DOCS)),
        "example": (30, _any),
    },
    31,
)


# --- parameters and responses -------------------------------------------------------------------


def _primitive(first: int) -> dict[str, tuple[int, Write]]:
    """The run of fields every non-body parameter (and PrimitivesItems) has, from ``type``."""
    names: list[tuple[str, Write]] = [
        ("type", _string),
        ("format", _string),
        ("items", _sub(lambda: _PRIMITIVES_ITEMS)),
        ("collectionFormat", _string),
        ("default", _any),
        ("maximum", _double),
        ("exclusiveMaximum", _bool),
        ("minimum", _double),
        ("exclusiveMinimum", _bool),
        ("maxLength", _int),
        ("minLength", _int),
        ("pattern", _string),
        ("maxItems", _int),
        ("minItems", _int),
        ("uniqueItems", _bool),
        ("enum", _anys),
        ("multipleOf", _double),
    ]
    return {name: (first + i, write) for i, (name, write) in enumerate(names)}


_PRIMITIVES_ITEMS = message(_primitive(1), 18)
_JSON_REFERENCE = message({"$ref": (1, _string), "description": (2, _string)})
_BODY_PARAMETER = message(
    {
        "description": (1, _string),
        "name": (2, _string),
        "in": (3, _string),
        "required": (4, _bool),
        "schema": (5, _sub(lambda: SCHEMA)),
    },
    6,
)
_HEAD = {"required": (1, _bool), "in": (2, _string), "description": (3, _string)}
# Header and path parameters: name = 4, the primitive fields from 5, extensions at 22; query
# and formData parameters put allowEmptyValue at 5 and shift the rest by one.
_HEADER_OR_PATH = message({**_HEAD, "name": (4, _string), **_primitive(5)}, 22)
_QUERY_OR_FORM = message(
    {**_HEAD, "name": (4, _string), "allowEmptyValue": (5, _bool), **_primitive(6)}, 23
)
# NonBodyParameter's oneof, by ``in``.
_NON_BODY = {
    "header": (1, _HEADER_OR_PATH),
    "formData": (2, _QUERY_OR_FORM),
    "query": (3, _QUERY_OR_FORM),
    "path": (4, _HEADER_OR_PATH),
}


def _parameter(value: Any) -> bytes:
    """Parameter: oneof body_parameter = 1, non_body_parameter = 2."""
    if value.get("in") == "body":
        return length_delimited(1, _BODY_PARAMETER(value))
    number, encode = _NON_BODY.get(value.get("in", ""), _NON_BODY["query"])
    return length_delimited(2, length_delimited(number, encode(value)))


def _parameters_item(value: Any) -> bytes:
    """ParametersItem: oneof parameter = 1, json_reference = 2."""
    if "$ref" in value:
        return length_delimited(2, _JSON_REFERENCE(value))
    return length_delimited(1, _parameter(value))


def _parameters(number: int, value: Any) -> bytes:
    return b"".join(length_delimited(number, _parameters_item(p)) for p in value)


_RESPONSE = message(
    {
        "description": (1, _string),
        # SchemaItem: oneof schema = 1, file_schema = 2 (never used here).
        "schema": (2, lambda n, v: length_delimited(n, length_delimited(1, SCHEMA(v)))),
    },
    5,
)


def _response_value(value: Any) -> bytes:
    """ResponseValue: oneof response = 1, json_reference = 2."""
    if "$ref" in value:
        return length_delimited(2, _JSON_REFERENCE(value))
    return length_delimited(1, _RESPONSE(value))


def _responses(value: Any) -> bytes:
    """Responses: repeated NamedResponseValue response_code = 1, vendor_extension = 2."""
    codes = {k: v for k, v in value.items() if not k.startswith("x-")}
    return _named(lambda: _response_value)(codes) + _extensions(2, value)


# --- paths and the document ---------------------------------------------------------------------


def _security_requirement(value: Any) -> bytes:
    """SecurityRequirement: repeated NamedStringArray (StringArray: repeated string value = 1)."""
    return _named(lambda: _type)(value)


_OPERATION = message(
    {
        "tags": (1, _strings),
        "summary": (2, _string),
        "description": (3, _string),
        "externalDocs": (4, _sub(lambda: _EXTERNAL_DOCS)),
        "operationId": (5, _string),
        "produces": (6, _strings),
        "consumes": (7, _strings),
        "parameters": (8, _parameters),
        "responses": (9, _sub(lambda: _responses)),
        "schemes": (10, _strings),
        "deprecated": (11, _bool),
        "security": (12, _repeated(lambda: _security_requirement)),
    },
    13,
)
_PATH_ITEM = message(
    {
        "$ref": (1, _string),
        **{
            method: (number, _sub(lambda: _OPERATION))
            for number, method in enumerate(
                ("get", "put", "post", "delete", "options", "head", "patch"), start=2
            )
        },
        "parameters": (9, _parameters),
    },
    10,
)


def _paths(value: Any) -> bytes:
    """Paths: vendor_extension = 1, repeated NamedPathItem path = 2."""
    items = b"".join(
        length_delimited(2, _string(1, path) + length_delimited(2, _PATH_ITEM(item)))
        for path, item in value.items()
        if path.startswith("/")
    )
    return _extensions(1, value) + items


def _security_scheme(value: Any) -> bytes:
    """SecurityDefinitionsItem: oneof basic_authentication_security = 1, api_key_security = 2
    (the OAuth2 flows, 3-6, are not used by Kubernetes)."""
    if value.get("type") == "basic":
        basic = message({"type": (1, _string), "description": (2, _string)}, 3)
        return length_delimited(1, basic(value))
    return length_delimited(2, _API_KEY(value))


_API_KEY = message(
    {"type": (1, _string), "name": (2, _string), "in": (3, _string), "description": (4, _string)},
    5,
)
_INFO = message(
    {
        "title": (1, _string),
        "version": (2, _string),
        "description": (3, _string),
        "termsOfService": (4, _string),
    },
    7,
)
_TAG = message({"name": (1, _string), "description": (2, _string)}, 4)

DOCUMENT = message(
    {
        "swagger": (1, _string),
        "info": (2, _sub(lambda: _INFO)),
        "host": (3, _string),
        "basePath": (4, _string),
        "schemes": (5, _strings),
        "consumes": (6, _strings),
        "produces": (7, _strings),
        "paths": (8, _sub(lambda: _paths)),
        "definitions": (9, _sub(lambda: _PROPERTIES)),
        "parameters": (10, _sub(lambda: _named(lambda: _parameter))),
        "responses": (11, _sub(lambda: _named(lambda: _RESPONSE))),
        "security": (12, _repeated(lambda: _security_requirement)),
        "securityDefinitions": (13, _sub(lambda: _named(lambda: _security_scheme))),
        "tags": (14, _repeated(lambda: _TAG)),
        "externalDocs": (15, _sub(lambda: _EXTERNAL_DOCS)),
    },
    16,
)


def encode_document(document: Mapping[str, Any]) -> bytes:
    """The ``openapi.v2.Document`` protobuf of a Swagger 2.0 document (JSON-shaped)."""
    return DOCUMENT(document)
