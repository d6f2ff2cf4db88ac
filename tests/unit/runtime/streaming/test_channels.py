"""WebSocket framing, channel codecs, resize parsing, Status encoding, one-time tokens."""

from __future__ import annotations

import json

import pytest

from pocketkube.runtime import cri
from pocketkube.runtime.streaming import status, websocket
from pocketkube.runtime.streaming.provider import ExitCode, TerminalSize
from pocketkube.runtime.streaming.remotecommand import ChannelCodec, parse_resize
from pocketkube.runtime.streaming.tokens import TTL, RequestCache


def test_accept_key_rfc6455_example() -> None:
    assert websocket.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@pytest.mark.parametrize("size", [0, 5, 125, 126, 65535, 65536])
def test_frame_lengths(size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    frame = websocket.encode_frame(websocket.OP_BINARY, payload, mask=b"\x01\x02\x03\x04")
    assert frame[0] == 0x82
    assert frame.endswith(websocket.unmask(payload, b"\x01\x02\x03\x04"))
    assert websocket.unmask(websocket.unmask(payload, b"abcd"), b"abcd") == payload


@pytest.mark.parametrize(
    ("protocol", "encoded", "opcode", "json_status", "close_signal"),
    [
        ("v5.channel.k8s.io", b"\x01hi", websocket.OP_BINARY, True, True),
        ("v4.channel.k8s.io", b"\x01hi", websocket.OP_BINARY, True, False),
        ("channel.k8s.io", b"\x01hi", websocket.OP_BINARY, False, False),
        (
            "v4.base64.channel.k8s.io",
            b"1aGk=",
            websocket.OP_TEXT,
            True,
            False,
        ),
        ("base64.channel.k8s.io", b"1aGk=", websocket.OP_TEXT, False, False),
    ],
)
def test_channel_codecs(
    protocol: str, encoded: bytes, opcode: int, json_status: bool, close_signal: bool
) -> None:
    codec = ChannelCodec(protocol)
    assert codec.encode(1, b"hi") == (encoded, opcode)
    assert codec.decode(encoded) == (1, b"hi")
    assert codec.json_status is json_status
    assert codec.close_signal is close_signal


def test_parse_resize_keeps_partial_objects() -> None:
    buffer = bytearray(b'{"Width":80,"Height":24}\n{"Width":1')
    assert parse_resize(buffer) == [TerminalSize(80, 24)]
    buffer += b'00,"Height":30}'
    assert parse_resize(buffer) == [TerminalSize(100, 30)]
    assert buffer == b""


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (None, None),
        (ExitCode(7), "NonZeroExitCode"),
        (cri.RuntimeError_("Unknown", "boom"), "InternalError"),
    ],
)
def test_status(error: BaseException | None, reason: str | None) -> None:
    value = status.from_exception(error)
    assert value.get("reason") == reason
    assert json.loads(status.encode(value, json_status=True)) == value
    text = status.encode(value, json_status=False)
    assert (text == b"") is (error is None)


def test_exit_code_status_is_what_kubectl_reads() -> None:
    assert status.exit_code(3)["details"] == {"causes": [{"reason": "ExitCode", "message": "3"}]}


def test_tokens_one_time_and_expiring() -> None:
    now = [0.0]
    cache = RequestCache(clock=lambda: now[0])
    request = cri.StreamRequest(container_id="c")
    token = cache.insert("exec", request)
    assert cache.consume(token) is not None
    assert cache.consume(token) is None
    token = cache.insert("exec", request)
    now[0] += TTL
    assert cache.consume(token) is None


def test_tokens_in_flight_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pocketkube.runtime.streaming.tokens.MAX_IN_FLIGHT", 2)
    cache = RequestCache()
    cache.insert("exec", cri.StreamRequest())
    cache.insert("exec", cri.StreamRequest())
    with pytest.raises(cri.RuntimeError_, match="maximum number of in-flight requests exceeded"):
        cache.insert("exec", cri.StreamRequest())
