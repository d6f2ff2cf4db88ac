"""The kubelet server's endpoints, as upstream's ``pkg/kubelet/server/server.go``.

Errors are plain text with upstream's status codes and words (``pod "x" does not exist`` 404,
``Unable to decode query.`` 400, ...). ``/exec``, ``/attach`` and ``/portForward`` ask the
runtime for a streaming URL (CRI Exec/Attach/PortForward) and proxy the client's upgrade to it
byte for byte; they never redirect.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from pocketkube.client.rest import Obj
from pocketkube.kubelet import podutil
from pocketkube.kubelet.server.host import PodLister, Proxy, StreamingRuntime
from pocketkube.kubelet.server.logs import LogOptionsError, log_files, parse_log_options, read_logs
from pocketkube.runtime import cri

log = logging.getLogger(__name__)

_TRUE = ("1", "true")


@dataclass
class Host:
    """What the handlers read: the kubelet's pods, its runtime, the log directory."""

    node_name: str
    pods: PodLister
    runtime: StreamingRuntime
    log_root: Path
    proxy: Proxy
    metrics: Callable[[], str] = lambda: ""
    stats: Callable[[], Awaitable[Obj]] | None = None


def text_error(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=message, content_type="text/plain")


def _pod(host: Host, namespace: str, name: str) -> Obj | None:
    for pod in host.pods():
        meta = pod.get("metadata") or {}
        if meta.get("name") == name and meta.get("namespace", "default") == namespace:
            return pod
    return None


def _has_container(pod: Obj, name: str) -> bool:
    spec = pod.get("spec") or {}
    return any(
        c.get("name") == name
        for key in ("containers", "initContainers", "ephemeralContainers")
        for c in spec.get(key) or []
    )


async def _containers(host: Host, pod: Obj, name: str) -> list[cri.Container]:
    """The runtime's containers of ``name`` in ``pod``, newest first."""
    uid = str(pod["metadata"]["uid"])
    found = await host.runtime.list_containers(
        cri.ContainerFilter(
            label_selector={podutil.POD_UID_LABEL: uid, podutil.CONTAINER_NAME_LABEL: name}
        )
    )
    return sorted(found, key=lambda c: c.created_at, reverse=True)


def _confined(root: Path, path: str) -> bool:
    """Whether ``path`` (symlinks resolved) lies inside ``root``."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return real.startswith(real_root + os.sep)


def _bad_segment(*parts: str) -> bool:
    return any(not p or p in (".", "..") or "/" in p or "\x00" in p for p in parts)


# -- plain endpoints ------------------------------------------------------------------------
async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok", content_type="text/plain")


def pods_handler(host: Host) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        body = {
            "kind": "PodList",
            "apiVersion": "v1",
            "metadata": {},
            "items": list(host.pods()),
        }
        return web.json_response(body)

    return handler


def metrics_handler(host: Host) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=host.metrics(), content_type="text/plain", charset="utf-8")

    return handler


def stats_handler(host: Host) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        if host.stats is None:
            return text_error(404, "404 page not found")
        return web.json_response(await host.stats())

    return handler


# -- logs ---------------------------------------------------------------------------------------
def container_logs_handler(host: Host) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        namespace = request.match_info.get("namespace", "")
        pod_name = request.match_info.get("pod", "")
        container = request.match_info.get("container", "")
        if _bad_segment(namespace, pod_name, container):
            return text_error(400, '{"message": "Invalid request."}')
        query = dict(request.query)
        if (tail := query.pop("tail", None)) is not None and tail != "all":
            query["tailLines"] = tail
        try:
            options = parse_log_options(query)
        except LogOptionsError:
            return text_error(400, '{"message": "Unable to decode query."}')
        pod = _pod(host, namespace, pod_name)
        if pod is None:
            return text_error(404, f"pod {pod_name!r} does not exist".replace("'", '"'))
        if not _has_container(pod, container):
            return text_error(404, f'container "{container}" not found in pod "{pod_name}"')
        found = await _containers(host, pod, container)
        index = 1 if options.previous else 0
        if len(found) <= index:
            if options.previous:
                message = (
                    f'previous terminated container "{container}" in pod "{pod_name}" not found'
                )
            else:
                message = (
                    f'container "{container}" in pod "{pod_name}" is waiting to start: '
                    "ContainerCreating"
                )
            return text_error(400, message)
        chosen = found[index]
        try:
            status = await host.runtime.container_status(chosen.id)
        except cri.RuntimeError_ as err:
            return text_error(400, str(err))
        path = status.log_path
        if not path or not all(_confined(host.log_root, p) for p in log_files(path)):
            log.warning("refusing to read log %r outside %s", path, host.log_root)
            return text_error(403, f'log of container "{container}" is outside the log directory')

        async def running() -> bool:
            try:
                current = await host.runtime.container_status(chosen.id)
            except cri.RuntimeError_:
                return False
            return current.state == cri.ContainerState.RUNNING

        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        async for chunk in read_logs(path, options, running=running):
            await response.write(chunk)
        await response.write_eof()
        return response

    return handler


# -- streaming ----------------------------------------------------------------------------------
def _flag(request: web.Request, *names: str) -> bool:
    return any(request.query.get(n, "").lower() in _TRUE for n in names)


def _stream_options(request: web.Request) -> tuple[bool, bool, bool, bool]:
    """stdin, stdout, stderr, tty as upstream's remotecommand NewOptions reads them."""
    tty = _flag(request, "tty")
    stdin = _flag(request, "input", "stdin")
    stdout = _flag(request, "output", "stdout")
    stderr = _flag(request, "error", "stderr")
    if tty and stderr:
        stderr = False  # with a terminal stderr is merged into stdout
    return stdin, stdout, stderr, tty


def exec_handler(
    host: Host, *, attach: bool
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        stdin, stdout, stderr, tty = _stream_options(request)
        if not (stdin or stdout or stderr or _flag(request, "error", "stderr")):
            return text_error(400, "you must specify at least 1 of stdin, stdout, stderr")
        namespace = request.match_info["namespace"]
        pod_name = request.match_info["pod"]
        container = request.match_info["container"]
        uid = request.match_info.get("uid", "")
        pod = _pod(host, namespace, pod_name)
        if pod is None or (uid and uid != pod["metadata"].get("uid")):
            return text_error(404, "pod does not exist")
        found = [
            c
            for c in await _containers(host, pod, container)
            if c.state == cri.ContainerState.RUNNING
        ]
        if not found:
            return text_error(404, f'container not found ("{container}")')
        command = tuple(request.query.getall("command", []))
        if not attach and not command:
            return text_error(400, "you must specify a command")
        stream = cri.StreamRequest(
            container_id=found[0].id,
            cmd=command,
            tty=tty,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
        )
        try:
            answer = await (host.runtime.attach(stream) if attach else host.runtime.exec(stream))
        except cri.RuntimeError_ as err:
            return _runtime_error(err)
        return await host.proxy(request, answer.url)

    return handler


def port_forward_handler(host: Host) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        ports: list[int] = []
        for raw in request.query.getall("port", []) + request.query.getall("ports", []):
            for part in raw.split(","):
                try:
                    port = int(part)
                except ValueError:
                    return text_error(400, f'unable to parse "{part}" as a port: invalid syntax')
                if not 0 < port < 65536:
                    return text_error(400, f'unable to parse "{part}" as a port: out of range')
                ports.append(port)
        namespace = request.match_info["namespace"]
        pod_name = request.match_info["pod"]
        uid = request.match_info.get("uid", "")
        pod = _pod(host, namespace, pod_name)
        if pod is None:
            return text_error(404, "pod does not exist")
        if uid and uid != pod["metadata"].get("uid"):
            return text_error(404, "pod not found")
        sandboxes = await host.runtime.list_pod_sandbox(
            cri.PodSandboxFilter(
                state=cri.SandboxState.READY,
                label_selector={podutil.POD_UID_LABEL: str(pod["metadata"]["uid"])},
            )
        )
        if not sandboxes:
            return text_error(404, f'pod not found ("{pod_name}_{namespace}")')
        newest = max(sandboxes, key=lambda s: s.created_at)
        stream = cri.StreamRequest(pod_sandbox_id=newest.id, ports=tuple(ports))
        try:
            answer = await host.runtime.port_forward(stream)
        except cri.RuntimeError_ as err:
            return _runtime_error(err)
        return await host.proxy(request, answer.url)

    return handler


_GRPC_STATUS = {
    "NotFound": 404,
    "InvalidArgument": 400,
    "FailedPrecondition": 400,
    "Unimplemented": 501,
    "Unavailable": 503,
    "DeadlineExceeded": 504,
}


def _runtime_error(err: cri.RuntimeError_) -> web.Response:
    """Upstream's ``streaming.WriteError``: the gRPC code picks the HTTP status."""
    return text_error(_GRPC_STATUS.get(err.code, 500), err.message)


def add_routes(app: web.Application, host: Host) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/pods", pods_handler(host))
    app.router.add_get("/pods/", pods_handler(host))
    app.router.add_get("/metrics", metrics_handler(host))
    app.router.add_get("/stats/summary", stats_handler(host))
    app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", container_logs_handler(host))
    for kind, attach in (("exec", False), ("attach", True)):
        handler = exec_handler(host, attach=attach)
        for path in (
            f"/{kind}/{{namespace}}/{{pod}}/{{container}}",
            f"/{kind}/{{namespace}}/{{pod}}/{{uid}}/{{container}}",
        ):
            app.router.add_route("GET", path, handler)
            app.router.add_route("POST", path, handler)
    forward = port_forward_handler(host)
    for path in ("/portForward/{namespace}/{pod}", "/portForward/{namespace}/{pod}/{uid}"):
        app.router.add_route("GET", path, forward)
        app.router.add_route("POST", path, forward)


__all__ = ["Host", "add_routes", "text_error"]
