"""Types from OpenAPI schemas: how each field merges and is owned (upstream's schema
conversion in k8s.io/kube-openapi and structured-merge-diff's schema package)."""

from __future__ import annotations

from typing import Any

import pytest

from pocketkube.api.managedfields import UNTYPED, SchemaTypes, TypeNode, field_set, path_string

REF = "#/components/schemas/"

DEFINITIONS: dict[str, dict[str, Any]] = {
    "Pod": {
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "metadata": {"allOf": [{"$ref": REF + "ObjectMeta"}], "default": {}},
            "spec": {"$ref": REF + "PodSpec"},
        },
    },
    "ObjectMeta": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "finalizers": {
                "type": "array",
                "items": {"type": "string"},
                "x-kubernetes-patch-strategy": "merge",
            },
            "ownerReferences": {
                "type": "array",
                "items": {"$ref": REF + "OwnerReference"},
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["uid"],
                "x-kubernetes-patch-merge-key": "uid",
                "x-kubernetes-patch-strategy": "merge",
            },
        },
    },
    "OwnerReference": {
        "type": "object",
        "properties": {"uid": {"type": "string"}, "kind": {"type": "string"}},
        "x-kubernetes-map-type": "atomic",
    },
    "PodSpec": {
        "type": "object",
        "properties": {
            "containers": {
                "type": "array",
                "items": {"$ref": REF + "Container"},
                "x-kubernetes-patch-merge-key": "name",
                "x-kubernetes-patch-strategy": "merge",
            },
            "nodeSelector": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "x-kubernetes-map-type": "atomic",
            },
            "imagePullSecrets": {"type": "array", "items": {"$ref": REF + "LocalObjectReference"}},
            "tolerations": {
                "type": "array",
                "items": {"type": "object", "properties": {"key": {"type": "string"}}},
                "x-kubernetes-list-type": "atomic",
                "x-kubernetes-patch-merge-key": "key",
                "x-kubernetes-patch-strategy": "merge",
            },
            "schedulingGates": {
                "type": "array",
                "items": {"type": "object", "properties": {"name": {"type": "string"}}},
                "x-kubernetes-list-type": "map",
                "x-kubernetes-patch-merge-key": "name",
            },
            "resourceClaims": {
                "type": "array",
                "items": {"type": "object", "properties": {"name": {"type": "string"}}},
                "x-kubernetes-list-type": "map",
            },
            "overhead": {
                "type": "object",
                "additionalProperties": {"$ref": REF + "Quantity"},
            },
        },
    },
    "Container": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "image": {"type": "string"},
            "args": {"type": "array", "items": {"type": "string"}},
            "ports": {
                "type": "array",
                "items": {"$ref": REF + "ContainerPort"},
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["containerPort", "protocol"],
            },
        },
    },
    "ContainerPort": {
        "type": "object",
        "properties": {
            "containerPort": {"type": "integer"},
            "protocol": {"type": "string", "default": "TCP"},
            "name": {"type": "string"},
        },
    },
    "LocalObjectReference": {"type": "object", "properties": {"name": {"type": "string"}}},
    "Quantity": {"x-kubernetes-int-or-string": True},
    "JSONSchemaProps": {
        "type": "object",
        "properties": {
            "type": {"type": "string"},
            "properties": {
                "type": "object",
                "additionalProperties": {"$ref": REF + "JSONSchemaProps"},
            },
            "items": {"$ref": REF + "JSONSchemaProps"},
        },
    },
}


@pytest.fixture
def types() -> SchemaTypes:
    return SchemaTypes(DEFINITIONS)


def test_ref_and_all_of_ref_reach_the_definition(types: SchemaTypes) -> None:
    pod = types.definition("Pod")
    assert pod.kind == "struct"
    assert pod.field("spec") is types.definition("PodSpec")
    assert pod.field("metadata") is types.definition("ObjectMeta")
    assert types.node({"$ref": REF + "PodSpec"}) is types.definition("PodSpec")
    assert types.node({"allOf": [{"$ref": REF + "PodSpec"}]}) is types.definition("PodSpec")


def test_properties_make_a_struct(types: SchemaTypes) -> None:
    meta = types.definition("ObjectMeta")
    assert meta.kind == "struct"
    assert not meta.atomic
    assert meta.has_field("name")
    assert not meta.has_field("unknown")
    assert meta.field("name").kind == "scalar"
    # Fields the schema does not know are untyped, as upstream's deduced type.
    assert meta.field("unknown") is UNTYPED


def test_additional_properties_make_a_map(types: SchemaTypes) -> None:
    labels = types.definition("ObjectMeta").field("labels")
    assert labels.kind == "map"
    assert not labels.atomic
    assert not labels.has_field("app")
    assert labels.field("app").kind == "scalar"
    assert labels.element().kind == "scalar"


def test_map_type_atomic(types: SchemaTypes) -> None:
    spec = types.definition("PodSpec")
    assert spec.field("nodeSelector").kind == "map"
    assert spec.field("nodeSelector").atomic
    assert types.definition("OwnerReference").kind == "struct"
    assert types.definition("OwnerReference").atomic


def test_atomic_definitions_and_property_facts() -> None:
    types = SchemaTypes(
        DEFINITIONS,
        atomic_definitions=frozenset({"LocalObjectReference"}),
        property_facts={
            ("PodSpec", "overhead"): {"x-kubernetes-map-type": "atomic"},
            ("Container", "args"): {"x-kubernetes-list-type": "set"},
        },
    )
    assert types.definition("LocalObjectReference").atomic
    spec = types.definition("PodSpec")
    assert spec.field("overhead").atomic
    assert spec.field("containers").element().field("args").list_type == "set"


def test_lists_are_atomic_by_default(types: SchemaTypes) -> None:
    container = types.definition("Container")
    args = container.field("args")
    assert args.kind == "list"
    assert args.list_type == "atomic"
    assert types.definition("PodSpec").field("imagePullSecrets").list_type == "atomic"


def test_list_type_set(types: SchemaTypes) -> None:
    # A merge patch strategy without a merge key: a set (upstream's conversion).
    finalizers = types.definition("ObjectMeta").field("finalizers")
    assert finalizers.list_type == "set"
    assert finalizers.keys == ()


def test_list_type_map_with_keys(types: SchemaTypes) -> None:
    ports = types.definition("Container").field("ports")
    assert ports.list_type == "map"
    assert ports.keys == ("containerPort", "protocol")
    assert ports.element() is types.definition("ContainerPort")
    owners = types.definition("ObjectMeta").field("ownerReferences")
    assert owners.list_type == "map"
    assert owners.keys == ("uid",)
    assert owners.element().atomic


def test_patch_merge_key_makes_a_keyed_list(types: SchemaTypes) -> None:
    spec = types.definition("PodSpec")
    containers = spec.field("containers")
    assert containers.list_type == "map"
    assert containers.keys == ("name",)
    # A list type that says map but lists no keys falls back to the merge key.
    gates = spec.field("schedulingGates")
    assert gates.list_type == "map"
    assert gates.keys == ("name",)
    # An explicit list type wins over the patch strategy.
    assert spec.field("tolerations").list_type == "atomic"
    # A map list with no key at all cannot be keyed: atomic.
    assert spec.field("resourceClaims").list_type == "atomic"


def test_key_defaults_come_from_the_key_properties(types: SchemaTypes) -> None:
    ports = types.definition("Container").field("ports")
    assert ports.key_defaults == {"protocol": "TCP"}
    assert types.definition("PodSpec").field("containers").key_defaults == {}


def test_scalars(types: SchemaTypes) -> None:
    for schema in (
        {"type": "string"},
        {"type": "integer", "format": "int32"},
        {"type": "number"},
        {"type": "boolean"},
        {"x-kubernetes-int-or-string": True},
        {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]},
    ):
        assert types.node(schema).kind == "scalar"
    assert types.definition("PodSpec").field("overhead").element().kind == "scalar"


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        {"x-kubernetes-preserve-unknown-fields": True},
        {},
        {"$ref": REF + "Unknown"},
        None,
        "string",
    ],
)
def test_schemaless_values_are_untyped(types: SchemaTypes, schema: Any) -> None:
    assert types.node(schema) is UNTYPED


def test_untyped_node() -> None:
    assert UNTYPED.kind == "untyped"
    assert not UNTYPED.has_field("a")
    assert UNTYPED.field("a") is UNTYPED
    assert UNTYPED.element() is UNTYPED


def test_recursion_through_ref(types: SchemaTypes) -> None:
    props = types.definition("JSONSchemaProps")
    assert props.field("items") is props
    assert props.field("properties").kind == "map"
    assert props.field("properties").element() is props
    assert props.field("properties").field("spec").field("properties").field("x") is props


def test_a_custom_resource_schema_inline() -> None:
    # A CRD's openAPIV3Schema: inline objects, list types and preserve-unknown-fields.
    types = SchemaTypes(DEFINITIONS)
    node = types.node(
        {
            "type": "object",
            "properties": {
                "metadata": {"$ref": REF + "ObjectMeta"},
                "spec": {
                    "type": "object",
                    "properties": {
                        "hosts": {
                            "type": "array",
                            "items": {"type": "string"},
                            "x-kubernetes-list-type": "set",
                        },
                        "routes": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {"path": {"type": "string"}},
                            },
                            "x-kubernetes-list-type": "map",
                            "x-kubernetes-list-map-keys": ["path"],
                        },
                        "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                    },
                },
            },
        }
    )
    spec = node.field("spec")
    assert spec.field("hosts").list_type == "set"
    assert spec.field("routes").keys == ("path",)
    assert spec.field("config") is UNTYPED
    obj = {
        "metadata": {"name": "x", "labels": {"a": "b"}},
        "spec": {
            "hosts": ["a.example.com"],
            "routes": [{"path": "/"}],
            "config": {"deep": {"er": [1, 2]}},
        },
    }
    assert sorted(path_string(p) for p in field_set(obj, node).paths()) == [
        ".metadata.labels.a",
        ".metadata.name",
        # Untyped map entries are members themselves; lists in them are atomic.
        ".spec.config.deep",
        ".spec.config.deep.er",
        '.spec.hosts[="a.example.com"]',
        '.spec.routes[path="/"]',
        '.spec.routes[path="/"].path',
    ]


def test_type_nodes_can_be_built_directly() -> None:
    node = TypeNode("list", list_type="map", keys=("name",), key_defaults={"port": 80})
    assert node.kind == "list"
    assert node.key_defaults == {"port": 80}
    assert node.element() is UNTYPED
    assert node.field("x") is UNTYPED
