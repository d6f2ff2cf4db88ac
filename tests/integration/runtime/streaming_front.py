"""A stand-in for the API server in front of the streaming server, so real clients (kubectl,
the Python client) can be pointed at it: it answers discovery and ``GET pods/p``, and turns
``pods/p/exec|attach|portforward`` into a one-time URL whose upgrade it relays byte for byte
(as the API server and the kubelet do)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from urllib.parse import parse_qs, urlsplit

from pocketkube.runtime import cri
from pocketkube.runtime.streaming.server import StreamingServer, parse_head

POD = {
    "kind": "Pod",
    "apiVersion": "v1",
    "metadata": {"name": "p", "namespace": "default", "uid": "u1"},
    "spec": {"containers": [{"name": "c", "image": "x"}]},
    "status": {"phase": "Running"},
}
DISCOVERY = {
    "/api": {"kind": "APIVersions", "versions": ["v1"]},
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
    "/api/v1": {
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [
            {
                "name": "pods",
                "singularName": "pod",
                "namespaced": True,
                "kind": "Pod",
                "verbs": ["get", "list"],
                "shortNames": ["po"],
            },
            {
                "name": "pods/exec",
                "singularName": "",
                "namespaced": True,
                "kind": "PodExecOptions",
                "verbs": ["create", "get"],
            },
            {
                "name": "pods/portforward",
                "singularName": "",
                "namespaced": True,
                "kind": "PodPortForwardOptions",
                "verbs": ["create", "get"],
            },
            {
                "name": "pods/attach",
                "singularName": "",
                "namespaced": True,
                "kind": "PodAttachOptions",
                "verbs": ["create", "get"],
            },
        ],
    },
    "/api/v1/namespaces/default/pods/p": POD,
}


def _flag(query: dict[str, list[str]], name: str, default: bool) -> bool:
    values = query.get(name)
    return default if not values else values[0] in ("1", "true", "True")


class Front:
    def __init__(self, streaming: StreamingServer) -> None:
        self.streaming = streaming
        self.server: asyncio.Server | None = None
        self.requests: list[cri.StreamRequest] = []
        self.upgrades: list[str] = []  # each upgrade's protocol, as the client asked

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request = parse_head(head[:-4])
                sub = request.path.rsplit("/", 1)[-1]
                if sub in ("exec", "attach", "portforward"):
                    await self._relay(head, sub, reader, writer)
                    return
                body = json.dumps(DISCOVERY.get(request.path.rstrip("/"), {})).encode()
                code = "200 OK" if request.path.rstrip("/") in DISCOVERY else "404 Not Found"
                writer.write(
                    f"HTTP/1.1 {code}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _relay(
        self,
        head: bytes,
        sub: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        line, rest = head.split(b"\r\n", 1)
        method, target, version = line.decode().split(" ")
        query = parse_qs(urlsplit(target).query)
        stream_request = cri.StreamRequest(
            container_id="c",
            pod_sandbox_id="sb",
            cmd=tuple(query.get("command", [])),
            tty=_flag(query, "tty", False),
            stdin=_flag(query, "stdin", False),
            stdout=_flag(query, "stdout", True),
            stderr=_flag(query, "stderr", True),
            ports=tuple(int(p) for v in query.get("ports", []) for p in v.split(",")),
        )
        self.requests.append(stream_request)
        asked = parse_head(head[:-4])
        self.upgrades.append(
            asked.header("sec-websocket-protocol") or asked.header("x-stream-protocol-version")
        )
        if sub == "exec":
            url = self.streaming.exec_url(stream_request).url
        elif sub == "attach":
            url = self.streaming.attach_url(stream_request).url
        else:
            url = self.streaming.port_forward_url(stream_request).url
        parts = urlsplit(url)
        path = parts.path + ("?" + urlsplit(target).query if urlsplit(target).query else "")
        b_reader, b_writer = await asyncio.open_connection(parts.hostname, parts.port)
        b_writer.write(f"{method} {path} {version}\r\n".encode() + rest)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
                if dst.can_write_eof():
                    dst.write_eof()

        async with asyncio.TaskGroup() as tg:
            tg.create_task(pump(reader, b_writer))
            tg.create_task(pump(b_reader, writer))
        b_writer.close()
