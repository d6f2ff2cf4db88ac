"""The fake runtime's streaming Provider: answers from the fake's records."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from pocketkube.runtime import cri
from pocketkube.runtime.fake import FakeRuntime
from pocketkube.runtime.streaming.provider import ExitCode, Provider


class Collect:
    def __init__(self) -> None:
        self.data = bytearray()

    async def __call__(self, chunk: bytes) -> None:
        self.data.extend(chunk)


async def items(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def started(rt: FakeRuntime, *, stdin: bool = False) -> tuple[str, str]:
    sandbox = cri.PodSandboxConfig(metadata=cri.PodSandboxMetadata("p", "uid", "default"))
    sid = await rt.run_pod_sandbox(sandbox)
    config = cri.ContainerConfig(
        metadata=cri.ContainerMetadata("c"), image=cri.ImageSpec("i"), command=("x",), stdin=stdin
    )
    cid = await rt.create_container(sid, config, sandbox)
    await rt.start_container(cid)
    return sid, cid


async def test_exec_answers_from_exec_results_and_raises_the_exit_code() -> None:
    rt = FakeRuntime()
    provider: Provider = rt.streams
    _, cid = await started(rt)
    rt.exec_results[("ls",)] = cri.ExecSyncResponse(b"a\n", b"oops\n", 2)
    out, err = Collect(), Collect()
    with pytest.raises(ExitCode) as info:
        await provider.exec(cid, ["ls"], stdin=None, stdout=out, stderr=err, tty=False, resize=None)
    assert (info.value.code, bytes(out.data), bytes(err.data)) == (2, b"a\n", b"oops\n")
    echoed = Collect()
    await provider.exec(
        cid, ["cat"], stdin=items(b"hi", b"!"), stdout=echoed, stderr=None, tty=False, resize=None
    )
    assert bytes(echoed.data) == b"hi!"
    assert ("exec", "cat") in rt.calls


async def test_attach_shows_the_output_and_echoes_stdin_of_a_stdin_container() -> None:
    rt = FakeRuntime()
    _, cid = await started(rt, stdin=True)
    rt.attach_output[cid] = b"hello\n"
    out = Collect()
    await rt.streams.attach(
        cid, stdin=items(b"typed\n"), stdout=out, stderr=None, tty=False, resize=None
    )
    assert bytes(out.data) == b"hello\ntyped\n"
    rt.exit(cid, 0)
    with pytest.raises(cri.RuntimeError_, match="CONTAINER_EXITED"):
        await rt.streams.attach(cid, stdin=None, stdout=out, stderr=None, tty=False, resize=None)


async def test_port_forward_connects_to_the_target_or_refuses() -> None:
    rt = FakeRuntime()
    sid, _ = await started(rt)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"pong")
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    async with server:
        rt.port_targets[80] = ("127.0.0.1", server.sockets[0].getsockname()[1])
        reader, writer = await rt.streams.port_forward(sid, 80)
        assert await reader.read() == b"pong"
        writer.close()
    with pytest.raises(cri.RuntimeError_, match="failed to connect to localhost:80"):
        await rt.streams.port_forward(sid, 80)
    with pytest.raises(cri.RuntimeError_, match="not found"):
        await rt.streams.port_forward("nope", 80)
