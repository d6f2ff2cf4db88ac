"""What exec/attach sends over the channel protocol, in order: output before the Status on
channel 3, nothing after it, no empty output messages (v5 has no ready message), and nothing a
runtime writes once the command returned."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence

import pytest

from pocketkube.runtime import cri
from pocketkube.runtime.streaming import command, remotecommand, status
from pocketkube.runtime.streaming.provider import ExitCode, Output, TerminalSize
from pocketkube.runtime.streaming.websocket import OP_BINARY

CLOSED = (-1, b"")
SUCCESS = json.dumps({"metadata": {}, "status": "Success"}, separators=(",", ":")).encode()


class FakeSocket:
    """Hands the server the client's messages, then waits; records what the server sends."""

    def __init__(self, protocol: str, incoming: Sequence[tuple[int, bytes]] = ()) -> None:
        self.codec = remotecommand.ChannelCodec(protocol)
        self.incoming: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        for channel, data in incoming:
            self.incoming.put_nowait((OP_BINARY, bytes([channel]) + data))
        self.sent: list[tuple[int, bytes]] = []
        self.times: list[float] = []  # when each was sent, by the loop's clock
        self.status_sent = asyncio.Event()

    async def receive(self) -> tuple[int, bytes] | None:
        return await self.incoming.get()

    async def send(self, payload: bytes, opcode: int = OP_BINARY) -> None:
        if self.sent[-1:] == [CLOSED]:
            raise ConnectionError("websocket closed")
        decoded = self.codec.decode(payload)
        assert decoded is not None
        self.sent.append(decoded)
        self.times.append(asyncio.get_running_loop().time())
        if decoded[0] == remotecommand.ERROR:
            self.status_sent.set()
        await asyncio.sleep(0)  # a send is a suspension point, as a real drain is

    async def close(self, code: int = 1000) -> None:
        if self.sent[-1:] != [CLOSED]:
            self.sent.append(CLOSED)
        self.incoming.put_nowait(None)


class ScriptedProvider:
    """``exec`` writes its script (``(channel, data)``; channel 0 echoes stdin to stdout),
    then raises ``error`` if any; a ``late`` write comes from a task outliving the command,
    once ``late_after`` is set (or soon)."""

    def __init__(
        self,
        script: Sequence[tuple[int, bytes]],
        *,
        error: Exception | None = None,
        late: bytes = b"",
        late_after: asyncio.Event | None = None,
    ) -> None:
        self.script = script
        self.error = error
        self.late = late
        self.late_after = late_after
        self.late_task: asyncio.Task[None] | None = None

    async def exec(
        self,
        container_id: str,
        cmd: Sequence[str],
        *,
        stdin: AsyncIterator[bytes] | None,
        stdout: Output | None,
        stderr: Output | None,
        tty: bool,
        resize: AsyncIterator[TerminalSize] | None,
    ) -> None:
        for channel, data in self.script:
            if channel == remotecommand.STDIN:
                assert stdin is not None
                assert stdout is not None
                async for chunk in stdin:
                    await stdout(chunk)
                continue
            output = stdout if channel == remotecommand.STDOUT else stderr
            assert output is not None
            await output(data)
        if self.late and stdout is not None:
            late_stdout = stdout

            async def write_late() -> None:
                if self.late_after is not None:
                    await self.late_after.wait()
                else:
                    await asyncio.sleep(0)
                await late_stdout(self.late)

            self.late_task = asyncio.create_task(write_late())
        if self.error is not None:
            raise self.error

    async def attach(
        self,
        container_id: str,
        *,
        stdin: AsyncIterator[bytes] | None,
        stdout: Output | None,
        stderr: Output | None,
        tty: bool,
        resize: AsyncIterator[TerminalSize] | None,
    ) -> None:
        raise AssertionError("not used")

    async def port_forward(
        self, sandbox_id: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        raise AssertionError("not used")


def request(*, stdin: bool = False, stdout: bool = True, stderr: bool = True) -> cri.StreamRequest:
    return cri.StreamRequest(
        container_id="c", cmd=("x",), stdin=stdin, stdout=stdout, stderr=stderr
    )


EXIT_3 = json.dumps(status.exit_code(3), separators=(",", ":")).encode()


@pytest.mark.parametrize(
    ("protocol", "req", "incoming", "script", "error", "sent"),
    [
        pytest.param(
            "v5.channel.k8s.io",
            request(),
            [],
            [(1, b"a"), (1, b""), (2, b"b"), (1, b"c")],
            None,
            [(1, b"a"), (2, b"b"), (1, b"c"), (3, SUCCESS), CLOSED],
            id="v5-output-then-status",
        ),
        pytest.param(
            "v5.channel.k8s.io",
            request(stdin=True),
            [(0, b"in\n"), (0, b""), (255, b"\x00")],
            [(0, b"")],
            None,
            [(1, b"in\n"), (3, SUCCESS), CLOSED],
            id="v5-cat-stdin-closed",
        ),
        pytest.param(
            "v5.channel.k8s.io",
            request(),
            [],
            [(2, b"oops\n")],
            ExitCode(3),
            [(2, b"oops\n"), (3, EXIT_3), CLOSED],
            id="v5-exit-code",
        ),
        pytest.param(
            "v5.channel.k8s.io",
            request(stdout=False, stderr=False),
            [],
            [],
            None,
            [(3, SUCCESS), CLOSED],
            id="v5-no-output",
        ),
        pytest.param(
            "v4.channel.k8s.io",
            request(),
            [],
            [(1, b"a")],
            None,
            [(1, b""), (1, b"a"), (3, SUCCESS), CLOSED],
            id="v4-ready-message",
        ),
        pytest.param(
            "v4.base64.channel.k8s.io",
            request(stdout=False),
            [],
            [(2, b"e")],
            None,
            [(2, b""), (2, b"e"), (3, SUCCESS), CLOSED],
            id="v4-base64-ready-on-stderr",
        ),
        pytest.param(
            "channel.k8s.io",
            request(),
            [],
            [(1, b"a")],
            None,
            [(1, b""), (1, b"a"), CLOSED],
            id="v1-success-sends-no-status",
        ),
        pytest.param(
            "base64.channel.k8s.io",
            request(),
            [],
            [],
            ExitCode(3),
            [(1, b""), (3, b"command terminated with non-zero exit code: exit status 3"), CLOSED],
            id="v1-failure-text",
        ),
    ],
)
async def test_websocket_order(
    protocol: str,
    req: cri.StreamRequest,
    incoming: list[tuple[int, bytes]],
    script: list[tuple[int, bytes]],
    error: Exception | None,
    sent: list[tuple[int, bytes]],
) -> None:
    ws = FakeSocket(protocol, incoming)
    provider = ScriptedProvider(script, error=error)
    await asyncio.wait_for(remotecommand.serve_websocket(ws, protocol, provider, "exec", req), 5)
    assert ws.sent == sent


@pytest.mark.parametrize(
    ("protocol", "incoming", "grace", "held"),
    [
        pytest.param("v5.channel.k8s.io", [], 0.05, True, id="v5-waits-out-the-grace"),
        pytest.param(
            "v5.channel.k8s.io", [(255, b"\x00")], 30.0, False, id="v5-client-message-releases"
        ),
        pytest.param("v4.channel.k8s.io", [], 30.0, False, id="v4-sends-at-once"),
    ],
)
async def test_v5_sends_once_the_clients_streams_exist(
    monkeypatch: pytest.MonkeyPatch,
    protocol: str,
    incoming: list[tuple[int, bytes]],
    grace: float,
    held: bool,
) -> None:
    """kubectl up to 1.33 drops what arrives before it created its streams; its first message
    comes after them, and so does the grace's end (surely enough)."""
    monkeypatch.setattr(remotecommand, "V5_STREAMS_GRACE", grace)
    ws = FakeSocket(protocol, incoming)
    start = asyncio.get_running_loop().time()
    serving = remotecommand.serve_websocket(
        ws, protocol, ScriptedProvider([(1, b"a")]), "exec", request(stdin=bool(incoming))
    )
    await asyncio.wait_for(serving, 5)
    assert (1, b"a") in ws.sent
    assert (ws.times[0] - start >= grace / 2) is held  # (timers may fire a tick early)


async def test_websocket_write_after_the_command_returned_is_refused() -> None:
    ws = FakeSocket("v5.channel.k8s.io")
    provider = ScriptedProvider([(1, b"a")], late=b"too late", late_after=ws.status_sent)
    await remotecommand.serve_websocket(ws, "v5.channel.k8s.io", provider, "exec", request())
    assert provider.late_task is not None
    with pytest.raises(ConnectionError):
        await provider.late_task
    assert ws.sent == [(1, b"a"), (3, SUCCESS), CLOSED]


async def test_run_closes_the_outputs_when_the_command_returns() -> None:
    """The guarantee both protocols build on: the Status is sent after ``run`` returned, and
    from then on the outputs take nothing."""
    got: list[bytes] = []

    async def collect(data: bytes) -> None:
        got.append(data)

    provider = ScriptedProvider([(1, b"a"), (1, b""), (2, b"b")], late=b"late")
    streams = command.CommandStreams(stdin=None, stdout=collect, stderr=collect)
    assert await command.run(provider, "exec", request(), streams) == {
        "metadata": {},
        "status": "Success",
    }
    assert provider.late_task is not None
    with pytest.raises(ConnectionError):
        await provider.late_task
    assert got == [b"a", b"b"]
