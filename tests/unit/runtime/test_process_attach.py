"""Attach's pieces without containers: following a CRI log across rotations, the attach
socket's frames, and the shim's stdin relay fed through a real socket and pipe."""

from __future__ import annotations

import contextlib
import os
import select
import socket
import time
from pathlib import Path

import pytest

from pocketkube.runtime.process import shimstdin
from pocketkube.runtime.process.attach import LogFollower
from pocketkube.runtime.process.shimlog import LogWriter


def test_the_follower_starts_at_the_end_and_rebuilds_the_written_bytes(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    writer = LogWriter(str(path))
    writer.write("stdout", b"old\n")
    follower = LogFollower(str(path))
    assert follower.read_records() == []
    writer.write("stdout", b"a line\nand a piece")
    writer.write("stderr", b"oops\n")
    writer.write("stdout", b" more\n")
    assert follower.read_records() == [
        ("stdout", b"a line\n"),
        ("stdout", b"and a piece"),
        ("stderr", b"oops\n"),
        ("stdout", b" more\n"),
    ]
    assert follower.read_records() == []
    follower.close()


def test_the_follower_holds_back_a_record_not_yet_complete(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    path.write_bytes(b"")
    follower = LogFollower(str(path))
    with open(path, "ab") as f:
        f.write(b"2024-01-01T00:00:00.000000000Z stdout F hel")
    assert follower.read_records() == []
    with open(path, "ab") as f:
        f.write(b"lo\n")
    assert follower.read_records() == [("stdout", b"hello\n")]
    follower.close()


def test_the_follower_reads_across_a_rotation(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    writer = LogWriter(str(path), max_size=200, max_files=3)
    follower = LogFollower(str(path))
    lines = [f"line {i:02d}\n".encode() for i in range(12)]
    for line in lines:
        writer.write("stdout", line)
    seen = follower.read_records()
    assert [data for _, data in seen] == lines
    follower.close()


def test_a_log_that_does_not_exist_yet_is_read_from_its_start(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    follower = LogFollower(str(path))
    assert follower.read_records() == []
    LogWriter(str(path)).write("stdout", b"first\n")
    assert follower.read_records() == [("stdout", b"first\n")]
    follower.close()


@pytest.mark.parametrize(
    ("kind", "payload", "wire"),
    [
        (shimstdin.DATA, b"hi", b"d\x00\x00\x00\x02hi"),
        (shimstdin.RESIZE, b"\x00\x50\x00\x18", b"r\x00\x00\x00\x04\x00\x50\x00\x18"),
        (shimstdin.CLOSE, b"", b"c\x00\x00\x00\x00"),
    ],
)
def test_frames(kind: bytes, payload: bytes, wire: bytes) -> None:
    assert shimstdin.frame(kind, payload) == wire


class Loop:
    """The shim's poll loop around one relay, for a test."""

    def __init__(self, *, once: bool) -> None:
        self.name = f"\0pocketkube-test-{os.getpid()}-{time.monotonic_ns()}"
        self.read_end, self.write_end = os.pipe()
        self.poller = select.poll()
        self.closed = False
        self.relay = shimstdin.StdinRelay(
            poller=self.poller,
            name=self.name,
            sink=self.write_end,
            tty=False,
            stdin=True,
            once=once,
            close_sink=self._close,
        )

    def _close(self) -> None:
        os.close(self.write_end)
        self.closed = True

    def turn(self, rounds: int = 5) -> None:
        for _ in range(rounds):
            for fd, events in self.poller.poll(20):
                if self.relay.owns(fd):
                    self.relay.on_ready(fd, events)

    def client(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(self.name)
        self.turn()
        return sock

    def received(self) -> bytes:
        os.set_blocking(self.read_end, False)
        try:
            return os.read(self.read_end, 65536)
        except BlockingIOError:
            return b""

    def close(self) -> None:
        self.relay.close()
        os.close(self.read_end)
        if not self.closed:
            os.close(self.write_end)


def test_the_relay_feeds_stdin_and_keeps_it_open_between_clients() -> None:
    loop = Loop(once=False)
    try:
        first = loop.client()
        first.sendall(shimstdin.frame(shimstdin.DATA, b"one\n") + shimstdin.frame(b"c"))
        loop.turn()
        first.close()
        loop.turn()
        assert loop.received() == b"one\n"
        assert not loop.closed
        second = loop.client()
        second.sendall(shimstdin.frame(shimstdin.DATA, b"two"))
        loop.turn()
        assert loop.received() == b"two"
        second.close()
    finally:
        loop.close()


def test_stdin_once_closes_the_containers_stdin_after_the_first_client() -> None:
    loop = Loop(once=True)
    try:
        client = loop.client()
        client.sendall(shimstdin.frame(shimstdin.DATA, b"only\n") + shimstdin.frame(b"c"))
        loop.turn()
        assert loop.received() == b"only\n"
        assert loop.closed
        assert client.recv(10) == b""  # dropped
        client.close()
    finally:
        loop.close()


def test_a_full_stdin_holds_the_clients_back_without_blocking() -> None:
    loop = Loop(once=False)
    try:
        client = loop.client()
        client.setblocking(False)
        wire = shimstdin.frame(shimstdin.DATA, b"x" * (1 << 20))  # more than a pipe holds
        sent, got = 0, 0
        for _ in range(2000):
            if sent < len(wire):
                with contextlib.suppress(BlockingIOError):
                    sent += client.send(wire[sent:])
            loop.turn(1)  # never blocks, however full the pipe is
            got += len(loop.received())
            if got == len(wire) - 5:
                break
        assert got == len(wire) - 5
        client.close()
    finally:
        loop.close()
