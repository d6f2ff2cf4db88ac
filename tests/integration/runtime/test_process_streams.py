"""ProcessStreams, the process runtime's streaming ``Provider``, on real containers: exec with
its exit code, attach through the shim, port-forward, and containerd's refusals."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pocketkube.runtime import cri
from pocketkube.runtime.process.streams import ProcessStreams
from pocketkube.runtime.streaming.provider import ExitCode, Provider, TerminalSize

from .process_support import (
    container_config,
    process_runtime,
    run_container,
    sandbox_config,
    wait_exited,
    wait_for,
)


def read_pid(path: Path) -> int:
    text = path.read_text().strip() if path.exists() else ""
    return int(text) if text else 0


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


class Collect:
    def __init__(self) -> None:
        self.data = bytearray()

    async def __call__(self, chunk: bytes) -> None:
        self.data.extend(chunk)


async def items(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        await asyncio.sleep(0.05)
        yield chunk


async def no_sizes() -> AsyncIterator[TerminalSize]:
    for size in (TerminalSize(80, 24),):
        yield size


async def test_exec_attach_and_port_forward_through_the_provider(tmp_path: Path) -> None:
    async with process_runtime(tmp_path / "rt") as rt:
        provider: Provider = ProcessStreams(store=rt.store, observer=rt.observer)
        sid = await rt.run_pod_sandbox(sandbox_config(log_directory=str(tmp_path / "logs")))
        config = container_config(
            "c", "sh", "-c", "echo hi; cat; echo bye", stdin=True, stdin_once=True
        )
        cid = await run_container(rt, sid, config)

        out, err = Collect(), Collect()
        with pytest.raises(ExitCode) as info:
            await provider.exec(
                cid,
                ["sh", "-c", 'echo "$POCKETKUBE_ROOT"; cat; echo e >&2; exit 2'],
                stdin=items(b"in\n"),
                stdout=out,
                stderr=err,
                tty=False,
                resize=None,
            )
        assert info.value.code == 2
        assert bytes(out.data).endswith(b"/root\nin\n")
        assert bytes(err.data) == b"e\n"

        tty_out = Collect()
        await provider.exec(
            cid,
            ["sh", "-c", "stty size; echo e >&2"],
            stdin=None,
            stdout=tty_out,
            stderr=Collect(),
            tty=True,
            resize=no_sizes(),
        )
        assert bytes(tty_out.data).endswith(b"e\r\n")

        attached = Collect()
        await provider.attach(
            cid, stdin=items(b"x\n"), stdout=attached, stderr=attached, tty=False, resize=None
        )
        assert bytes(attached.data) == b"x\nbye\n"
        await wait_exited(rt, cid)

        with pytest.raises(cri.RuntimeError_) as refused:
            await provider.exec(
                cid, ["true"], stdin=None, stdout=out, stderr=None, tty=False, resize=None
            )
        assert (refused.value.code, refused.value.message) == (
            "FailedPrecondition",
            "container is in CONTAINER_EXITED state",
        )
        with pytest.raises(cri.RuntimeError_) as missing:
            await provider.attach(
                "nope", stdin=None, stdout=out, stderr=None, tty=False, resize=None
            )
        assert missing.value.message == 'failed to find container "nope" in store: not found'

        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"pong")
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        async with server:
            port = server.sockets[0].getsockname()[1]
            reader, writer = await provider.port_forward(sid, port)
            assert await reader.read() == b"pong"
            writer.close()
        await rt.stop_pod_sandbox(sid)
        with pytest.raises(cri.RuntimeError_, match="sandbox container is not running"):
            await provider.port_forward(sid, port)


async def test_an_exec_dies_with_its_container(tmp_path: Path) -> None:
    async with process_runtime(tmp_path / "rt") as rt:
        provider = ProcessStreams(store=rt.store, observer=rt.observer)
        sid = await rt.run_pod_sandbox(sandbox_config(log_directory=str(tmp_path / "logs")))
        cid = await run_container(rt, sid, container_config("c", "sleep", "60"))
        marker = tmp_path / "pid"
        run = asyncio.create_task(
            provider.exec(
                cid,
                ["sh", "-c", f"echo $$ > {marker}; exec sleep 60"],
                stdin=None,
                stdout=Collect(),
                stderr=None,
                tty=False,
                resize=None,
            )
        )
        pid = await wait_for(lambda: read_pid(marker), what="the exec's pid")
        await rt.stop_container(cid, 0)
        with pytest.raises(ExitCode) as info:
            await asyncio.wait_for(run, 10)
        assert info.value.code == 137
        assert not alive(pid)


async def test_attach_reads_and_drops_stdin_a_container_cannot_take(tmp_path: Path) -> None:
    async with process_runtime(tmp_path / "rt") as rt:
        provider = ProcessStreams(store=rt.store, observer=rt.observer)
        sid = await rt.run_pod_sandbox(sandbox_config(log_directory=str(tmp_path / "logs")))
        cid = await run_container(rt, sid, container_config("c", "sh", "-c", "sleep 1; echo end"))
        taken: list[bytes] = []

        async def typed() -> AsyncIterator[bytes]:
            for i in range(100):
                taken.append(b"x")
                yield b"x%d\n" % i

        out = Collect()
        await provider.attach(
            cid, stdin=typed(), stdout=out, stderr=None, tty=False, resize=no_sizes()
        )
        assert bytes(out.data) == b"end\n"
        assert len(taken) == 100  # read (and dropped), so the client was never held back
