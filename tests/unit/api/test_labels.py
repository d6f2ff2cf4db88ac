from __future__ import annotations

import pytest

from pocketkube.api.labels import (
    NOTHING,
    SelectorError,
    parse_label_selector,
    selector_from_label_selector,
    selector_from_set,
    validate_label_selector,
)

VALUE_REGEX_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("", ""),
        ("x=a", "x=a"),
        ("x==a", "x==a"),
        ("x!=a", "x!=a"),
        ("x=", "x="),
        ("x", "x"),
        ("!x", "!x"),
        ("x>1", "x>1"),
        ("x<10", "x<10"),
        ("x in (a)", "x in (a)"),
        ("x in (b,a)", "x in (a,b)"),
        ("x notin (a,b)", "x notin (a,b)"),
        ("x in ()", "x in ()"),
        ("x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()"),
        ("x in (in,notin)", "x in (in,notin)"),
        ("x in(a)", "x in (a)"),
        ("  x  =  a  ,  y  ", "x=a,y"),
        ("\tx=a\n", "x=a"),
        ("z=1,a=2", "a=2,z=1"),
        ("x=a,x!=b", "x=a,x!=b"),
        ("example.com/name=v", "example.com/name=v"),
        ("app.kubernetes.io/name in (web, db)", "app.kubernetes.io/name in (db,web)"),
        ("x in (a,a)", "x in (a)"),
        ("in=in", "in=in"),
        ("x=A_b.c-9", "x=A_b.c-9"),
    ],
)
def test_valid_selectors_round_trip(text: str, canonical: str) -> None:
    selector = parse_label_selector(text)
    assert str(selector) == canonical
    assert parse_label_selector(str(selector)) == selector


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x=a b", "found 'b', expected: ',' or 'end of string'"),
        (
            "a b",
            "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt",
        ),
        ("x,", "found '', expected: identifier after ','"),
        (",", "found ',', expected: !, identifier, or 'end of string'"),
        ("(", "found '(', expected: !, identifier, or 'end of string'"),
        ("x=a,,y", "found ',', expected: identifier after ','"),
        ("!x=a", "found '=', expected: ',' or 'end of string'"),
        ("!", "unable to parse requirement: found '', expected: identifier"),
        ("x in a", "unable to parse requirement: found 'a' expected: '('"),
        ("x in (a", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("x in (a b)", "unable to parse requirement: found 'b', expected: ',' or ')'"),
        ("x in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier"),
        ("x=(", "unable to parse requirement: found '(', expected: identifier"),
        ("x<=1", "unable to parse requirement: found '=', expected: identifier"),
        ("x!", "unable to parse requirement: found '!', expected: in, notin, =, ==, !=, gt, lt"),
        (
            "x>a",
            'unable to parse requirement: values[0]: Invalid value: "a": '
            "for 'Gt', 'Lt' operators, the value must be an integer",
        ),
        (
            "x>99999999999999999999",
            'unable to parse requirement: values[0]: Invalid value: "99999999999999999999": '
            "for 'Gt', 'Lt' operators, the value must be an integer",
        ),
        (
            "x=a@b",
            f'unable to parse requirement: values[0][x]: Invalid value: "a@b": {VALUE_REGEX_MSG}',
        ),
        (
            "x>a@",
            "unable to parse requirement: [values[0]: Invalid value: \"a@\": for 'Gt', 'Lt' "
            f'operators, the value must be an integer, values[0][x]: Invalid value: "a@": '
            f"{VALUE_REGEX_MSG}]",
        ),
        (
            "x=" + "a" * 64,
            f'unable to parse requirement: values[0][x]: Invalid value: "{"a" * 64}": '
            "must be no more than 63 characters",
        ),
    ],
)
def test_invalid_selectors_report_upstream_messages(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as caught:
        parse_label_selector(text)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    "key",
    ["-x", "x-", "a/b/c", "/x", "Example.com/x", "a" * 64, "x@y", "a_b/c", "x%2e"],
)
def test_invalid_keys_are_reported_with_nil_path(key: str) -> None:
    with pytest.raises(SelectorError) as caught:
        parse_label_selector(f"{key}=v")
    assert str(caught.value).startswith(
        f'unable to parse requirement: <nil>: Invalid value: "{key}'
    )


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("", {}, True),
        ("x=a", {"x": "a"}, True),
        ("x=a", {"x": "b"}, False),
        ("x=a", {}, False),
        ("x!=a", {}, True),
        ("x!=a", {"x": "a"}, False),
        ("x!=a", {"x": "b"}, True),
        ("x in (a,b)", {"x": "b"}, True),
        ("x in (a,b)", {"x": "c"}, False),
        ("x notin (a,b)", {}, True),
        ("x notin (a,b)", {"x": "a"}, False),
        ("x", {"x": ""}, True),
        ("x", {"y": "1"}, False),
        ("!x", {"y": "1"}, True),
        ("!x", {"x": ""}, False),
        ("x>1", {"x": "2"}, True),
        ("x>1", {"x": "1"}, False),
        ("x>1", {"x": "abc"}, False),
        ("x>1", {}, False),
        ("x<10", {"x": "9"}, True),
        ("x<10", {"x": "+9"}, True),
        ("x<10", {"x": " 9"}, False),
        ("x=", {"x": ""}, True),
        ("x in ()", {"x": ""}, True),
        ("x=a,y=b", {"x": "a", "y": "b"}, True),
        ("x=a,y=b", {"x": "a"}, False),
    ],
)
def test_matches(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_label_selector(text).matches(labels) is expected


def test_empty_and_nothing() -> None:
    assert parse_label_selector("").empty
    assert not parse_label_selector("x").empty
    assert not NOTHING.empty
    assert not NOTHING.matches({})


def test_requires_exact_match() -> None:
    selector = parse_label_selector("a=1,b in (2),c in (3,4),d!=5")
    assert selector.requires_exact_match("a") == "1"
    assert selector.requires_exact_match("b") == "2"
    assert selector.requires_exact_match("c") is None
    assert selector.requires_exact_match("d") is None
    assert selector.requires_exact_match("e") is None


def test_selector_from_set() -> None:
    selector = selector_from_set({"b": "2", "a": "1"})
    assert str(selector) == "a=1,b=2"
    assert selector.matches({"a": "1", "b": "2", "c": "3"})


@pytest.mark.parametrize(
    ("obj", "canonical"),
    [
        ({}, ""),
        ({"matchLabels": {"app": "web"}}, "app=web"),
        (
            {
                "matchLabels": {"app": "web"},
                "matchExpressions": [
                    {"key": "tier", "operator": "In", "values": ["b", "a"]},
                    {"key": "env", "operator": "NotIn", "values": ["prod"]},
                    {"key": "canary", "operator": "DoesNotExist"},
                    {"key": "zone", "operator": "Exists"},
                ],
            },
            "app=web,!canary,env notin (prod),tier in (a,b),zone",
        ),
    ],
)
def test_selector_from_label_selector(obj: dict[str, object], canonical: str) -> None:
    assert str(selector_from_label_selector(obj)) == canonical


def test_nil_label_selector_selects_nothing() -> None:
    assert selector_from_label_selector(None) == NOTHING


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (
            {"matchExpressions": [{"key": "x", "operator": "Foo"}]},
            '"Foo" is not a valid label selector operator',
        ),
        (
            {"matchExpressions": [{"key": "x", "operator": "In", "values": []}]},
            "values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty",
        ),
        (
            {"matchExpressions": [{"key": "x", "operator": "Exists", "values": ["a"]}]},
            'values: Invalid value: ["a"]: values set must be empty for exists and does not exist',
        ),
        ({"matchLabels": {"x": "a b"}}, f'values[0][x]: Invalid value: "a b": {VALUE_REGEX_MSG}'),
    ],
)
def test_selector_from_label_selector_errors(obj: dict[str, object], message: str) -> None:
    with pytest.raises(SelectorError) as caught:
        selector_from_label_selector(obj)
    assert str(caught.value) == message


def test_validate_label_selector_field_paths() -> None:
    errors = validate_label_selector(
        {
            "matchLabels": {"ok": "UPPER_fine", "bad": "-x"},
            "matchExpressions": [
                {"key": "x", "operator": "In"},
                {"key": "y", "operator": "Exists", "values": ["a"]},
                {"key": "Bad Key", "operator": "Near"},
            ],
        },
        "spec.selector",
    )
    assert [(e.type, e.field) for e in errors] == [
        ("FieldValueInvalid", "spec.selector.matchLabels"),
        ("FieldValueRequired", "spec.selector.matchExpressions[0].values"),
        ("FieldValueForbidden", "spec.selector.matchExpressions[1].values"),
        ("FieldValueInvalid", "spec.selector.matchExpressions[2].operator"),
        ("FieldValueInvalid", "spec.selector.matchExpressions[2].key"),
    ]
    assert errors[1].message == (
        "spec.selector.matchExpressions[0].values: Required value: "
        "must be specified when `operator` is 'In' or 'NotIn'"
    )
    assert validate_label_selector(None, "spec.selector") == []
