"""The protobuf side of ``/openapi/v2``: our wire encoder, and the gnostic document it writes,
parsed by the real protobuf runtime against descriptors of gnostic's ``openapi.v2`` messages.

The descriptors below carry the field names and numbers of gnostic's
``openapiv2/OpenAPIv2.proto`` for the messages our document uses (header and formData
parameters, OAuth2 schemes, file schemas and XML hints are left out: we never write them, so
any such field in our output would show up as an unknown field and fail the round trip).
"""

from __future__ import annotations

import struct
from functools import cache
from typing import Any

import orjson
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from pocketkube.apiserver.openapi.gnostic import encode_document
from pocketkube.apiserver.openapi.swagger import swagger_document
from pocketkube.apiserver.openapi.wire import encode_varint, length_delimited, tag
from pocketkube.apiserver.protobuf.wire import (
    FIXED64,
    LENGTH_DELIMITED,
    VARINT,
    iter_fields,
    read_varint,
    to_signed64,
)
from pocketkube.apiserver.resources import builtin_catalog
from tests.unit.apiserver.test_openapi_v2 import CRONTAB

S, B, INT, D = "string", "bool", "int64", "double"
ONEOF = "oneof"

# message -> [(field, number, type (a message name, "*" for repeated), oneof?)]
MESSAGES: dict[str, list[tuple[Any, ...]]] = {
    "Any": [("yaml", 2, S)],
    "NamedAny": [("name", 1, S), ("value", 2, "Any")],
    "Info": [
        ("title", 1, S),
        ("version", 2, S),
        ("description", 3, S),
        ("vendor_extension", 7, "NamedAny*"),
    ],
    "TypeItem": [("value", 1, "string*")],
    "ItemsItem": [("schema", 1, "Schema*")],
    "NamedSchema": [("name", 1, S), ("value", 2, "Schema")],
    "Properties": [("additional_properties", 1, "NamedSchema*")],
    "Definitions": [("additional_properties", 1, "NamedSchema*")],
    "AdditionalPropertiesItem": [("schema", 1, "Schema", ONEOF), ("boolean", 2, B, ONEOF)],
    "Schema": [
        ("_ref", 1, S),
        ("format", 2, S),
        ("title", 3, S),
        ("description", 4, S),
        ("default", 5, "Any"),
        ("multiple_of", 6, D),
        ("maximum", 7, D),
        ("exclusive_maximum", 8, B),
        ("minimum", 9, D),
        ("exclusive_minimum", 10, B),
        ("max_length", 11, INT),
        ("min_length", 12, INT),
        ("pattern", 13, S),
        ("max_items", 14, INT),
        ("min_items", 15, INT),
        ("unique_items", 16, B),
        ("max_properties", 17, INT),
        ("min_properties", 18, INT),
        ("required", 19, "string*"),
        ("enum", 20, "Any*"),
        ("additional_properties", 21, "AdditionalPropertiesItem"),
        ("type", 22, "TypeItem"),
        ("items", 23, "ItemsItem"),
        ("all_of", 24, "Schema*"),
        ("properties", 25, "Properties"),
        ("discriminator", 26, S),
        ("read_only", 27, B),
        ("example", 30, "Any"),
        ("vendor_extension", 31, "NamedAny*"),
    ],
    "JsonReference": [("_ref", 1, S), ("description", 2, S)],
    "BodyParameter": [
        ("description", 1, S),
        ("name", 2, S),
        ("in", 3, S),
        ("required", 4, B),
        ("schema", 5, "Schema"),
        ("vendor_extension", 6, "NamedAny*"),
    ],
    "QueryParameterSubSchema": [
        ("required", 1, B),
        ("in", 2, S),
        ("description", 3, S),
        ("name", 4, S),
        ("allow_empty_value", 5, B),
        ("type", 6, S),
        ("format", 7, S),
        ("unique_items", 20, B),
        ("vendor_extension", 23, "NamedAny*"),
    ],
    "PathParameterSubSchema": [
        ("required", 1, B),
        ("in", 2, S),
        ("description", 3, S),
        ("name", 4, S),
        ("type", 5, S),
        ("format", 6, S),
        ("unique_items", 19, B),
        ("vendor_extension", 22, "NamedAny*"),
    ],
    "NonBodyParameter": [
        ("query_parameter_sub_schema", 3, "QueryParameterSubSchema", ONEOF),
        ("path_parameter_sub_schema", 4, "PathParameterSubSchema", ONEOF),
    ],
    "Parameter": [
        ("body_parameter", 1, "BodyParameter", ONEOF),
        ("non_body_parameter", 2, "NonBodyParameter", ONEOF),
    ],
    "ParametersItem": [
        ("parameter", 1, "Parameter", ONEOF),
        ("json_reference", 2, "JsonReference", ONEOF),
    ],
    "SchemaItem": [("schema", 1, "Schema", ONEOF)],
    "Response": [
        ("description", 1, S),
        ("schema", 2, "SchemaItem"),
        ("vendor_extension", 5, "NamedAny*"),
    ],
    "ResponseValue": [
        ("response", 1, "Response", ONEOF),
        ("json_reference", 2, "JsonReference", ONEOF),
    ],
    "NamedResponseValue": [("name", 1, S), ("value", 2, "ResponseValue")],
    "Responses": [
        ("response_code", 1, "NamedResponseValue*"),
        ("vendor_extension", 2, "NamedAny*"),
    ],
    "Operation": [
        ("tags", 1, "string*"),
        ("summary", 2, S),
        ("description", 3, S),
        ("operation_id", 5, S),
        ("produces", 6, "string*"),
        ("consumes", 7, "string*"),
        ("parameters", 8, "ParametersItem*"),
        ("responses", 9, "Responses"),
        ("schemes", 10, "string*"),
        ("deprecated", 11, B),
        ("vendor_extension", 13, "NamedAny*"),
    ],
    "PathItem": [
        ("_ref", 1, S),
        ("get", 2, "Operation"),
        ("put", 3, "Operation"),
        ("post", 4, "Operation"),
        ("delete", 5, "Operation"),
        ("options", 6, "Operation"),
        ("head", 7, "Operation"),
        ("patch", 8, "Operation"),
        ("parameters", 9, "ParametersItem*"),
        ("vendor_extension", 10, "NamedAny*"),
    ],
    "NamedPathItem": [("name", 1, S), ("value", 2, "PathItem")],
    "Paths": [("vendor_extension", 1, "NamedAny*"), ("path", 2, "NamedPathItem*")],
    "StringArray": [("value", 1, "string*")],
    "NamedStringArray": [("name", 1, S), ("value", 2, "StringArray")],
    "SecurityRequirement": [("additional_properties", 1, "NamedStringArray*")],
    "ApiKeySecurity": [
        ("type", 1, S),
        ("name", 2, S),
        ("in", 3, S),
        ("description", 4, S),
        ("vendor_extension", 5, "NamedAny*"),
    ],
    "SecurityDefinitionsItem": [("api_key_security", 2, "ApiKeySecurity", ONEOF)],
    "NamedSecurityDefinitionsItem": [("name", 1, S), ("value", 2, "SecurityDefinitionsItem")],
    "SecurityDefinitions": [("additional_properties", 1, "NamedSecurityDefinitionsItem*")],
    "Document": [
        ("swagger", 1, S),
        ("info", 2, "Info"),
        ("host", 3, S),
        ("base_path", 4, S),
        ("schemes", 5, "string*"),
        ("consumes", 6, "string*"),
        ("produces", 7, "string*"),
        ("paths", 8, "Paths"),
        ("definitions", 9, "Definitions"),
        ("security", 12, "SecurityRequirement*"),
        ("security_definitions", 13, "SecurityDefinitions"),
        ("vendor_extension", 16, "NamedAny*"),
    ],
}

_SCALARS = {
    S: descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
    B: descriptor_pb2.FieldDescriptorProto.TYPE_BOOL,
    INT: descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
    D: descriptor_pb2.FieldDescriptorProto.TYPE_DOUBLE,
}


@cache
def message_classes() -> dict[str, Any]:
    """Message name -> generated class, from a fresh pool (proto3, package openapi.v2)."""
    file = descriptor_pb2.FileDescriptorProto(
        name="pocketkube_test_gnostic.proto", package="openapi.v2", syntax="proto3"
    )
    for name, fields in MESSAGES.items():
        message = file.message_type.add(name=name)
        if any(len(f) > 3 for f in fields):
            message.oneof_decl.add(name="oneof")
        for field_name, number, kind, *oneof in fields:
            repeated = kind.endswith("*")
            kind = kind.rstrip("*")
            field = message.field.add(name=field_name, number=number)
            field.label = (
                descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
                if repeated
                else descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
            )
            if kind in _SCALARS:
                field.type = _SCALARS[kind]
            else:
                field.type = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
                field.type_name = f".openapi.v2.{kind}"
            if oneof:
                field.oneof_index = 0
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"openapi.v2.{name}"))
        for name in MESSAGES
    }


# --- the wire encoder ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 16383, 16384, 2**32, 2**63 - 1, 2**64 - 1])
def test_varints_round_trip_through_the_decoder(value: int) -> None:
    data = encode_varint(value)
    assert read_varint(data, 0) == (value, len(data))


def test_negative_int64_is_ten_bytes_of_twos_complement() -> None:
    data = encode_varint(-2)
    assert len(data) == 10
    value, _ = read_varint(data, 0)
    assert to_signed64(value) == -2


def test_records_round_trip_through_the_decoder() -> None:
    inner = length_delimited(1, "naïve".encode()) + tag(2, VARINT) + encode_varint(300)
    double = struct.pack("<d", 1.5)
    data = (
        tag(1, VARINT)
        + encode_varint(7)
        + length_delimited(2, inner)
        + length_delimited(2, b"")
        + tag(3, FIXED64)
        + double
        + length_delimited(2**29 - 1, b"x" * 200)
    )
    assert list(iter_fields(data)) == [
        (1, VARINT, 7),
        (2, LENGTH_DELIMITED, inner),
        (2, LENGTH_DELIMITED, b""),
        (3, FIXED64, int.from_bytes(double, "little")),
        (2**29 - 1, LENGTH_DELIMITED, b"x" * 200),
    ]
    assert list(iter_fields(inner)) == [(1, LENGTH_DELIMITED, "naïve".encode()), (2, VARINT, 300)]


# --- the document, parsed by the protobuf runtime -----------------------------------------------

CRONTAB_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["cronSpec"],
            "properties": {
                "cronSpec": {"type": "string", "pattern": "^\\d+$", "minLength": 1},
                "replicas": {"type": "integer", "maximum": 10, "minimum": -1.5},
                "mode": {"type": "string", "enum": ["a", "b"], "example": "a"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            },
            "x-kubernetes-validations": [{"rule": "self.replicas <= 10"}],
        },
    },
}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    catalog = builtin_catalog()
    catalog.register(CRONTAB)
    doc = swagger_document(catalog, lambda r: CRONTAB_SCHEMA if r == CRONTAB else None)
    # What the handler encodes: the document as its JSON reads back.
    loaded: dict[str, Any] = orjson.loads(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS))
    return loaded


@pytest.fixture(scope="module")
def encoded(document: dict[str, Any]) -> bytes:
    return encode_document(document)


@pytest.fixture(scope="module")
def parsed(encoded: bytes) -> Any:
    doc = message_classes()["Document"]()
    doc.ParseFromString(encoded)
    return doc


def test_every_field_is_known_and_canonical(encoded: bytes) -> None:
    doc = message_classes()["Document"]()
    doc.ParseFromString(encoded)
    doc.DiscardUnknownFields()
    # Same bytes back: no unknown field anywhere, fields in number order, proto3 zero values
    # left out, empty-but-present messages kept.
    assert doc.SerializeToString(deterministic=True) == encoded


def test_document_header(document: dict[str, Any], parsed: Any) -> None:
    assert parsed.swagger == "2.0"
    assert (parsed.info.title, parsed.info.version) == ("Kubernetes", "v1.33.0")
    (requirement,) = parsed.security
    (bearer,) = requirement.additional_properties
    assert bearer.name == "BearerToken"
    assert bearer.HasField("value")
    assert list(bearer.value.value) == []
    (scheme,) = parsed.security_definitions.additional_properties
    api_key = scheme.value.api_key_security
    expected = document["securityDefinitions"]["BearerToken"]
    assert (api_key.type, api_key.name, getattr(api_key, "in")) == (
        "apiKey",
        "authorization",
        "header",
    )
    assert api_key.description == expected["description"]


def _extensions(named: Any) -> dict[str, Any]:
    return {n.name: orjson.loads(n.value.yaml) for n in named}


def _x(node: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in node.items() if k.startswith("x-")}


def _compare_schema(message: Any, schema: dict[str, Any]) -> None:
    """Every keyword our documents use, field by field."""
    assert message._ref == schema.get("$ref", "")
    assert message.description == schema.get("description", "")
    assert message.format == schema.get("format", "")
    assert message.pattern == schema.get("pattern", "")
    assert message.HasField("type") == ("type" in schema)
    assert list(message.type.value) == ([schema["type"]] if "type" in schema else [])
    assert list(message.required) == schema.get("required", [])
    assert message.maximum == schema.get("maximum", 0)
    assert message.minimum == schema.get("minimum", 0)
    assert message.min_length == schema.get("minLength", 0)
    assert message.unique_items == schema.get("uniqueItems", False)
    assert [orjson.loads(e.yaml) for e in message.enum] == schema.get("enum", [])
    assert message.HasField("example") == ("example" in schema)
    if "example" in schema:
        assert orjson.loads(message.example.yaml) == schema["example"]
    assert _extensions(message.vendor_extension) == _x(schema)
    properties = schema.get("properties")
    assert message.HasField("properties") == (properties is not None)
    if properties is not None:
        names = [p.name for p in message.properties.additional_properties]
        assert names == list(properties)
        for prop in message.properties.additional_properties:
            _compare_schema(prop.value, properties[prop.name])
    items = schema.get("items")
    assert message.HasField("items") == (items is not None)
    if items is not None:
        (item,) = message.items.schema
        _compare_schema(item, items)
    additional = schema.get("additionalProperties")
    if isinstance(additional, bool):
        assert message.additional_properties.WhichOneof("oneof") == "boolean"
        assert message.additional_properties.boolean is additional
    elif additional is not None:
        _compare_schema(message.additional_properties.schema, additional)
    else:
        assert not message.HasField("additional_properties")


def test_every_definition_matches_the_json(document: dict[str, Any], parsed: Any) -> None:
    definitions = document["definitions"]
    named = parsed.definitions.additional_properties
    assert [n.name for n in named] == list(definitions)
    for definition in named:
        _compare_schema(definition.value, definitions[definition.name])
    crontab = next(n.value for n in named if n.name == "com.example.stable.v1.CronTab")
    spec = next(p.value for p in crontab.properties.additional_properties if p.name == "spec")
    assert spec.additional_properties.WhichOneof("oneof") == "boolean"  # false is written


def _compare_parameter(item: Any, parameter: dict[str, Any]) -> None:
    assert item.WhichOneof("oneof") == "parameter"
    if parameter["in"] == "body":
        body = item.parameter.body_parameter
        assert (body.name, getattr(body, "in"), body.required) == (
            "body",
            "body",
            parameter.get("required", False),
        )
        _compare_schema(body.schema, parameter["schema"])
        return
    non_body = item.parameter.non_body_parameter
    sub = (
        non_body.path_parameter_sub_schema
        if parameter["in"] == "path"
        else non_body.query_parameter_sub_schema
    )
    assert non_body.WhichOneof("oneof") == f"{parameter['in']}_parameter_sub_schema"
    assert (sub.name, getattr(sub, "in"), sub.type) == (
        parameter["name"],
        parameter["in"],
        parameter["type"],
    )
    assert (sub.required, sub.unique_items) == (
        parameter.get("required", False),
        parameter.get("uniqueItems", False),
    )
    assert sub.description == parameter.get("description", "")


def _compare_operation(message: Any, operation: dict[str, Any]) -> None:
    assert message.operation_id == operation["operationId"]
    assert message.description == operation["description"]
    assert list(message.consumes) == operation["consumes"]
    assert list(message.produces) == operation["produces"]
    assert list(message.schemes) == operation["schemes"]
    assert list(message.tags) == operation["tags"]
    assert len(message.parameters) == len(operation.get("parameters", []))
    for item, parameter in zip(message.parameters, operation.get("parameters", []), strict=True):
        _compare_parameter(item, parameter)
    codes = message.responses.response_code
    assert [c.name for c in codes] == list(operation["responses"])
    for code in codes:
        response = operation["responses"][code.name]
        assert code.value.response.description == response["description"]
        assert code.value.response.HasField("schema") == ("schema" in response)
        if "schema" in response:
            _compare_schema(code.value.response.schema.schema, response["schema"])
    assert _extensions(message.vendor_extension) == _x(operation)


def test_every_path_matches_the_json(document: dict[str, Any], parsed: Any) -> None:
    paths = document["paths"]
    named = parsed.paths.path
    assert [p.name for p in named] == list(paths)
    for path in named:
        item = paths[path.name]
        for method in ("get", "put", "post", "delete", "patch"):
            assert path.value.HasField(method) == (method in item)
            if method in item:
                _compare_operation(getattr(path.value, method), item[method])
        for message, parameter in zip(path.value.parameters, item["parameters"], strict=True):
            _compare_parameter(message, parameter)


def test_kubectl_finds_kinds_by_their_gvk_extension(parsed: Any) -> None:
    # kubectl's openapi.NewOpenAPIData maps each model's GVK extension (YAML) to the model.
    found = {}
    for definition in parsed.definitions.additional_properties:
        for gvk in _extensions(definition.value.vendor_extension).get(
            "x-kubernetes-group-version-kind", []
        ):
            found[(gvk["group"], gvk["version"], gvk["kind"])] = definition.name
    assert found[("", "v1", "Pod")] == "io.k8s.api.core.v1.Pod"
    assert found[("apps", "v1", "Deployment")] == "io.k8s.api.apps.v1.Deployment"
    assert found[("stable.example.com", "v1", "CronTab")] == "com.example.stable.v1.CronTab"
