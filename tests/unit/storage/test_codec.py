from __future__ import annotations

import pytest

from pocketkube.storage.backend import prefix_end
from pocketkube.storage.codec import decode, encode, parse_resource_version
from pocketkube.storage.errors import InvalidObject, InvalidRequest


def test_resource_version_is_never_stored_and_always_read_back() -> None:
    obj = {"metadata": {"name": "a", "resourceVersion": "7"}, "data": {"k": "v"}}
    stored = encode(obj)
    assert b"resourceVersion" not in stored
    assert obj["metadata"]["resourceVersion"] == "7"  # the caller's object is untouched
    assert decode(stored, 12)["metadata"] == {"name": "a", "resourceVersion": "12"}


@pytest.mark.parametrize("value", [b"not json", b"[1]", b'{"kind":"X"}'])
def test_undecodable_values_are_invalid_objects(value: bytes) -> None:
    with pytest.raises(InvalidObject):
        decode(value, 1)


def test_objects_without_metadata_cannot_be_stored() -> None:
    with pytest.raises(InvalidObject):
        encode({"kind": "X"})


@pytest.mark.parametrize(("text", "revision"), [("", 0), ("0", 0), ("15", 15)])
def test_parse_resource_version(text: str, revision: int) -> None:
    assert parse_resource_version(text) == revision


@pytest.mark.parametrize("text", ["-1", "abc", "1.5", "9" * 30, " 1"])
def test_bad_resource_versions_are_bad_requests(text: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_resource_version(text)


@pytest.mark.parametrize(("prefix", "end"), [("/registry/pods/", "/registry/pods0"), ("a", "b")])
def test_prefix_end(prefix: str, end: str) -> None:
    assert prefix_end(prefix) == end
