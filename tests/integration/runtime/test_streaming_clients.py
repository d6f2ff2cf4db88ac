"""Real clients against the streaming server (behind a stand-in API server that relays the
upgrade byte for byte): kubectl exec/attach over WebSocket v5 and over SPDY/3.1, kubectl
port-forward over SPDY in WebSocket and over SPDY/3.1, the Python client's exec and
port-forward over the channel protocol."""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import shutil
import socket
import struct
import termios
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pocketkube.runtime.streaming.server import StreamingServer

from .streaming_front import Front
from .streaming_support import FakeProvider, echo_server

kubectl = shutil.which("kubectl")
SPDY = {"KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "false", "KUBECTL_PORT_FORWARD_WEBSOCKETS": "false"}


@pytest.fixture
async def front(tmp_path: Path) -> AsyncIterator[tuple[Front, Path]]:
    echo = await echo_server()
    streaming = StreamingServer(FakeProvider(echo.sockets[0].getsockname()[1]))
    await streaming.start()
    front = Front(streaming)
    base = await front.start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\n"
        f'clusters: [{{name: c, cluster: {{server: "{base}"}}}}]\n'
        "users: [{name: u, user: {}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u, namespace: default}}]\n"
        "current-context: x\n"
    )
    yield front, kubeconfig
    await streaming.close()
    await front.close()
    echo.close()
    await echo.wait_closed()


async def run_kubectl(
    kubeconfig: Path, *args: str, env: dict[str, str], stdin: bytes | None = None
) -> tuple[int, bytes, bytes]:
    assert kubectl is not None
    proc = await asyncio.create_subprocess_exec(
        kubectl,
        "--kubeconfig",
        str(kubeconfig),
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env},
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), 30)
    assert proc.returncode is not None
    return proc.returncode, out, err


@pytest.mark.skipif(kubectl is None, reason="needs kubectl")
@pytest.mark.parametrize(("env", "protocol"), [({}, "v5.channel.k8s.io"), (SPDY, "v5")])
async def test_kubectl_exec_and_attach(
    front: tuple[Front, Path], env: dict[str, str], protocol: str
) -> None:
    server, kubeconfig = front
    assert await run_kubectl(kubeconfig, "exec", "p", "--", "echo", "hello", env=env) == (
        0,
        b"hello\n",
        b"",
    )
    assert protocol in server.upgrades[-1]
    code, _, err = await run_kubectl(kubeconfig, "exec", "p", "--", "exit", "3", env=env)
    assert (code, err) == (3, b"command terminated with exit code 3\n")
    code, _, err = await run_kubectl(kubeconfig, "exec", "p", "--", "fail", env=env)
    assert code == 1
    assert b"Internal error occurred: container not running" in err
    # Nothing on stderr: kubectl up to 1.33 drops what reaches it before it created its streams
    # (logging "Unknown stream id 1, discarding message"), so on v5 the server sends no ready
    # message and nothing before the client's first message or a grace (the same holds for
    # the attach below, whose output comes at once).
    assert await run_kubectl(
        kubeconfig, "exec", "-i", "p", "--", "cat", env=env, stdin=b"in\n"
    ) == (0, b"in\n", b"")
    assert (await run_kubectl(kubeconfig, "exec", "p", "--", "warn", env=env))[2] == b"warning\n"
    code, out, _ = await run_kubectl(kubeconfig, "attach", "p", env=env)
    assert (code, out) == (0, b"attached to c\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.mark.skipif(kubectl is None, reason="needs kubectl")
@pytest.mark.parametrize(("env", "protocol"), [({}, "SPDY/3.1+portforward.k8s.io"), (SPDY, "")])
async def test_kubectl_port_forward(
    front: tuple[Front, Path], env: dict[str, str], protocol: str
) -> None:
    server, kubeconfig = front
    assert kubectl is not None
    local = free_port()
    proc = await asyncio.create_subprocess_exec(
        kubectl,
        "--kubeconfig",
        str(kubeconfig),
        "port-forward",
        "pod/p",
        f"{local}:80",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env},
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 15)
        assert line.startswith(b"Forwarding from")

        async def one(i: int) -> bytes:
            reader, writer = await asyncio.open_connection("127.0.0.1", local)
            writer.write(f"hello {i}".encode())
            writer.write_eof()
            data = await asyncio.wait_for(reader.read(), 10)
            writer.close()
            return data

        got = await asyncio.gather(*(one(i) for i in range(5)))
        assert got == [f"HELLO {i}".encode() for i in range(5)]
        assert protocol in server.upgrades[-1]
        assert "portforward.k8s.io" in server.upgrades[-1]
    finally:
        proc.terminate()
        await proc.wait()


def python_client_session(base: str) -> list[object]:
    from kubernetes import client
    from kubernetes.stream import portforward, stream

    config = client.Configuration()
    config.host = base
    api = client.CoreV1Api(client.ApiClient(config))
    results: list[object] = []
    exec_ = api.connect_get_namespaced_pod_exec
    results.append(stream(exec_, "p", "default", command=["echo", "hi"], stdout=True))
    resp = stream(exec_, "p", "default", command=["exit", "3"], _preload_content=False)
    resp.run_forever(timeout=5)
    results.append(resp.returncode)
    forward = portforward(api.connect_get_namespaced_pod_portforward, "p", "default", ports="80")
    sock = forward.socket(80)
    sock.setblocking(True)
    sock.sendall(b"python pf")
    data = b""
    while len(data) < 9 and (chunk := sock.recv(1024)):
        data += chunk
    results.append(data)
    sock.close()
    refused = portforward(api.connect_get_namespaced_pod_portforward, "p", "default", ports="1")
    sock = refused.socket(1)
    sock.setblocking(True)
    sock.recv(10)
    results.append(refused.error(1))
    return results


async def test_python_client(front: tuple[Front, Path]) -> None:
    pytest.importorskip("kubernetes")
    server, _ = front
    assert server.server is not None
    base = f"http://127.0.0.1:{server.server.sockets[0].getsockname()[1]}"
    echo, code, forwarded, refused = await asyncio.wait_for(
        asyncio.to_thread(python_client_session, base), 60
    )
    assert echo == "hi\n"
    assert code == 3
    assert forwarded == b"PYTHON PF"
    assert isinstance(refused, str)
    assert refused.startswith("error forwarding port 1 to pod sb, uid : dial tcp4")
    assert "v4.channel.k8s.io" in server.upgrades[-1]


def _take_terminal() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


@pytest.mark.skipif(kubectl is None, reason="needs kubectl")
@pytest.mark.parametrize("env", [{}, SPDY])
async def test_kubectl_exec_tty_resize(front: tuple[Front, Path], env: dict[str, str]) -> None:
    """``kubectl exec -it`` in a pseudo-terminal: its size, then a resize, reach the command."""
    assert kubectl is not None
    _, kubeconfig = front
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    proc = await asyncio.create_subprocess_exec(
        kubectl,
        "--kubeconfig",
        str(kubeconfig),
        "exec",
        "-it",
        "p",
        "--",
        "sizes",
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        preexec_fn=_take_terminal,
        env={**os.environ, **env},
    )
    os.close(slave)
    loop = asyncio.get_running_loop()
    out = b""
    try:
        async with asyncio.timeout(20):
            while b"100x30" not in out:
                out += await loop.run_in_executor(None, os.read, master, 1024)
                if b"80x24" in out:
                    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        os.close(master)
    lines = out.replace(b"\r", b"").splitlines()
    assert lines[0] == b"80x24", out  # kubectl may repeat a size; the first and last matter
    assert lines[-1] == b"100x30", out
