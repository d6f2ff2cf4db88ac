from __future__ import annotations

import base64

import orjson
import pytest

from pocketkube.storage.continuetoken import decode_continue, encode_continue
from pocketkube.storage.errors import InvalidRequest

PREFIX = "/registry/pods/"


def token(payload: object) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(payload)).rstrip(b"=").decode()


def test_round_trip_is_relative_to_the_prefix() -> None:
    encoded = encode_continue(PREFIX + "default/web-1\x00", PREFIX, 42)
    payload = orjson.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    assert payload == {"v": "meta.k8s.io/v1", "rv": 42, "start": "default/web-1\x00"}
    assert decode_continue(encoded, PREFIX) == (PREFIX + "default/web-1\x00", 42)


@pytest.mark.parametrize(
    "bad",
    [
        "%%%",
        token([1, 2]),
        token({"v": "other/v1", "rv": 1, "start": "a"}),
        token({"v": "meta.k8s.io/v1", "rv": 0, "start": "a"}),
        token({"v": "meta.k8s.io/v1", "rv": "1", "start": "a"}),
        token({"v": "meta.k8s.io/v1", "rv": True, "start": "a"}),
        token({"v": "meta.k8s.io/v1", "rv": 1, "start": ""}),
        token({"v": "meta.k8s.io/v1", "rv": 1, "start": "../secrets/x"}),
        token({"v": "meta.k8s.io/v1", "rv": 1, "start": "a/../../x"}),
        token({"v": "meta.k8s.io/v1", "rv": 1, "start": "/etc"}),
    ],
)
def test_malformed_tokens_are_bad_requests(bad: str) -> None:
    with pytest.raises(InvalidRequest):
        decode_continue(bad, PREFIX)
