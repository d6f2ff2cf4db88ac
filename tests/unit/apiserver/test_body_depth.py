"""The nesting limit of request bodies: exactly MAX_DEPTH containers deep is accepted, one more
is refused, whether or not the quick count of brackets lets the walk be skipped."""

from __future__ import annotations

import pytest

from pocketkube.api.status import StatusError
from pocketkube.apiserver import body


def _nested(depth: int, opening: str, closing: str) -> bytes:
    """A body whose innermost scalar is ``depth`` containers deep (the root is depth 0)."""
    inner = "1"
    for _ in range(depth):
        inner = f'{opening[0]}"k": {inner}{closing}' if opening == "{" else f"[{inner}]"
    return f'{{"a": {inner}}}'.encode()  # one more level: the object around it


@pytest.mark.parametrize(("opening", "closing"), [("{", "}"), ("[", "]")])
def test_the_limit_is_exact(opening: str, closing: str) -> None:
    fits = _nested(body.MAX_DEPTH - 1, opening, closing)  # the scalar at depth MAX_DEPTH
    assert body.parse_object(fits, body.JSON)
    too_deep = _nested(body.MAX_DEPTH, opening, closing)
    with pytest.raises(StatusError, match="nested too deeply"):
        body.parse_object(too_deep, body.JSON)


def test_brackets_inside_strings_only_make_the_check_walk() -> None:
    raw = b'{"a": "' + b"[" * (body.MAX_DEPTH + 50) + b'", "b": [[1]]}'
    assert body.parse_object(raw, body.JSON)["b"] == [[1]]


def test_an_empty_container_at_the_limit_is_accepted() -> None:
    inner = "[]"
    for _ in range(body.MAX_DEPTH - 1):
        inner = f"[{inner}]"
    assert body.parse_document(f'{{"a": {inner}}}'.encode(), body.JSON)
