"""The REST client's pure parts: Status errors, watch lines, query parameters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from pocketkube.client import ApiError, TransportError, WatchEvent
from pocketkube.client.rest import _lines, _query, _watch_event


@pytest.mark.parametrize(
    ("body", "http_status", "expected"),
    [
        (
            {"kind": "Status", "code": 404, "reason": "NotFound", "message": 'pods "x" not found'},
            404,
            (404, "NotFound", 'pods "x" not found'),
        ),
        ({"kind": "Status", "reason": "Expired", "message": "old"}, 410, (410, "Expired", "old")),
        ("<html>bad gateway</html>", 502, (502, "", "<html>bad gateway</html>")),
        ({"not": "a status"}, 500, (500, "", "{'not': 'a status'}")),
    ],
)
def test_errors_from_status_bodies(body: Any, http_status: int, expected: tuple[Any, ...]) -> None:
    err = ApiError.from_status(body, http_status=http_status)
    assert (err.status, err.reason, err.message) == expected


@pytest.mark.parametrize(
    ("err", "flags"),
    [
        (ApiError(404, "NotFound", ""), {"not_found"}),
        (ApiError(409, "AlreadyExists", ""), {"already_exists"}),
        (ApiError(409, "Conflict", ""), {"conflict"}),
        (ApiError(410, "Expired", ""), {"gone"}),
        (TransportError("reset"), set()),
    ],
)
def test_error_predicates(err: ApiError, flags: set[str]) -> None:
    every = {"not_found", "already_exists", "conflict", "gone"}
    assert {flag for flag in every if getattr(err, flag)} == flags


class Chunks:
    def __init__(self, *chunks: bytes) -> None:
        self.chunks = chunks

    async def iter_any(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk


@pytest.mark.parametrize(
    ("chunks", "lines"),
    [
        ((b'{"a":1}\n{"b":2}\n',), [b'{"a":1}', b'{"b":2}']),
        ((b'{"a"', b":1}\n{", b'"b":2}\n'), [b'{"a":1}', b'{"b":2}']),
        ((b"x\n\n\ny\n",), [b"x", b"y"]),
        ((b"no newline at the end",), [b"no newline at the end"]),
        ((b"x" * 300_000, b"\n"), [b"x" * 300_000]),
    ],
)
async def test_lines(chunks: tuple[bytes, ...], lines: list[bytes]) -> None:
    assert [line async for line in _lines(Chunks(*chunks))] == lines  # type: ignore[arg-type]


def test_watch_events() -> None:
    assert _watch_event(b'{"type":"ADDED","object":{"a":1}}') == WatchEvent("ADDED", {"a": 1})
    with pytest.raises(ApiError) as caught:
        _watch_event(
            b'{"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired",'
            b'"message":"too old"}}'
        )
    assert (caught.value.status, caught.value.reason) == (410, "Expired")
    for garbage in (b"{", b'{"type":"ADDED"}', b'{"type":"ADDED","object":3}'):
        with pytest.raises(TransportError):
            _watch_event(garbage)


def test_query_parameters() -> None:
    assert _query({"watch": True, "limit": 5, "x": "y", "f": False}) == {
        "watch": "true",
        "limit": "5",
        "x": "y",
        "f": "false",
    }
    assert _query(None) == {}
