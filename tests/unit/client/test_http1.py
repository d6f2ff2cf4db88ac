"""The HTTP/1.1 pool against a scripted server: framing, gzip, keep-alive and its retries."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Callable

import pytest

from pocketkube.client.http1 import ConnectionLost, Pool, ProtocolError

Answer = Callable[[bytes], bytes | None]  # the request's bytes -> the answer (None: hang up)


class Server:
    """Answers each request on a connection with ``answer``; counts connections."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[bytes] = []
        self.writers: list[asyncio.StreamWriter] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                answer = self.answer(request)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Answer], asyncio.Future[tuple[Server, Pool]]]]:
    servers: list[asyncio.Server] = []
    pools: list[Pool] = []

    async def start(answer: Answer) -> tuple[Server, Pool]:
        server = Server(answer)
        listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        servers.append(listener)
        port = listener.sockets[0].getsockname()[1]
        pool = Pool(
            base_url=f"http://127.0.0.1:{port}", ssl_context=None, server_hostname=None, limit=4
        )
        pools.append(pool)
        return server, pool

    yield start  # type: ignore[misc]
    for pool in pools:
        await pool.close()
    for listener in servers:
        listener.close()


def fixed(body: bytes, *headers: str, status: str = "200 OK") -> Answer:
    extra = "".join(f"{h}\r\n" for h in headers)
    return lambda _: f"HTTP/1.1 {status}\r\n{extra}".encode() + b"\r\n" + body


CHUNKED = b'4\r\n{"a"\r\n3;x=y\r\n:1}\r\n0\r\n\r\n'
GZIPPED = gzip.compress(b'{"big":true}')


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (fixed(b'{"a":1}', "Content-Length: 7"), (200, b'{"a":1}')),
        (fixed(CHUNKED, "Transfer-Encoding: chunked"), (200, b'{"a":1}')),
        (
            fixed(GZIPPED, f"Content-Length: {len(GZIPPED)}", "Content-Encoding: gzip"),
            (200, b'{"big":true}'),
        ),
        (fixed(b"", status="204 No Content"), (204, b"")),
        (
            lambda _: (
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}"
            ),
            (201, b"{}"),
        ),
    ],
)
async def test_answers_are_framed_and_decoded(
    serve: Callable[[Answer], asyncio.Future[tuple[Server, Pool]]],
    answer: Answer,
    expected: tuple[int, bytes],
) -> None:
    server, pool = await serve(answer)
    for _ in range(2):
        assert await pool.request("GET", "/x", ["Accept: a\r\n"], None) == expected
    assert server.connections == 1  # kept alive
    assert server.requests[0].startswith(b"GET /x HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"\r\nAccept: a\r\n" in server.requests[0]


async def test_an_answer_without_length_ends_with_the_connection(
    serve: Callable[[Answer], asyncio.Future[tuple[Server, Pool]]],
) -> None:
    server, pool = await serve(lambda _: None)

    def answer_and_close(request: bytes) -> bytes | None:
        server.writers[-1].write(b"HTTP/1.1 200 OK\r\n\r\nall of it")
        return None

    server.answer = answer_and_close
    assert await pool.request("GET", "/", [], None) == (200, b"all of it")
    assert await pool.request("GET", "/", [], None) == (200, b"all of it")
    assert server.connections == 2


async def test_a_body_is_sent_with_its_length(
    serve: Callable[[Answer], asyncio.Future[tuple[Server, Pool]]],
) -> None:
    server, pool = await serve(fixed(b"{}", "Content-Length: 2"))
    await pool.request("POST", "/p?x=1", [], b'{"k":"v"}')
    await pool.request("POST", "/p", [], None)
    assert server.requests[0].endswith(b'Content-Length: 9\r\n\r\n{"k":"v"}')
    assert server.requests[1].endswith(b"Content-Length: 0\r\n\r\n")


async def test_a_connection_lost_before_the_answer_is_retried_once_if_idempotent(
    serve: Callable[[Answer], asyncio.Future[tuple[Server, Pool]]],
) -> None:
    server, pool = await serve(fixed(b"{}", "Content-Length: 2"))
    await pool.request("GET", "/", [], None)
    calls = 0

    def hang_up_once(request: bytes) -> bytes | None:
        nonlocal calls
        calls += 1
        return None if calls == 1 else b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"

    server.answer = hang_up_once  # as a server whose keep-alive ran out
    assert await pool.request("GET", "/", [], None) == (200, b"{}")  # reused, lost, retried
    assert server.connections == 2
    calls = 0
    with pytest.raises(ConnectionLost):
        await pool.request("POST", "/", [], b"{}")  # a POST is not sent twice
    server.answer = lambda _: None
    with pytest.raises(ConnectionLost):
        await pool.request("GET", "/", [], None)  # nor a request on a new connection
    assert server.connections == 3


async def test_garbage_is_a_protocol_error(
    serve: Callable[[Answer], asyncio.Future[tuple[Server, Pool]]],
) -> None:
    _, pool = await serve(lambda _: b"SSH-2.0-OpenSSH\r\n\r\n")
    with pytest.raises(ProtocolError):
        await pool.request("GET", "/", [], None)


@pytest.mark.parametrize(
    ("path", "query", "target"),
    [
        ("/api/v1/pods", "", "/api/v1/pods"),
        ("/api/v1/pods", "limit=1", "/api/v1/pods?limit=1"),
        ("/api/v1/pods?watch=1", "limit=1", "/api/v1/pods?watch=1&limit=1"),
        ("/apis/x/roles/system:a b", "", "/apis/x/roles/system:a%20b"),
    ],
)
def test_targets(path: str, query: str, target: str) -> None:
    pool = Pool(base_url="https://h:6443", ssl_context=None, server_hostname=None, limit=1)
    assert pool.target(path, query) == target
    assert pool.host_header == "h:6443"
