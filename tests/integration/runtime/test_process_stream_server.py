"""CRI Exec/Attach/PortForward of the process runtime end to end: the URL it returns, then the
streaming server's WebSocket protocols (v5.channel.k8s.io, the Python client's port-forward)
driving real containers."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from pocketkube.runtime import cri
from pocketkube.runtime.fake import FakeRuntime

from .process_support import container_config, process_runtime, run_container, sandbox_config

STDIN, STDOUT, STDERR, STATUS, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255


async def remotecommand(
    url: str,
    *,
    stdin: tuple[bytes, ...] = (),
    resize: dict[str, int] | None = None,
) -> tuple[bytes, bytes, dict[str, Any]]:
    """Run a v5.channel.k8s.io session: send stdin (then close it), collect the outputs and the
    status."""
    out, err = bytearray(), bytearray()
    status: dict[str, Any] = {}
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, protocols=("v5.channel.k8s.io",)) as ws,
    ):
        assert ws.protocol == "v5.channel.k8s.io"
        if resize is not None:
            await ws.send_bytes(bytes([RESIZE]) + json.dumps(resize).encode())
        for chunk in stdin:
            await ws.send_bytes(bytes([STDIN]) + chunk)
        if stdin:
            await ws.send_bytes(bytes([CLOSE, STDIN]))
        async for message in ws:
            if message.type != aiohttp.WSMsgType.BINARY:
                break
            channel, payload = message.data[0], message.data[1:]
            if channel == STDOUT:
                out.extend(payload)
            elif channel == STDERR:
                err.extend(payload)
            elif channel == STATUS:
                status = json.loads(payload)
    return bytes(out), bytes(err), status


async def test_exec_and_attach_through_the_runtimes_streaming_server(tmp_path: Path) -> None:
    async with process_runtime(tmp_path / "rt") as rt:
        try:
            sid = await rt.run_pod_sandbox(sandbox_config(log_directory=str(tmp_path / "logs")))
            config = container_config("c", "sh", "-c", "cat; echo bye", stdin=True, stdin_once=True)
            cid = await run_container(rt, sid, config)

            response = await rt.exec(
                cri.StreamRequest(
                    container_id=cid,
                    cmd=("sh", "-c", "cat; echo oops >&2; exit 3"),
                    stdin=True,
                )
            )
            assert response.url.startswith("http://127.0.0.1:")
            out, err, status = await remotecommand(response.url, stdin=(b"hello\n",))
            assert (out, err) == (b"hello\n", b"oops\n")
            assert status["status"] == "Failure"
            assert status["reason"] == "NonZeroExitCode"
            assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]

            tty = await rt.exec(
                cri.StreamRequest(
                    container_id=cid, cmd=("stty", "size"), tty=True, stdin=False, stderr=False
                )
            )
            out, _, status = await remotecommand(tty.url, resize={"Width": 120, "Height": 40})
            assert status["status"] == "Success"
            assert out == b"40 120\r\n"  # the command starts with the client's size

            attach = await rt.attach(cri.StreamRequest(container_id=cid, stdin=True))
            out, _, status = await remotecommand(attach.url, stdin=(b"a\n", b"b\n"))
            assert out == b"a\nb\nbye\n"
            assert status["status"] == "Success"

            with pytest.raises(cri.RuntimeError_, match="CONTAINER_EXITED"):
                await rt.exec(cri.StreamRequest(container_id=cid, cmd=("true",)))
            with pytest.raises(cri.RuntimeError_, match="cmd shouldn't be empty"):
                await rt.exec(cri.StreamRequest(container_id=cid))
        finally:
            await rt.aclose()


async def test_port_forward_through_the_runtimes_streaming_server(tmp_path: Path) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readline()
        writer.write(b"echo " + request)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, process_runtime(tmp_path / "rt") as rt:
        try:
            sid = await rt.run_pod_sandbox(sandbox_config(host_network=True))
            response = await rt.port_forward(cri.StreamRequest(pod_sandbox_id=sid, ports=(port,)))
            got = bytearray()
            async with aiohttp.ClientSession() as session:
                url = f"{response.url}?ports={port}"
                async with session.ws_connect(url, protocols=("v4.channel.k8s.io",)) as ws:
                    first = [await ws.receive_bytes(), await ws.receive_bytes()]
                    prefix = port.to_bytes(2, "little")
                    assert sorted(first) == [b"\x00" + prefix, b"\x01" + prefix]
                    await ws.send_bytes(b"\x00ping\n")
                    async for message in ws:
                        if message.type != aiohttp.WSMsgType.BINARY:
                            break
                        if message.data[0] == 0:
                            got.extend(message.data[1:])
                        if got.endswith(b"\n"):
                            break
            assert bytes(got) == b"echo ping\n"
            await rt.stop_pod_sandbox(sid)
            with pytest.raises(cri.RuntimeError_, match="sandbox container is not running"):
                await rt.port_forward(cri.StreamRequest(pod_sandbox_id=sid, ports=(port,)))
        finally:
            await rt.aclose()


async def test_the_fake_runtime_serves_real_urls() -> None:
    rt = FakeRuntime()
    try:
        sandbox = cri.PodSandboxConfig(metadata=cri.PodSandboxMetadata("p", "uid", "default"))
        sid = await rt.run_pod_sandbox(sandbox)
        config = cri.ContainerConfig(
            metadata=cri.ContainerMetadata("c"), image=cri.ImageSpec("i"), command=("x",)
        )
        cid = await rt.create_container(sid, config, sandbox)
        await rt.start_container(cid)
        rt.exec_results[("date",)] = cri.ExecSyncResponse(b"today\n", b"", 0)
        response = await rt.exec(cri.StreamRequest(container_id=cid, cmd=("date",)))
        out, _, status = await remotecommand(response.url)
        assert (out, status["status"]) == (b"today\n", "Success")
    finally:
        await rt.aclose()
