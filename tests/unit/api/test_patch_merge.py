"""RFC 7386 JSON Merge Patch: the RFC's appendix A, and kubectl label/annotate shapes."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pocketkube.api.patch import apply_merge_patch

APPENDIX_A: list[tuple[Any, Any, Any]] = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    # RFC 7386 section 3.
    (
        {"title": "Goodbye!", "author": {"givenName": "John", "familyName": "Doe"}},
        {"title": "Hello!", "phoneNumber": "+01-123-456-7890", "author": {"familyName": None}},
        {"title": "Hello!", "author": {"givenName": "John"}, "phoneNumber": "+01-123-456-7890"},
    ),
    # kubectl label app- / annotate.
    (
        {"metadata": {"labels": {"app": "x", "tier": "web"}}},
        {"metadata": {"labels": {"app": None}, "annotations": {"a": "b"}}},
        {"metadata": {"labels": {"tier": "web"}, "annotations": {"a": "b"}}},
    ),
]


@pytest.mark.parametrize(("doc", "patch", "expected"), APPENDIX_A)
def test_appendix_a(doc: Any, patch: Any, expected: Any) -> None:
    before, patch_before = copy.deepcopy(doc), copy.deepcopy(patch)
    assert apply_merge_patch(doc, patch) == expected
    assert doc == before
    assert patch == patch_before


def test_result_shares_nothing_with_inputs() -> None:
    doc: dict[str, Any] = {"keep": {"x": [1]}, "a": 1}
    patch: dict[str, Any] = {"new": {"y": [2]}}
    result = apply_merge_patch(doc, patch)
    result["keep"]["x"].append(9)
    result["new"]["y"].append(9)
    assert doc == {"keep": {"x": [1]}, "a": 1}
    assert patch == {"new": {"y": [2]}}
