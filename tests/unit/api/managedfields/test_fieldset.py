"""Field sets and their FieldsV1 spelling (upstream's fieldpath package and its tests)."""

from __future__ import annotations

from typing import Any

import pytest

from pocketkube.api.managedfields import FieldSet, FieldsV1Error, path_string
from pocketkube.api.managedfields.fieldset import element_order, key_element, value_element


class V:
    """A set-list value in a path (upstream's ``_V``)."""

    def __init__(self, value: Any) -> None:
        self.value = value


def P(*parts: Any) -> tuple[str, ...]:
    """A path as upstream's MakePathOrDie: names are fields, ints indexes, dicts keys."""
    out: list[str] = []
    for part in parts:
        if isinstance(part, str):
            out.append("f:" + part)
        elif isinstance(part, bool):
            raise TypeError(part)
        elif isinstance(part, int):
            out.append(f"i:{part}")
        elif isinstance(part, dict):
            out.append(key_element(part))
        elif isinstance(part, V):
            out.append(value_element(part.value))
        else:
            raise TypeError(part)
    return tuple(out)


def NS(*paths: tuple[str, ...]) -> FieldSet:
    out = FieldSet()
    for path in paths:
        out.insert(path)
    return out


def strings(fs: FieldSet) -> list[str]:
    return [path_string(p) for p in fs.paths()]


# -- path strings (fieldpath/path_test.go) -------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (P("foo", 1), ".foo[1]"),
        (P("foo", "bar", 1, "baz"), ".foo.bar[1].baz"),
        (P("foo", {"a": "b", "c": 1, "d": 1.5, "e": True}), '.foo[a="b",c=1,d=1.5,e=true]'),
        (P("foo", V("b"), V(5), V(False), V(3.14159)), '.foo[="b"][=5][=false][=3.14159]'),
        (P("spec"), ".spec"),
        (
            P("spec", "apps", {"name": "app-🚀"}, "container", "image"),
            '.spec.apps[name="app-🚀"].container.image',
        ),
        (
            P(
                "spec",
                "apps",
                {"name": "app-💻"},
                "container",
                "ports",
                {"name": "port-🔑"},
                "containerPort",
            ),
            '.spec.apps[name="app-💻"].container.ports[name="port-🔑"].containerPort',
        ),
        (P("spec", "field with space"), ".spec.field with space"),
        (
            P("spec", "apps", V("app with space"), "container", "image"),
            '.spec.apps[="app with space"].container.image',
        ),
        (
            P("spec", "apps", V('app with "quotes"'), "container", "image"),
            '.spec.apps[="app with \\"quotes\\""].container.image',
        ),
        (
            P("spec", "apps", V("app-with-unicøde"), "container", "image"),
            '.spec.apps[="app-with-unicøde"].container.image',
        ),
        # What conflict messages show for Kubernetes objects.
        (P("spec", "containers", {"name": "x"}, "image"), '.spec.containers[name="x"].image'),
        (
            P(
                "spec",
                "containers",
                {"name": "x"},
                "ports",
                {"protocol": "TCP", "containerPort": 80},
            ),
            '.spec.containers[name="x"].ports[containerPort=80,protocol="TCP"]',
        ),
        (P("metadata", "finalizers", V("a")), '.metadata.finalizers[="a"]'),
        (P("spec", "args", 0), ".spec.args[0]"),
        (
            P("metadata", "labels", "app.kubernetes.io/name"),
            ".metadata.labels.app.kubernetes.io/name",
        ),
        ((), ""),
    ],
)
def test_path_string(path: tuple[str, ...], expected: str) -> None:
    assert path_string(path) == expected


def test_numbers_are_one_element_however_written() -> None:
    # Upstream compares JSON numbers by value and writes 2.0 as 2 (default_keys_test.go's
    # "apply_integer_key_with_float_default").
    assert key_element({"page": 2.0, "line": 3}) == key_element({"line": 3, "page": 2})
    assert key_element({"page": 2.0}) == 'k:{"page":2}'
    assert value_element(3.0) == "v:3"
    assert value_element(3.5) == "v:3.5"
    assert value_element({"b": 1, "a": [1.0]}) == 'v:{"a":[1],"b":1}'


# -- FieldsV1 ------------------------------------------------------------------------------------
DEPLOYMENT_FIELDS: dict[str, Any] = {
    "f:metadata": {
        "f:annotations": {".": {}, "f:deployment.kubernetes.io/revision": {}},
        "f:labels": {".": {}, "f:app": {}},
    },
    "f:spec": {
        "f:replicas": {},
        "f:selector": {},
        "f:template": {
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {
                "f:containers": {
                    'k:{"name":"nginx"}': {
                        ".": {},
                        "f:image": {},
                        "f:name": {},
                        "f:ports": {
                            ".": {},
                            'k:{"containerPort":80,"protocol":"TCP"}': {
                                ".": {},
                                "f:containerPort": {},
                                "f:protocol": {},
                            },
                        },
                    }
                },
                "f:dnsPolicy": {},
            },
        },
    },
}


def test_fieldsv1_round_trip_of_a_real_entry() -> None:
    fields = FieldSet.from_fields(DEPLOYMENT_FIELDS)
    assert fields.to_fields() == DEPLOYMENT_FIELDS
    assert list(fields.to_fields()["f:spec"]) == ["f:replicas", "f:selector", "f:template"]
    assert fields.has(P("metadata", "labels"))
    assert fields.has(P("metadata", "labels", "app"))
    assert not fields.has(P("metadata"))
    assert not fields.has(P("spec", "template"))
    assert fields.has(P("spec", "selector"))
    container = P("spec", "template", "spec", "containers", {"name": "nginx"})
    assert fields.has(container)
    assert fields.has((*container, "f:image"))
    port = (*container, "f:ports", key_element({"containerPort": 80, "protocol": "TCP"}))
    assert fields.has(port)
    assert fields.has((*port, "f:protocol"))


def test_member_with_children_gets_a_dot_entry() -> None:
    fields = NS(P("a"), P("a", "b"), P("c", "d"))
    assert fields.to_fields() == {"f:a": {".": {}, "f:b": {}}, "f:c": {"f:d": {}}}
    # "." comes first, as upstream writes it.
    assert list(fields.to_fields()["f:a"]) == [".", "f:b"]
    back = FieldSet.from_fields(fields.to_fields())
    assert back == fields
    assert back.has(P("a"))
    assert not back.has(P("c"))


def test_dot_alone_and_empty_object_are_members() -> None:
    fields = FieldSet.from_fields({"f:a": {".": {}}, "f:b": {}})
    assert fields.has(P("a"))
    assert fields.has(P("b"))
    assert fields.to_fields() == {"f:a": {}, "f:b": {}}


def test_the_value_of_a_dot_entry_is_not_looked_at() -> None:
    # Upstream skips it, whatever it is.
    fields = FieldSet.from_fields({"f:a": {".": {"x": 1}, "f:b": {}}, "f:c": {".": None}})
    assert fields.has(P("a"))
    assert fields.has(P("a", "b"))
    assert fields.has(P("c"))


def test_root_membership_and_empty_nodes_are_not_written() -> None:
    fields = FieldSet()
    fields.insert(())
    fields.child("f:empty").child("f:deeper")
    fields.insert(P("x"))
    assert fields.to_fields() == {"f:x": {}}
    assert FieldSet().to_fields() == {}
    assert FieldSet().empty()


def test_null_fieldsv1_is_an_empty_set() -> None:
    assert FieldSet.from_fields(None).empty()
    # Upstream reads a null value as an empty object: a member.
    assert FieldSet.from_fields({"f:a": None}).has(P("a"))


def test_elements_of_unknown_types_are_ignored() -> None:
    # fieldpath/serialize-pe_test.go: TestPathElementIgnoreUnknown; readIterV1 drops them.
    fields = FieldSet.from_fields({"r:Hello": {}, "f:a": {"r:x": {}}, "f:b": {"f:c": {}}})
    assert fields.to_fields() == {"f:a": {}, "f:b": {"f:c": {}}}
    assert fields.has(P("a"))


@pytest.mark.parametrize(
    "element",
    [
        "i:0",
        "i:1234",
        "f:",
        "f:spec",
        "f:more-complicated-string",
        "f: string-with-spaces   ",
        'k:{"name":"my-container"}',
        'k:{"name":"   name with spaces   "}',
        'k:{"port":"8080","protocol":"TCP"}',
        'k:{"optionalField":null}',
        'k:{"jsonField":{"A":1,"B":null,"C":"D","E":{"F":"G"}}}',
        'k:{"listField":["1","2","3"]}',
        "v:null",
        'v:"some-string"',
        "v:1234",
        'v:{"some":"json"}',
        'v:{"some":" some  with spaces  "}',
        'k:{"name":"app-🚀"}',
        'k:{"name":"app with-unicøde"}',
        'k:{"name":"你好世界"}',
        'k:{"name":"Привет, мир"}',
        'k:{"name":"👋"}',
        "f:spec-🚀",
        "f:spec-\\n",
    ],
)
def test_path_elements_round_trip(element: str) -> None:
    # fieldpath/serialize-pe_test.go: TestPathElementRoundTrip.
    fields = FieldSet.from_fields({element: {}})
    assert list(fields.to_fields()) == [element]


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ('k:{"protocol":"TCP","containerPort":80}', 'k:{"containerPort":80,"protocol":"TCP"}'),
        ('k:{"name": "x"}', 'k:{"name":"x"}'),
        ('k:{"port":80.0}', 'k:{"port":80}'),
        ("v:1.0", "v:1"),
        ('v: "a"', 'v:"a"'),
        ("i:+7", "i:7"),
    ],
)
def test_path_elements_are_read_in_their_canonical_spelling(written: str, canonical: str) -> None:
    fields = FieldSet.from_fields({"f:list": {written: {}}})
    assert fields.to_fields() == {"f:list": {canonical: {}}}
    assert fields.has(("f:list", canonical))


def test_two_spellings_of_one_element_merge() -> None:
    fields = FieldSet.from_fields(
        {'k:{"a":1,"b":2}': {"f:x": {}}, 'k:{"b":2,"a":1}': {".": {}, "f:y": {}}}
    )
    assert fields.to_fields() == {'k:{"a":1,"b":2}': {".": {}, "f:x": {}, "f:y": {}}}


@pytest.mark.parametrize(
    "element",
    [
        "",
        "no-colon",
        "i:index is not a number",
        "i:1.23",
        "i:",
        "v:invalid json",
        "v:",
        "k:invalid json",
        'k:{"name":invalid}',
        'v:{"some":" \\x41"}',
        "v",
        "k",
        "f",
        "i",
        'v:{"a":"b"',
        'k:{"a":"b"',
        "i: 0",
        "i:0 ",
        'v:{"some":"json"} {"other":"json"}',
        'k:{"name":"my-container"} {"other":"my-container"}',
        'v:{"some":"json"} garbage',
        'k:{"name":"my-container"} garbage',
        'k:["not","an","object"]',
    ],
)
def test_invalid_path_elements(element: str) -> None:
    # fieldpath/serialize-pe_test.go: TestDeserializePathElementError.
    with pytest.raises(FieldsV1Error):
        FieldSet.from_fields({element: {}})
    with pytest.raises(FieldsV1Error):
        FieldSet.from_fields({"f:spec": {element: {}}})


@pytest.mark.parametrize("fields", [[], "f:a", 1, True])
def test_fieldsv1_must_be_an_object(fields: Any) -> None:
    with pytest.raises(FieldsV1Error):
        FieldSet.from_fields(fields)


@pytest.mark.parametrize("value", [[], "x", 1, True, [{}]])
def test_fieldsv1_values_must_be_objects(value: Any) -> None:
    with pytest.raises(FieldsV1Error):
        FieldSet.from_fields({"f:spec": {"f:a": value}})


# -- set algebra (fieldpath/set_test.go) ---------------------------------------------------------
def test_insert_has() -> None:
    fields = NS(P("foo", 0, "bar", "baz"), P("foo", 0, "bar"), P("qux", {"name": "first"}))
    assert fields.has(P("foo", 0, "bar", "baz"))
    assert fields.has(P("foo", 0, "bar"))
    assert not fields.has(P("foo", 0))
    assert not fields.has(P("foo"))
    assert fields.has(P("qux", {"name": "first"}))
    assert not fields.has(P("qux", {"name": "second"}))
    assert not fields.has(P("nope", 0, "bar"))


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        (NS(P("foo")), NS(P("bar")), False),
        (NS(P("foo")), NS(P("foo")), True),
        (NS(), NS(P(0, "foo")), False),
        (NS(P(1, "foo")), NS(P(0, "foo")), False),
        (NS(P(1, "foo")), NS(P(1, "foo", "bar")), False),
        (NS(P(0), P(1)), NS(P(1), P(0)), True),
        (NS(P("foo", 0), P("foo", 1)), NS(P("foo", 1), P("foo", 0)), True),
        (
            NS(P("foo", 0), P("foo"), P("bar", "baz"), P("qux", {"name": "first"})),
            NS(P("foo", 1), P("bar", "baz"), P("bar"), P("qux", {"name": "second"})),
            False,
        ),
    ],
)
def test_equals(a: FieldSet, b: FieldSet, equal: bool) -> None:
    assert (a == b) is equal


def test_union() -> None:
    s1 = NS(
        P("foo", 0),
        P("foo"),
        P("bar", "baz"),
        P("qux", {"name": "first"}),
        P("parent", "child", "grandchild"),
    )
    s2 = NS(
        P("foo", 1),
        P("bar", "baz"),
        P("bar"),
        P("qux", {"name": "second"}),
        P("parent", "child"),
    )
    expected = NS(
        P("foo", 0),
        P("foo", 1),
        P("foo"),
        P("bar", "baz"),
        P("bar"),
        P("qux", {"name": "first"}),
        P("qux", {"name": "second"}),
        P("parent", "child"),
        P("parent", "child", "grandchild"),
    )
    assert s1.union(s2) == expected
    assert s2.union(s1) == expected
    # Inputs are left alone.
    assert not s1.has(P("bar"))


FIRST = {"name": "first"}
S1 = NS(
    P("a0"),
    P("a1"),
    P("foo", 0),
    P("foo", 1),
    P("b0", FIRST),
    P("b1", FIRST),
    P("bar", "c0"),
    P("cp", FIRST, "child"),
)
S2 = NS(
    P("a1"),
    P("a2"),
    P("foo", 1),
    P("foo", 2),
    P("b1", FIRST),
    P("b2", FIRST),
    P("bar", "c2"),
    P("cp", FIRST),
)


def test_intersection() -> None:
    expected = NS(P("a1"), P("foo", 1), P("b1", FIRST))
    assert S1.intersection(S2) == expected
    assert S2.intersection(S1) == expected
    # The hard way: two unions and three differences.
    assert S1.union(S2).difference(S2.difference(S1).union(S1.difference(S2))) == expected


def test_difference_both_ways() -> None:
    assert S1.difference(S2) == NS(
        P("a0"), P("foo", 0), P("b0", FIRST), P("bar", "c0"), P("cp", FIRST, "child")
    )
    assert S2.difference(S1) == NS(
        P("a2"), P("foo", 2), P("b2", FIRST), P("bar", "c2"), P("cp", FIRST)
    )


@pytest.mark.parametrize(
    ("a", "b", "difference", "recursive"),
    [
        pytest.param(NS(P("a")), NS(P("a")), NS(), NS(), id="removes simple path"),
        pytest.param(
            NS(P("a", "b", "c")), NS(P("a", "b", "c")), NS(), NS(), id="removes direct path"
        ),
        pytest.param(
            NS(P("a", "b", "c"), P("b", "b", "c")),
            NS(P("a", "b", "c")),
            NS(P("b", "b", "c")),
            NS(P("b", "b", "c")),
            id="only removes matching child",
        ),
        pytest.param(
            NS(P("a")),
            NS(P("a", "aa")),
            NS(P("a")),
            NS(P("a")),
            id="does not remove parent of specific path",
        ),
        pytest.param(
            NS(P("a", "b", "c")),
            NS(P("a")),
            NS(P("a", "b", "c")),
            NS(),
            id="recursive difference removes nested path",
        ),
        pytest.param(
            NS(P("a", "aa", "aab"), P("a", "ab", "aba")),
            NS(P("a", "aa")),
            NS(P("a", "aa", "aab"), P("a", "ab", "aba")),
            NS(P("a", "ab", "aba")),
            id="recursive difference only removes nested path for matching children",
        ),
        pytest.param(
            NS(P("a", "aa", "aab"), P("a", "ab", "aba")),
            NS(P("a")),
            NS(P("a", "aa", "aab"), P("a", "ab", "aba")),
            NS(),
            id="recursive difference removes all matching children",
        ),
    ],
)
def test_difference_and_recursive_difference(
    a: FieldSet, b: FieldSet, difference: FieldSet, recursive: FieldSet
) -> None:
    assert a.difference(b) == difference
    assert a.recursive_difference(b) == recursive


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(NS(), NS(), id="empty set"),
        pytest.param(NS(P("p1"), P("p2"), P("p3")), NS(P("p1"), P("p2"), P("p3")), id="all leaves"),
        pytest.param(
            NS(P("root"), P("root", "l1"), P("root", "l1", "l2"), P("root", "l1", "l2", "l3")),
            NS(P("root", "l1", "l2", "l3")),
            id="only one leaf",
        ),
        pytest.param(
            NS(
                P("root"),
                P("root", {"name": "a"}),
                P("root", {"name": "a"}, "name"),
                P("root", {"name": "a"}, "value", "b"),
                P("root", {"name": "a"}, "value", "b", "c"),
                P("root", {"name": "a"}, "value", "d"),
                P("root", "x"),
                P("root", "x", "y"),
                P("root", {"name": "p"}),
                P("root", {"name": "p"}, "value", "q"),
            ),
            NS(
                P("root", {"name": "a"}, "name"),
                P("root", {"name": "a"}, "value", "b", "c"),
                P("root", {"name": "a"}, "value", "d"),
                P("root", "x", "y"),
                P("root", {"name": "p"}, "value", "q"),
            ),
            id="all-in-one",
        ),
    ],
)
def test_leaves(fields: FieldSet, expected: FieldSet) -> None:
    assert NS(*fields.leaves()) == expected


# -- order ---------------------------------------------------------------------------------------
def test_paths_iterate_as_upstream() -> None:
    # Set.Iterate: the members among a node's children first, then below each child.
    fields = NS(
        P("spec", "containers", {"name": "b"}),
        P("spec", "containers", {"name": "a"}, "image"),
        P("spec", "containers", {"name": "a"}),
        P("spec", "replicas"),
        P("metadata", "labels", "app"),
    )
    assert strings(fields) == [
        ".metadata.labels.app",
        ".spec.replicas",
        '.spec.containers[name="a"]',
        '.spec.containers[name="b"]',
        '.spec.containers[name="a"].image',
    ]


def test_element_order_is_upstreams() -> None:
    # Fields, then keys, then values, then indexes; each compared by value, not spelling.
    elements = [
        "i:10",
        "i:9",
        'v:"a"',
        "v:10",
        "v:9",
        "v:true",
        "v:null",
        'k:{"port":443}',
        'k:{"port":80}',
        'k:{"port":80,"protocol":"UDP"}',
        "f:b",
        "f:a",
    ]
    assert sorted(elements, key=element_order) == [
        "f:a",
        "f:b",
        'k:{"port":80}',
        'k:{"port":80,"protocol":"UDP"}',
        'k:{"port":443}',
        "v:9",
        "v:10",
        'v:"a"',
        "v:true",
        "v:null",
        "i:9",
        "i:10",
    ]
    fields = NS(P("ports", {"port": 443}), P("ports", {"port": 80}))
    assert list(fields.to_fields()["f:ports"]) == ['k:{"port":80}', 'k:{"port":443}']


def test_repr_lists_paths() -> None:
    assert repr(NS(P("a", "b"))) == "FieldSet(['.a.b'])"
