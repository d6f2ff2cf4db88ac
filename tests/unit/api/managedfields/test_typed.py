"""Field sets, comparison, merge and removal along a type: structured-merge-diff's
typed/toset_test.go, symdiff_test.go, merge_test.go and remove_test.go, in our API."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pocketkube.api.managedfields import (
    MISSING,
    UNTYPED,
    FieldSet,
    SchemaTypes,
    TypeNode,
    compare,
    field_set,
    merge,
    path_string,
)
from pocketkube.api.managedfields.typed import json_equal, remove_unowned

REF = "#/components/schemas/"
STRING = {"type": "string"}
NUMBER = {"type": "number"}
INTEGER = {"type": "integer"}
BOOLEAN = {"type": "boolean"}
# upstream's __untyped_atomic_: any value, owned and replaced whole.
ATOMIC = {"type": "object", "additionalProperties": {}, "x-kubernetes-map-type": "atomic"}


def struct(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


def map_of(values: Any, *, atomic: bool = False) -> dict[str, Any]:
    out = {"type": "object", "additionalProperties": values}
    if atomic:
        out["x-kubernetes-map-type"] = "atomic"
    return out


def set_of(items: Any) -> dict[str, Any]:
    return {"type": "array", "items": items, "x-kubernetes-list-type": "set"}


def list_of(items: Any) -> dict[str, Any]:
    return {"type": "array", "items": items}


def map_list(items: Any, *keys: str) -> dict[str, Any]:
    return {
        "type": "array",
        "items": items,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": list(keys),
    }


def node(schema: Any, definitions: dict[str, Any] | None = None) -> TypeNode:
    return SchemaTypes(definitions or {}).node(schema)


def paths(fields: FieldSet) -> list[str]:
    return sorted(path_string(p) for p in fields.paths())


def load(text: str) -> Any:
    return json.loads(text)


PAIR = node(struct(key=STRING, value=ATOMIC))
GRAB_BAG = node(
    struct(
        numeric=NUMBER,
        string=STRING,
        bool=BOOLEAN,
        setStr=set_of(STRING),
        setBool=set_of(BOOLEAN),
        setNumeric=set_of(NUMBER),
        color={
            "type": "object",
            "properties": {"R": NUMBER, "G": NUMBER, "B": NUMBER},
            "x-kubernetes-map-type": "atomic",
        },
        arbitraryWavelengthColor=map_of(NUMBER, atomic=True),
        args=list_of(struct(key=STRING, value=STRING)),
    )
)
ELEMENT = struct(key=STRING, id=NUMBER, value=map_of(STRING), bv=BOOLEAN, nv=NUMBER)
ASSOCIATIVE = node(struct(list=map_list(ELEMENT, "key", "id"), atomicList=list_of(STRING)))
NESTED_MAP = node(struct(inner=map_of(ATOMIC)))
NESTED_STRUCT = node(struct(inner=struct(value=ATOMIC)))
NESTED_LIST = node(struct(inner=list_of(ATOMIC)))
RECURSIVE_MAP = SchemaTypes({"nestedMap": map_of({"$ref": REF + "nestedMap"})}).definition(
    "nestedMap"
)
K1 = '.list[id=1,key="a"]'
K2 = '.list[id=2,key="a"]'
B1 = '.list[id=1,key="b"]'


# -- field sets (typed/toset_test.go) ------------------------------------------------------------
@pytest.mark.parametrize(
    ("type_", "obj", "expected"),
    [
        (PAIR, '{"key":"foo","value":1}', [".key", ".value"]),
        (PAIR, '{"key":"foo","value":{"a": "b"}}', [".key", ".value"]),
        (PAIR, '{"key":"foo","value":null}', [".key", ".value"]),
        (PAIR, '{"key":"foo"}', [".key"]),
        (PAIR, '{"key":"foo","value":true}', [".key", ".value"]),
        (GRAB_BAG, '{"numeric":1}', [".numeric"]),
        (GRAB_BAG, '{"numeric":3.14159}', [".numeric"]),
        (GRAB_BAG, '{"string":"aoeu"}', [".string"]),
        (GRAB_BAG, '{"bool":false}', [".bool"]),
        (GRAB_BAG, '{"setStr":["a","b","c"]}', ['.setStr[="a"]', '.setStr[="b"]', '.setStr[="c"]']),
        (
            GRAB_BAG,
            '{"setStr":["a","b","c","a","b","c","c"]}',
            ['.setStr[="a"]', '.setStr[="b"]', '.setStr[="c"]'],
        ),
        (GRAB_BAG, '{"setBool":[true,false,true]}', [".setBool[=false]", ".setBool[=true]"]),
        (
            GRAB_BAG,
            '{"setNumeric":[1,2,3,3.14159]}',
            [".setNumeric[=1]", ".setNumeric[=2]", ".setNumeric[=3.14159]", ".setNumeric[=3]"],
        ),
        (GRAB_BAG, '{"color":{}}', [".color"]),
        (GRAB_BAG, '{"color":null}', [".color"]),
        (GRAB_BAG, '{"color":{"R":255,"G":0,"B":0}}', [".color"]),
        (GRAB_BAG, '{"arbitraryWavelengthColor":{}}', [".arbitraryWavelengthColor"]),
        (GRAB_BAG, '{"arbitraryWavelengthColor":null}', [".arbitraryWavelengthColor"]),
        (GRAB_BAG, '{"arbitraryWavelengthColor":{"IR":255}}', [".arbitraryWavelengthColor"]),
        (GRAB_BAG, '{"args":[]}', [".args"]),
        (GRAB_BAG, '{"args":null}', [".args"]),
        (GRAB_BAG, '{"args":[null]}', [".args"]),
        (GRAB_BAG, '{"args":[{"key":"a","value":"b"},{"key":"c","value":"d"}]}', [".args"]),
        (ASSOCIATIVE, '{"list":[]}', []),
        (
            ASSOCIATIVE,
            '{"list":[{"key":"a","id":1,"value":{"a":"a"}}]}',
            [K1, K1 + ".id", K1 + ".key", K1 + ".value.a"],
        ),
        (
            ASSOCIATIVE,
            '{"list":[{"key":"a","id":1},{"key":"a","id":2},{"key":"b","id":1}]}',
            [K1, K1 + ".id", K1 + ".key", B1, B1 + ".id", B1 + ".key", K2, K2 + ".id", K2 + ".key"],
        ),
        (
            # Duplicated items are owned as a whole, once.
            ASSOCIATIVE,
            '{"list":[{"key":"a","id":1,"nv":2},{"key":"a","id":2,"nv":3},{"key":"b","id":1},'
            '{"key":"a","id":2,"bv":true}]}',
            [K1, K1 + ".id", K1 + ".key", K1 + ".nv", B1, B1 + ".id", B1 + ".key", K2],
        ),
        (ASSOCIATIVE, '{"atomicList":["a","a","a"]}', [".atomicList"]),
        # Struct fields are not members, map entries are; empty maps and nulls are.
        (NESTED_STRUCT, '{"inner":{"value":1}}', [".inner.value"]),
        (NESTED_STRUCT, '{"inner":{}}', [".inner"]),
        (NESTED_MAP, '{"inner":{"a":1,"b":{}}}', [".inner.a", ".inner.b"]),
        (NESTED_MAP, '{"inner":null}', [".inner"]),
        (UNTYPED, '{"a":{"b":{"c":1}},"d":[1,2]}', [".a", ".a.b", ".a.b.c", ".d"]),
        (UNTYPED, "{}", []),
    ],
)
def test_field_set(type_: TypeNode, obj: str, expected: list[str]) -> None:
    assert paths(field_set(load(obj), type_)) == expected


def test_field_set_never_owns_the_root() -> None:
    assert field_set("scalar", UNTYPED).empty()
    assert field_set({}, GRAB_BAG).empty()


PORTS = node(
    struct(
        containerPorts=map_list(
            struct(port=NUMBER, protocol={**STRING, "default": "TCP"}, name=STRING),
            "port",
            "protocol",
        )
    )
)


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        # merge/default_keys_test.go: a missing key field takes its default ...
        (
            '{"containerPorts":[{"port":80}]}',
            [
                '.containerPorts[port=80,protocol="TCP"]',
                '.containerPorts[port=80,protocol="TCP"].port',
            ],
        ),
        (
            '{"containerPorts":[{"port":80},{"port":80,"protocol":"UDP"}]}',
            [
                '.containerPorts[port=80,protocol="TCP"]',
                '.containerPorts[port=80,protocol="TCP"].port',
                '.containerPorts[port=80,protocol="UDP"]',
                '.containerPorts[port=80,protocol="UDP"].port',
                '.containerPorts[port=80,protocol="UDP"].protocol',
            ],
        ),
        # ... and one without a default is left out of the key.
        (
            '{"containerPorts":[{"protocol":"TCP","name":"A"}]}',
            [
                '.containerPorts[protocol="TCP"]',
                '.containerPorts[protocol="TCP"].name',
                '.containerPorts[protocol="TCP"].protocol',
            ],
        ),
        (
            '{"containerPorts":[{"name":"A"}]}',
            ['.containerPorts[protocol="TCP"]', '.containerPorts[protocol="TCP"].name'],
        ),
    ],
)
def test_key_fields_and_their_defaults(obj: str, expected: list[str]) -> None:
    assert paths(field_set(load(obj), PORTS)) == expected


def test_an_item_without_any_key_is_known_by_its_index() -> None:
    # Upstream refuses such an item; we keep it, by position.
    named = node(struct(items=map_list(struct(name=STRING, value=STRING), "name")))
    obj = {"items": [{"name": "a"}, {"value": "x"}]}
    assert paths(field_set(obj, named)) == [
        ".items[1]",
        ".items[1].value",
        '.items[name="a"]',
        '.items[name="a"].name',
    ]


def test_integer_key_with_float_default() -> None:
    # default_keys_test.go "apply_integer_key_with_float_default": page 2 is the default 2.0.
    book = node(
        struct(
            book=map_list(
                struct(
                    chapter={**NUMBER, "default": 1},
                    section={**STRING, "default": "A"},
                    sentences=map_list(
                        struct(
                            page={**NUMBER, "default": 2.0},
                            line={**NUMBER, "default": 3},
                            text=STRING,
                        ),
                        "page",
                        "line",
                    ),
                ),
                "chapter",
                "section",
            )
        )
    )
    chapter = '.book[chapter=1,section="A"]'
    sentence = chapter + ".sentences[line=3,page=2]"
    assert paths(field_set(load('{"book":[{"sentences":[{"text":"blah"}]}]}'), book)) == [
        chapter,
        sentence,
        sentence + ".text",
    ]
    assert paths(field_set(load('{"book":[{"sentences":[{"text":"blah","page":2}]}]}'), book)) == [
        chapter,
        sentence,
        sentence + ".page",
        sentence + ".text",
    ]


# -- comparison (typed/symdiff_test.go) ----------------------------------------------------------
SYMDIFF_CASES = [
    (PAIR, '{"key":"foo","value":1}', '{"key":"foo","value":1}', [], [], []),
    (PAIR, '{"key":"foo","value":{}}', '{"key":"foo","value":1}', [], [".value"], []),
    (PAIR, '{"key":"foo","value":1}', '{"key":"foo","value":{}}', [], [".value"], []),
    (
        PAIR,
        '{"key":"foo","value":1}',
        '{"key":"foo","value":{"doesn\'t matter":"what\'s here","or":{"how":"nested"}}}',
        [],
        [".value"],
        [],
    ),
    (PAIR, '{"key":"foo","value":null}', '{"key":"foo","value":{}}', [], [".value"], []),
    (PAIR, '{"key":"foo"}', '{"value":true}', [".key"], [], [".value"]),
    (PAIR, '{"key":"foot"}', '{"key":"foo","value":true}', [], [".key"], [".value"]),
    # Numbers compare by value; a boolean is not a number.
    (PAIR, '{"key":"foo","value":1}', '{"key":"foo","value":1.0}', [], [], []),
    (PAIR, '{"key":"foo","value":[1]}', '{"key":"foo","value":[true]}', [], [".value"], []),
    (PAIR, '{"key":"foo","value":{"a":1}}', '{"key":"foo","value":{"a":true}}', [], [".value"], []),
    # null and empty maps, structs and lists.
    *(
        case
        for type_, empty in ((NESTED_MAP, "{}"), (NESTED_STRUCT, "{}"), (NESTED_LIST, "[]"))
        for case in (
            (type_, "{}", f'{{"inner":{empty}}}', [], [], [".inner"]),
            (type_, "{}", '{"inner":null}', [], [], [".inner"]),
            (type_, '{"inner":null}', f'{{"inner":{empty}}}', [], [".inner"], []),
            (type_, f'{{"inner":{empty}}}', '{"inner":null}', [], [".inner"], []),
            (type_, f'{{"inner":{empty}}}', f'{{"inner":{empty}}}', [], [], []),
        )
    ),
    # Recursive maps.
    (RECURSIVE_MAP, '{"a":{},"b":{}}', '{"a":{},"b":{}}', [], [], []),
    (RECURSIVE_MAP, '{"a":{}}', '{"b":{}}', [".a"], [], [".b"]),
    (RECURSIVE_MAP, '{"a":{"b":{"c":{}}}}', '{"a":{"b":{}}}', [".a.b.c"], [], []),
    (RECURSIVE_MAP, '{"a":{}}', '{"a":{"b":{}}}', [], [], [".a.b"]),
    # Untyped values: maps are granular, lists atomic; null is an empty map.
    (UNTYPED, '{"a":{}}', '{"a":{"b":{}}}', [], [], [".a.b"]),
    (UNTYPED, '{"a":null}', '{"a":{"b":{}}}', [], [], [".a.b"]),
    (UNTYPED, '{"a":[]}', '{"a":["b"]}', [], [".a"], []),
    (UNTYPED, '{"a":null}', '{"a":["b"]}', [], [".a"], []),
    (UNTYPED, '{"a":null}', '{"a":"b"}', [], [".a"], []),
    (UNTYPED, '{"a":{"b":{}}}', '{"a":["b"]}', [".a.b"], [".a"], []),
    (UNTYPED, '{"a":{"b":{}}}', '{"a":"b"}', [".a.b"], [".a"], []),
    (UNTYPED, '{"a":["b"]}', '{"a":"b"}', [], [".a"], []),
    # Struct grab bag.
    (GRAB_BAG, '{"numeric":1}', '{"numeric":3.14159}', [], [".numeric"], []),
    (GRAB_BAG, '{"string":"aoeu"}', '{"bool":true}', [".string"], [], [".bool"]),
    (GRAB_BAG, '{"setStr":["a","b"]}', '{"setStr":["a","b","c"]}', [], [], ['.setStr[="c"]']),
    (GRAB_BAG, '{"setStr":["a"]}', '{"setStr":["a","b","b"]}', [], [], ['.setStr[="b"]']),
    (
        GRAB_BAG,
        '{"setStr":["a","b"]}',
        '{"setStr":["a","b","b"]}',
        ['.setStr[="b"]'],
        [],
        ['.setStr[="b"]'],
    ),
    (GRAB_BAG, '{"setStr":["b","b"]}', '{"setStr":["a","b","b"]}', [], [], ['.setStr[="a"]']),
    (
        GRAB_BAG,
        '{"setStr":["a","b","c"]}',
        '{"setStr":[]}',
        ['.setStr[="a"]', '.setStr[="b"]', '.setStr[="c"]'],
        [],
        [],
    ),
    (
        GRAB_BAG,
        '{"setBool":[true]}',
        '{"setBool":[false]}',
        [".setBool[=true]"],
        [],
        [".setBool[=false]"],
    ),
    (
        GRAB_BAG,
        '{"setNumeric":[1,2,3.14159]}',
        '{"setNumeric":[1,2,3]}',
        [".setNumeric[=3.14159]"],
        [],
        [".setNumeric[=3]"],
    ),
    (
        GRAB_BAG,
        '{"setStr":["a","b","b","c","a"]}',
        '{"setStr":[]}',
        ['.setStr[="a"]', '.setStr[="b"]', '.setStr[="c"]'],
        [],
        [],
    ),
    (
        GRAB_BAG,
        '{"setBool":[true,true]}',
        '{"setBool":[false]}',
        [".setBool[=true]"],
        [],
        [".setBool[=false]"],
    ),
    (
        GRAB_BAG,
        '{"setNumeric":[1,2,2,3.14159,1]}',
        '{"setNumeric":[1,2,3]}',
        [".setNumeric[=1]", ".setNumeric[=2]", ".setNumeric[=3.14159]"],
        [],
        [".setNumeric[=1]", ".setNumeric[=2]", ".setNumeric[=3]"],
    ),
    (GRAB_BAG, '{"color":{"R":1}}', '{"color":{"R":1,"G":2}}', [], [".color"], []),
    # Associative lists.
    (
        ASSOCIATIVE,
        "{}",
        '{"list":[{"key":"a","id":1,"value":{"a":"a"}}]}',
        [],
        [],
        [".list", K1, K1 + ".id", K1 + ".key", K1 + ".value", K1 + ".value.a"],
    ),
    (
        ASSOCIATIVE,
        '{"list":[{"key":"a","id":1,"value":{"a":"a"}}]}',
        '{"list":[{"key":"a","id":1,"value":{"a":"a"}}]}',
        [],
        [],
        [],
    ),
    (
        ASSOCIATIVE,
        '{"list":[{"key":"a","id":1,"value":{"a":"a"}}]}',
        '{"list":[{"key":"a","id":1,"value":{"a":"b"}}]}',
        [],
        [K1 + ".value.a"],
        [],
    ),
    (
        ASSOCIATIVE,
        '{"list":[{"key":"a","id":1,"value":{"a":"a"}}]}',
        '{"list":[{"key":"a","id":2,"value":{"a":"a"}}]}',
        [K1, K1 + ".id", K1 + ".key", K1 + ".value", K1 + ".value.a"],
        [],
        [K2, K2 + ".id", K2 + ".key", K2 + ".value", K2 + ".value.a"],
    ),
    (
        ASSOCIATIVE,
        '{"list":[{"key":"a","id":1},{"key":"b","id":1}]}',
        '{"list":[{"key":"a","id":1},{"key":"a","id":2}]}',
        [B1, B1 + ".id", B1 + ".key"],
        [],
        [K2, K2 + ".id", K2 + ".key"],
    ),
    (ASSOCIATIVE, '{"atomicList":["a","a","a"]}', '{"atomicList":null}', [], [".atomicList"], []),
    (ASSOCIATIVE, '{"atomicList":["a","b","c"]}', '{"atomicList":[]}', [], [".atomicList"], []),
    (
        ASSOCIATIVE,
        '{"atomicList":["a","a","a"]}',
        '{"atomicList":["a","a"]}',
        [],
        [".atomicList"],
        [],
    ),
    (
        # Duplicates that became one item: the marker goes, the item's fields arrive.
        ASSOCIATIVE,
        '{"list":[{"key":"a","id":1,"nv":2},{"key":"b","id":1},{"key":"a","id":1,"bv":true}]}',
        '{"list":[{"key":"a","id":1},{"key":"a","id":2}]}',
        [B1, B1 + ".id", B1 + ".key", K1],
        [],
        [K1, K1 + ".id", K1 + ".key", K2, K2 + ".id", K2 + ".key"],
    ),
    (
        ASSOCIATIVE,
        '{"list":[{"key":"a","id":1},{"key":"b","id":1},{"key":"a","id":1,"bv":true}]}',
        '{"list":[{"key":"a","id":1},{"key":"b","id":1},{"key":"a","id":1,"bv":true,"nv":1}]}',
        [],
        [K1],
        [],
    ),
    (
        ASSOCIATIVE,
        '{"list":[{"key":"a","id":1},{"key":"b","id":1},{"key":"a","id":1,"bv":true}]}',
        '{"list":[{"key":"a","id":1},{"key":"b","id":1},{"key":"a","id":1,"bv":true}]}',
        [],
        [],
        [],
    ),
    (
        ASSOCIATIVE,
        '{"list":[{"key":"a","id":1},{"key":"b","id":1},{"key":"a","id":1,"bv":true}]}',
        '{"list":[{"key":"a","id":1},{"key":"b","id":1,"bv":true},{"key":"a","id":1,"bv":true}]}',
        [],
        [],
        [B1 + ".bv"],
    ),
    (
        ASSOCIATIVE,
        '{"list":[{"key":"a","id":1},{"key":"b","id":1},{"key":"a","id":1,"bv":true}]}',
        '{"list":[{"key":"a","id":1},{"key":"b","id":1},{"key":"a","id":1,"bv":true}],'
        '"atomicList":["unrelated"]}',
        [],
        [],
        [".atomicList"],
    ),
]


@pytest.mark.parametrize(("type_", "lhs", "rhs", "removed", "modified", "added"), SYMDIFF_CASES)
def test_compare(
    type_: TypeNode,
    lhs: str,
    rhs: str,
    removed: list[str],
    modified: list[str],
    added: list[str],
) -> None:
    forward = compare(load(lhs), load(rhs), type_)
    assert paths(forward.removed) == sorted(removed)
    assert paths(forward.modified) == sorted(modified)
    assert paths(forward.added) == sorted(added)
    # Everything holds the other way round too.
    backward = compare(load(rhs), load(lhs), type_)
    assert paths(backward.removed) == sorted(added)
    assert paths(backward.modified) == sorted(modified)
    assert paths(backward.added) == sorted(removed)


def test_compare_with_a_missing_object() -> None:
    obj = {"metadata": {"labels": {"a": "b"}}, "spec": {"x": 1}}
    created = compare(MISSING, obj, UNTYPED)
    assert paths(created.added) == [
        ".metadata",
        ".metadata.labels",
        ".metadata.labels.a",
        ".spec",
        ".spec.x",
    ]
    assert created.modified.empty()
    assert created.removed.empty()
    deleted = compare(obj, MISSING, UNTYPED)
    assert deleted.removed == created.added
    assert compare(MISSING, MISSING, UNTYPED).changed().empty()


def test_comparison_changed_and_without() -> None:
    diff = compare(
        {"spec": {"a": 1, "b": 2}, "status": {"c": 3}},
        {"spec": {"a": 2, "d": 4}, "status": {"c": 4}},
        UNTYPED,
    )
    assert paths(diff.changed()) == [".spec.a", ".spec.d", ".status.c"]
    ignored = FieldSet()
    ignored.insert(("f:status",))
    trimmed = diff.without(ignored)
    assert paths(trimmed.modified) == [".spec.a"]
    assert paths(trimmed.added) == [".spec.d"]
    assert paths(trimmed.removed) == [".spec.b"]


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        (1, 1.0, True),
        (1, True, False),
        (0, False, False),
        ({"a": [1, 2.0]}, {"a": [1.0, 2]}, True),
        ({"a": [1]}, {"a": [True]}, False),
        ({"a": 1}, {"a": 1, "b": None}, False),
        (None, None, True),
        ("1", 1, False),
        ([], {}, False),
    ],
)
def test_json_equal(a: Any, b: Any, equal: bool) -> None:
    assert json_equal(a, b) is equal
    assert json_equal(b, a) is equal


# -- merge (typed/merge_test.go) -----------------------------------------------------------------
SET_ORDER_CASES = [
    (["a", "b", "c"], ["a", "b"], ["a", "b", "c"]),
    (["a", "b"], ["a", "b", "c"], ["a", "b", "c"]),
    (["a", "b", "c"], [], ["a", "b", "c"]),
    ([], ["a", "b", "c"], ["a", "b", "c"]),
    (["a", "b"], ["b", "a"], ["b", "a"]),
    (["a", "b", "c"], ["d", "e", "f"], ["a", "b", "c", "d", "e", "f"]),
    (["a", "b", "c"], ["c", "d", "e", "f"], ["a", "b", "c", "d", "e", "f"]),
    (["a", "b", "c", "g", "f"], ["c", "d", "e", "f"], ["a", "b", "c", "g", "d", "e", "f"]),
    (
        ["a", "b", "c"],
        ["d", "e", "f", "x", "y", "z"],
        ["a", "b", "c", "d", "e", "f", "x", "y", "z"],
    ),
    (["c", "d", "e", "f"], ["a", "c", "e"], ["a", "c", "d", "e", "f"]),
    (
        ["a", "b", "c", "x", "y", "z"],
        ["d", "e", "f"],
        ["a", "b", "c", "x", "y", "z", "d", "e", "f"],
    ),
    (
        ["a", "b", "c", "x", "y", "z"],
        ["d", "e", "f", "x", "y", "z"],
        ["a", "b", "c", "d", "e", "f", "x", "y", "z"],
    ),
    (["c", "a", "g", "f"], ["c", "f", "a", "g"], ["c", "f", "a", "g"]),
    (["a", "b", "c", "d"], ["d", "e", "f", "a"], ["b", "c", "d", "e", "f", "a"]),
    (
        ["c", "d", "e", "f", "g", "h", "i", "j"],
        ["2", "h", "3", "e", "4", "k", "l"],
        ["c", "d", "f", "g", "2", "h", "i", "j", "3", "e", "4", "k", "l"],
    ),
    (
        ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"],
        ["1", "b", "2", "h", "3", "e", "4", "k", "l"],
        ["a", "1", "b", "c", "d", "f", "g", "2", "h", "i", "j", "3", "e", "4", "k", "l"],
    ),
    # Duplicates in the live list.
    (["a", "b", "b"], ["c"], ["a", "b", "b", "c"]),
    (["a", "b", "b"], ["b"], ["a", "b"]),
    (["a", "b", "b"], ["a"], ["a", "b", "b"]),
    (
        ["a", "b", "c", "d", "e", "c"],
        ["1", "b", "2", "e", "d"],
        ["a", "1", "b", "c", "2", "e", "c", "d"],
    ),
    (
        ["a", "b", "c", "d", "e", "c"],
        ["1", "b", "2", "c", "e", "d"],
        ["a", "1", "b", "2", "c", "e", "d"],
    ),
    (["a", "a", "b", "b"], ["b", "c", "d"], ["a", "a", "b", "c", "d"]),
    (["a", "a", "b", "b"], [], ["a", "a", "b", "b"]),
    (["c", "a", "g", "f", "c", "a"], ["c", "f", "a", "g"], ["c", "f", "a", "g"]),
]


@pytest.mark.parametrize(("live", "config", "expected"), SET_ORDER_CASES)
def test_merge_set_order(live: list[str], config: list[str], expected: list[str]) -> None:
    assert merge({"setStr": live}, {"setStr": config}, GRAB_BAG) == {"setStr": expected}


@pytest.mark.parametrize(
    ("field", "live", "config", "expected"),
    [
        ("setBool", [True], [False], [True, False]),
        ("setBool", [True, False, True], [False], [True, False, True]),
        ("setBool", [True, False, True], [True], [True, False]),
        ("setNumeric", [1, 2, 3.14159], [1, 2, 3], [1, 2, 3.14159, 3]),
        ("setNumeric", [1, 2, 3.14159, 1, 2], [1, 2, 3], [1, 2, 3.14159, 3]),
    ],
)
def test_merge_sets_of_other_scalars(
    field: str, live: list[Any], config: list[Any], expected: list[Any]
) -> None:
    assert merge({field: live}, {field: config}, GRAB_BAG) == {field: expected}


@pytest.mark.parametrize(
    ("live", "config", "expected"),
    [
        (
            '{"list":[{"key":"a","id":1,"value":{"a":"a"}}]}',
            '{"list":[{"key":"a","id":1,"value":{"a":"a"}}]}',
            '{"list":[{"key":"a","id":1,"value":{"a":"a"}}]}',
        ),
        (
            '{"list":[{"key":"a","id":1,"value":{"a":"a"}}]}',
            '{"list":[{"key":"a","id":2,"value":{"a":"a"}}]}',
            '{"list":[{"key":"a","id":1,"value":{"a":"a"}},{"key":"a","id":2,"value":{"a":"a"}}]}',
        ),
        (
            '{"list":[{"key":"a","id":1},{"key":"b","id":1}]}',
            '{"list":[{"key":"a","id":1},{"key":"a","id":2}]}',
            '{"list":[{"key":"a","id":1},{"key":"b","id":1},{"key":"a","id":2}]}',
        ),
        (
            '{"list":[{"key":"b","id":2}]}',
            '{"list":[{"key":"a","id":1},{"key":"b","id":2},{"key":"c","id":3}]}',
            '{"list":[{"key":"a","id":1},{"key":"b","id":2},{"key":"c","id":3}]}',
        ),
        (
            '{"list":[{"key":"a","id":1},{"key":"b","id":2},{"key":"c","id":3}]}',
            '{"list":[{"key":"c","id":3},{"key":"b","id":2}]}',
            '{"list":[{"key":"a","id":1},{"key":"c","id":3},{"key":"b","id":2}]}',
        ),
        (
            '{"list":[{"key":"a","id":1},{"key":"b","id":2},{"key":"c","id":3}]}',
            '{"list":[{"key":"c","id":3},{"key":"a","id":1}]}',
            '{"list":[{"key":"b","id":2},{"key":"c","id":3},{"key":"a","id":1}]}',
        ),
        ('{"atomicList":["a","b","c"]}', '{"atomicList":[]}', '{"atomicList":[]}'),
        ('{"atomicList":["a","a","a"]}', '{"atomicList":["a","a"]}', '{"atomicList":["a","a"]}'),
        (
            # Duplicated live items are replaced by the applied one.
            '{"list":[{"key":"a","id":1,"bv":true},{"key":"b","id":2},'
            '{"key":"a","id":1,"bv":false,"nv":2}]}',
            '{"list":[{"key":"a","id":1,"nv":3},{"key":"c","id":3},{"key":"b","id":2}]}',
            '{"list":[{"key":"a","id":1,"nv":3},{"key":"c","id":3},{"key":"b","id":2}]}',
        ),
        (
            '{"list":[{"key":"a","id":1,"nv":1},{"key":"a","id":1,"nv":2}]}',
            '{"list":[]}',
            '{"list":[{"key":"a","id":1,"nv":1},{"key":"a","id":1,"nv":2}]}',
        ),
        (
            '{"list":[{"key":"a","id":1,"nv":1},{"key":"a","id":1,"nv":2}]}',
            "{}",
            '{"list":[{"key":"a","id":1,"nv":1},{"key":"a","id":1,"nv":2}]}',
        ),
        (
            # Items merge field by field.
            '{"list":[{"key":"a","id":1,"nv":1,"value":{"x":"1"}}]}',
            '{"list":[{"key":"a","id":1,"bv":true,"value":{"y":"2"}}]}',
            '{"list":[{"key":"a","id":1,"nv":1,"value":{"x":"1","y":"2"},"bv":true}]}',
        ),
    ],
)
def test_merge_associative_lists(live: str, config: str, expected: str) -> None:
    assert merge(load(live), load(config), ASSOCIATIVE) == load(expected)


@pytest.mark.parametrize(
    ("type_", "live", "config", "expected"),
    [
        (PAIR, '{"key":"foo","value":{}}', '{"key":"foo","value":1}', '{"key":"foo","value":1}'),
        (PAIR, '{"key":"foo","value":1}', '{"key":"foo","value":{}}', '{"key":"foo","value":{}}'),
        (PAIR, '{"key":"foo"}', '{"value":true}', '{"key":"foo","value":true}'),
        # An atomic value is replaced whole.
        (PAIR, '{"value":{"a":1,"b":2}}', '{"value":{"c":3}}', '{"value":{"c":3}}'),
        (GRAB_BAG, '{"color":{"R":1,"G":2}}', '{"color":{"B":3}}', '{"color":{"B":3}}'),
        (GRAB_BAG, '{"args":[{"key":"a"}]}', '{"args":[{"key":"b"}]}', '{"args":[{"key":"b"}]}'),
        (GRAB_BAG, '{"numeric":1}', '{"numeric":3.14159}', '{"numeric":3.14159}'),
        (GRAB_BAG, '{"string":"aoeu"}', '{"bool":true}', '{"string":"aoeu","bool":true}'),
        # Maps merge key by key.
        (NESTED_MAP, "{}", '{"inner":{}}', '{"inner":{}}'),
        (NESTED_MAP, '{"inner":{}}', '{"inner":{}}', '{"inner":{}}'),
        (NESTED_MAP, '{"inner":{"a":1}}', '{"inner":{"b":2}}', '{"inner":{"a":1,"b":2}}'),
        (NESTED_STRUCT, "{}", '{"inner":{}}', '{"inner":{}}'),
        (NESTED_LIST, "{}", '{"inner":[]}', '{"inner":[]}'),
        (NESTED_LIST, '{"inner":[1,2]}', '{"inner":[]}', '{"inner":[]}'),
        (RECURSIVE_MAP, '{"a":{"b":{"c":{}}}}', '{"a":{"d":{}}}', '{"a":{"b":{"c":{}},"d":{}}}'),
        (
            UNTYPED,
            '{"a":{"b":1},"l":[1,2]}',
            '{"a":{"c":2},"l":[3]}',
            '{"a":{"b":1,"c":2},"l":[3]}',
        ),
        (UNTYPED, '{"a":{"b":1}}', '{"a":"scalar"}', '{"a":"scalar"}'),
    ],
)
def test_merge_values(type_: TypeNode, live: str, config: str, expected: str) -> None:
    assert merge(load(live), load(config), type_) == load(expected)


@pytest.mark.parametrize(
    ("type_", "live", "config", "expected"),
    [
        # Upstream's typed merge keeps an applied null (`{"inner":null}`); the object it ends
        # up as has no such field (Go structs drop it, CRD pruning removes it). Ours drops it
        # right away: a null replaces what is replaced whole, ...
        (PAIR, '{"key":"foo","value":{}}', '{"key":"foo","value":null}', '{"key":"foo"}'),
        (PAIR, '{"key":"foo","value":1}', '{"value":null}', '{"key":"foo"}'),
        (ASSOCIATIVE, '{"atomicList":["a","a","a"]}', '{"atomicList":null}', "{}"),
        (NESTED_MAP, "{}", '{"inner":null}', "{}"),
        (NESTED_MAP, '{"inner":null}', '{"inner":{}}', '{"inner":{}}'),
        (NESTED_MAP, '{"inner":{}}', '{"inner":null}', "{}"),
        (NESTED_STRUCT, '{"inner":{}}', '{"inner":null}', "{}"),
        (NESTED_LIST, '{"inner":[]}', '{"inner":null}', "{}"),
        # ... and, as upstream, leaves a granular map or list that has content as it is.
        (NESTED_MAP, '{"inner":{"a":1}}', '{"inner":null}', '{"inner":{"a":1}}'),
        (NESTED_STRUCT, '{"inner":{"value":1}}', '{"inner":null}', '{"inner":{"value":1}}'),
        (GRAB_BAG, '{"setStr":["a"]}', '{"setStr":null}', '{"setStr":["a"]}'),
        (UNTYPED, '{"a":{"b":1}}', '{"a":null}', '{"a":{"b":1}}'),
        (UNTYPED, '{"a":[1]}', '{"a":null}', "{}"),
        # Nulls inside new values are not stored either.
        (UNTYPED, "{}", '{"a":{"b":null,"c":[{"d":null}]}}', '{"a":{"c":[{}]}}'),
    ],
)
def test_merge_nulls(type_: TypeNode, live: str, config: str, expected: str) -> None:
    assert merge(load(live), load(config), type_) == load(expected)


def test_merge_missing_sides_and_inputs_untouched() -> None:
    live = {"a": {"b": [1]}}
    config = {"a": {"c": 2}}
    out = merge(live, config, UNTYPED)
    assert out == {"a": {"b": [1], "c": 2}}
    assert live == {"a": {"b": [1]}}
    assert config == {"a": {"c": 2}}
    out["a"]["b"].append(2)
    assert live == {"a": {"b": [1]}}
    assert merge(MISSING, config, UNTYPED) == config
    assert merge(live, MISSING, UNTYPED) == live
    assert merge(live, MISSING, UNTYPED) is not live


# -- removal -------------------------------------------------------------------------------------
def fs(*texts: str) -> FieldSet:
    """A field set from FieldsV1-style paths written as dot-separated elements."""
    out = FieldSet()
    for text in texts:
        out.insert(tuple(text.split("|")))
    return out


NESTED_TYPE = node(
    struct(
        listOfLists=map_list(struct(name=STRING, value=set_of(STRING)), "name"),
        mapOfMapsRecursive={"$ref": REF + "recursive"},
        struct=struct(name=STRING, value=NUMBER),
    ),
    {"recursive": map_of({"$ref": REF + "recursive"})},
)


def test_remove_takes_list_items_whole_even_with_owned_fields_below() -> None:
    # multiple_appliers_test.go "remove_one_with_dangling_subitem_keep_one": an item nobody
    # owns any more goes with what others own inside it.
    obj = {"listOfLists": [{"name": "a", "value": ["b"]}, {"name": "b", "value": ["c", "d"]}]}
    b = 'f:listOfLists|k:{"name":"b"}'
    out = remove_unowned(
        obj,
        NESTED_TYPE,
        fs(b, b + "|f:name", b + '|f:value|v:"c"'),
        fs(b + '|f:value|v:"d"'),
    )
    assert out == {"listOfLists": [{"name": "a", "value": ["b"]}]}
    assert obj["listOfLists"][1] == {"name": "b", "value": ["c", "d"]}


def test_remove_keeps_an_item_someone_owns() -> None:
    obj = {"listOfLists": [{"name": "a"}, {"name": "b", "value": ["c", "d"]}]}
    b = 'f:listOfLists|k:{"name":"b"}'
    out = remove_unowned(
        obj,
        NESTED_TYPE,
        fs(b + "|f:name", b + '|f:value|v:"c"'),
        fs(b, b + "|f:name", b + '|f:value|v:"d"'),
    )
    # The item keeps its key fields.
    assert out == {"listOfLists": [{"name": "a"}, {"name": "b", "value": ["d"]}]}


def test_remove_keeps_a_struct_field_with_owned_fields_below() -> None:
    # nested_test.go "struct_apply_update_remove_all": the struct stays for its other field.
    obj = {"struct": {"name": "a", "value": 1}}
    assert remove_unowned(obj, NESTED_TYPE, fs("f:struct|f:name"), fs("f:struct|f:value")) == {
        "struct": {"value": 1}
    }
    # The struct itself stays for its owned field; what lies below it goes only as far as the
    # removal names it (upstream adds back what the applier did not own).
    assert remove_unowned(obj, NESTED_TYPE, fs("f:struct"), fs("f:struct|f:value")) == obj
    assert remove_unowned(
        obj, NESTED_TYPE, fs("f:struct", "f:struct|f:name"), fs("f:struct|f:value")
    ) == {"struct": {"value": 1}}
    assert remove_unowned(obj, NESTED_TYPE, fs("f:struct"), FieldSet()) == {}


def test_remove_drops_emptied_containers_unless_kept() -> None:
    obj = {"mapOfMapsRecursive": {"a": {"b": None}, "c": {"d": {"e": None}}}}
    m = "f:mapOfMapsRecursive"
    owned = fs(m + "|f:a", m + "|f:c", m + "|f:c|f:d", m + "|f:c|f:d|f:e")
    # A map entry in the removal goes whole; "a", emptied, stays while someone else owns it.
    assert remove_unowned(obj, NESTED_TYPE, fs(m + "|f:a|f:b"), owned, owned) == {
        "mapOfMapsRecursive": {"a": {}, "c": {"d": {"e": None}}}
    }
    assert remove_unowned(obj, NESTED_TYPE, fs(m + "|f:a|f:b"), owned) == {
        "mapOfMapsRecursive": {"c": {"d": {"e": None}}}
    }
    # A map entry goes whole even when a path below it is owned.
    assert remove_unowned(obj, NESTED_TYPE, fs(m + "|f:c"), owned.difference(fs(m + "|f:c"))) == {
        "mapOfMapsRecursive": {"a": {"b": None}}
    }


def test_remove_sets_and_atomic_values() -> None:
    obj = {"setStr": ["a", "b"], "color": {"R": 1}, "args": [{"key": "x"}]}
    out = remove_unowned(obj, GRAB_BAG, fs('f:setStr|v:"a"', "f:color", "f:args"), FieldSet())
    assert out == {"setStr": ["b"]}
    assert remove_unowned(obj, GRAB_BAG, fs('f:setStr|v:"a"', 'f:setStr|v:"b"'), FieldSet()) == {
        "color": {"R": 1},
        "args": [{"key": "x"}],
    }
    assert remove_unowned(obj, GRAB_BAG, fs("f:nothing", 'f:setStr|v:"z"'), FieldSet()) == obj
