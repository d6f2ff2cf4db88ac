"""YAML-typed bodies that are JSON (what kubectl sends as apply-patch+yaml) take the C parser."""

from __future__ import annotations

import time

import orjson
import pytest

from pocketkube.api.status import StatusError
from pocketkube.apiserver import body


@pytest.mark.parametrize("kind", [body.YAML, body.APPLY_PATCH])
def test_json_in_a_yaml_body_is_parsed_as_json(kind: str) -> None:
    doc = {"data": {f"k{i}": "v" * 100 for i in range(20_000)}}  # ~2.5 MB
    raw = orjson.dumps(doc)
    started = time.perf_counter()
    assert body.parse_document(raw, kind) == doc
    assert time.perf_counter() - started < 1.0  # PyYAML takes tens of seconds for this


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"a: 1\n", {"a": 1}),  # plain YAML still goes to the YAML parser
        (b'{"a": 1, b: 2}', {"a": 1, "b": 2}),  # YAML flow mapping, not JSON
        (b"  [1, 2]", [1, 2]),
    ],
)
def test_what_is_not_json_is_still_yaml(raw: bytes, expected: object) -> None:
    assert body.parse_document(raw, body.APPLY_PATCH) == expected


def test_deep_json_in_a_yaml_body_is_refused() -> None:
    with pytest.raises(StatusError) as refused:
        body.parse_document(b"[" * 5000 + b"]" * 5000, body.YAML)
    assert refused.value.code == 400
