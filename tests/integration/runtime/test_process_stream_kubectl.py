"""Real kubectl against the process runtime's own streaming server (behind the stand-in API
server of ``streaming_front``, which relays the upgrade byte for byte): exec with both streams
and the exit code, piped stdin, ``exec -it`` on a terminal, attach with stdin, and
port-forward, over WebSocket and over SPDY/3.1, into real containers; and cp both ways."""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import pty
import shutil
import struct
import termios
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import pytest

from pocketkube.runtime import cri
from pocketkube.runtime.process.runtime import ProcessRuntime
from pocketkube.runtime.streaming.server import StreamingServer

from .process_support import container_config, process_runtime, run_container, sandbox_config
from .streaming_front import Front

kubectl = shutil.which("kubectl")
SPDY = {"KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "false", "KUBECTL_PORT_FORWARD_WEBSOCKETS": "false"}
pytestmark = pytest.mark.skipif(kubectl is None, reason="needs kubectl")


class Target:
    """The stand-in front's requests, aimed at one real container and sandbox: the runtime's
    CRI calls give the URLs (with their checks), as the kubelet gets them."""

    def __init__(self, rt: ProcessRuntime) -> None:
        self.rt = rt
        self.container_id = ""
        self.sandbox_id = ""
        self.server: StreamingServer | None = None

    def _aimed(self, request: cri.StreamRequest) -> cri.StreamRequest:
        return replace(request, container_id=self.container_id, pod_sandbox_id=self.sandbox_id)

    def exec_url(self, request: cri.StreamRequest) -> cri.StreamResponse:
        assert self.server is not None
        return self.server.exec_url(self._aimed(request))

    def attach_url(self, request: cri.StreamRequest) -> cri.StreamResponse:
        assert self.server is not None
        return self.server.attach_url(self._aimed(request))

    def port_forward_url(self, request: cri.StreamRequest) -> cri.StreamResponse:
        assert self.server is not None
        return self.server.port_forward_url(self._aimed(request))


@dataclass
class Cluster:
    rt: ProcessRuntime
    target: Target
    kubeconfig: Path
    logs: Path

    async def run(self, name: str, *command: str, **kwargs: Any) -> str:
        if not self.target.sandbox_id:
            self.target.sandbox_id = await self.rt.run_pod_sandbox(
                sandbox_config(log_directory=str(self.logs))
            )
        cid = await run_container(
            self.rt, self.target.sandbox_id, container_config(name, *command, **kwargs)
        )
        self.target.container_id = cid
        return cid


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    async with process_runtime(tmp_path / "rt") as rt:
        target = Target(rt)
        target.server = await rt.streaming_server()
        front = Front(cast(StreamingServer, target))
        base = await front.start()
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\n"
            f'clusters: [{{name: c, cluster: {{server: "{base}"}}}}]\n'
            "users: [{name: u, user: {}}]\n"
            "contexts: [{name: x, context: {cluster: c, user: u, namespace: default}}]\n"
            "current-context: x\n"
        )
        try:
            yield Cluster(rt, target, kubeconfig, tmp_path / "logs")
        finally:
            await front.close()
            await rt.aclose()


async def run_kubectl(
    cluster: Cluster, *args: str, env: dict[str, str], stdin: bytes | None = None
) -> tuple[int, bytes, bytes]:
    assert kubectl is not None
    proc = await asyncio.create_subprocess_exec(
        kubectl,
        "--kubeconfig",
        str(cluster.kubeconfig),
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env},
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), 30)
    assert proc.returncode is not None
    return proc.returncode, out, err


@pytest.mark.parametrize("env", [{}, SPDY], ids=["websocket", "spdy"])
async def test_kubectl_exec_into_a_process_container(cluster: Cluster, env: dict[str, str]) -> None:
    await cluster.run("c", "sleep", "60")
    code, out, err = await run_kubectl(
        cluster, "exec", "p", "--", "sh", "-c", "echo out; echo err >&2; exit 3", env=env
    )
    assert (code, out) == (3, b"out\n")
    assert err.startswith(b"err\n")
    data = os.urandom(300_000)
    code, out, _ = await run_kubectl(
        cluster, "exec", "-i", "p", "--", "sha256sum", env=env, stdin=data
    )
    assert code == 0
    assert out.split()[0].decode() == hashlib.sha256(data).hexdigest()
    code, _, err = await run_kubectl(cluster, "exec", "p", "--", "no-such-command", env=env)
    assert (code, err) == (
        1,
        b"error: Internal error occurred: unable to start container process: "
        b'exec: "no-such-command": executable file not found in $PATH\n',
    )


def _set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _read_until(fd: int, pattern: bytes, seen: bytearray, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while pattern not in seen:
        if time.monotonic() > deadline:
            raise AssertionError(f"{pattern!r} not in {bytes(seen)!r}")
        try:
            seen.extend(os.read(fd, 4096))
        except BlockingIOError:
            time.sleep(0.02)


@pytest.mark.parametrize("env", [{}, SPDY], ids=["websocket", "spdy"])
async def test_kubectl_exec_it_gives_a_terminal_of_the_clients_size(
    cluster: Cluster, env: dict[str, str]
) -> None:
    await cluster.run("c", "sleep", "60")
    assert kubectl is not None
    master, slave = pty.openpty()
    _set_size(slave, 24, 80)
    proc = await asyncio.create_subprocess_exec(
        "setsid",  # the terminal becomes kubectl's controlling one: it gets SIGWINCH
        "--ctty",
        kubectl,
        "--kubeconfig",
        str(cluster.kubeconfig),
        "exec",
        "-it",
        "p",
        "--",
        "sh",
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**os.environ, **env},
    )
    os.close(slave)
    os.set_blocking(master, False)
    seen = bytearray()
    try:
        os.write(master, b"stty size; tty\n")
        await asyncio.to_thread(_read_until, master, b"24 80\r\n/dev/pts/", seen)
        _set_size(master, 50, 132)  # kubectl gets SIGWINCH and sends the new size
        await asyncio.sleep(0.5)
        os.write(master, b"stty size\n")
        await asyncio.to_thread(_read_until, master, b"50 132\r\n", seen)
        os.write(master, b"exit 5\n")
        assert await asyncio.wait_for(proc.wait(), 20) == 5
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        os.close(master)


@pytest.mark.parametrize("env", [{}, SPDY], ids=["websocket", "spdy"])
async def test_kubectl_attach_with_stdin(cluster: Cluster, env: dict[str, str]) -> None:
    script = 'while read line; do echo "got $line"; done; echo bye'
    await cluster.run("c", "sh", "-c", script, stdin=True, stdin_once=True)
    code, out, err = await run_kubectl(cluster, "attach", "-i", "p", env=env, stdin=b"a\nb\n")
    assert code == 0, err
    assert out.splitlines()[-3:] == [b"got a", b"got b", b"bye"]


@pytest.mark.parametrize("env", [{}, SPDY], ids=["websocket", "spdy"])
async def test_kubectl_port_forward_into_the_pod(cluster: Cluster, env: dict[str, str]) -> None:
    # host network here (no root needed): the pod's "localhost" is the host's
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"pong " + await reader.readline())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    await cluster.run("c", "sleep", "60")
    assert kubectl is not None
    proc = await asyncio.create_subprocess_exec(
        kubectl,
        "--kubeconfig",
        str(cluster.kubeconfig),
        "port-forward",
        "p",
        f":{port}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env},
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        local = int(line.split(b"127.0.0.1:")[1].split(b" ")[0])

        async def ask(i: int) -> bytes:
            reader, writer = await asyncio.open_connection("127.0.0.1", local)
            writer.write(f"q{i}\n".encode())
            answer = await reader.read()
            writer.close()
            return answer

        answers = await asyncio.wait_for(asyncio.gather(*(ask(i) for i in range(4))), 20)
        assert answers == [f"pong q{i}\n".encode() for i in range(4)]
    finally:
        proc.kill()
        await proc.wait()
        server.close()
        await server.wait_closed()


async def test_kubectl_cp_both_directions(cluster: Cluster, tmp_path: Path) -> None:
    await cluster.run("c", "sleep", "60")
    source = tmp_path / "src.bin"
    data = os.urandom(200_000)
    await asyncio.to_thread(source.write_bytes, data)
    inside = tmp_path / "inside"  # the process runtime's containers see the host's files
    await asyncio.to_thread(inside.mkdir)
    code, _, err = await run_kubectl(cluster, "cp", str(source), f"p:{inside}/copy.bin", env={})
    assert code == 0, err
    assert await asyncio.to_thread((inside / "copy.bin").read_bytes) == data
    back = tmp_path / "back.bin"
    code, _, err = await run_kubectl(cluster, "cp", f"p:{inside}/copy.bin", str(back), env={})
    assert code == 0, err
    assert await asyncio.to_thread(back.read_bytes) == data
