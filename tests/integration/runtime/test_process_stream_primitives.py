"""The process runtime's streaming primitives on real containers: exec with pipes and with a
terminal, attach to output and to a kept-open stdin (pipe and terminal), port-forward into the
host network and into a pod's own network namespace."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pocketkube.runtime import cri
from pocketkube.runtime.process import attach as attaching
from pocketkube.runtime.process import portforward
from pocketkube.runtime.process.exec import ExecContext
from pocketkube.runtime.process.network import PodNetworkStatus
from pocketkube.runtime.process.runtime import ProcessRuntime
from pocketkube.runtime.process.streamexec import stream_exec

from .process_support import (
    container_config,
    process_runtime,
    run_container,
    sandbox_config,
    wait_exited,
    wait_for,
)


@dataclass(frozen=True)
class Size:
    width: int
    height: int


class Collect:
    def __init__(self) -> None:
        self.data = bytearray()

    async def __call__(self, chunk: bytes) -> None:
        self.data.extend(chunk)


async def items(*chunks: bytes, pause: float = 0.05) -> AsyncIterator[bytes]:
    for chunk in chunks:
        await asyncio.sleep(pause)
        yield chunk


async def sizes(*values: Size) -> AsyncIterator[Size]:
    for value in values:
        yield value


async def held(queue: asyncio.Queue[bytes | None]) -> AsyncIterator[bytes]:
    while (chunk := await queue.get()) is not None:
        yield chunk


def log_bytes(path: str) -> bytes:
    return Path(path).read_bytes()


def host_context(tmp_path: Path) -> ExecContext:
    return ExecContext(env={"PATH": os.defpath, "A": "b"}, cwd=str(tmp_path))


async def test_exec_with_pipes_passes_streams_and_the_exit_code(tmp_path: Path) -> None:
    out, err = Collect(), Collect()
    code = await stream_exec(
        host_context(tmp_path),
        ("sh", "-c", 'cat; echo "$A" >&2; exit 3'),
        stdin=items(b"hello\n", b"world"),
        stdout=out,
        stderr=err,
        tty=False,
        resize=None,
    )
    assert (code, bytes(out.data), bytes(err.data)) == (3, b"hello\nworld", b"b\n")


async def test_exec_with_a_terminal_merges_output_and_resizes(tmp_path: Path) -> None:
    out = Collect()
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    sizes_q: asyncio.Queue[Size | None] = asyncio.Queue()

    async def size_stream() -> AsyncIterator[Size]:
        while (s := await sizes_q.get()) is not None:
            yield s

    async def drive() -> None:
        await sizes_q.put(Size(100, 30))
        await asyncio.sleep(0.2)
        await queue.put(b"x\r")
        await wait_for(lambda: b"X" in out.data, what="the first answer")
        await sizes_q.put(Size(81, 25))
        await asyncio.sleep(0.2)
        await queue.put(b"y\r")

    script = 'read a; stty size; echo "X$TERM"; read b; stty size; tty; echo err >&2; exit 4'
    async with asyncio.TaskGroup() as tg:
        tg.create_task(drive())
        code = await stream_exec(
            host_context(tmp_path),
            ("sh", "-c", script),
            stdin=held(queue),
            stdout=out,
            stderr=None,
            tty=True,
            resize=size_stream(),
        )
    text = bytes(out.data).decode()
    assert code == 4
    assert "30 100\r\nXxterm\r\n" in text
    assert "25 81\r\n/dev/pts/" in text
    assert text.endswith("err\r\n")


@pytest.mark.parametrize("tty", [False, True])
async def test_exec_of_a_missing_command_is_refused_as_runc_words_it(
    tmp_path: Path, tty: bool
) -> None:
    with pytest.raises(cri.RuntimeError_) as info:
        await stream_exec(
            host_context(tmp_path),
            ("no-such-command",),
            stdin=None,
            stdout=Collect(),
            stderr=None if tty else Collect(),
            tty=tty,
            resize=None,
        )
    assert 'exec: "no-such-command": executable file not found in $PATH' in info.value.message


async def test_a_cancelled_exec_kills_the_command(tmp_path: Path) -> None:
    marker = tmp_path / "pid"
    task = asyncio.create_task(
        stream_exec(
            host_context(tmp_path),
            ("sh", "-c", f"echo $$ > {marker}; exec sleep 60"),
            stdin=None,
            stdout=Collect(),
            stderr=None,
            tty=False,
            resize=None,
        )
    )
    await wait_for(lambda: marker.exists() and marker.read_text().strip(), what="the pid")
    pid = int(marker.read_text())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_for(lambda: not Path(f"/proc/{pid}").exists(), what="the command to die")


async def test_attach_follows_output_until_the_container_exits(tmp_path: Path) -> None:
    async with process_runtime(tmp_path / "rt") as rt:
        sid = await rt.run_pod_sandbox(sandbox_config(log_directory=str(tmp_path / "logs")))
        script = "echo before; sleep 0.7; echo one; echo two >&2; sleep 0.3; printf three"
        cid = await run_container(rt, sid, container_config("c", "sh", "-c", script))
        record = rt.store.container(cid)
        assert record is not None
        await asyncio.sleep(0.3)
        out, err = Collect(), Collect()
        await attaching.follow_output(
            record.log_path,
            stdout=out,
            stderr=err,
            exited=lambda: not rt.observer.is_running(record),
        )
        assert (bytes(out.data), bytes(err.data)) == (b"one\nthree", b"two\n")


async def _attach(
    rt: ProcessRuntime,
    cid: str,
    *,
    stdin: AsyncIterator[bytes] | None,
    resize: AsyncIterator[Size] | None = None,
) -> Collect:
    record = rt.store.container(cid)
    assert record is not None
    out = Collect()
    async with asyncio.TaskGroup() as tg:
        feeder = tg.create_task(attaching.feed_stdin(cid, stdin=stdin, resize=resize))
        await attaching.follow_output(
            record.log_path,
            stdout=out,
            stderr=out,
            exited=lambda: not rt.observer.is_running(record),
        )
        feeder.cancel()
    return out


async def test_attach_feeds_a_stdin_once_container_and_closes_its_stdin(tmp_path: Path) -> None:
    async with process_runtime(tmp_path / "rt") as rt:
        sid = await rt.run_pod_sandbox(sandbox_config(log_directory=str(tmp_path / "logs")))
        config = container_config("c", "sh", "-c", "cat; echo done", stdin=True, stdin_once=True)
        cid = await run_container(rt, sid, config)
        await asyncio.sleep(0.3)  # stdin stays open while nobody is attached
        assert (await rt.container_status(cid)).state == cri.ContainerState.RUNNING
        out = await _attach(rt, cid, stdin=items(b"hello\n", b"world\n"))
        assert bytes(out.data) == b"hello\nworld\ndone\n"
        assert (await wait_exited(rt, cid)).exit_code == 0


async def test_stdin_stays_open_across_attaches_without_stdin_once(tmp_path: Path) -> None:
    async with process_runtime(tmp_path / "rt") as rt:
        sid = await rt.run_pod_sandbox(sandbox_config(log_directory=str(tmp_path / "logs")))
        script = "while read line; do echo got $line; [ $line = bye ] && exit 7; done"
        cid = await run_container(rt, sid, container_config("c", "sh", "-c", script, stdin=True))
        await attaching.feed_stdin(cid, stdin=items(b"a\n"), resize=None)
        await asyncio.sleep(0.2)
        assert (await rt.container_status(cid)).state == cri.ContainerState.RUNNING
        out = await _attach(rt, cid, stdin=items(b"b\n", b"bye\n"))
        assert bytes(out.data) == b"got b\ngot bye\n"
        assert (await wait_exited(rt, cid)).exit_code == 7
        record = rt.store.container(cid)
        assert record is not None
        assert b"got a" in log_bytes(record.log_path)


async def test_a_tty_container_gets_a_terminal_its_size_and_input(tmp_path: Path) -> None:
    async with process_runtime(tmp_path / "rt") as rt:
        sid = await rt.run_pod_sandbox(sandbox_config(log_directory=str(tmp_path / "logs")))
        script = 'tty; read a; stty size; echo "$a $TERM"; sleep 60'
        config = container_config("c", "sh", "-c", script, stdin=True, stdin_once=True, tty=True)
        cid = await run_container(rt, sid, config)
        record = rt.store.container(cid)
        assert record is not None
        await asyncio.sleep(0.3)
        out = Collect()
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(attaching.feed_stdin(cid, stdin=held(queue), resize=sizes(Size(90, 20))))
            follow = tg.create_task(
                attaching.follow_output(
                    record.log_path,
                    stdout=out,
                    stderr=out,
                    exited=lambda: not rt.observer.is_running(record),
                )
            )
            await asyncio.sleep(0.3)
            await queue.put(b"hi\r")
            await wait_for(lambda: b"hi xterm" in out.data, what="the answer")
            await queue.put(None)  # stdinOnce: the terminal is hung up, sh and sleep end
            await follow
        assert "20 90\r\nhi xterm\r\n" in bytes(out.data).decode()
        assert b"/dev/pts/" in log_bytes(record.log_path)
        assert (await wait_exited(rt, cid)).exit_code == 129  # SIGHUP


async def test_port_forward_on_the_host_network_and_its_refusal(tmp_path: Path) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hi " + await reader.readline())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        reader, writer = await portforward.connect(sandbox_id="s", netns_path="", port=port)
        writer.write(b"there\n")
        assert await reader.read() == b"hi there\n"
        writer.close()
    with pytest.raises(cri.RuntimeError_) as info:
        await portforward.connect(sandbox_id="s1", netns_path="", port=port)
    assert info.value.message.startswith(
        f'failed to execute portforward in network namespace "host": failed to connect to '
        f'localhost:{port} inside namespace "s1", IPv4: dial tcp4 127.0.0.1:{port}: connect: '
        "connection refused IPv6 dial tcp6 [::1]:"
    )


async def run(*argv: str) -> None:
    proc = await asyncio.create_subprocess_exec(*argv)
    assert await proc.wait() == 0, argv


class NetnsNetwork:
    """A named network namespace per sandbox, with only its loopback up."""

    def __init__(self) -> None:
        self.made: list[str] = []

    async def setup(self, *, sandbox_id: str, config: cri.PodSandboxConfig) -> PodNetworkStatus:
        name = f"pk-t{sandbox_id[:10]}"
        await run("ip", "netns", "add", name)
        self.made.append(name)
        await run("ip", "-n", name, "link", "set", "lo", "up")
        return PodNetworkStatus(ip="127.0.0.1", netns_path=f"/run/netns/{name}")

    async def teardown(self, *, sandbox_id: str) -> None:
        name = f"pk-t{sandbox_id[:10]}"
        if name in self.made:
            self.made.remove(name)
            await run("ip", "netns", "delete", name)

    async def status(self, *, sandbox_id: str) -> PodNetworkStatus | None:
        name = f"pk-t{sandbox_id[:10]}"
        return PodNetworkStatus("127.0.0.1", f"/run/netns/{name}") if name in self.made else None

    def condition(self) -> cri.RuntimeCondition:
        return cri.RuntimeCondition(type="NetworkReady", status=True)


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None, reason="network namespaces need root"
)
async def test_port_forward_reaches_the_pods_own_loopback(tmp_path: Path) -> None:
    network = NetnsNetwork()
    async with process_runtime(tmp_path / "rt", network=network) as rt:
        sid = await rt.run_pod_sandbox(sandbox_config(log_directory=str(tmp_path / "logs")))
        try:
            record = rt.store.sandbox(sid)
            assert record is not None
            assert record.netns_path
            server = (
                "import socket\n"
                "s = socket.socket(); s.bind(('127.0.0.1', 7071)); s.listen()\n"
                "print('listening', flush=True)\n"
                "while True:\n"
                "    c, _ = s.accept(); c.sendall(b'from the pod ' + c.recv(100)); c.close()\n"
            )
            cid = await run_container(
                rt, sid, container_config("srv", sys.executable, "-c", server)
            )
            container = rt.store.container(cid)
            assert container is not None
            await wait_for(lambda: b"listening" in log_bytes(container.log_path), what="the server")

            async def ask(text: bytes) -> bytes:
                reader, writer = await portforward.connect(
                    sandbox_id=sid, netns_path=record.netns_path, port=7071
                )
                writer.write(text)
                answer = await reader.read()
                writer.close()
                return answer

            answers = await asyncio.gather(*(ask(f"q{i}".encode()) for i in range(5)))
            assert answers == [f"from the pod q{i}".encode() for i in range(5)]
            with pytest.raises(cri.RuntimeError_) as info:  # the host has no such server
                await portforward.connect(sandbox_id=sid, netns_path="", port=7071)
            assert "connection refused" in info.value.message
        finally:
            await rt.stop_pod_sandbox(sid)
            await rt.remove_pod_sandbox(sid)
