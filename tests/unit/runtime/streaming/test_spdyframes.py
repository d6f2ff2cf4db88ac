"""SPDY/3 frames: layout, the zlib dictionary, header blocks across frames."""

from __future__ import annotations

import struct
import zlib

import pytest

from pocketkube.runtime.streaming import spdyframes as f


def test_dictionary_is_spdy3s() -> None:
    # SPDY/3's dictionary: 1423 bytes, length-prefixed words then a literal tail.
    assert len(f.DICTIONARY) == 1423
    assert f.DICTIONARY.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert f.DICTIONARY.endswith(b"charset=iso-8859-1,utf-,*,enq=0.")


def test_header_block_is_compressed_with_the_dictionary() -> None:
    framer = f.Framer()
    raw = framer.encode(f.ControlFrame(f.SYN_REPLY, stream_id=5, headers={"a": ["b"]}))
    inflate = zlib.decompressobj(zdict=f.DICTIONARY)
    block = inflate.decompress(raw[12:])
    assert block == struct.pack(">I", 1) + struct.pack(">I", 1) + b"a" + struct.pack(">I", 1) + b"b"
    # the zlib header names the dictionary by its adler32
    assert struct.unpack(">I", raw[14:18])[0] == zlib.adler32(f.DICTIONARY)


@pytest.mark.parametrize(
    ("frame", "head"),
    [
        (f.DataFrame(3, b"xyz", f.FLAG_FIN), struct.pack(">II", 3, (1 << 24) | 3)),
        (
            f.ControlFrame(f.RST_STREAM, stream_id=7, status=f.RST_CANCEL),
            struct.pack(">HHI", 0x8003, 3, 8),
        ),
        (f.ControlFrame(f.PING, ping_id=9), struct.pack(">HHI", 0x8003, 6, 4)),
        (f.ControlFrame(f.GOAWAY, stream_id=11), struct.pack(">HHI", 0x8003, 7, 8)),
    ],
)
def test_frame_layout(frame: f.Frame, head: bytes) -> None:
    assert f.Framer().encode(frame)[:8] == head


def test_round_trip_split_anywhere() -> None:
    client, server = f.Framer(), f.Framer()
    frames: list[f.Frame] = [
        f.ControlFrame(
            f.SYN_STREAM, stream_id=1, headers={"streamType": ["error"], "x": ["1", "2"]}
        ),
        f.ControlFrame(f.SYN_STREAM, stream_id=3, flags=f.FLAG_FIN, headers={"port": ["80"]}),
        f.DataFrame(3, b"payload"),
        f.ControlFrame(f.PING, ping_id=1),
        f.ControlFrame(f.WINDOW_UPDATE, stream_id=3, delta=100),
    ]
    wire = b"".join(client.encode(frame) for frame in frames)
    got: list[f.Frame] = []
    for i in range(len(wire)):
        got += server.feed(wire[i : i + 1])
    assert [type(g).__name__ for g in got] == [type(fr).__name__ for fr in frames]
    first = got[0]
    assert isinstance(first, f.ControlFrame)
    assert first.headers == {"streamtype": ["error"], "x": ["1", "2"]}
    second = got[1]
    assert isinstance(second, f.ControlFrame)
    assert second.flags == f.FLAG_FIN
    assert second.headers == {"port": ["80"]}
    assert got[2] == f.DataFrame(3, b"payload")
    last = got[4]
    assert isinstance(last, f.ControlFrame)
    assert last.delta == 100


@pytest.mark.parametrize(
    "wire",
    [
        struct.pack(">HHI", 0x8002, 1, 0),  # SPDY/2
        struct.pack(">HHI", 0x8003, 1, 4) + b"\x00\x00\x00\x01",  # short SYN_STREAM
    ],
)
def test_bad_frames(wire: bytes) -> None:
    with pytest.raises(f.ProtocolError):
        f.Framer().feed(wire)
