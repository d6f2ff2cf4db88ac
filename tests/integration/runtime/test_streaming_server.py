"""The runtime's streaming server with a fake provider: exec/attach over WebSocket (v5, v4,
base64, v1) and SPDY/3.1, port-forward over SPDY/3.1, SPDY in WebSocket and WebSocket channels."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
from collections.abc import AsyncIterator

import aiohttp
import pytest

from pocketkube.runtime import cri
from pocketkube.runtime.streaming import spdyframes as f
from pocketkube.runtime.streaming.provider import TerminalSize
from pocketkube.runtime.streaming.server import StreamingServer

from .streaming_support import FakeProvider, SpdyClient, echo_server


@pytest.fixture
async def server() -> AsyncIterator[tuple[StreamingServer, FakeProvider]]:
    echo = await echo_server()
    provider = FakeProvider(echo.sockets[0].getsockname()[1])
    streaming = StreamingServer(provider)
    await streaming.start()
    yield streaming, provider
    await streaming.close()
    echo.close()
    await echo.wait_closed()


def exec_request(*cmd: str, stdin: bool = False, tty: bool = False) -> cri.StreamRequest:
    return cri.StreamRequest(container_id="c1", cmd=cmd, stdin=stdin, tty=tty)


async def ws_messages(
    ws: aiohttp.ClientWebSocketResponse, *, text: bool = False
) -> dict[int, bytes]:
    channels: dict[int, bytes] = {}
    async for msg in ws:
        if text:
            assert msg.type == aiohttp.WSMsgType.TEXT
            channel, data = int(msg.data[0]), base64.b64decode(msg.data[1:])
        else:
            assert msg.type == aiohttp.WSMsgType.BINARY
            channel, data = msg.data[0], msg.data[1:]
        channels[channel] = channels.get(channel, b"") + data
    return channels


@pytest.mark.parametrize(
    ("cmd", "channel", "output", "status"),
    [
        (("echo", "hi"), 1, b"hi\n", {"metadata": {}, "status": "Success"}),
        (("warn",), 2, b"warning\n", {"metadata": {}, "status": "Success"}),
    ],
)
async def test_websocket_v5_exec(
    server: tuple[StreamingServer, FakeProvider],
    cmd: tuple[str, ...],
    channel: int,
    output: bytes,
    status: dict[str, object],
) -> None:
    streaming, _ = server
    url = streaming.exec_url(exec_request(*cmd)).url
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, protocols=["v5.channel.k8s.io", "v4.channel.k8s.io"]) as ws,
    ):
        assert ws.protocol == "v5.channel.k8s.io"
        channels = await ws_messages(ws)
    assert channels[channel] == output
    assert json.loads(channels[3]) == status


async def test_websocket_exit_code_and_runtime_error(
    server: tuple[StreamingServer, FakeProvider],
) -> None:
    streaming, _ = server
    async with aiohttp.ClientSession() as session:
        url = streaming.exec_url(exec_request("exit", "3")).url
        async with session.ws_connect(url, protocols=["v4.channel.k8s.io"]) as ws:
            status = json.loads((await ws_messages(ws))[3])
        assert status["reason"] == "NonZeroExitCode"
        assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
        url = streaming.exec_url(exec_request("fail")).url
        async with session.ws_connect(url, protocols=["v4.channel.k8s.io"]) as ws:
            status = json.loads((await ws_messages(ws))[3])
        assert status["reason"] == "InternalError"
        assert "container not running" in status["message"]
        url = streaming.exec_url(exec_request("exit", "2")).url
        async with session.ws_connect(url, protocols=["channel.k8s.io"]) as ws:
            channels = await ws_messages(ws)
        assert channels[3].startswith(b"command terminated with non-zero exit code")


async def test_websocket_v5_stdin_half_close(server: tuple[StreamingServer, FakeProvider]) -> None:
    streaming, _ = server
    url = streaming.exec_url(exec_request("cat", stdin=True)).url
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, protocols=["v5.channel.k8s.io"]) as ws,
    ):
        await ws.send_bytes(b"\x00hello ")
        await ws.send_bytes(b"\x00world")
        await ws.send_bytes(b"\xff\x00")  # close stdin
        channels = await ws_messages(ws)
    assert channels[1] == b"hello world"
    assert json.loads(channels[3])["status"] == "Success"


async def test_websocket_base64_and_tty_resize(
    server: tuple[StreamingServer, FakeProvider],
) -> None:
    streaming, provider = server
    url = streaming.exec_url(exec_request("sizes", tty=True)).url
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, protocols=["base64.channel.k8s.io"]) as ws,
    ):
        size = base64.b64encode(b'{"Width":80,"Height":24}').decode()
        await ws.send_str("4" + size)
        size = base64.b64encode(b'{"Width":100,"Height":30}').decode()
        await ws.send_str("4" + size)
        channels = await ws_messages(ws, text=True)
    assert channels[1] == b"80x24\n100x30\n"
    assert provider.sizes == [TerminalSize(80, 24), TerminalSize(100, 30)]
    assert 2 not in channels  # a terminal merges stderr
    assert 3 not in channels  # before v4: nothing on success


async def test_websocket_attach(server: tuple[StreamingServer, FakeProvider]) -> None:
    streaming, _ = server
    url = streaming.attach_url(cri.StreamRequest(container_id="c9")).url
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, protocols=["v5.channel.k8s.io"]) as ws,
    ):
        channels = await ws_messages(ws)
    assert channels[1] == b"attached to c9\n"


@pytest.mark.parametrize(
    ("path", "code"),
    [("/exec/nope", 404), ("/elsewhere", 404)],
)
async def test_unknown_tokens(
    server: tuple[StreamingServer, FakeProvider], path: str, code: int
) -> None:
    streaming, _ = server
    async with aiohttp.ClientSession() as session, session.get(streaming.base_url + path) as r:
        assert r.status == code


async def test_tokens_are_one_time_and_need_an_upgrade(
    server: tuple[StreamingServer, FakeProvider],
) -> None:
    streaming, _ = server
    url = streaming.exec_url(exec_request("echo")).url
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as r:
            assert r.status == 400
            assert "unable to upgrade" in await r.text()
        async with session.get(url) as r:
            assert r.status == 404
        wrong = streaming.exec_url(exec_request("echo")).url.replace("/exec/", "/attach/")
        async with session.get(wrong) as r:
            assert r.status == 400


async def test_spdy_exec_v4(server: tuple[StreamingServer, FakeProvider]) -> None:
    streaming, _ = server
    url = streaming.exec_url(exec_request("cat", stdin=True)).url
    client, head = await SpdyClient.connect(url, ["v4.channel.k8s.io", "v3.channel.k8s.io"])
    try:
        assert head.startswith(b"HTTP/1.1 101")
        assert b"X-Stream-Protocol-Version: v4.channel.k8s.io" in head
        error = client.open({"streamType": "error"})
        stdin = client.open({"streamType": "stdin"})
        stdout = client.open({"streamType": "stdout"})
        stderr = client.open({"streamType": "stderr"})
        client.ping(1)
        client.send(stdin, b"over spdy", fin=True)
        assert await client.wait_fin(stdout) == b"over spdy"
        assert await client.wait_fin(stderr) == b""
        assert json.loads(await client.wait_fin(error)) == {"metadata": {}, "status": "Success"}
        assert {error, stdin, stdout, stderr} <= client.replied
        assert any(c.type == f.PING and c.ping_id == 1 for c in client.control)
    finally:
        await client.close()


async def test_spdy_exec_v2_exit_code_text(server: tuple[StreamingServer, FakeProvider]) -> None:
    streaming, _ = server
    url = streaming.exec_url(exec_request("exit", "5")).url
    client, _ = await SpdyClient.connect(url, ["v2.channel.k8s.io"])
    try:
        error = client.open({"streamType": "error"})
        stdout = client.open({"streamType": "stdout"})
        client.open({"streamType": "stderr"})
        assert await client.wait_fin(stdout) == b""
        text = await client.wait_fin(error)
        assert text.startswith(b"command terminated with non-zero exit code")
    finally:
        await client.close()


async def test_spdy_protocol_negotiation_fails(
    server: tuple[StreamingServer, FakeProvider],
) -> None:
    streaming, _ = server
    url = streaming.exec_url(exec_request("echo")).url
    client, head = await SpdyClient.connect(url, ["v9.channel.k8s.io"])
    await client.close()
    assert head.startswith(b"HTTP/1.1 403")
    assert b"X-Accepted-Stream-Protocol-Versions" in head


async def test_spdy_port_forward(server: tuple[StreamingServer, FakeProvider]) -> None:
    streaming, _ = server
    url = streaming.port_forward_url(cri.StreamRequest(pod_sandbox_id="sb1", ports=(80,))).url
    client, head = await SpdyClient.connect(url, ["portforward.k8s.io"])
    try:
        assert b"X-Stream-Protocol-Version: portforward.k8s.io" in head
        streams = []
        for request_id in range(3):  # concurrent connections through one forward
            error = client.open({"streamType": "error", "port": "80", "requestID": str(request_id)})
            data = client.open({"streamType": "data", "port": "80", "requestID": str(request_id)})
            streams.append((error, data))
        for i, (_, data) in enumerate(streams):
            client.send(data, f"conn {i}".encode(), fin=True)
        for i, (error, data) in enumerate(streams):
            assert await client.wait_fin(data) == f"CONN {i}".encode()
            assert await client.wait_fin(error) == b""
        error = client.open({"streamType": "error", "port": "1", "requestID": "9"})
        data = client.open({"streamType": "data", "port": "1", "requestID": "9"})
        message = await client.wait_fin(error)
        assert message.startswith(b"error forwarding port 1 to pod sb1, uid : dial tcp4")
    finally:
        await client.close()


async def test_spdy_tunneled_in_websocket_port_forward(
    server: tuple[StreamingServer, FakeProvider],
) -> None:
    streaming, _ = server
    url = streaming.port_forward_url(cri.StreamRequest(pod_sandbox_id="sb1", ports=(80,))).url
    framer = f.Framer()
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, protocols=["SPDY/3.1+portforward.k8s.io"]) as ws,
    ):
        assert ws.protocol == "SPDY/3.1+portforward.k8s.io"
        headers = {"streamtype": ["error"], "port": ["80"], "requestid": ["0"]}
        await ws.send_bytes(
            framer.encode(f.ControlFrame(f.SYN_STREAM, stream_id=1, headers=headers))
        )
        headers = {"streamtype": ["data"], "port": ["80"], "requestid": ["0"]}
        frames = framer.encode(f.ControlFrame(f.SYN_STREAM, stream_id=3, headers=headers))
        frames += framer.encode(f.DataFrame(3, b"tunneled", f.FLAG_FIN))
        await ws.send_bytes(frames[:7])  # messages need not align with frames
        await ws.send_bytes(frames[7:])
        received = bytearray()
        fins: set[int] = set()
        while fins != {1, 3}:
            msg = await asyncio.wait_for(ws.receive(), 10)
            assert msg.type == aiohttp.WSMsgType.BINARY
            for frame in framer.feed(msg.data):
                if isinstance(frame, f.DataFrame):
                    if frame.stream_id == 3:
                        received += frame.data
                    if frame.flags & f.FLAG_FIN:
                        fins.add(frame.stream_id)
    assert bytes(received) == b"TUNNELED"


async def test_websocket_channel_port_forward(
    server: tuple[StreamingServer, FakeProvider],
) -> None:
    streaming, _ = server
    url = streaming.port_forward_url(cri.StreamRequest(pod_sandbox_id="sb1")).url
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url + "?ports=80,1", protocols=["v4.channel.k8s.io"]) as ws,
    ):
        got: dict[int, bytes] = {}
        while len(got.get(0, b"")) < 2 + 5 or len(got.get(3, b"")) <= 2:
            msg = await asyncio.wait_for(ws.receive(), 10)
            assert msg.type == aiohttp.WSMsgType.BINARY
            got[msg.data[0]] = got.get(msg.data[0], b"") + msg.data[1:]
            if len(got.get(0, b"")) == 2 and not got.get(99):
                got[99] = b"sent"
                await ws.send_bytes(b"\x00hello")
    assert got[0] == struct.pack("<H", 80) + b"HELLO"
    assert got[1] == struct.pack("<H", 80)
    assert got[2] == struct.pack("<H", 1)
    assert got[3].startswith(struct.pack("<H", 1) + b"error forwarding port 1 to pod sb1")


async def test_spdy_port_forward_reset_ends_the_connection(
    server: tuple[StreamingServer, FakeProvider],
) -> None:
    """kubectl resets a connection's streams when its local side is done; the forward must let
    go of the pod's connection even though the pod says nothing."""
    streaming, provider = server
    accepted = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        await reader.read()

    silent_server = await asyncio.start_server(silent, "127.0.0.1", 0)
    provider.echo_port = silent_server.sockets[0].getsockname()[1]
    url = streaming.port_forward_url(cri.StreamRequest(pod_sandbox_id="sb1")).url
    client, _ = await SpdyClient.connect(url, ["portforward.k8s.io"])
    try:
        error = client.open({"streamType": "error", "port": "80", "requestID": "0"})
        data = client.open({"streamType": "data", "port": "80", "requestID": "0"})
        await asyncio.wait_for(accepted.wait(), 5)
        for sid in (data, error):  # what kubectl's RemoveStreams sends
            reset = f.ControlFrame(f.RST_STREAM, stream_id=sid, status=f.RST_CANCEL)
            client.writer.write(client.framer.encode(reset))
        for _ in range(200):
            if provider.forwarded[-1].is_closing():
                break
            await asyncio.sleep(0.01)
        assert provider.forwarded[-1].is_closing()
    finally:
        await client.close()
        silent_server.close()
        await silent_server.wait_closed()


async def test_spdy_port_forward_lone_error_stream_times_out(
    server: tuple[StreamingServer, FakeProvider], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pocketkube.runtime.streaming.portforward.PAIR_TIMEOUT", 0.1)
    streaming, _ = server
    url = streaming.port_forward_url(cri.StreamRequest(pod_sandbox_id="sb1")).url
    client, _ = await SpdyClient.connect(url, ["portforward.k8s.io"])
    try:
        error = client.open({"streamType": "error", "port": "80", "requestID": "4"})
        assert await client.wait_fin(error) == b"(request=4) timed out waiting for streams"
    finally:
        await client.close()
