"""RFC 6902 JSON Patch: the RFC's appendix A, plus the error texts kube-apiserver returns."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pocketkube.api.patch import PatchError, apply_json_patch, parse_pointer

# RFC 6902 appendix A (A.13, a document with a duplicate "op" key, is a JSON-parser matter).
APPENDIX_A: list[tuple[str, Any, list[Any], Any]] = [
    (
        "A.1 add object member",
        {"foo": "bar"},
        [{"op": "add", "path": "/baz", "value": "qux"}],
        {"baz": "qux", "foo": "bar"},
    ),
    (
        "A.2 add array element",
        {"foo": ["bar", "baz"]},
        [{"op": "add", "path": "/foo/1", "value": "qux"}],
        {"foo": ["bar", "qux", "baz"]},
    ),
    (
        "A.3 remove object member",
        {"baz": "qux", "foo": "bar"},
        [{"op": "remove", "path": "/baz"}],
        {"foo": "bar"},
    ),
    (
        "A.4 remove array element",
        {"foo": ["bar", "qux", "baz"]},
        [{"op": "remove", "path": "/foo/1"}],
        {"foo": ["bar", "baz"]},
    ),
    (
        "A.5 replace a value",
        {"baz": "qux", "foo": "bar"},
        [{"op": "replace", "path": "/baz", "value": "boo"}],
        {"baz": "boo", "foo": "bar"},
    ),
    (
        "A.6 move a value",
        {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
        [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
        {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}},
    ),
    (
        "A.7 move an array element",
        {"foo": ["all", "grass", "cows", "eat"]},
        [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
        {"foo": ["all", "cows", "eat", "grass"]},
    ),
    (
        "A.8 test success",
        {"baz": "qux", "foo": ["a", 2, "c"]},
        [
            {"op": "test", "path": "/baz", "value": "qux"},
            {"op": "test", "path": "/foo/1", "value": 2},
        ],
        {"baz": "qux", "foo": ["a", 2, "c"]},
    ),
    (
        "A.10 add nested member object",
        {"foo": "bar"},
        [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
        {"foo": "bar", "child": {"grandchild": {}}},
    ),
    (
        "A.11 ignore unrecognized elements",
        {"foo": "bar"},
        [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}],
        {"foo": "bar", "baz": "qux"},
    ),
    (
        "A.14 ~ escape ordering",
        {"/": 9, "~1": 10},
        [{"op": "test", "path": "/~01", "value": 10}],
        {"/": 9, "~1": 10},
    ),
    (
        "A.16 add array value",
        {"foo": ["bar"]},
        [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
        {"foo": ["bar", ["abc", "def"]]},
    ),
    (
        "copy",
        {"a": {"b": [1]}},
        [{"op": "copy", "from": "/a", "path": "/c"}],
        {"a": {"b": [1]}, "c": {"b": [1]}},
    ),
    (
        "replace whole document",
        {"a": 1},
        [{"op": "replace", "path": "", "value": [1]}],
        [1],
    ),
    (
        "escaped slash in a label key",
        {"metadata": {"labels": {"app.kubernetes.io/name": "x"}}},
        [{"op": "remove", "path": "/metadata/labels/app.kubernetes.io~1name"}],
        {"metadata": {"labels": {}}},
    ),
    (
        "test missing value against null (evanphx)",
        {"a": {}},
        [{"op": "test", "path": "/a/b", "value": None}],
        {"a": {}},
    ),
    (
        "test 1 equals 1.0",
        {"a": 1},
        [{"op": "test", "path": "/a", "value": 1.0}],
        {"a": 1},
    ),
]


@pytest.mark.parametrize(
    ("doc", "ops", "expected"),
    [case[1:] for case in APPENDIX_A],
    ids=[case[0] for case in APPENDIX_A],
)
def test_appendix_a(doc: Any, ops: list[Any], expected: Any) -> None:
    before = copy.deepcopy(doc)
    assert apply_json_patch(doc, ops) == expected
    assert doc == before


ERRORS: list[tuple[str, Any, list[Any], str]] = [
    (
        "A.9 test failure",
        {"baz": "qux"},
        [{"op": "test", "path": "/baz", "value": "bar"}],
        "testing value /baz failed: test failed",
    ),
    (
        "A.12 add to a nonexistent target",
        {"foo": "bar"},
        [{"op": "add", "path": "/baz/bat", "value": "qux"}],
        'add operation does not apply: doc is missing path: "/baz/bat": missing value',
    ),
    (
        "A.15 strings and numbers differ",
        {"/": 9, "~1": 10},
        [{"op": "test", "path": "/~01", "value": "10"}],
        "testing value /~01 failed: test failed",
    ),
    (
        "test of metadata.name",
        {"metadata": {"name": "a"}},
        [{"op": "test", "path": "/metadata/name", "value": "b"}],
        "testing value /metadata/name failed: test failed",
    ),
    (
        "true is not 1",
        {"a": True},
        [{"op": "test", "path": "/a", "value": 1}],
        "testing value /a failed: test failed",
    ),
    (
        "remove missing parent",
        {"spec": {}},
        [{"op": "remove", "path": "/spec/x/y"}],
        'remove operation does not apply: doc is missing path: "/spec/x/y": missing value',
    ),
    (
        "remove missing key",
        {"spec": {}},
        [{"op": "remove", "path": "/spec/x"}],
        "unable to remove nonexistent key: x: missing value",
    ),
    (
        "replace missing key",
        {"spec": {}},
        [{"op": "replace", "path": "/spec/x", "value": 1}],
        "replace operation does not apply: doc is missing key: /spec/x: missing value",
    ),
    (
        "move from missing",
        {},
        [{"op": "move", "from": "/a", "path": "/b"}],
        "move operation does not apply: doc is missing from path: /a: missing value",
    ),
    (
        "move into own child",
        {"a": {"b": 1}},
        [{"op": "move", "from": "/a", "path": "/a/b/c"}],
        "/a is a prefix of /a/b/c",
    ),
    (
        "copy from missing",
        {},
        [{"op": "copy", "from": "/a", "path": "/b"}],
        'copy operation does not apply: doc is missing from path: "/a": missing value',
    ),
    (
        "index past the end",
        {"a": [1]},
        [{"op": "add", "path": "/a/2", "value": 3}],
        "Unable to access invalid index: 2: invalid index referenced",
    ),
    (
        "leading zero index",
        {"a": [1, 2]},
        [{"op": "replace", "path": "/a/01", "value": 3}],
        "invalid index referenced",
    ),
    (
        "unknown op",
        {},
        [{"op": "frobnicate", "path": "/a"}],
        "unsupported operation",
    ),
    ("missing value", {}, [{"op": "add", "path": "/a"}], "missing value field"),
    ("missing path", {}, [{"op": "remove"}], "missing path field"),
    ("bad pointer", {}, [{"op": "add", "path": "a", "value": 1}], "must start with '/'"),
]


@pytest.mark.parametrize(
    ("doc", "ops", "message"),
    [case[1:] for case in ERRORS],
    ids=[case[0] for case in ERRORS],
)
def test_errors(doc: Any, ops: list[Any], message: str) -> None:
    with pytest.raises(PatchError, match=None) as err:
        apply_json_patch(doc, ops)
    assert message in str(err.value)


def test_failed_patch_leaves_document_untouched() -> None:
    doc = {"a": [1, 2]}
    ops = [{"op": "add", "path": "/a/-", "value": 3}, {"op": "test", "path": "/a/0", "value": 9}]
    with pytest.raises(PatchError):
        apply_json_patch(doc, ops)
    assert doc == {"a": [1, 2]}


def test_added_value_is_not_shared_with_the_patch() -> None:
    value = {"x": [1]}
    result = apply_json_patch({}, [{"op": "add", "path": "/v", "value": value}])
    result["v"]["x"].append(2)
    assert value == {"x": [1]}


@pytest.mark.parametrize(
    ("pointer", "tokens"),
    [("", []), ("/", [""]), ("/a~1b/c~0d", ["a/b", "c~d"]), ("/~01", ["~1"])],
)
def test_parse_pointer(pointer: str, tokens: list[str]) -> None:
    assert parse_pointer(pointer) == tokens
